"""systolica explore: Pareto fronts on a known set, the points' schema and composition, a sweep through a real
Dask scheduler and two workers, bad input."""
import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest

from golden.config import AcceleratorConfig
from golden.prune import Variant
from systolica import codesign as cd
from systolica.explore import Areas, evaluate_points, write_report

ROOT = pathlib.Path(__file__).resolve().parents[2]
CFG = AcceleratorConfig(dim=8, input_width=12)
SEQ = 16


class InlineRunner:
    """The runner's contract (cached task results by arguments) without a cluster."""

    def __init__(self, cache):
        self.cache = cache

    def map(self, kind, arglist, desc=None):
        out = []
        for a in arglist:
            r = self.cache.get(kind, list(a))
            if r is None:
                r = cd._TASKS[kind](*a)
                self.cache.put(kind, list(a), r)
            out.append(r)
        return out


def test_pareto_known_set():
    pts = [{"edp": 1, "accuracy": 0.90}, {"edp": 2, "accuracy": 0.95}, {"edp": 2, "accuracy": 0.93},
           {"edp": 3, "accuracy": 0.95}, {"edp": 4, "accuracy": 0.99}, {"edp": 0.5, "accuracy": 0.80},
           {"edp": 5, "accuracy": 0.99}, {"edp": 1, "accuracy": None}]
    assert cd.pareto(pts, cd.FRONTS["edp_vs_accuracy"]) == [5, 0, 1, 4]
    # three objectives: a point better in one is kept
    pts3 = [{"a": 1, "b": 1, "c": 1}, {"a": 0, "b": 2, "c": 2}, {"a": 1, "b": 1, "c": 2}, {"a": 2, "b": 2, "c": 0}]
    assert cd.pareto(pts3, [("a", "min"), ("b", "min"), ("c", "min")]) == [1, 0, 3]
    assert cd._ranks([(1, 1), (0, 2), (1, 2), (2, 2)]) == [0, 0, 1, 2]


@pytest.mark.slow
def test_points_schema_and_composition(tmp_path):
    runner = InlineRunner(cd.DiskCache(tmp_path / "cache"))
    # an area anchor at hand (the schema is under test here, not Yosys): the model scales it to CFG
    anchor = (CFG.replace(dim=4), {"area_kT": 100.0, "units": {"array": 40.0, "activation lanes": 20.0,
                                                                 "scratchpad": 30.0, "accumulator": 10.0}})
    areas = Areas.of([anchor])
    uniform, mixed = Variant.uniform(3, 12, 1536, None), Variant((12, 10, 12), (1536, 1280, 768), (None, 4, None))
    pts = evaluate_points(runner, [(CFG, uniform), (CFG, mixed), (None, uniform)], areas, SEQ)
    assert pts[2] is None
    for p in pts[:2]:
        for k in ("config", "model", "latency_cycles", "area", "energy_pj", "edp", "accuracy"):
            assert p[k] is not None, k
        assert p["edp"] == pytest.approx(p["energy_pj"] * p["latency_cycles"])
        assert 0 < p["accuracy"] <= 1 and p["area_source"].startswith("model")
        assert 0 < p["nonlinear_energy_share"] < p["nonlinear_energy_share_with_memory"] < 1
    assert pts[0]["accuracy"] > pts[1]["accuracy"]          # pruning without fine-tuning costs accuracy
    assert pts[1]["latency_cycles"] < pts[0]["latency_cycles"]
    # the composition against the whole program compiled and timed
    for p, v in zip(pts, (uniform, mixed)):
        whole = cd.program_task(CFG.to_dict(), v.to_dict(), "poly", SEQ)["cycles"]
        assert p["latency_cycles"] == pytest.approx(whole, rel=0.01)
    base = dict(pts[0], id=0)
    result = {"space": "test", "search": "exhaustive", "seq": SEQ, "points": [base, dict(pts[1], id=1)],
              "pareto": {n: cd.pareto([base, pts[1]], o) for n, o in cd.FRONTS.items()}, "rtl_checked": [],
              "baseline": base, "targets": {}}
    write_report(result, tmp_path / "r.json")
    assert (tmp_path / "r.md").read_text().count("| 0 |") >= 1 and (tmp_path / "r.png").stat().st_size > 0


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# 20 s, most of it the scheduler's and workers' start-up: make test-all (make test measured 11:59 with it)
@pytest.mark.slow
def test_dask_scheduler_and_two_workers(tmp_path):
    dask = pathlib.Path(sys.executable).with_name("dask")
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    logs = open(tmp_path / "dask.log", "w")
    procs = [subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=logs, stderr=logs, env=env, cwd=tmp_path)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen([str(dask), "worker", addr, "--nthreads", "1", "--no-dashboard"],
                                          stdout=logs, stderr=logs, env=env, cwd=tmp_path))
        deadline = time.time() + 30
        runner = None
        while runner is None:
            try:
                runner = cd.Runner(cd.DiskCache(tmp_path / "cache"), scheduler=addr, bar=False)
            except ValueError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        runner.client.wait_for_workers(2, timeout=30)
        assert runner.workers == 2
        args = [(CFG.to_dict(), h, f, None, SEQ) for h, f in ((12, 1536), (10, 1536), (12, 1280), (10, 1280))]
        got = runner.map("layer", args)
        assert len(runner.tasks_per_worker) == 2 and sum(runner.tasks_per_worker.values()) == 4
        inline = InlineRunner(cd.DiskCache(tmp_path / "inline"))
        for g, w in zip(got, inline.map("layer", args[:1]) + [None] * 3):
            if w is not None:
                assert {k: g[k] for k in ("c1", "c2", "actions1")} == {k: w[k] for k in ("c1", "c2", "actions1")}
        assert got[0]["c1"] > got[1]["c1"] > 0                  # fewer heads, fewer cycles
        # a second run takes everything from the cache
        runner.tasks_per_worker = {}
        assert runner.map("layer", args) == got and runner.tasks_per_worker == {}
        runner.close()
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        logs.close()


@pytest.mark.parametrize("argv, message", [
    (["--seq", "1"], "--seq must be in 2..512, not 1"),
    (["--mutation", "1.5"], "--mutation must be in [0, 1], not 1.5"),
    (["--population", "0"], "--population must be positive, not 0"),
    (["--scheduler", "localhost:8786"], "--scheduler must be tcp://HOST:PORT, not 'localhost:8786'"),
])
def test_bad_input(argv, message, capsys, tmp_path):
    from systolica.cli import main
    assert main(["explore", "--json", str(tmp_path / "x.json"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_variant_checks():
    with pytest.raises(ValueError, match="one head count, FFN width and window per layer"):
        Variant((12, 12), (1536,), (None, None))
    with pytest.raises(ValueError, match=r"heads must be positive integers, not \[0\]"):
        Variant((0,), (1536,), (None,))
    from golden.model import load_model
    with pytest.raises(ValueError, match="layer 0: 13 heads kept, but it has 12"):
        Variant.uniform(3, 13, 1536).check(load_model("minilm"))


def test_spaces():
    small = cd.SPACES["small"]
    assert small.size() == 3 * 16 and len(small.configs()) == 3 and cd.BASELINE in small.configs()
    large = cd.SPACES["large"]
    import random
    rng = random.Random(1)
    for _ in range(50):
        g = large.random_genome(rng)
        assert len(g) == len(large.genome_sizes()) and all(0 <= x < s for x, s in zip(g, large.genome_sizes()))
        cfg, v = large.decode(g)
        assert 3 <= v.layers <= 6 and all(h in large.heads for h in v.heads)
        assert cfg is None or cfg.dim in large.hardware["dim"]


def test_evolve_finds_a_known_front():
    """A synthetic cost (EDP falls with the heads' indices, accuracy with the FFN widths' indices): the
    search keeps its population, evaluates each genome once, and its children improve on the start."""
    space = cd.SPACES["large"]
    calls = []

    def evaluate(pairs):
        calls.append(len(pairs))
        out = []
        for cfg, v in pairs:
            if cfg is None:
                out.append(None)
                continue
            heads = sum(space.heads.index(h) for h in v.heads)
            ffn = sum(space.ffn.index(f) for f in v.ffn)
            out.append({"edp": 100.0 - heads + v.layers, "latency_cycles": 10 * v.layers,
                        "accuracy": 1.0 - ffn / 100})
        return out
    pts = cd.evolve(space, evaluate, population=10, iterations=6, mutation=0.2, seed=3)
    assert calls[0] <= 10 and all(c <= 10 for c in calls) and len(calls) == 7
    best_start = min(p["edp"] for p in pts[:calls[0]])
    assert min(p["edp"] for p in pts[calls[0]:]) < best_start      # the children improve on the start
    assert pts == cd.evolve(space, evaluate, population=10, iterations=6, mutation=0.2, seed=3)
