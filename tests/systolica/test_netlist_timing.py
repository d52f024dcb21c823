"""systolica.netlist_timing on a hand-made netlist: which paths it finds, their cells and their delays."""
import math

import pytest

from systolica.netlist_timing import DELAYS, format_paths, longest_paths


def _cell(kind, **ports):
    """A cell: ports given as (direction, [bits])."""
    return {"type": kind, "parameters": {}, "attributes": {},
            "port_directions": {p: d for p, (d, _) in ports.items()},
            "connections": {p: bits for p, (_, bits) in ports.items()}}


def _netlist():
    # a (bit 2) -> LUT -> LUT -> b; a -> two carry cells (S0 of the first, then CIN -> S0) -> c; input 9 -> LUT -> d
    cells = {
        "ff_a": _cell("TRELLIS_FF", CLK=("input", [1]), DI=("input", [20]), Q=("output", [2])),
        "l1": _cell("LUT4", A=("input", [2]), B=("input", ["0"]), Z=("output", [3])),
        "l2": _cell("LUT4", A=("input", [3]), B=("input", [2]), Z=("output", [4])),
        "ff_b": _cell("TRELLIS_FF", CLK=("input", [1]), DI=("input", [4]), Q=("output", [5])),
        "c1": _cell("CCU2C", A0=("input", [2]), CIN=("input", ["0"]), S0=("output", [6]), COUT=("output", [7])),
        "c2": _cell("CCU2C", A0=("input", ["0"]), CIN=("input", [7]), S0=("output", [8]), COUT=("output", [])),
        "ff_c": _cell("TRELLIS_FF", CLK=("input", [1]), DI=("input", [8]), Q=("output", [])),
        "l3": _cell("LUT4", A=("input", [9]), Z=("output", [10])),
        "ff_d": _cell("TRELLIS_FF", CLK=("input", [1]), DI=("input", [10]), Q=("output", [20])),
    }
    names = {"a": [2], "b_in": [4], "carry": [7], "c_in": [8], "inp": [9], "clk": [1], "x": [3], "s": [6],
             "d_in": [10], "d": [20], "b": [5]}
    return {"modules": {"top": {"attributes": {"top": 1}, "cells": cells,
                                "netnames": {k: {"bits": v} for k, v in names.items()}}}}


def net(fanout):
    return DELAYS["net"] + DELAYS["net_per_fanout_doubling"] * math.log2(max(fanout, 1))


def test_paths_and_delays():
    paths = longest_paths(_netlist())
    by_end = {p.end.split(" ")[0]: p for p in paths}
    assert set(by_end) == {"b_in", "c_in", "d_in", "d"}      # d: ff_d's Q straight into ff_a, no cell
    assert by_end["d"].cells == 0
    # a has fanout 3 (l1, l2, c1); x fanout 1
    start = DELAYS["start"]["TRELLIS_FF"]
    via_l1 = start + net(3) + DELAYS["LUT4"] + net(1) + DELAYS["LUT4"]
    assert by_end["b_in"].ns == pytest.approx(via_l1 + net(1) + DELAYS["setup"], abs=0.01)
    assert by_end["b_in"].cells == 2 and by_end["b_in"].kinds == {"LUT4": 2} and by_end["b_in"].start == "a"
    # the carry: the second cell's CIN -> S0 adds no net delay
    carry = start + net(3) + DELAYS["sum"] + DELAYS["carry_in_sum"]
    assert by_end["c_in"].ns == pytest.approx(carry + net(1) + DELAYS["setup"], abs=0.01)
    assert by_end["c_in"].kinds == {"CCU2C": 2}
    # a top-level input starts at 0
    assert by_end["d_in"].ns == pytest.approx(net(1) + DELAYS["LUT4"] + net(1) + DELAYS["setup"], abs=0.01)
    assert [p.ns for p in paths] == sorted((p.ns for p in paths), reverse=True)
    text = format_paths(paths, 2)
    assert len(text.splitlines()) == 2 and text.splitlines()[0].split()[0] == f"{paths[0].ns:.1f}"


def test_cli_names_a_bad_netlist(tmp_path, capsys):
    from systolica.netlist_timing import main
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "missing.json")])
    assert e.value.code == 2 and "missing.json" in capsys.readouterr().err
