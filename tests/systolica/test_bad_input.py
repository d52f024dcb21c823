"""Bad input at the command line: every command rejects a bad configuration, model directory, sequence length,
window, sentence or option value with one line on stderr that names the bad value and exit code 2, never a
traceback, and before any long work (progress lines may come first)."""
import pytest

from systolica import cli

CASES = {
    "generate-dim": (["generate", "--dim", "40", "--out", "{tmp}"], "dim must be in 2..32, not 40"),
    "synth-dim": (["synth", "--dim", "40"], "not 40"),
    "build-lanes": (["build", "--lanes", "0"], "not 0"),
    "run-dim-not-int": (["run", "--dim", "x"], "invalid int value: 'x'"),
    "run-preset": (["run", "--preset", "nope"], "invalid choice: 'nope'"),
    "run-config-file": (["run", "--config", "{tmp}/missing.json"], "missing.json"),
    "run-model-dir": (["run", "--model", "{tmp}/no-such-checkpoint"], "no-such-checkpoint"),
    "run-seq": (["run", "--seq", "100000"], "not 100000"),
    "run-layers": (["run", "--layers", "9"], "not 9"),
    "run-window": (["run", "--window", "x"], "not 'x'"),
    "run-windows-per-layer": (["run", "--layers", "2", "--window", "3,4,5"], "3 windows for 2 layers"),
    "run-sentence": (["run", " "], "sentence must be a non-empty string, not ' '"),
    "golden-bits": (["golden", "--hidden-bits", "99"], "not 99"),
    "golden-sentence": (["golden", ""], "not ''"),
    "rebert-target": (["rebert", "--target", "1.5"], "not 1.5"),
    "rebert-seq": (["rebert", "--seq", "1"], "not 1"),
    "demo-seq": (["demo", "--seq", "1", "--out", "{tmp}"], "not 1"),
    "paper-clock": (["paper", "--clock-mhz", "-5"], "not -5"),
    "bench-dims": (["bench", "--only", "golden", "--dims", "8,x", "--out", "{tmp}"], "not '8,x'"),
    "no-command": (["frobnicate"], "invalid choice: 'frobnicate'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line(case, tmp_path, capsys):
    argv, names = CASES[case]
    argv = [a.format(tmp=tmp_path) for a in argv]
    try:
        rc = cli.main(argv)
    except SystemExit as e:          # argparse's own checks
        rc = e.code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("systolica")]   # progress lines may precede
    assert rc == 2 and len(errors) == 1 and err.rstrip().endswith(errors[0]) and "Traceback" not in err, err
    assert names in errors[0], errors[0]
