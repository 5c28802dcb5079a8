"""Training: the input pipeline, the recipe (SGD + Nesterov, warm-up + cosine, label smoothing,
weight decay, crop/flip augmentation), per-epoch logging with dvclive, and divergence checks.

``train_run`` is the library entry point; ``stages/train.py`` is the script around it.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from actbench.config import Profile, TrainParams
from actbench.errors import ActbenchError
from actbench.io import atomic_path, write_json
from actbench.resnet import build_resnet18

REFERENCE_BATCH = 128  # train.learning_rate is per this many images (linear scaling rule)


@dataclass(frozen=True)
class RunSpec:
    """Everything that identifies one run; its name is used for every file it writes."""

    activation: str
    dataset: str
    seed: int
    role: str  # "baseline" or "candidate"

    @property
    def name(self) -> str:
        return f"{self.activation}_{self.dataset}_s{self.seed}"


def has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def set_seed(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and TensorFlow; optionally make TensorFlow ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def resolve_jit(setting: str | bool) -> bool:
    """``auto`` = XLA on GPUs only: on a 2-core CPU it measured slower (see README, benchmark)."""
    return has_gpu() if setting == "auto" else bool(setting)


def resolve_precision(setting: str) -> str:
    """Keras dtype policy: bfloat16 mixed precision on GPUs when ``auto``, float32 on CPUs."""
    if setting == "auto":
        return "mixed_bfloat16" if has_gpu() else "float32"
    return {"off": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}[setting]


def distribution(setting: str) -> tf.distribute.Strategy:
    """``auto``: MirroredStrategy over all GPUs when there are two or more, else one device.

    ``mirrored`` forces it, over every GPU, or over every logical CPU device where there is no
    GPU (how the tests check it on a CPU split in two). ``off`` is always one device. The batch
    size is global: each of N replicas gets batch/N images, and the learning rate, tied to the
    global batch, needs no change.
    """
    gpus = tf.config.list_logical_devices("GPU")
    if setting == "mirrored" or (setting == "auto" and len(gpus) > 1):
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    return tf.distribute.get_strategy()


def to_unit_float(x):
    """uint8 images -> float32 in [0, 1], as in the original study."""
    return tf.cast(x, tf.float32) / 255.0


def padding_pixels(image_side: int, crop_padding: float) -> int:
    """Random-crop padding in pixels: a fraction of the image side, at least 1 when non-zero."""
    return max(1, round(image_side * crop_padding)) if crop_padding > 0 else 0


def train_dataset(
    x: np.ndarray, y: np.ndarray, num_classes: int, batch_size: int, seed: int, pad: int, flip: bool
) -> tf.data.Dataset:
    """Shuffled, augmented, one-hot batches of a fixed shape (the remainder is dropped).

    Augmentation uses stateless ops fed by a seeded random stream, so it is the same on every
    machine and independent of how many parallel calls tf.data uses. It is mapped per image: a
    vectorised per-batch version (two gathers) ran 2x faster on its own but slowed ``fit`` by
    ~20% on a 2-core CPU, where the pipeline shares the cores with training.
    """
    height, width = x.shape[1:3]

    def augment(image, label, rng):  # image: (H, W, C) uint8, rng: (2, 2) int64 seeds
        image = to_unit_float(image)
        if pad:
            image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
            image = tf.image.stateless_random_crop(image, (height, width, x.shape[3]), seed=rng[0])
        if flip:
            image = tf.image.stateless_random_flip_left_right(image, seed=rng[1])
        return image, tf.one_hot(label, num_classes)

    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(
        len(x), seed=seed, reshuffle_each_iteration=True
    )
    rngs = tf.data.Dataset.random(seed=seed).batch(2).batch(2)  # endless (2, 2) int64 seeds
    return (
        tf.data.Dataset.zip(data, rngs)
        .map(
            lambda xy, r: augment(xy[0], xy[1], r),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def eval_dataset(
    x: np.ndarray, y: np.ndarray, num_classes: int, batch_size: int
) -> tf.data.Dataset:
    return (
        tf.data.Dataset.from_tensor_slices((x, y))
        .batch(batch_size)
        .map(lambda a, b: (to_unit_float(a), tf.one_hot(b, num_classes)))
        .prefetch(tf.data.AUTOTUNE)
    )


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


def compile_model(
    model: keras.Model, recipe: TrainParams, batch_size: int, steps_per_epoch: int, epochs: int
) -> None:
    peak = recipe.learning_rate * batch_size / REFERENCE_BATCH
    total = epochs * steps_per_epoch
    schedule = WarmupCosine(peak, min(recipe.warmup_epochs * steps_per_epoch, total - 1), total)
    optimizer = keras.optimizers.SGD(
        learning_rate=schedule,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay or None,
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=recipe.label_smoothing
        ),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile=resolve_jit(recipe.jit_compile),
        steps_per_execution=min(recipe.steps_per_execution, steps_per_epoch),
    )


class EpochLog(keras.callbacks.Callback):
    """Per-epoch logging: dvclive metrics, one summary line when stdout is not a TTY, NaN stop."""

    def __init__(self, live, run: str, epochs: int, images_per_epoch: int):
        super().__init__()
        self.live, self.run, self.epochs, self.images = live, run, epochs, images_per_epoch
        self.history: dict[str, list[float]] = {
            "loss": [],
            "accuracy": [],
            "val_loss": [],
            "val_accuracy": [],
        }
        self.epoch_seconds: list[float] = []
        self.diverged_at: int | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        seconds = time.perf_counter() - self._t0
        self.epoch_seconds.append(seconds)
        for key in self.history:
            self.history[key].append(float(logs.get(key, math.nan)))
        if not all(math.isfinite(self.history[k][-1]) for k in ("loss", "val_loss")):
            self.diverged_at = epoch + 1
            self.model.stop_training = True
            return
        for key, value in logs.items():
            if key in self.history:
                split = "val" if key.startswith("val_") else "train"
                self.live.log_metric(f"{split}/{key.removeprefix('val_')}", float(value))
        self.live.next_step()
        if not sys.stdout.isatty():
            print(
                f"{self.run} epoch {epoch + 1}/{self.epochs}: loss {logs['loss']:.4f} "
                f"acc {logs['accuracy']:.4f} val_loss {logs['val_loss']:.4f} "
                f"val_acc {logs['val_accuracy']:.4f} ({self.images / seconds:.0f} img/s)",
                flush=True,
            )


@dataclass
class TrainResult:
    model: keras.Model
    history: dict[str, list[float]]
    epoch_seconds: list[float]
    fit_seconds: float
    images_per_second: float
    resumed_from: int | None


def train_run(
    spec: RunSpec,
    arrays: dict[str, np.ndarray],
    budget: Profile,
    recipe: TrainParams,
    live_dir: Path,
    checkpoint_dir: Path,
    fingerprint: dict,
) -> TrainResult:
    """Seed, build, train and return the model; raise ``ActbenchError`` if the loss turns NaN.

    Training state (weights, optimizer, epoch) is backed up to ``checkpoint_dir`` after every
    epoch. If a checkpoint made with the same ``fingerprint`` (run, budget, recipe, data) is
    there, training resumes from it and dvclive continues its curves; otherwise both start over.
    The checkpoint is removed once the run has finished, or failed for good (divergence).
    """
    from dvclive import Live
    from scmrepo.exceptions import SCMError

    resumed_from = resume_point(checkpoint_dir, fingerprint)
    if resumed_from is None:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        shutil.rmtree(live_dir, ignore_errors=True)
        write_json(checkpoint_dir / FINGERPRINT, fingerprint)
    else:
        print(f"{spec.name}: resuming from the checkpoint after epoch {resumed_from}", flush=True)
        truncate_curves(live_dir, resumed_from)
    set_seed(spec.seed, recipe.deterministic)
    keras.config.set_dtype_policy(resolve_precision(recipe.mixed_precision))
    x_train, y_train = arrays["x_train"], arrays["y_train"]
    num_classes = len(arrays["class_names"])
    steps = len(x_train) // budget.batch_size
    if steps == 0:
        raise ActbenchError(
            f"profiles.*.batch_size = {budget.batch_size} is larger than the "
            f"{len(x_train)} training images of {spec.dataset}; use a smaller batch"
        )
    pad = padding_pixels(x_train.shape[1], recipe.crop_padding)
    flip = spec.dataset in recipe.hflip
    train_ds = train_dataset(x_train, y_train, num_classes, budget.batch_size, spec.seed, pad, flip)
    val_ds = eval_dataset(arrays["x_val"], arrays["y_val"], num_classes, budget.batch_size)

    strategy = distribution(recipe.distribute)
    if budget.batch_size % strategy.num_replicas_in_sync:
        raise ActbenchError(
            f"profiles.*.batch_size = {budget.batch_size} does not split evenly over "
            f"{strategy.num_replicas_in_sync} devices; use a multiple of {strategy.num_replicas_in_sync}"
        )
    with strategy.scope():
        model = build_resnet18(x_train.shape[1:], num_classes, spec.activation, width=budget.width)
        compile_model(model, recipe, budget.batch_size, steps, budget.epochs)
    try:
        live = Live(
            dir=str(live_dir),
            resume=resumed_from is not None,
            save_dvc_exp=False,
            dvcyaml=None,
            report=None,
        )
    except SCMError as err:  # dvclive 3.49 reads HEAD and fails in a repository with no commit
        raise ActbenchError(
            f"dvclive cannot start ({err}); commit the project first: git add -A && git commit"
        ) from None
    if resumed_from is not None:
        live.step = resumed_from  # epoch k is step k - 1: continue right after the checkpoint
    with live:
        log = EpochLog(live, spec.name, budget.epochs, steps * budget.batch_size)
        # Log the epoch, then back it up: a kill between the two repeats one epoch at worst.
        backup = keras.callbacks.BackupAndRestore(
            str(checkpoint_dir / "state"), delete_checkpoint=False
        )
        start = time.perf_counter()
        model.fit(
            train_ds,
            epochs=budget.epochs,
            validation_data=val_ds,
            callbacks=[log, backup],
            verbose=1 if sys.stdout.isatty() else 0,
            shuffle=False,  # train_ds is already shuffled, with its own seed
        )
        fit_seconds = time.perf_counter() - start
    if log.diverged_at is not None:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)  # never resume into a NaN
        raise ActbenchError(
            f"{spec.name} diverged: the loss became NaN in epoch {log.diverged_at} "
            f"(train.learning_rate = {recipe.learning_rate}); lower the learning rate"
        )
    # Throughput of the steady state: the first epoch includes tracing and compilation.
    steady = log.epoch_seconds[1:] or log.epoch_seconds
    images_per_second = steps * budget.batch_size * len(steady) / sum(steady)
    history = read_history(live_dir)  # every epoch, those before a resume included
    return TrainResult(
        model, history, log.epoch_seconds, fit_seconds, images_per_second, resumed_from
    )


FINGERPRINT = "fingerprint.json"


def resume_point(checkpoint_dir: Path, fingerprint: dict) -> int | None:
    """The epoch to resume after, if ``checkpoint_dir`` holds a backup of this very run."""
    meta = checkpoint_dir / "state" / "training_metadata.json"
    try:
        same = json.loads((checkpoint_dir / FINGERPRINT).read_text()) == fingerprint
        epoch = int(json.loads(meta.read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return None
    return epoch if same and epoch > 0 else None


CURVES = ("train/loss", "train/accuracy", "val/loss", "val/accuracy")


def truncate_curves(live_dir: Path, epochs: int) -> None:
    """Keep the first ``epochs`` rows of every curve: what was logged after the last backup
    (a kill between logging an epoch and backing it up) is trained and logged again."""
    for path in (live_dir / "plots" / "metrics").rglob("*.tsv"):
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
            fields = list(rows[0]) if rows else None
        if fields is None:
            continue
        with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, delimiter="\t")
            writer.writeheader()
            writer.writerows(r for r in rows if int(r["step"]) < epochs)


def read_history(live_dir: Path) -> dict[str, np.ndarray]:
    """Per-epoch curves from a dvclive directory (``plots/metrics/<split>/<name>.tsv``)."""
    out = {}
    for curve in CURVES:
        path = live_dir / "plots" / "metrics" / f"{curve}.tsv"
        if not path.is_file():
            raise ActbenchError(f"{path} is missing; rerun the run's train stage (`dvc repro`)")
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        name = curve.split("/")[1]
        out[curve] = np.array([float(r[name]) for r in sorted(rows, key=lambda r: int(r["step"]))])
    return out
