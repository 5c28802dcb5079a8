"""actbench: a reproducible DVC benchmark for activation functions in ResNet-18."""

import os

# Before anything imports TensorFlow: hide its C++ start-up chatter (a user can still override).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
