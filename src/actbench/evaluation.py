"""Evaluation of one run: test metrics, the confusion pairs, and activation diagnostics.

Test metrics use scikit-learn (accuracy, log-loss, macro and per-class precision, recall, F1)
on the logits of the model as it was trained (its own precision). The diagnostics run on a
float32 copy of the model, on a fixed, stratified, shuffled sample of validation images, and
mean the same for every activation:

* ``never_active_fraction``: per activation site (``resnet.activation_sites``), the fraction
  of units (one unit = one position and channel of the site) whose pre-activation ``z`` is
  negative for every image of the sample; reported per site and as the mean over sites.
* ``mean_abs_derivative``: per site, the mean of ``|f'(z)|`` over the sample and the units: how
  much gradient the activation lets through; per site and as the mean over sites. ``f'`` is the
  automatic derivative of the site's own layer at its real inputs, so a learnable activation is
  differentiated with its trained weights (valid because every plug-in is elementwise).
* ``learned_parameters``: per site with weights (layer plug-ins), per weight its shape, mean,
  std, min, max, largest change from its initial value, and its values when it is small (a
  rational unit's 10 coefficients); empty for function plug-ins.
"""

from __future__ import annotations

import csv
import time
import zipfile
from pathlib import Path

import keras
import numpy as np

from actbench import activations, provenance, runs
from actbench.data import prepared
from actbench.errors import ActbenchError
from actbench.io import all_or_nothing, atomic_path, ensure_writable, write_json
from actbench.params import Params
from actbench.resnet import activation_sites
from actbench.training import device
from actbench.training.pipeline import Augment, even_batch

DIAGNOSTIC_CHUNK = 64  # images per forward pass of the diagnostic probe (bounds memory)
SUMMARY_VALUES = 16  # a learned weight of at most this many numbers is recorded whole


def load_model(path, activation: str | None = None) -> keras.Model:
    """Load a saved run; a missing, corrupt or foreign file becomes one clear error.

    ``activation`` registers just that activation; ``None`` registers every one.
    """
    assert Augment  # imported for its registration: saved models start with this layer
    if activation is None:
        activations.load_all()
    else:
        activations.get(activation)
    if not Path(path).is_file():
        raise ActbenchError(f"model {path} is missing; run its train stage (`dvc repro`)")
    if not zipfile.is_zipfile(path):  # Keras says "File not found" for a file that exists
        raise ActbenchError(
            f"model {path} is corrupt or truncated (not a whole .keras zip archive); delete it "
            "and rerun its train stage"
        )
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as err:  # Keras raises many types for a damaged zip/config/weights
        first = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise ActbenchError(
            f"model {path} cannot be loaded ({first}); delete it and rerun its train stage"
        ) from None
    if not any(isinstance(lay, Augment) for lay in model.layers) or body_of(model) is None:
        raise ActbenchError(
            f"model {path} is not an actbench run (expected uint8 input, the augment layer and a "
            "ResNet-18); delete it and rerun its train stage"
        )
    return model


def body_of(model: keras.Model) -> keras.Model | None:
    """The ResNet inside a saved run (the nested model after ``Augment``)."""
    return next((lay for lay in model.layers if isinstance(lay, keras.Model)), None)


def _every_layer(model: keras.Model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _every_layer(layer)


def _in_float32(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A new layer like ``layer`` (its config) that computes in float32 (``dtype``, every Keras
    layer's constructor argument)."""
    return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})


def float32_copy(model: keras.Model) -> keras.Model:
    """The same model with every layer computing in float32, same weights: ``model`` itself when
    every layer already does (every CPU run), else a clone (``keras.models.clone_model``, nested
    models included) whose layers are rebuilt with ``dtype="float32"``."""
    if all(layer.compute_dtype == "float32" for layer in _every_layer(model)):
        return model
    copy = keras.models.clone_model(model, clone_function=_in_float32, recursive=True)
    copy.set_weights(model.get_weights())
    return copy


def predict_logits(
    model: keras.Model, x: np.ndarray, batch_cap: int, flip_tta: bool = False
) -> np.ndarray:
    """Logits of uint8 images ``x`` (N, H, W, C), in float64, with one batch shape where it can;
    with ``flip_tta`` the mean of the logits of each image and of its mirror (left-right)."""
    batch = even_batch(len(x), batch_cap)
    logits = np.asarray(model.predict(x, batch_size=batch, verbose=0), dtype=np.float64)
    if flip_tta:
        mirrored = model.predict(np.ascontiguousarray(x[:, :, ::-1]), batch_size=batch, verbose=0)
        logits = (logits + np.asarray(mirrored, dtype=np.float64)) / 2
    return logits


def classification_metrics(y_true: np.ndarray, logits: np.ndarray, class_names: list[str]) -> dict:
    """Loss, accuracy and macro/per-class precision, recall and F1 from logits."""
    from scipy.special import softmax
    from sklearn.metrics import log_loss, precision_recall_fscore_support

    y_pred = logits.argmax(axis=1)
    labels = list(range(len(class_names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    mp, mr, mf, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    return {
        "test_loss": float(log_loss(y_true, softmax(logits, axis=1), labels=labels)),
        "test_accuracy": float(np.mean(y_pred == y_true)),
        "test_precision_macro": float(mp),
        "test_recall_macro": float(mr),
        "test_f1_macro": float(mf),
        "per_class": {
            name: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f[i]),
                "support": int(s[i]),
            }
            for i, name in enumerate(class_names)
        },
    }


def write_confusion(path, y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> None:
    """``actual,predicted`` rows, one per test image (DVC's confusion template reads them)."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["actual", "predicted"])
        writer.writerows(
            (class_names[a], class_names[p]) for a, p in zip(y_true, y_pred, strict=True)
        )


def diagnostic_sample(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of a stratified, shuffled sample of ``n`` images (all of them when fewer)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    if n >= len(y):
        return np.random.default_rng(seed).permutation(idx)
    try:
        sample, _ = train_test_split(idx, train_size=n, stratify=y, random_state=seed)
    except ValueError:  # a class with one image cannot be stratified: a plain shuffled sample
        sample = np.random.default_rng(seed).choice(idx, n, replace=False)
    return np.asarray(sample)


def diagnostics(model: keras.Model, images: np.ndarray, activation: str | None = None) -> dict:
    """Never-active units, mean |f'(z)| and learned parameters per activation site, in float32
    (module docstring). ``model`` is a saved run (uint8 images in) or a ResNet-18 body;
    ``images`` are uint8. ``activation`` (the run's name) is not needed: each site computes,
    and is differentiated, as itself."""
    model32 = float32_copy(model)
    body = body_of(model32) or model32
    act_layers = activation_sites(body)
    probe = keras.Model(body.inputs, [lay.input for lay in act_layers])  # pre-activations
    never = [None] * len(act_layers)  # (H, W, C): z < 0 for every image so far
    abs_sum = np.zeros(len(act_layers))
    units = np.zeros(len(act_layers))
    for start in range(0, len(images), DIAGNOSTIC_CHUNK):
        x = images[start : start + DIAGNOSTIC_CHUNK].astype(np.float32) / 255.0
        for i, z in enumerate(probe([x], training=False)):
            z = keras.ops.convert_to_tensor(z, "float32")
            negative = np.all(keras.ops.convert_to_numpy(z) < 0, axis=0)
            never[i] = negative if never[i] is None else never[i] & negative
            site = act_layers[i]  # elementwise: d sum(site(z)) / dz = site'(z), element by element
            slope = np.abs(keras.ops.convert_to_numpy(device.elementwise_derivative(site, z)))
            abs_sum[i] += slope.sum(dtype=np.float64)
            units[i] += slope.size
    per_layer = {
        lay.name: {"never_active_fraction": float(np.mean(nv)), "mean_abs_derivative": float(s / u)}
        for lay, nv, s, u in zip(act_layers, never, abs_sum, units, strict=True)
    }
    return {
        "images": len(images),
        "dtype": body.get_layer("stem_conv").compute_dtype,  # float32, whatever the training policy
        "never_active_fraction": float(
            np.mean([v["never_active_fraction"] for v in per_layer.values()])
        ),
        "mean_abs_derivative": float(
            np.mean([v["mean_abs_derivative"] for v in per_layer.values()])
        ),
        "per_layer": per_layer,
        "learned_parameters": learned_parameters(act_layers),
    }


def learned_parameters(sites: list[keras.layers.Layer]) -> dict:
    """``{site: {weight: summary}}`` for the sites that have weights (module docstring).

    ``max_abs_change`` compares with a layer built anew from the site's config: its initial
    value for a constant initialiser (every shipped plug-in's), a fresh random draw otherwise.
    """
    summary = {}
    for site in sites:
        if not site.weights:
            continue
        fresh = site.__class__.from_config(site.get_config())
        fresh.build(tuple(site.input.shape))
        entry = {}
        for weight, initial in zip(site.weights, fresh.weights, strict=True):
            v = np.asarray(keras.ops.convert_to_numpy(weight), dtype=np.float64)
            v0 = np.asarray(keras.ops.convert_to_numpy(initial), dtype=np.float64)
            entry[weight.name] = {
                "shape": list(v.shape), "mean": float(v.mean()), "std": float(v.std()),
                "min": float(v.min()), "max": float(v.max()),
                "max_abs_change": float(np.max(np.abs(v - v0))),
            }  # fmt: skip
            if v.size <= SUMMARY_VALUES:
                entry[weight.name]["values"] = v.ravel().tolist()
        summary[site.name] = entry
    return summary


def evaluate(spec: runs.RunSpec, params: Params, started: float) -> dict:
    """Evaluate one trained run; write its record and confusion pairs; return the record."""
    ensure_writable(spec.eval_record.parent)
    arrays = prepared.load(prepared.path_of(spec.dataset))
    model = load_model(spec.model, spec.activation)
    names = [str(n) for n in arrays["class_names"]]
    setup_seconds = time.time() - started
    flip_tta = params.active_profile.flip_tta and spec.dataset in params.train.hflip
    logits = predict_logits(model, arrays["x_test"], params.evaluate.batch_size, flip_tta)
    metrics = classification_metrics(arrays["y_test"], logits, names)
    sample = diagnostic_sample(
        arrays["y_val"], params.evaluate.diagnostic_images, params.data.split_seed
    )
    diag = diagnostics(model, arrays["x_val"][sample], spec.activation)
    record = {
        **spec.identity(),
        **metrics,
        "test_images": int(len(arrays["y_test"])),
        "flip_tta": flip_tta,
        "diagnostics": diag,
        "device": {
            "backend": device.backend(),
            "device_kind": device.device_kind(),
            "precision": body_of(model).get_layer("stem_conv").dtype_policy.name,
        },  # fmt: skip
        "seconds": {"wall": round(time.time() - started, 2), "setup": round(setup_seconds, 2)},
        **provenance.provenance(params.profile),
    }
    with all_or_nothing(spec.confusion, spec.eval_record):
        write_confusion(spec.confusion, arrays["y_test"], logits.argmax(axis=1), names)
        write_json(spec.eval_record, record)
    return record
