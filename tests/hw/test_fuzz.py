"""Fuzzed programs on the RTL against golden's queue model (sim.fuzz): error code, error info and output memory
agree, and no run passes its watchdog. 300 under fixed seeds in make test, 12,000 in make test-all;
every saved failure (tests/fuzz_regressions/) is replayed."""
import json
import pathlib

import pytest

from sim import fuzz

SAVED = sorted(pathlib.Path(fuzz.REGRESSIONS).glob("*.json"))


def _report(failed):
    return "\n".join(f"seed {c.seed} case {c.index} ({c.kind}): {'; '.join(p)}" for c, p in failed)


@pytest.mark.parametrize("seed, count, stall", [(1, 200, 0.0), (2, 100, 0.2),
                                                pytest.param(100, 12000, 0.1, marks=pytest.mark.slow)],
                         ids=["seed1", "seed2-stalls", "seed100-many"])
def test_fuzzed_programs_agree_with_the_model(seed, count, stall):
    failed = []
    for start in range(0, count, 1000):
        failed += fuzz.run(seed + start, min(1000, count - start), stall=stall, progress=lambda m: None,
                           save=False)
    assert not failed, _report(failed)


def test_cases_start_from_their_own_image():
    """Seed 500's case 586 writes below the memory's end before its bus error; case 592 reads there. In one launch
    the second must still see its own image (the fuzzer rewrites the memory's top for every case)."""
    failed = fuzz.run(500, 0, progress=lambda m: None, save=False, indices=range(585, 593))
    assert not failed, _report(failed)


def test_saved_failures_replay():
    """Every program that once failed (tests/fuzz_regressions/: its memory image, the stall it failed under and
    what went wrong) agrees now, all in one launch."""
    assert SAVED, "tests/fuzz_regressions/ holds the programs the fuzzer found bugs with"
    from sim.system import run_programs
    saved = [(p.name, json.loads(p.read_text())) for p in SAVED]
    for dim in sorted({s["dim"] for _, s in saved}):
        cfg = fuzz.CONFIG.replace(dim=dim)
        mine = [(name, s, fuzz.from_saved(s, cfg)) for name, s in saved if s["dim"] == dim]
        results = run_programs(cfg, [j for _, s, c in mine for j in fuzz.jobs([c], cfg, s["stall"])],
                               progress=lambda m: None)
        for n, (name, s, c) in enumerate(mine):
            assert results[2 * n].done, name
            assert fuzz.check(c, results[2 * n + 1], cfg) == [], (name, s["problems"])


def test_generator_covers_every_kind_and_error():
    """The fixed-seed set holds valid programs and every adversarial kind, and the model's verdicts cover every
    error code the generator aims at."""
    cases = [fuzz.generate(1, i) for i in range(200)]
    kinds = {c.kind for c in cases}
    codes = {e[0] for c in cases for e in c.outcome.errors}
    assert kinds == {"valid", "decode", "bus", "deadlock", "lanes", "softmax", "varshift"}
    assert {1, 2, 3, 4, 5, 6, 7, 8} <= codes, codes


def test_saved_cases_replay_exactly():
    """A saved case (its memory image) comes back as the same program, image and model outcome, for a program
    with a word the decoder refuses too."""
    cases = [fuzz.generate(1, i) for i in range(40)]
    for c in (cases[0], next(c for c in cases if c.kind == "decode")):
        back = fuzz.from_saved(json.loads(json.dumps(fuzz.saved(c, fuzz.CONFIG, 0.1, ["why"]))), fuzz.CONFIG)
        assert back.segments == {a: bytes(b) for a, b in c.segments.items()}
        assert [fuzz._word(x) for x in back.program] == [fuzz._word(x) for x in c.program]
        assert (back.seed, back.index, back.kind, back.outcome.errors) == (c.seed, c.index, c.kind, c.outcome.errors)
