"""The configuration options: command defaults, ``--preset NAME`` and ``--config FILE`` as the base, and the
``--<field>`` options given on the command line applied over any of them."""
import argparse

import pytest

from golden.config import PRESETS, AcceleratorConfig, preset
from systolica.options import add_config_arguments, config_from_args


def _parse(argv, **defaults):
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_config_arguments(parser, **defaults)
    return config_from_args(parser.parse_args(argv))


def test_command_defaults_then_options():
    assert _parse([]) == AcceleratorConfig()
    assert _parse([], dim=8) == AcceleratorConfig(dim=8)
    assert _parse(["--dim", "4"], dim=8, lanes=2) == AcceleratorConfig(dim=4, lanes=2)


def test_preset_is_the_base_and_options_apply_over_it():
    want = AcceleratorConfig(**PRESETS["ulx3s-85f"])
    assert _parse(["--preset", "ulx3s-85f"], dim=16, lanes=16) == want      # a preset replaces command defaults
    assert _parse(["--preset", "ulx3s-85f", "--lanes", "4"]) == want.replace(lanes=4)
    assert preset("ulx3s-85f", lanes=4) == want.replace(lanes=4)


def test_config_file_is_the_base(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(AcceleratorConfig(dim=4, acc_kib=8).to_json())
    assert _parse(["--config", str(f), "--lanes", "2"], dim=16) == AcceleratorConfig(dim=4, acc_kib=8, lanes=2)


def test_bad_sources():
    with pytest.raises(ValueError, match="preset must be one of \\['bert-base', 'ulx3s-85f'\\], not 'nope'"):
        preset("nope")
    with pytest.raises(argparse.ArgumentError, match="invalid choice: 'nope'"):
        _parse(["--preset", "nope"])
    with pytest.raises(argparse.ArgumentError, match="not allowed with argument"):
        _parse(["--preset", "ulx3s-85f", "--config", "x.json"])
    with pytest.raises(ValueError, match="cannot read --config 'missing.json'"):
        _parse(["--config", "missing.json"])
    with pytest.raises(ValueError, match="dim must be in 2..32, not 40"):
        _parse(["--preset", "ulx3s-85f", "--dim", "40"])
