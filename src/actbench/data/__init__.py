"""Datasets, split by concern so that each stage depends only on what it uses.

* ``catalog``: the built-in datasets, their official files and checksums (names only, no I/O).
* ``sources``: download and checksum verification (the download stage).
* ``formats``: parsers of the official file formats (CIFAR-10 pickles, IDX).
* ``folders``: user image folders (the ingest stage).
* ``raw``: a dataset's arrays before splitting; ``splits``: stratified train/val/test splits.
* ``prepared``: the prepared arrays, the only data module training and evaluation import.
"""
