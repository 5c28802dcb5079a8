"""The built-in datasets: their names, classes, official files and published checksums.

This is the one place a built-in dataset is named. It is plain data (no I/O, no NumPy), so
params validation can read it in milliseconds. MD5s are what the authors publish; SHA-256s
and sizes are from independent public references (TensorFlow Datasets' URL checksum files,
Keras' and torchvision's loaders), and both are checked on every download.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteFile:
    name: str  # the official file name, also its name in a mirror directory
    size: int  # bytes
    md5: str  # as published by the dataset's authors
    sha256: str  # as listed by independent public references


@dataclass(frozen=True)
class Builtin:
    name: str
    classes: tuple[str, ...]
    files: tuple[RemoteFile, ...] = ()  # nothing to download when empty
    urls: tuple[str, ...] = ()  # base URLs, tried in order; the first is the official one
    citation: str = ""


CIFAR10 = Builtin(
    name="cifar10",
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    files=(
        # MD5: www.cs.toronto.edu/~kriz/cifar.html. SHA-256: tensorflow/datasets
        # url_checksums/cifar10.csv, keras/src/datasets/cifar10.py, torchvision prototype cifar.py.
        RemoteFile(
            "cifar-10-python.tar.gz", 170_498_071, "c58f30108f718f92721af3b95e74349a",
            "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        ),
    ),
    urls=("https://www.cs.toronto.edu/~kriz/",),
    citation="Krizhevsky (2009), Learning Multiple Layers of Features from Tiny Images",
)  # fmt: skip

FASHION_MNIST = Builtin(
    name="fashion_mnist",
    classes=("t-shirt/top", "trouser", "pullover", "dress", "coat",
             "sandal", "shirt", "sneaker", "bag", "ankle boot"),
    files=(
        # MD5: zalandoresearch/fashion-mnist README. SHA-256 and size: tensorflow/datasets
        # url_checksums/fashion_mnist.txt, keras/src/datasets/fashion_mnist.py, torchvision.
        RemoteFile(
            "train-images-idx3-ubyte.gz", 26_421_880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz", 29_515, "25c81989df183df01b3e8a0aad5dffbe",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        ),
        RemoteFile(
            "t10k-images-idx3-ubyte.gz", 4_422_102, "bef4ecab320f06d8554ea6380940ec79",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz", 5_148, "bb300cfdad3c16e7a12a480ee83cd310",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ),
    ),
    urls=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",  # Keras' mirror
    ),
    citation="Xiao, Rasul and Vollgraf (2017), Fashion-MNIST",
)  # fmt: skip

DIGITS = Builtin(
    name="digits",
    classes=tuple(str(d) for d in range(10)),
    citation="scikit-learn's bundled copy of the UCI optical recognition of handwritten digits",
)

BUILTIN: dict[str, Builtin] = {d.name: d for d in (CIFAR10, FASHION_MNIST, DIGITS)}


def names() -> list[str]:
    return list(BUILTIN)
