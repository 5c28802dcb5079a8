"""Evaluation on the test set, and the dying-unit diagnostic on validation images.

Test metrics use scikit-learn (precision, recall, F1, macro and per class; confusion pairs).
The dying-unit diagnostic measures, on a fixed batch of validation images:

* ``dead_fraction``: per activation layer, the fraction of units (one unit = one position and
  channel of the layer's output) whose local gradient ``|f'(z)|`` is below a threshold for
  every image of the batch; reported per layer and as the mean over layers.
* ``first_conv_grad``: the mean absolute gradient of the test-style loss (cross-entropy without
  label smoothing, averaged over the batch) with respect to the first convolution's kernel.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from sklearn.metrics import log_loss, precision_recall_fscore_support

from actbench.errors import ActbenchError
from actbench.training import to_unit_float


def load_model(path) -> keras.Model:
    """Load a saved run; a corrupt or foreign file becomes one clear error."""
    import actbench.activations  # noqa: F401  (registers the custom activations)

    try:
        return keras.saving.load_model(path)
    except FileNotFoundError:
        raise ActbenchError(f"model {path} is missing; run its train stage (`dvc repro`)") from None
    except Exception as err:  # Keras raises many types for a damaged zip/config/weights
        first = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise ActbenchError(
            f"model {path} cannot be loaded ({first}); delete it and rerun its train stage"
        ) from None


def predict_logits(model: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    data = tf.data.Dataset.from_tensor_slices(x).batch(batch_size).map(to_unit_float)
    return np.asarray(model.predict(data, verbose=0), dtype=np.float64)


def classification_metrics(
    y_true: np.ndarray, logits: np.ndarray, class_names: list[str]
) -> dict[str, object]:
    """Loss, accuracy and macro/per-class precision, recall and F1 from logits."""
    probs = tf.nn.softmax(logits).numpy()
    y_pred = logits.argmax(axis=1)
    labels = list(range(len(class_names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    mp, mr, mf, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    return {
        "test_loss": float(log_loss(y_true, probs, labels=labels)),
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


def dying_units(
    model: keras.Model, x: np.ndarray, y: np.ndarray, threshold: float
) -> dict[str, object]:
    """The dying-unit diagnostic (see module docstring) on images ``x`` (uint8) and labels ``y``."""
    act_layers = [lay for lay in model.layers if isinstance(lay, keras.layers.Activation)]
    if not act_layers:
        raise ActbenchError("model has no Activation layers to diagnose")
    probe = keras.Model(model.inputs, [lay.input for lay in act_layers])  # pre-activations
    images = to_unit_float(x)
    per_layer = {}
    for layer, z in zip(act_layers, probe(images, training=False), strict=True):
        z = tf.convert_to_tensor(z)
        with tf.GradientTape() as tape:
            tape.watch(z)
            out = layer.activation(z)
        local = tf.abs(tape.gradient(out, z))  # f'(z), elementwise: (B, H, W, C)
        dead = tf.reduce_all(local < threshold, axis=0)  # dead for every image: (H, W, C)
        per_layer[layer.name] = float(tf.reduce_mean(tf.cast(dead, tf.float32)))
    stem = next(lay for lay in model.layers if isinstance(lay, keras.layers.Conv2D))
    with tf.GradientTape() as tape:
        logits = model(images, training=False)
        loss = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        loss = tf.reduce_mean(loss)
    grad = tape.gradient(loss, stem.kernel)
    return {
        "dead_fraction": float(np.mean(list(per_layer.values()))),
        "first_conv_grad": float(tf.reduce_mean(tf.abs(grad))),
        "dead_fraction_per_layer": per_layer,
    }
