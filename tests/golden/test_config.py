"""AcceleratorConfig: validation names the bad value, JSON round trip, stable hash, derived sizes."""
import json

import pytest

from golden.config import MAX_COL_ENTRIES, AcceleratorConfig
from golden.isa import MAX_ROW


def test_defaults_and_sizes():
    c = AcceleratorConfig()
    assert (c.dim, c.input_width, c.weight_width, c.acc_width, c.dataflow, c.lanes) == (16, 8, 8, 32, "ws", 16)
    assert c.spad_rows == 256 * 1024 // 16 and c.acc_rows == 64 * 1024 // (16 * 4)
    assert c.spad_addr_width == 14 and c.acc_addr_width == 10
    assert (c.derive_engines, c.bus_width, c.bus_bytes, c.pe_pipeline) == (2, 128, 16, 0)
    assert c.col_entries == 1536 and MAX_COL_ENTRIES == MAX_ROW


def test_capacity_is_an_upper_bound():
    c = AcceleratorConfig(dim=16, input_width=10)  # 160-bit rows do not divide 256 KiB
    assert c.spad_rows == 256 * 1024 * 8 // 160 // 4 * 4 and c.spad_rows % c.spad_banks == 0
    assert AcceleratorConfig(dim=12).spad_rows == 256 * 1024 // 12 // 4 * 4


def test_json_round_trip_and_hash():
    c = AcceleratorConfig(dim=8, input_width=12, acc_width=40, spad_kib=64, acc_banks=4)
    again = AcceleratorConfig.from_json(c.to_json())
    assert again == c and again.config_hash() == c.config_hash()
    assert c.config_hash() != AcceleratorConfig(dim=8).config_hash()
    assert json.loads(c.to_json())["input_width"] == 12


@pytest.mark.parametrize("kw,needle", [
    ({"dim": 1}, "dim must be in 2..32, not 1"),
    ({"dim": 33}, "not 33"),
    ({"dim": 4.0}, "dim must be int, not 4.0"),
    ({"input_width": 17}, "input_width must be in 8..16, not 17"),
    ({"weight_width": 4}, "not 4"),
    ({"acc_width": 15}, "acc_width must be in 16..64"),
    ({"input_width": 16, "acc_width": 20}, "acc_width must be in 24..64 for input_width=16, not 20"),
    ({"acc_width": 65}, "not 65"),
    ({"dataflow": "xs"}, "dataflow must be one of ('ws', 'os'), not 'xs'"),
    ({"spad_banks": 3}, "spad_banks must be a power of two in 1..64, not 3"),
    ({"acc_banks": 0}, "not 0"),
    ({"lanes": 0}, "lanes must be in 1..64, not 0"),
    ({"spad_kib": 0}, "spad_kib must be >= 1, not 0"),
    ({"dim": 32, "acc_width": 64, "acc_kib": 1, "acc_banks": 8}, "acc_kib=1 holds fewer than one 2048-bit row"),
    ({"dim": True}, "dim must be int, not True"),
    ({"pe_pipeline": 3}, "pe_pipeline must be in 0..2, not 3"),
    ({"pe_pipeline": 1, "dataflow": "os"}, "pe_pipeline=1 is built for the weight-stationary array only"),
    ({"derive_engines": 0}, "derive_engines must be in 1..16, not 0"),
    ({"derive_engines": 17}, "not 17"),
    ({"col_entries": 0}, "col_entries must be in 1..4096, not 0"),
    ({"col_entries": 4097}, "not 4097"),
    ({"bus_width": 256}, "bus_width must be one of (32, 64, 128), not 256"),
    ({"bus_width": 100}, "not 100"),
])
def test_bad_values_are_named(kw, needle):
    with pytest.raises(ValueError, match=None) as e:
        AcceleratorConfig(**kw)
    assert needle in str(e.value)


def test_from_json_rejects_garbage():
    with pytest.raises(ValueError, match="not valid JSON"):
        AcceleratorConfig.from_json("{")
    with pytest.raises(ValueError, match=r"unknown configuration field\(s\) \['foo'\]"):
        AcceleratorConfig.from_json('{"foo": 1}')
    with pytest.raises(ValueError, match="must be a JSON object"):
        AcceleratorConfig.from_json("[1]")
