"""`systolica generate`: Verilog + manifest + port list; bad options exit 2 with a one-line reason."""
import json
import subprocess
import sys

import pytest

from systolica import cli


def test_generate_writes_verilog_and_manifest(tmp_path, capsys):
    assert cli.main(["generate", "--top", "array", "--dim", "4", "--spad-kib", "4", "--acc-kib", "2",
                     "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    v = (tmp_path / "systolica_top.v").read_text()
    man = json.loads((tmp_path / "systolica_top.json").read_text())
    assert "module systolica_top" in v
    assert man["config"]["dim"] == 4 and man["config_hash"]
    names = {p["name"] for p in man["ports"]}
    assert {"cmd__valid", "cmd__ready", "cmd__payload", "acc_read__payload", "mac_cycles", "clk"} <= names
    assert "cmd__payload" in out and "input" in out


def test_generate_accelerator_by_default(tmp_path):
    assert cli.main(["generate", "--dim", "4", "--spad-kib", "4", "--acc-kib", "2", "--out", str(tmp_path)]) == 0
    man = json.loads((tmp_path / "systolica_top.json").read_text())
    names = {p["name"] for p in man["ports"]}
    assert man["kind"] == "accelerator"
    assert {"m_axi__arvalid", "m_axi__rdata", "s_axil__awaddr", "irq"} <= names


@pytest.mark.parametrize("args,needle", [
    (["--dim", "40"], "dim must be in 2..32, not 40"),
    (["--dataflow", "xs"], "dataflow must be one of ('ws', 'os'), not 'xs'"),
    (["--input-width", "7"], "input_width must be in 8..16, not 7"),
    (["--name", "1bad"], "--name must be a Verilog identifier"),
])
def test_bad_option_one_line(tmp_path, args, needle):
    r = subprocess.run([sys.executable, "-m", "systolica.cli", "generate", *args, "--out", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
