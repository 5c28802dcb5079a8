"""report.md: the verdicts, result tables and figures, in words the statistics support.

The wording is driven by the verdicts alone (see ``actbench.stats``): ``better`` and ``worse``
appear only where the Holm-corrected paired test rejects; ``equivalent`` only where TOST puts
the difference inside the stated margin; everything else is ``inconclusive``, printed with the
smallest difference these seeds could have detected. The report states the family, the
sidedness, n, the margin and what each verdict is conditional on.
"""

from __future__ import annotations

import math

from actbench import stats


def _pct(x: float | None, digits: int = 2, sign: bool = False, unit: str = "") -> str:
    """``x`` (a fraction) in percent; ``n/a`` (never ``n/a%``) when it is missing."""
    if x is None:
        return "n/a"
    return (f"{100 * x:+.{digits}f}" if sign else f"{100 * x:.{digits}f}") + unit


def _interval(ci, clip: bool = False) -> str:
    if not ci:
        return "n/a"
    lo, hi = (max(ci[0], 0.0), min(ci[1], 1.0)) if clip else ci
    return f"[{_pct(lo, sign=not clip)}, {_pct(hi, sign=not clip)}]"


def _rank_set(bounds) -> str:
    if not bounds:
        return "n/a"
    low, high = bounds
    return f"{low}" if low == high else f"[{low}, {high}]"


def _labelled(ci, level: float | None, decisive: bool) -> str:
    """An interval with its level, in bold when it decided the verdict."""
    if not ci:
        return "n/a"
    text = f"{100 * level:.2f}%: {_interval(ci)}"
    return f"**{text}**" if decisive else text


def new_seeds(params, count: int) -> list[int]:
    """``count`` seeds no run of ``params`` used (benchmark or tuning), smallest first."""
    used = {*params.seeds, *params.tuning_seeds}
    out, s = [], 0
    while len(out) < count:
        if s not in used:
            out.append(s)
        s += 1
    return out


def seeds_plan(params, comparison: dict, margin: float) -> list[str]:
    """For each inconclusive comparison: the seeds that would make a margin-sized difference
    detectable, with the range from the SD's 95% interval, and the command that runs them."""
    rows = [(d, b, c) for d in params.datasets for b, c in comparison["comparisons"][d].items()
            if c["verdict"] == stats.INCONCLUSIVE and c.get("seeds_needed")]  # fmt: skip
    if not rows:
        return []
    lines = [
        "",
        "### Seeds to a decision",
        "",
        f"For each inconclusive comparison: the number of seeds at which, at the observed standard "
        f"deviation of its differences, the detectable difference falls below the margin "
        f"(+/-{margin:g} points), so that a true gap of the margin would be found (80% power) and "
        "its absence would make TOST likely to show equivalence. The range comes from the SD's own "
        "95% interval: with few seeds the SD, and so the count, is itself uncertain.",
        "",
        "| dataset | baseline | SD of differences | seeds needed | range (SD's 95% interval) |",
        "|---|---|---|---|---|",
    ]
    most = 0
    for dataset, baseline, c in rows:
        need = c["seeds_needed"]

        def count(n: int | None, cap: int = need["max_seeds"]) -> str:
            return f"more than {cap}" if n is None else str(n)

        lines.append(
            f"| {dataset} | {baseline} | {_pct(c['sd_diff'])} | {count(need['seeds'])} "
            f"| {count(need['seeds_low'])} to {count(need['seeds_high'])} |"
        )
        most = max(most, need["seeds"] or 0)
    lines.append("")
    if 0 < most <= 30:
        seeds = ",".join(map(str, new_seeds(params, most)))
        lines.append(
            f"To decide them all, run {most} **new** seeds (none used here, tuning seeds included) "
            f"and read that experiment's report: `dvc exp run -S 'seeds=[{seeds}]'`."
        )
    elif most:
        lines.append(
            f"Deciding them needs up to {most} new seeds: set `seeds` in params.yaml to that many "
            "seeds not used here (tuning seeds included)."
        )
    lines += [
        "",
        "How the error rate is protected: the planned seeds are a **new** experiment, tested on "
        "its own, so its verdicts hold at the stated alpha. Adding seeds to these and testing "
        "again after looking at this report (optional stopping) raises the false-positive rate "
        "above alpha, and actbench does not correct for that.",
    ]
    return lines


def runner_up_section(params, comparison: dict) -> list[str]:
    """The verdicts again with every activation at its runner-up rate: whether they hang on one
    grid point (only with ``tuning.runner_up_seeds``)."""
    second = comparison.get("runner_up")
    if not second:
        return []
    lines = [
        "",
        "### The verdicts at the runner-up rates",
        "",
        f"Every activation also trained at its runner-up rate on seeds {second['seeds']}; the same "
        "tests, as a family of their own. A verdict that changes here hangs on one grid point.",
        "",
        "| dataset | baseline | verdict | at the runner-up rates | n | mean diff | rates (candidate, baseline) |",
        "|---|---|---|---|---|---|---|",
    ]
    for dataset in params.datasets:
        rates = second["multipliers"][dataset]
        for baseline, c in second["comparisons"][dataset].items():
            main = comparison["comparisons"][dataset][baseline]
            changed = " (changed)" if c["verdict"] != main["verdict"] else ""
            lines.append(
                f"| {dataset} | {baseline} | {main['verdict']} | {_verdict(c)}{changed} | {c['n']} | "
                f"{_pct(c['mean_diff'], sign=True)} | x{rates[params.activation]:g}, x{rates[baseline]:g} |"
            )
    return lines


def _p(p: float | None) -> str:
    return "n/a" if p is None else (f"{p:.3g}" if p >= 1e-4 else "<1e-4")


def _verdict(c: dict) -> str:
    v = c["verdict"]
    if v in (stats.BETTER, stats.WORSE) and c["within_margin"]:
        return f"{v} (within the margin)"
    if v == stats.INCONCLUSIVE and c["min_detectable_diff"] is not None:
        return f"inconclusive (detectable: {_pct(c['min_detectable_diff'])} pt)"
    return v


def sentence(candidate: str, dataset: str, versus: dict[str, dict], margin: float) -> str:
    """One honest sentence per dataset."""
    by: dict[str, list[str]] = {}
    for baseline, c in versus.items():
        by.setdefault(c["verdict"], []).append(baseline)
    parts = []
    if by.get(stats.BETTER):
        parts.append(f"higher test accuracy than {', '.join(by[stats.BETTER])}")
    if by.get(stats.WORSE):
        parts.append(f"lower test accuracy than {', '.join(by[stats.WORSE])}")
    if by.get(stats.EQUIVALENT):
        parts.append(
            f"test accuracy equivalent to {', '.join(by[stats.EQUIVALENT])} within +/-{margin:g} points"
        )
    if by.get(stats.INCONCLUSIVE):
        detectable = [versus[b]["min_detectable_diff"] for b in by[stats.INCONCLUSIVE]]
        known = [d for d in detectable if d is not None]
        span = (
            f"{_pct(min(known))}-{_pct(max(known))}"
            if known and min(known) != max(known)
            else (_pct(known[0]) if known else "")
        )
        tail = (
            f"; these seeds could only detect differences of {span} points or more" if known else ""
        )
        parts.append(f"no conclusion against {', '.join(by[stats.INCONCLUSIVE])}{tail}")
    if by.get(stats.TOO_FEW):
        parts.append(
            f"too few seeds to compare with {', '.join(by[stats.TOO_FEW])} (need {stats.MIN_SEEDS})"
        )
    if not parts:
        return f"On {dataset}, {candidate} has no baseline to be compared with."
    return f"On **{dataset}**, {candidate} shows " + "; ".join(parts) + "."


def leaderboard_section(comparison: dict, figures: list[str]) -> list[str]:
    """Every activation ranked, per dataset and across datasets: descriptive, not tested."""
    board = comparison["leaderboard"]
    lines = [
        "## Leaderboard",
        "",
        "Every activation this pipeline trained, ranked by mean test accuracy over seeds. **The "
        "ranking describes; it is not a test**: an order inside overlapping intervals is not "
        "evidence that one activation is better. The tested claims are the candidate's verdicts "
        "above (one Holm family).",
        "",
    ]
    level = board["rank_sets"]["level"] or stats.CONFIDENCE
    for dataset, rows in board["per_dataset"].items():
        lines += [
            f"**{dataset}**",
            "",
            f"| rank | {100 * level:.0f}% rank set | activation | test acc (mean ± std) | 95% CI | n |",
            "|---|---|---|---|---|---|",
        ]
        for r in rows:
            name = (
                f"**{r['activation']}** (candidate)"
                if r["role"] == "candidate"
                else r["activation"]
            )
            std = "n/a" if r["std"] is None else _pct(r["std"])
            lines.append(
                f"| {r['rank']:g} | {_rank_set(r['rank_set'])} | {name} | {_pct(r['mean'])} ± {std} | "
                f"{_interval(r['ci95'], clip=True)} | {r['n']} |"
            )
        lines.append("")
    overall = board.get("overall")
    if overall and len(overall["datasets"]) > 1:
        lines += [
            f"**Across {len(overall['datasets'])} datasets**: rank of the mean test accuracy over the "
            f"datasets, on the {len(overall['seeds'])} seeds every run has.",
            "",
            f"| rank | {100 * level:.0f}% rank set | activation |",
            "|---|---|---|",
        ]
        for act, v in sorted(overall["ranks"].items(), key=lambda kv: kv[1]["rank"]):
            lines.append(f"| {v['rank']:g} | {_rank_set([v['low'], v['high']])} | {act} |")
        lines.append("")
    p = len(next(iter(board["per_dataset"].values()), []))
    lines += [
        f"*Rank set*: the ranks an activation may truly hold, at {100 * level:.0f}% for all "
        "activations of a table at once (Mogstad, Romano, Shaikh and Wilhelm 2024: one-sided "
        "paired t-tests of every pair, Holm-corrected within the table). A set narrower than "
        f"[1, {p}] needs a pair the seeds separate; with 3 seeds that takes a large, consistent gap.",
        "",
    ]
    lines += [line for fig in figures for line in (f"![{fig}]({fig})", "")]
    return lines


def tuning_section(comparison: dict, figures: list[str]) -> list[str]:
    """The learning rate each activation got, and whether tuning changed the ranking."""
    protocol = comparison["learning_rate_protocol"]
    effect = comparison.get("tuning")
    if not effect:
        return ["## Learning rates", "", f"Shared: {protocol['description']}. Tuning is off "
                "(`tuning.lr_multipliers: []`).", ""]  # fmt: skip
    lines = [
        "## Learning rates",
        "",
        f"Tuned: {protocol['description']}; the test split is never read by tuning or selection.",
        "",
        "| dataset | activation | selected | runner-up | val acc at x1 | val acc at selected | "
        "tuning runs | tuning time | beyond the grid |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    flagged = []
    for dataset, e in effect.items():
        for act, m in e["selected_multiplier"].items():
            b, r = e["budget"][act], e["runner_up_multiplier"][act]
            second = "-" if r is None else f"x{r:g}"
            extended = ", ".join(f"x{x:g}" for x in b["extended"]) or "-"
            edge = e["still_at_edge"][act]
            if edge:
                flagged.append(f"{act} on {dataset} (x{m:g}, the {edge} edge)")
            selected = f"x{m:g}" + (" (at the edge)" if edge else "")
            lines.append(
                f"| {dataset} | {act} | {selected} | {second} | {_pct(e['val_accuracy_shared'][act])} | "
                f"{_pct(e['val_accuracy_tuned'][act])} | {b['runs']} | {b['seconds'] / 60:.1f} min | {extended} |"
            )
    device = next(
        (
            b["device_kind"]
            for e in effect.values()
            for b in e["budget"].values()
            if b["device_kind"]
        ),
        "?",
    )
    lines += [
        "",
        f"*Tuning runs*: learning rates x tuning seeds, the extensions included; *tuning time*: their "
        f"training time on {device}. *Beyond the grid*: the points trained because the choice was "
        "at an edge of the points scored before.",
        "",
    ]
    if flagged:
        lines += [f"**Still at an edge** after the extensions allowed: {'; '.join(flagged)}. A better "
                  "rate may lie beyond it; raise `profiles.<profile>.tuning.max_extensions` or widen "
                  "`tuning.lr_multipliers`.", ""]  # fmt: skip
    for dataset, e in effect.items():
        tau = "n/a" if e["kendall_tau"] is None else f"{e['kendall_tau']:.2f}"
        p = "n/a" if e["kendall_p"] is None else f"{e['kendall_p']:.2f}"
        same = "the same" if e["rank_shared"] == e["rank_tuned"] else "different"
        floor = 2 / math.factorial(e["n"])  # the exact test's smallest p-value: a complete reversal
        caveat = (
            f" With {e['n']} activations the smallest p-value any two rankings allow is 2/{e['n']}! = "
            f"{floor:.2g}: no change could be significant, so a changed ranking here describes, it is "
            "not evidence that tuning reorders them." if floor > comparison["family"]["alpha"] else ""
        )  # fmt: skip
        lines.append(
            f"- **{dataset}**, on the tuning runs' validation accuracy: the ranking at the shared rate "
            f"({', '.join(e['rank_shared'])}) and at the tuned rates ({', '.join(e['rank_tuned'])}) are {same}; "
            f"Kendall's tau = {tau} (p = {p}) over n = {e['n']} activations.{caveat}"
        )
    lines.append("")
    lines += [line for fig in figures for line in (f"![{fig}]({fig})", "")]
    return lines


def prior_art(names: list[str], candidate: str) -> list[str]:
    """What each activation is known as elsewhere, and where it comes from (the registry's
    ``OTHER_NAMES`` and ``REFERENCES``, read without importing the plug-ins)."""
    from actbench import activations

    lines = ["| activation | kind | also known as | references |", "|---|---|---|---|"]
    for name in names:
        info = activations.info(name)
        label = f"**{name}** (candidate)" if name == candidate else name
        others = "; ".join([*info.aliases, *info.other_names]) or "-"
        refs = "; ".join(info.references) or "-"
        lines.append(f"| {label} | {info.kind or '?'} | {others} | {refs} |")
    return [*lines, ""]


def render(*, params, comparison: dict, sizes: dict[str, dict], versions: dict[str, str],
           figures: dict[str, list[str]]) -> str:  # fmt: skip
    cand, fam = params.activation, comparison["family"]
    m, alpha, margin = fam["comparisons"], fam["alpha"], fam["equivalence_margin_points"]
    prof = params.active_profile
    lines = [
        "# actbench report",
        "",
        f"Candidate **{cand}** against baselines {', '.join(comparison['baselines'])}; profile "
        f"**{params.profile}** (ResNet-18 width {prof.width}, batch {prof.batch_size}, at least "
        f"{prof.epochs} epochs and {prof.min_steps} optimizer steps); seeds {params.seeds}.",
        "Generated by the `plot` stage of `dvc repro` from this commit's metrics. Accuracies and "
        "differences are in percentage points.",
        "",
    ]
    if params.profile == "quick":
        lines += [
            "> **Pipeline check, not a benchmark.** The quick profile trains small networks briefly "
            f"with {len(params.seeds)} seeds. Its verdicts hold only for that budget, and it detects "
            "only the large differences stated below. For claims, use `profile: full` with the "
            "seeds the section *Seeds to a decision* plans.",
            "",
        ]
    lines += [
        "## Verdicts",
        "",
        f"**How to read them.** One family of {m} comparisons (every dataset x baseline below), "
        f"Holm-corrected at family-wise alpha = {alpha}. Every test is two-sided. `better`/`worse`: "
        "the paired t-test over seeds is significant after Holm. `equivalent`: two one-sided "
        f"tests (TOST) at the same Holm-adjusted level put the difference inside +/-{margin:g} "
        "points (the profile's equivalence margin, a choice stated in params.yaml). "
        "`inconclusive`: neither; the detectable difference is the smallest true difference "
        f"these seeds would find with 80% power at alpha/m = {alpha / max(m, 1):.3g}. Beside each "
        "verdict are the two intervals that decide it, each at Holm's own level alpha_H for that "
        "comparison: the difference interval at 1 - alpha_H excludes 0 exactly when the verdict is "
        "better or worse; the equivalence interval at 1 - 2 alpha_H lies inside the margin "
        "exactly when it is equivalent. The deciding one is in bold. Each verdict is conditional "
        "on this budget, on the test set named in the tables, and on the learning-rate protocol: "
        f"**{comparison['learning_rate_protocol']['protocol']}**, "
        f"{comparison['learning_rate_protocol']['description']}.",
        "",
    ]
    for dataset in params.datasets:
        lines += [sentence(cand, dataset, comparison["comparisons"][dataset], margin), ""]
    lines += [
        "| dataset | baseline | n | mean diff | difference interval | p | p (Holm) "
        "| equivalence interval | TOST p (Holm) | sign-flip p (Holm) | d_z | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    flagged = []
    for dataset in params.datasets:
        for baseline, c in comparison["comparisons"][dataset].items():
            dz = "n/a" if c["effect_size_dz"] is None else f"{c['effect_size_dz']:.2f}"
            perm = "n/a (n < 6)" if c["p_permutation_holm"] is None else _p(c["p_permutation_holm"])
            if c["tests_disagree"]:
                perm += " (disagrees)"
                flagged.append(f"{dataset} vs {baseline}")
            diff_ci = _labelled(c["ci"], c["ci_level"], c["verdict"] in (stats.BETTER, stats.WORSE))
            eq_ci = _labelled(
                c["ci_equivalence"], c["ci_equivalence_level"], c["verdict"] == stats.EQUIVALENT
            )
            lines.append(
                f"| {dataset} | {baseline} | {c['n']} | {_pct(c['mean_diff'], sign=True)} | {diff_ci} "
                f"| {_p(c['p_value'])} | {_p(c['p_holm'])} | {eq_ci} | {_p(c['p_tost_holm'])} | {perm} | {dz} "
                f"| {_verdict(c)} |"
            )
    # Reasons the table cannot show: too few seeds, or differences without spread.
    notes = [f"- {d} vs {b}: {c['reason']}" for d in params.datasets
             for b, c in comparison["comparisons"][d].items() if c["reason"] and c["min_detectable_diff"] is None]  # fmt: skip
    if flagged:
        notes.append(f"- The t-test and the sign-flip test disagree for {', '.join(flagged)}: "
                     "treat that verdict as fragile.")  # fmt: skip
    if notes:
        lines += ["", *notes]
    lines += [
        "",
        "*Definitions.* **n**: seeds with both runs (a pair shares its seed: initialisation, data "
        "order and augmentation). **mean diff**: mean over those seeds of candidate minus baseline "
        "test accuracy, in points. **p**: two-sided paired t-test of a zero mean difference; "
        "**p (Holm)**: the same after Holm's correction over the family. **alpha_H**: the level "
        "Holm's step-down tests this comparison at (alpha/m for the smallest p, up to alpha for "
        "the largest). **difference interval**: Student-t interval of the mean difference at "
        "1 - alpha_H. **equivalence interval**: the same at 1 - 2 alpha_H (alpha_H of the TOST "
        "family). **TOST p (Holm)**: two one-sided t-tests that the mean difference lies inside "
        f"+/-{margin:g} points, Holm-corrected. **sign-flip p (Holm)**: exact permutation test of "
        "the signs of the differences (needs 6 seeds), Holm-corrected; a check on the t-test. "
        "**d_z**: mean difference divided by the standard deviation of the differences (Cohen's "
        "d for paired samples). **detectable**: the smallest true mean difference the t-test "
        "would detect with 80% power at alpha/m.",
    ]
    lines += seeds_plan(params, comparison, margin)
    lines += runner_up_section(params, comparison)
    poi = comparison["probability_of_improvement"]
    if poi:
        level_poi = next(iter(poi.values())).get("level", stats.CONFIDENCE)
        lines += [
            "",
            "**Across datasets.** Probability that the candidate beats each baseline: the share of "
            "seeds where its test accuracy is higher (ties count one half), averaged over the "
            f"datasets, with a {100 * level_poi:.0f}% interval from exact binomial (Clopper-Pearson) "
            "bounds per dataset, Bonferroni over the datasets: valid at any number of seeds, and "
            "as wide as few seeds make it.",
            "",
            f"| baseline | P(candidate better) | {100 * level_poi:.0f}% interval | datasets |",
            "|---|---|---|---|",
        ]
        for b, v in poi.items():
            est = "n/a" if v["estimate"] is None else f"{v['estimate']:.2f}"
            ci = "n/a" if v["ci_low"] is None else f"[{v['ci_low']:.2f}, {v['ci_high']:.2f}]"
            lines.append(f"| {b} | {est} | {ci} | {v['datasets']} |")
    lines += ["", *leaderboard_section(comparison, figures.get("leaderboard", []))]
    lines += tuning_section(comparison, figures.get("tuning", []))
    lines += ["", "## Results per dataset", ""]
    for dataset in params.datasets:
        size, scope = sizes.get(dataset, {}), comparison["scope"][dataset]
        lines += [
            f"### {dataset}",
            "",
            f"Images: train {size.get('train', '?')}, validation {size.get('val', '?')}, test "
            f"{size.get('test', '?')} (every verdict is on this test set). {scope['epochs']} epochs at "
            f"batch {scope['batch_size']}, {scope['precision']} on {scope['device_kind']}.",
            "",
            "| activation | test acc (mean ± std) | 95% CI | macro-F1 | best val acc | "
            "learning rate | never-active units | mean \\|f'(z)\\| | seeds |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for act in params.activations:
            s = comparison["aggregates"][act][dataset]
            name = f"**{act}** (candidate)" if act == cand else act
            acc, f1, bv = s["test_accuracy"], s["test_f1_macro"], s["best_val_accuracy"]
            na, slope = s["never_active_fraction"], s["mean_abs_derivative"]["mean"]
            slope_text = "n/a" if slope is None else f"{slope:.3f}"
            lines.append(
                f"| {name} | {_pct(acc['mean'])} ± {_pct(acc['std'])} | {_interval(acc['ci95'], clip=True)} | "
                f"{_pct(f1['mean'])} ± {_pct(f1['std'])} | {_pct(bv['mean'])} | x{s['learning_rate_multiplier']:g} | "
                f"{_pct(na['mean'], unit='%')} | {slope_text} | {acc['n']} |"
            )
        lines.append("")
        for fig in figures.get(dataset, []):
            lines += [f"![{fig}]({fig})", ""]
    lines += [
        "Definitions: *95% CI*, Student-t interval over seeds (clipped to [0, 100]); *± std*, the "
        "seed-to-seed standard deviation of the final test accuracy (the variance the study "
        "talked about); *learning rate*, the multiple of the profile's rate the activation trained "
        "at (the select stage); *never-active units*, the share of units whose "
        "pre-activation is negative for every image of a fixed stratified validation sample "
        "(float32); *mean |f'(z)|*, the mean slope of the activation at its inputs on that sample.",
        "",
        "## Activations and diagnostics",
        "",
        *prior_art(params.activations, cand),
    ]
    for fig in figures.get("", []):
        lines += [f"![{fig}]({fig})", ""]
    lines += [
        "## How this was produced",
        "",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "- Statistics and how to read this report: [docs/statistics.md](docs/statistics.md).",
        "",
    ]
    return "\n".join(lines)
