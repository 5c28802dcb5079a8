"""Atomic writes: no temporary files left, the old file survives a failed write."""

import pytest


def test_atomic_write_leaves_no_temporary_file_and_keeps_the_old_file_on_failure(tmp_path):
    from actbench.io import atomic_path, write_json

    target = tmp_path / "m.json"
    write_json(target, {"a": 1})
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # the usual mode, not mkstemp's
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text().strip().startswith("{") and "half" not in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
