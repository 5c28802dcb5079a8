#!/usr/bin/env bash
# The GPU check on a GPU machine with JAX and no network (README, "GPU check"):
#
#     make gpu-bundle                      # here, online: fills the git-ignored .gpu/ (~25 MB)
#     tools/device_check.sh                # there, in the repository root, .gpu/ carried along
#     tools/device_check.sh --smoke        # a dry run of the same on a CPU
#
# .gpu/ holds the wheels such a machine lacks (WHEELS: keras with optree for CPython 3.12,
# ruamel.yaml and namex; pydantic, for params.py, with pydantic-core for CPython 3.12 and the
# small packages it needs), pinned with their hashes from requirements/jax.lock, and the 60,000-image CIFAR-10
# JPEG archive. This script installs the wheels (pip checks every hash) into a temporary folder
# unless they are installed already, then runs tools/gpu_check.py on the archive with a hard
# deadline of BUDGET_S seconds (default 500, whole seconds). The JSON and the log go to $OUT
# when it is set (the device tool's folder), else to metrics/. Extra arguments go to
# gpu_check.py (not --budget-s: set BUDGET_S). PYTHON picks the interpreter (default python3).
#
# The deadline. LIMIT_S (default 600, the device tool's longest timeout_s) is the outer hard
# kill, in seconds from this script's start. gpu_check.py ends within --budget-s of its own
# start (its alarm, else its watchdog process kills it); `timeout` is the backstop should even
# that fail: TERM 10 s after the budget, KILL 5 s later. So the check ends by the install's
# seconds + BUDGET_S + 15 s, and this script keeps that at least 30 s before LIMIT_S, lowering
# BUDGET_S if it must:  BUDGET_S <= LIMIT_S - install seconds - 15 - 30  (600: 500 fits).
#
#     tools/device_check.sh --bundle       # what `make gpu-bundle` runs
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
BUDGET_S=${BUDGET_S:-500}
LIMIT_S=${LIMIT_S:-600}
TERM_S=10 KILL_S=5  # the backstop, timeout: TERM this long after the budget, KILL that long after
GAP_S=30            # the least time between the check's end and LIMIT_S
BUNDLE=.gpu
# What the GPU machine's image lacks (KINDS.md): Keras and what it needs, and pydantic (params.py)
# with what it needs (typing-extensions too, at the version it was checked with).
WHEELS="keras optree ruamel-yaml namex pydantic pydantic-core annotated-types typing-inspection typing-extensions"
MODULES="keras optree ruamel.yaml namex pydantic pydantic_core annotated_types typing_inspection typing_extensions"
ARCHIVE=${CIFAR10_ARCHIVE:-../shared/data/cifar10-jpeg-full.tar.gz}
ARCHIVE_SHA256=c7446bf1b4b489635a8a1f509066b2e35a66bfc7661ed016d78187acba367749

if [ "${1:-}" = "--bundle" ]; then
    mkdir -p "$BUNDLE/wheels"
    # The lock's entries for these wheels, their hash lines included: a --require-hashes file.
    awk -v names="$WHEELS" '
        BEGIN { n = split(names, list, " "); for (i = 1; i <= n; i++) want[list[i]] = 1 }
        /^[^ #]/ { split($1, pin, "=="); keep = (pin[1] in want) }
        keep && !/^ *#/' requirements/jax.lock > "$BUNDLE/requirements.txt"
    [ "$(grep -c '==' "$BUNDLE/requirements.txt")" = "$(echo $WHEELS | wc -w)" ] || {
        echo "device_check: requirements/jax.lock does not pin all of: $WHEELS" >&2; exit 2; }
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --require-hashes -r "$BUNDLE/requirements.txt" -d "$BUNDLE/wheels"
    echo "$ARCHIVE_SHA256  $ARCHIVE" | sha256sum --check --quiet
    install -m 0644 "$ARCHIVE" "$BUNDLE/cifar10-jpeg-full.tar.gz"
    ls -l "$BUNDLE/wheels" "$BUNDLE/cifar10-jpeg-full.tar.gz"
    du -sh "$BUNDLE"
    exit 0
fi

start=$SECONDS
for arg in "$@"; do
    case $arg in --budget-s*) echo "device_check: error: set BUDGET_S, not --budget-s" >&2; exit 2 ;; esac
done
if "$PYTHON" -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in sys.argv[1:]))" \
        $MODULES 2>/dev/null; then
    echo "device_check: $WHEELS are installed; the wheels of $BUNDLE are not needed"
else
    [ -f "$BUNDLE/requirements.txt" ] || {
        echo "device_check: error: no $BUNDLE/: run make gpu-bundle and carry $BUNDLE" >&2; exit 2; }
    site=$(mktemp -d)
    trap 'rm -rf "$site"' EXIT
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-index --no-deps --no-compile \
        --no-cache-dir --require-hashes --find-links "$BUNDLE/wheels" --target "$site" \
        -r "$BUNDLE/requirements.txt"
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    echo "device_check: installed $WHEELS in $((SECONDS - start)) s"
fi
export KERAS_BACKEND=${KERAS_BACKEND:-jax} PYTHONUNBUFFERED=1
out=${OUT:-metrics}
mkdir -p "$out"
most=$((LIMIT_S - (SECONDS - start) - TERM_S - KILL_S - GAP_S))
if [ "$BUDGET_S" -gt "$most" ]; then
    echo "device_check: BUDGET_S=$BUDGET_S would end less than $GAP_S s before LIMIT_S=$LIMIT_S; using $most"
    BUDGET_S=$most
fi
[ "$BUDGET_S" -ge 60 ] || {
    echo "device_check: error: LIMIT_S=$LIMIT_S leaves a budget of $BUDGET_S s (under 60)" >&2; exit 2; }
status=0
timeout --kill-after="$KILL_S" $((BUDGET_S + TERM_S)) "$PYTHON" tools/gpu_check.py --budget-s "$BUDGET_S" \
    --data "$BUNDLE/cifar10-jpeg-full.tar.gz" --out "$out/gpu_check.json" "$@" 2>&1 \
    | tee "$out/gpu_check.log" || status=$?
echo "device_check: exit status $status after $((SECONDS - start)) s; $out/gpu_check.json"
exit "$status"
