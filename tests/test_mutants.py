"""Every deliberate fault of `make mutation` (tests/mutation.py) still applies to the source: a snippet that no
longer occurs exactly once makes its mutant test nothing, and only `make mutation` would notice."""
import pathlib

import pytest

import mutation

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("mutant", mutation.MUTANTS, ids=lambda m: m.id)
def test_mutant_applies(mutant):
    assert mutation.mutated_text(mutant, ROOT) != (ROOT / mutant.path).read_text()
