"""`systolica paper`: every claim of the seed paper beside ours, as JSON (the issue's schema), Markdown and PNG."""
import argparse
import json
import math

import pytest

from systolica import paper


@pytest.mark.slow
def test_paper_claims(tmp_path):
    out = tmp_path / "claims.json"
    assert paper.run(argparse.Namespace(json=str(out), clock_mhz=100.0)) == 0
    claims = json.loads(out.read_text())["claims"]
    assert [c["paper"] for c in claims] == [-78, 27, -36, 96, 39.6, 14]
    for c in claims:
        assert {"claim", "paper", "measured", "unit", "workload", "source"} <= set(c)
        assert isinstance(c["measured"], float) and math.isfinite(c["measured"])
        assert c["source"] in ("rtl", "model")
    # the integer units do beat sending every nonlinear op to the host, and the units do cost area
    assert claims[4]["measured"] > 1 and 0 < claims[5]["measured"] < 100
    assert out.with_suffix(".png").stat().st_size > 10_000 and "| MHA latency" in out.with_suffix(".md").read_text()


def test_bad_clock():
    with pytest.raises(ValueError, match="--clock-mhz must be positive, not 0.0"):
        paper.run(argparse.Namespace(json="unused.json", clock_mhz=0.0))
