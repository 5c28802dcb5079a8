"""actbench: a reproducible DVC benchmark for activation functions in ResNet-18.

    import actbench
    model = actbench.load_model("models/candidate/tanhrelu_digits_s0.keras")
    model.predict(uint8_images)   # (N, H, W, C) uint8 -> (N, classes) logits

Nothing heavy is imported here: every stage imports this package first.
"""

import importlib
import os

# Before anything imports TensorFlow: hide its C++ start-up chatter (a user can still override).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.2.0"


def __getattr__(name: str):
    # ``actbench.load_model`` on first use (PEP 562), so `import actbench` stays light. No
    # stage calls it (stages load models through actbench.evaluation), hence importlib here.
    if name == "load_model":
        return importlib.import_module("actbench.evaluation").load_model
    raise AttributeError(f"module 'actbench' has no attribute {name!r}")
