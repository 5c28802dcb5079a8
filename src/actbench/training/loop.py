"""The training recipe and the whole life of one run.

Recipe: SGD with Nesterov momentum, a linear warm-up then cosine decay to 0 (peak learning
rate per 128 images, scaled linearly with the batch, times the activation's selected multiplier),
decoupled weight decay (not on an activation's own parameters), label smoothing, and on-device
crop/flip augmentation; every activation gets exactly the same.

Life of a run (``train``): load the training and validation arrays (never the test split),
fingerprint the run, resume from a matching checkpoint or start clean, train with per-epoch
curves (dvclive) and a checkpoint after every epoch (``EpochCheckpoint``), stop on a NaN loss
(and remove everything), then save the model, move the curves into place, write the run's
record and remove the checkpoint. ``fit_run`` is the same life without the saved outputs: the
tune stage's runs, which keep only their scores.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from actbench import curves, provenance, runs
from actbench.data import prepared
from actbench.errors import ActbenchError
from actbench.io import all_or_nothing, atomic_path, digests, ensure_writable, write_json
from actbench.params import Params
from actbench.resnet import activation_sites, build_resnet18
from actbench.training import device
from actbench.training.pipeline import (
    AUGMENT_FIELDS,
    Augment,
    Batches,
    cutout_pixels,
    even_batch,
    no_draws,
    padding_pixels,
)

REFERENCE_BATCH = 128  # profiles.*.learning_rate is per this many images (linear scaling rule)


@keras.saving.register_keras_serializable(package="actbench")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to ``peak`` over ``warmup_steps``, then cosine decay to 0.

    Written with ``where``/``minimum`` rather than Keras' ``CosineDecay(warmup_...)``, whose
    ``cond`` is re-traced for every variable by decoupled weight decay: that alone cost ~3 s of
    graph tracing per run on a 2-core CPU.
    """

    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        self.peak, self.warmup_steps, self.total_steps = peak, warmup_steps, total_steps

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = float(max(self.warmup_steps, 1))
        decay = float(max(self.total_steps - self.warmup_steps, 1))
        rising = self.peak * step / warmup
        progress = keras.ops.minimum(keras.ops.maximum(step - self.warmup_steps, 0.0) / decay, 1.0)
        falling = 0.5 * self.peak * (1.0 + keras.ops.cos(math.pi * progress))
        return keras.ops.where(step < self.warmup_steps, rising, falling)

    def get_config(self):
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
        }


def schedule(
    params: Params, steps_per_epoch: int, epochs: int, multiplier: float = 1.0
) -> WarmupCosine:
    """The run's schedule: the profile's peak rate (per 128 images, scaled to the batch) times
    ``multiplier`` (the activation's selected one, or a tuning run's)."""
    prof = params.active_profile
    peak = prof.learning_rate * multiplier * prof.batch_size / REFERENCE_BATCH
    total = epochs * steps_per_epoch
    return WarmupCosine(peak, min(params.train.warmup_epochs * steps_per_epoch, total - 1), total)


def build_model(
    input_shape: tuple[int, ...],
    num_classes: int,
    activation: str,
    width: int,
    pad: int,
    flip: bool,
    cutout: int = 0,
    reflect: bool = False,
) -> tuple[keras.Model, keras.Model]:
    """The training model, [uint8 images, augmentation draws] -> ``Augment`` -> ResNet-18 ->
    float32 logits (B, num_classes), and the inference model that shares its layers and takes
    uint8 images alone (the one that is saved)."""
    images = keras.Input(shape=input_shape, dtype="uint8", name="image")  # (B, H, W, C)
    draws = keras.Input(shape=(AUGMENT_FIELDS,), dtype="int32", name="augment_draws")  # (B, 5)
    augment = Augment(pad=pad, flip=flip, cutout=cutout, reflect=reflect, name="augment")
    body = build_resnet18(input_shape, num_classes, activation, width=width)
    train_model = keras.Model([images, draws], body(augment([images, draws])), name=body.name)
    infer_model = keras.Model(images, body(augment(images)), name=body.name)
    return train_model, infer_model


def compile_model(model: keras.Model, params: Params, lr: WarmupCosine, steps: int, jit: bool):
    """Keras' own ``keras.optimizers.SGD`` with the recipe's momentum and decoupled weight decay
    (each step: ``w -= lr(t) * weight_decay * w``, then the Nesterov momentum update),
    label-smoothed cross-entropy.

    An activation's own parameters (a PReLU slope, a rational unit's coefficients) are excluded
    from the weight decay: decay would pull them towards 0, i.e. towards another activation
    (PReLU towards ReLU), which is a change of the function under study, not a regulariser of
    the network (as in He et al. 2015 for PReLU)."""
    t = params.train
    optimizer = keras.optimizers.SGD(
        learning_rate=lr, momentum=t.momentum, nesterov=t.nesterov,
        weight_decay=t.weight_decay or None,
    )  # fmt: skip
    body = next(lay for lay in model.layers if isinstance(lay, keras.Model))
    own = [w for site in activation_sites(body) for w in site.trainable_weights]
    if own and t.weight_decay:
        optimizer.exclude_from_weight_decay(var_list=own)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=t.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile=jit,
        steps_per_execution=min(t.steps_per_execution, steps),
    )  # fmt: skip


def epoch_rates(lr: WarmupCosine, epoch: int, steps: int) -> float:
    """The mean learning rate of epoch ``epoch``'s ``steps`` optimizer steps (0-based epoch)."""
    rates = keras.ops.convert_to_numpy(lr(np.arange(epoch * steps, (epoch + 1) * steps)))
    return float(np.mean(rates))


class EpochLog(keras.callbacks.Callback):
    """Per epoch: set the data order and augmentation of ``(seed, epoch)``, log the curves with
    dvclive (the learning rate as the mean over the epoch's steps), print one line when stdout
    is not a terminal, stop on a NaN loss."""

    def __init__(self, live, run: str, epochs: int, steps: int, batch: int, batches: Batches,
                 lr: WarmupCosine):  # fmt: skip
        super().__init__()
        self.live, self.run, self.epochs, self.steps, self.batch = live, run, epochs, steps, batch
        self.batches, self.lr = batches, lr
        self.epoch_seconds: list[float] = []
        self.diverged_at: int | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        seconds = time.perf_counter() - self._t0
        self.epoch_seconds.append(seconds)
        values = {f"train_{k}": logs.get(k, math.nan) for k in ("loss", "accuracy")}
        values |= {k: logs.get(k, math.nan) for k in ("val_loss", "val_accuracy")}
        if not all(math.isfinite(float(v)) for v in values.values()):
            self.diverged_at = epoch + 1
            self.model.stop_training = True
            return
        values["learning_rate"] = epoch_rates(self.lr, epoch, self.steps)
        for name, value in values.items():
            self.live.log_metric(name, float(value))
        self.live.next_step()
        if not sys.stdout.isatty():
            print(
                f"{self.run} epoch {epoch + 1}/{self.epochs}: loss {values['train_loss']:.4f} "
                f"acc {values['train_accuracy']:.4f} val_loss {values['val_loss']:.4f} "
                f"val_acc {values['val_accuracy']:.4f} ({self.steps * self.batch / seconds:.0f} img/s)",
                flush=True,
            )


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------

FINGERPRINT = "fingerprint.json"
WEIGHTS = "state.weights.h5"  # the model's and the optimizer's variables (Keras save_weights)
STATE = "state.json"  # {"epoch": k, "iterations": optimizer steps taken}


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch, the whole training state as one folder, ``epoch-<k>``, made atomically.

    The weights (with the optimizer's slots and step count) and the epoch are written into a
    temporary folder, flushed to disk, and the folder is renamed into place once: a kill at any
    point leaves either the new checkpoint or none, never new weights beside an old epoch (which
    would replay an epoch one schedule step ahead). The previous epoch's folder is kept as a
    fallback, as Keras' ``BackupAndRestore(double_checkpoint=True)`` does; older ones are removed.
    """

    def __init__(self, directory: Path):
        super().__init__()
        self.directory = directory

    def on_train_begin(self, logs=None):
        for leftover in self.directory.glob(".epoch-*"):  # a save a kill interrupted
            shutil.rmtree(leftover, ignore_errors=True)

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:  # a diverged epoch: never checkpoint a NaN
            return
        final = self.directory / f"epoch-{epoch + 1:04d}"
        with atomic_path(final, directory=True, sibling=True) as tmp:  # .epoch-...: not listed
            self.model.save_weights(str(tmp / WEIGHTS))
            state = {"epoch": epoch + 1, "iterations": steps_taken(self.model)}
            (tmp / STATE).write_text(json.dumps(state))
        for old in checkpoints(self.directory)[2:]:  # keep the newest two
            shutil.rmtree(old, ignore_errors=True)


def steps_taken(model: keras.Model) -> int:
    """The optimizer's step count (a plain, a mirrored or a JAX variable alike)."""
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def checkpoints(directory: Path) -> list[Path]:
    """The complete checkpoint folders in ``directory``, newest first."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.glob("epoch-*") if p.is_dir() and (p / STATE).is_file()]
    return sorted(found, key=lambda p: p.name, reverse=True)


def restore(model: keras.Model, directory: Path, fingerprint: dict, steps: int) -> int | None:
    """Load the newest usable checkpoint of this very run into ``model``; the epoch it ends, or
    None. A checkpoint is usable when its fingerprint matches, its files load, and its optimizer
    has taken exactly ``epoch x steps`` steps; otherwise the previous one is tried."""
    try:
        same = json.loads((directory / FINGERPRINT).read_text()) == fingerprint
    except (OSError, ValueError):
        same = False
    if not same:
        return None
    for folder in checkpoints(directory):
        try:
            state = json.loads((folder / STATE).read_text())
            epoch, iterations = int(state["epoch"]), int(state["iterations"])
            model.load_weights(str(folder / WEIGHTS))
        except (OSError, ValueError, KeyError, TypeError) as err:
            print(f"checkpoint {folder} is unusable ({type(err).__name__}); trying an older one")
            continue
        loaded = steps_taken(model)
        if epoch > 0 and iterations == loaded == epoch * steps:
            return epoch
        print(
            f"checkpoint {folder} is inconsistent (epoch {epoch}, {loaded} optimizer steps, "
            f"expected {epoch * steps}); trying an older one"
        )
    return None


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------------------------------------
# The life of a run
# ---------------------------------------------------------------------------------------------


@dataclass
class Fitted:
    """A trained run: the inference model, its per-epoch curves and its record."""

    inference: keras.Model
    history: dict[str, list[float]]
    record: dict


def fit_run(spec: runs.RunSpec, params: Params, started: float, multiplier: float) -> Fitted:
    """Train ``spec`` from start (or from its checkpoint) at ``multiplier`` x the profile's
    learning rate; the curves stay in the checkpoint folder (``spec.curves_in_progress``)."""
    prof, t = params.active_profile, params.train
    ensure_writable(spec.checkpoint)
    data_path = prepared.path_of(spec.dataset)
    arrays = prepared.load(data_path, splits=("train", "val"))  # never the test split
    x_train, y_train = arrays["x_train"], arrays["y_train"]
    num_classes = len(arrays["class_names"])
    steps = prof.steps_per_epoch(len(x_train))
    if steps == 0:
        raise ActbenchError(
            f"profiles.{params.profile}.batch_size = {prof.batch_size} is larger than the "
            f"{len(x_train)} training images of {spec.dataset}; use a smaller batch"
        )
    epochs = prof.epochs_for(len(x_train))
    replicas = device.distribution(t.distribute)
    if prof.batch_size % replicas.replicas:
        raise ActbenchError(
            f"profiles.{params.profile}.batch_size = {prof.batch_size} does not split evenly over "
            f"{replicas.replicas} devices; use a multiple of {replicas.replicas}"
        )
    precision = device.resolve_precision(t.mixed_precision)
    jit = device.resolve_jit(t.jit_compile, replicas.replicas)
    deterministic = device.resolve_deterministic(t.deterministic)
    on_device = device.resolve_feed(t.feed, replicas.replicas)
    setup = {
        "backend": device.backend(), "device_kind": device.device_kind(), "precision": precision,
        "xla": jit, "replicas": replicas.replicas, "distribution": replicas.kind,
        "deterministic": deterministic, "feed": "device" if on_device else "host",
    }  # fmt: skip
    fingerprint = {
        **spec.identity(), "lr_multiplier": multiplier, "profile": prof.model_dump(),
        "train": t.model_dump(), "data_md5": digests(data_path, "md5")["md5"],
        "code": provenance.code_version(), "versions": provenance.versions(), "device": setup,
    }  # fmt: skip

    device.set_seed(spec.seed, deterministic)
    keras.config.set_dtype_policy(precision)
    pad = padding_pixels(x_train.shape[1], t.crop_padding)
    cutout = cutout_pixels(x_train.shape[1], prof.cutout)
    reflect = prof.pad_mode == "reflect"
    flip = spec.dataset in t.hflip
    lr = schedule(params, steps, epochs, multiplier)
    with replicas.scope():
        model, inference = build_model(
            x_train.shape[1:], num_classes, spec.activation, prof.width, pad, flip, cutout, reflect
        )
        compile_model(model, params, lr, steps, jit)
        model.optimizer.build(model.trainable_variables)  # now, not inside the first trace:
        # variables created while tracing make TensorFlow trace the train step twice (+2.5 s)
        resumed_from = restore(model, spec.checkpoint, fingerprint, steps)
    live_dir = spec.curves_in_progress
    if resumed_from is None:
        shutil.rmtree(spec.checkpoint, ignore_errors=True)
        write_json(spec.checkpoint / FINGERPRINT, fingerprint)
    else:
        print(f"{spec.name}: resuming from the checkpoint after epoch {resumed_from}", flush=True)
    batches = Batches(x_train, y_train, num_classes, prof.batch_size, spec.seed, pad=pad, flip=flip,
                      cutout=cutout, on_device=on_device)  # fmt: skip
    x_val, y_val = arrays["x_val"], np.eye(num_classes, dtype="float32")[arrays["y_val"]]
    live = curves.open_log(live_dir, resumed_from)  # a resumed run's curves: its first epochs
    with live:
        log = EpochLog(live, spec.name, epochs, steps, prof.batch_size, batches, lr)
        # Log the epoch, then checkpoint it: a kill between the two repeats one epoch at worst.
        fit_started, start = time.time(), time.perf_counter()
        model.fit(
            batches, epochs=epochs, initial_epoch=resumed_from or 0,
            validation_data=((x_val, no_draws(len(x_val))), y_val),
            validation_batch_size=even_batch(len(x_val), params.evaluate.batch_size, replicas.replicas),
            callbacks=[log, EpochCheckpoint(spec.checkpoint)], verbose=1 if sys.stdout.isatty() else 0,
            shuffle=False,  # Batches shuffles by (seed, epoch); Keras' own shuffle would not resume
        )  # fmt: skip
        fit_seconds = time.perf_counter() - start
    if log.diverged_at is not None:
        shutil.rmtree(spec.checkpoint, ignore_errors=True)  # never resume into a NaN
        raise ActbenchError(
            f"{spec.name} diverged: the loss became NaN in epoch {log.diverged_at} (learning rate "
            f"{lr.peak:g} at its peak: profiles.{params.profile}.learning_rate = {prof.learning_rate} "
            f"x {multiplier:g}); lower the learning rate"
        )
    iterations = steps_taken(model)
    if iterations != epochs * steps:  # the schedule assumes exactly this many steps
        raise ActbenchError(
            f"{spec.name} took {iterations} optimizer steps, not {epochs} epochs x {steps}; "
            f"delete {spec.checkpoint} and rerun its train stage"
        )
    history = curves.read_history(live_dir)  # every epoch, those before a resume included
    val = history["val_accuracy"]
    best = int(np.argmax(val))
    # The first epoch includes tracing. (A run resumed after its last epoch trains none.)
    steady = log.epoch_seconds[1:] or log.epoch_seconds or [math.nan]
    record = {
        **spec.identity(),
        "epochs": len(val), "steps_per_epoch": steps, "optimizer_steps": iterations,
        "batch_size": prof.batch_size, "train_images": len(x_train), "val_images": len(x_val),
        "width": prof.width,
        **{name: history[name][-1] for name in curves.CURVES},
        "best_val_accuracy": val[best], "best_epoch": best + 1,
        "schedule": lr.get_config() | {"warmup_epochs": t.warmup_epochs, "lr_multiplier": multiplier},
        "resumed_from_epoch": resumed_from,
        "device": setup,
        "seconds": {
            "wall": round(time.time() - started, 2), "setup": round(fit_started - started, 2),
            "fit": round(fit_seconds, 2), "first_epoch": round(log.epoch_seconds[0], 2) if log.epoch_seconds else None,
            "later_epoch_mean": _finite(round(float(np.mean(steady)), 3)),
        },
        "images_per_second": _finite(round(steps * prof.batch_size / float(np.mean(steady)), 1)),
        **provenance.provenance(params.profile),
    }  # fmt: skip
    return Fitted(inference, history, record)


def train(spec: runs.RunSpec, params: Params, started: float, selection: dict) -> dict:
    """Train one benchmark run at its selected learning rate (``selection``, the select
    stage's file for its activation and dataset) to its saved model, curves and record."""
    ensure_writable(spec.model.parent, spec.train_record.parent, spec.curves.parent)
    fitted = fit_run(spec, params, started, float(selection["lr_multiplier"]))
    record = fitted.record  # its schedule records the selected multiplier
    with all_or_nothing(spec.model, spec.curves, spec.train_record):  # all three, or none
        with atomic_path(spec.model) as tmp:
            fitted.inference.save(tmp)  # uint8 images in, logits out; no optimizer
        with atomic_path(spec.curves, directory=True) as tmp:
            shutil.copytree(spec.curves_in_progress, tmp, dirs_exist_ok=True)
        write_json(spec.train_record, record)
    shutil.rmtree(spec.checkpoint, ignore_errors=True)  # complete: nothing to resume
    return record
