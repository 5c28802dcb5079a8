"""Training, split as the work is: ``device`` (backend, precision, XLA, replicas), ``pipeline``
(host batches and on-device augmentation) and ``loop`` (the recipe and the life of a run)."""
