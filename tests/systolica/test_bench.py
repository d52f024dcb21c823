"""`systolica bench`: sections selected with --only, --dims passed to the sections that sweep DIM, JSON and
Markdown written; a bad --dims is a one-line error."""
import json
import sys
import types

from systolica import bench, cli


def _section(name, seen, with_dims):
    mod = types.ModuleType(name)
    if with_dims:
        def run(progress, dims=(8, 16)):
            seen[name] = dims
            return {"dims": (",".join(map(str, dims)), "")}
    else:
        def run(progress):
            seen[name] = None
            return {"x": (1.5, "s")}
    mod.run = run
    return mod


def test_only_and_dims(tmp_path, monkeypatch):
    seen = {}
    for name, with_dims in (("fake_dims", True), ("fake_plain", False)):
        monkeypatch.setitem(sys.modules, f"tests_fake.{name}", _section(name, seen, with_dims))
        monkeypatch.setitem(bench.SECTIONS, name, f"tests_fake.{name}")
    assert cli.main(["bench", "--only", "fake_dims", "--only", "fake_plain", "--dims", "8",
                     "--out", str(tmp_path)]) == 0
    assert seen == {"fake_dims": (8,), "fake_plain": None}
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["fake_dims"]["dims"]["value"] == "8" and data["fake_plain"]["x"] == {"value": 1.5, "unit": "s"}
    assert "| fake_plain | x | 1.5 | s |" in (tmp_path / "bench.md").read_text()
    assert cli.main(["bench", "--only", "fake_dims", "--out", str(tmp_path)]) == 0
    assert seen["fake_dims"] == (8, 16)                      # the section's own default


def test_bad_dims_one_line(tmp_path, capsys):
    assert cli.main(["bench", "--only", "golden", "--dims", "8,x", "--out", str(tmp_path)]) == 2
    assert "--dims must be comma-separated integers, not '8,x'" in capsys.readouterr().err
