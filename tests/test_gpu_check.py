"""tools/gpu_check.py end to end on the CPU (--smoke): the same code as on a GPU, tiny sizes."""

import json
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from .project import ROOT

pytestmark = pytest.mark.portable
SHARED = ROOT.parent / "shared" / "data" / "cifar10-jpeg"


def _folder(root):
    """A small CIFAR-like folder: real CIFAR-10 JPEGs where ../shared has them, else flat colours."""
    for split, n in (("train", 30), ("test", 10)):
        for k, cls in enumerate(("airplane", "cat", "ship")):
            (root / split / cls).mkdir(parents=True)
            src = sorted((SHARED / split / cls).glob("*.jpg"))[:n] if SHARED.is_dir() else []
            for i in range(n):
                if src:
                    shutil.copy(src[i], root / split / cls / src[i].name)
                else:
                    Image.new("RGB", (32, 32), (80 * k, 40, 200 - 60 * k)).save(
                        root / split / cls / f"{i}.png"
                    )


def test_gpu_check_smoke_writes_every_measurement(tmp_path):
    _folder(tmp_path / "c10")
    out = tmp_path / "gpu_check.json"
    res = subprocess.run([sys.executable, "tools/gpu_check.py", "--smoke", "--out", str(out), "--folder", str(tmp_path / "c10")],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["throughput"]) == {"relu", "tanhrelu", "elu", "swish"}
    assert result["throughput"]["relu"]["step_time_ratio_to_relu"] == 1.0
    for entry in result["throughput"].values():
        assert entry["images_per_s"] > 0 and 0 < entry["mfu"] < 1
    assert result["matmul_peak_tflops"] > 0 and result["training_gflop_per_image"] > 0
    conv = result["convergence"]
    assert conv["epochs"] == 3 and len(conv["test_accuracy_per_epoch"]) == 3
    assert conv["train_loss_per_epoch"][-1] < conv["train_loss_per_epoch"][0]  # it learns
