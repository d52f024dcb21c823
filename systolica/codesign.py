"""Hardware x model co-design: the search space, the cost of a point, Pareto fronts, the searches, and the Dask
runner with its on-disk cache (``systolica explore`` is the command; docs/explore.md).

A point is an :class:`golden.config.AcceleratorConfig` and a :class:`golden.prune.Variant` of all-MiniLM-L6-v2.
Its figures come from four kinds of task, each cached on disk by its arguments and run on Dask workers:

- ``layer``: one layer shape (heads, FFN width, window) on one configuration, at ``seq`` tokens: programs of one
  and of two such layers compiled with :data:`SCHEDULE` and timed by the program cycle model
  (``golden.program_cycles``), their actions counted (``golden.energy``). A model's cycles are the first layer's
  one-layer program plus, per further layer, the two-layer program's increment ``c2 - c1`` of that layer's shape
  (:func:`compose`); the same for its actions. For identical layers the composition equals the whole program's
  figures; layers of different shapes share a plan made for the largest, whose token tile and weight buffers may
  differ from each shape's own, so there it is an estimate. The fronts' points are compiled and timed as whole
  programs (``whole`` tasks) and carry those figures;
- ``accuracy``: the pruned model (``golden.prune``) quantized (``golden.encoder``) and its mean embedding cosine
  to the full float model on the held-out docstrings (``golden.rebert``), at ``seq`` tokens;
- ``synth``: Yosys (``systolica.synth``, generic cells, its own cache under build/synth); configurations not
  synthesized get the per-unit scaling model of :func:`area_model` from the nearest synthesized one;
- the RTL check (``systolica.run.run_layers``) of the front's points.
"""
import dataclasses
import hashlib
import itertools
import json
import os
import pathlib
import random
import time

from golden.config import AcceleratorConfig

__all__ = ["SEQ", "BASELINE", "SCHEDULE", "Space", "SPACES", "DiskCache", "Runner", "layer_task", "accuracy_task",
           "synth_task", "program_task", "minilm", "quantized_variant", "compose", "pareto", "FRONTS", "area_model",
           "evolve"]

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: Tokens per input (the held-out docstrings are cut to it).
SEQ = 128
#: The baseline hardware: the default configuration with the array's A operand as wide as the model's activations.
BASELINE = AcceleratorConfig(input_width=12)


def _schedule():
    from compiler.plan import Options
    return Options(fuse_qk_softmax=True, fuse_ffn2_layernorm=True)


#: Every point is compiled with one schedule: both fusions on (the cycle model's choice on every MiniLM shape in
#: docs/compiler.md) and the largest token tile that fits.
SCHEDULE = _schedule()


#: Configurations synthesized with Yosys; the others' area comes from :func:`area_model` (a DIM-32 accelerator's
#: Verilog and Yosys run take too long for a sweep).
MAX_SYNTH_DIM = 16


@dataclasses.dataclass(frozen=True)
class Space:
    """A search space: per ``AcceleratorConfig`` field, its choices (the other fields from :data:`BASELINE`); the
    model's kept layers, and per layer heads, FFN width and window. ``per_layer``: each layer picks its own heads,
    FFN width and window (the evolutionary search); otherwise one value for all layers (exhaustive)."""
    name: str
    hardware: dict
    layers: tuple
    heads: tuple
    ffn: tuple
    windows: tuple
    per_layer: bool
    search: str

    def configs(self):
        """Every hardware configuration of the space (combinations :class:`AcceleratorConfig` refuses are left
        out)."""
        names = list(self.hardware)
        out = []
        for combo in itertools.product(*(self.hardware[n] for n in names)):
            try:
                out.append(BASELINE.replace(**dict(zip(names, combo))))
            except ValueError:
                continue
        return out

    def variants(self):
        from golden.prune import Variant
        return [Variant.uniform(n, h, f, w)
                for n, h, f, w in itertools.product(self.layers, self.heads, self.ffn, self.windows)]

    def size(self):
        per_layer = len(self.heads) * len(self.ffn) * len(self.windows)
        models = sum(per_layer ** n for n in self.layers) if self.per_layer else len(self.variants())
        return len(self.configs()) * models

    # -- genomes for the evolutionary search: a hardware choice per field, the layer count, per layer three choices
    def random_genome(self, rng):
        hw = tuple(rng.randrange(len(v)) for v in self.hardware.values())
        n = max(self.layers)
        return hw + (rng.randrange(len(self.layers)),) + tuple(
            rng.randrange(len(c)) for _ in range(n) for c in (self.heads, self.ffn, self.windows))

    def genome_sizes(self):
        n = max(self.layers)
        return [len(v) for v in self.hardware.values()] + [len(self.layers)] + \
            [len(c) for _ in range(n) for c in (self.heads, self.ffn, self.windows)]

    def decode(self, genome):
        """``(config or None, Variant)`` of a genome (None: a combination the configuration refuses)."""
        from golden.prune import Variant
        k = len(self.hardware)
        try:
            cfg = BASELINE.replace(**{n: self.hardware[n][i] for n, i in zip(self.hardware, genome[:k])})
        except ValueError:
            cfg = None
        n = self.layers[genome[k]]
        g = genome[k + 1:]
        return cfg, Variant(tuple(self.heads[g[3 * i]] for i in range(n)),
                            tuple(self.ffn[g[3 * i + 1]] for i in range(n)),
                            tuple(self.windows[g[3 * i + 2]] for i in range(n)))


SPACES = {
    # minutes: three array sizes (DIM 16 is the baseline's; DIM 32's area from the model), sixteen uniform
    # model variants
    "small": Space("small", {"dim": (8, 16, 32)}, layers=(3, 6), heads=(12, 10), ffn=(1536, 1280),
                   windows=(None, 64), per_layer=False, search="exhaustive"),
    # the space, searched by evolution (each layer its own heads, FFN width and window)
    "large": Space("large", {"dim": (4, 8, 16, 32), "lanes": (4, 8, 16, 32), "spad_kib": (128, 256, 512),
                             "acc_kib": (32, 64, 128, 256), "input_width": (12, 16), "pe_pipeline": (0, 1, 2),
                             "exp_impl": ("poly", "lut")},
                   layers=(3, 4, 5, 6), heads=(4, 6, 8, 10, 12), ffn=(384, 768, 1152, 1536),
                   windows=(None, 64, 32, 16), per_layer=True, search="evolutionary"),
}


# ---- tasks (run on the Dask workers; arguments and results are JSON) ----------------------------------------
def minilm():
    from golden.model import load_model
    return load_model("minilm")


def quantized_variant(variant, exp_impl, n_layers=None):
    from golden.encoder import QuantSpec, quantize_model
    from golden.prune import prune
    pm = prune(minilm(), variant)
    return quantize_model(pm, QuantSpec(exp_impl=exp_impl), n_layers=n_layers)


def layer_task(config, heads, ffn, window, seq):
    """Cycles and actions of programs of one and of two layers of one shape on ``config`` (dicts), or
    ``{"error": ...}`` when the configuration cannot hold the layer."""
    from compiler import compile_encoder
    from golden.energy import count_actions
    from golden.program_cycles import estimate_cycles
    from golden.prune import Variant
    cfg = AcceleratorConfig.from_dict(config)
    t0 = time.perf_counter()
    enc = quantized_variant(Variant.uniform(2, heads, ffn, window), cfg.exp_impl)
    out = {}
    for n in (1, 2):
        try:
            prog = compile_encoder(enc, cfg, seq, n_layers=n, options=SCHEDULE, windows=[window] * n)
        except ValueError as e:
            return {"error": str(e)}
        out[f"c{n}"] = estimate_cycles(prog.instrs, cfg).cycles
        out[f"actions{n}"] = count_actions(prog.instrs, cfg).to_dict()
    out["seconds"] = time.perf_counter() - t0
    return out


def program_task(config, variant, exp_impl, seq):
    """The whole program of a variant on ``config``: compiled (:data:`SCHEDULE`) and timed by the cycle model
    (what :func:`compose` estimates from the layer tasks)."""
    from compiler import compile_encoder
    from golden.energy import count_actions
    from golden.program_cycles import estimate_cycles
    from golden.prune import Variant
    cfg = AcceleratorConfig.from_dict(config)
    v = Variant.from_dict(variant)
    enc = quantized_variant(v, exp_impl)
    prog = compile_encoder(enc, cfg, seq, options=SCHEDULE, windows=list(v.windows))
    return {"cycles": estimate_cycles(prog.instrs, cfg).cycles, "actions": count_actions(prog.instrs, cfg).to_dict()}


_REFERENCE = {}


def _heldout(seq):
    """The held-out inputs (``golden.rebert.HELDOUT_MODULES``' docstrings cut to ``seq`` tokens) and the full
    float model's embeddings of them, once per worker."""
    if seq not in _REFERENCE:
        from golden.rebert import HELDOUT_MODULES, stdlib_inputs
        m = minilm()
        inputs = stdlib_inputs(m, HELDOUT_MODULES, seq)
        _REFERENCE[seq] = inputs, [m.forward(ids)[-1].mean(axis=0) for ids in inputs]
    return _REFERENCE[seq]


def accuracy_task(variant, exp_impl, seq):
    """Mean cosine of the pruned integer model's embeddings to the full float model's, held out."""
    from golden.prune import Variant
    from golden.rebert import accuracy
    t0 = time.perf_counter()
    v = Variant.from_dict(variant)
    inputs, ref = _heldout(seq)
    enc = quantized_variant(v, exp_impl)
    return {"accuracy": accuracy(enc, inputs, list(v.windows), ref), "seconds": time.perf_counter() - t0}


def synth_task(config, out_root):
    """Yosys area (generic cells) of ``config`` per unit (``systolica.synth``), Yosys' and Amaranth's output
    kept in the run's log files."""
    from systolica import synth
    from sim.system import accelerator_verilog
    cfg = AcceleratorConfig.from_dict(config)
    t0 = time.perf_counter()
    quiet = lambda msg: None  # noqa: E731
    r = synth.synthesize(cfg, "generic", out_root=out_root, progress=quiet,
                         verilog=accelerator_verilog(cfg, progress=quiet).text)
    rows, total = synth.unit_table(r)
    return {"area_kT": total["area (kT)"], "units": {u: (v or {}).get("area (kT)", 0) for u, v in rows},
            "memory_bits": total["memory bits"], "seconds": time.perf_counter() - t0}


# ---- composition, area model, Pareto --------------------------------------------------------------------------
def compose(costs, variant):
    """``(cycles, golden.energy.Actions)`` of ``variant`` from its layer shapes' ``layer_task`` results
    (``costs``: (heads, ffn, window) -> result), or None when a shape does not fit."""
    from golden.energy import Actions
    shapes = list(zip(variant.heads, variant.ffn, variant.windows))
    rs = [costs[s] for s in shapes]
    if any("error" in r for r in rs):
        return None
    cycles = rs[0]["c1"] + sum(r["c2"] - r["c1"] for r in rs[1:])
    acts = Actions.from_dict(rs[0]["actions1"])
    for r in rs[1:]:
        acts = acts + Actions.from_dict(r["actions2"]).minus(Actions.from_dict(r["actions1"]))
    return cycles, acts


#: How each synthesized unit's area scales between configurations (the area model): the array with the PEs'
#: multiplier (dim**2 * input_width * 8) and pipeline registers; the lanes and the reducer with the lanes built
#: (min(lanes, dim)); the derive engines with their count; the memories' logic with the row width; the rest
#: (sequencer, controller/DMA, glue) does not replicate per PE or lane and is kept. Memory bits are not scaled:
#: 6 transistors per bit, exactly (``systolica.synth.SRAM_T_PER_BIT``), from the configuration's rows.
def _unit_factor(unit, cfg):
    n = min(cfg.lanes, cfg.dim)
    return {"array": cfg.dim ** 2 * cfg.input_width * (1 + 0.25 * cfg.pe_pipeline),
            "scratchpad": cfg.dim * cfg.input_width, "accumulator": cfg.dim * cfg.acc_width,
            "normalization unit": n, "isqrt/divide (derive engines)": cfg.derive_engines,
            "activation lanes": n * (1.07 if cfg.exp_impl == "lut" else 1.0)}.get(unit, 1)


def _memory_kT(cfg):
    from systolica.synth import SRAM_T_PER_BIT
    bits = cfg.spad_rows * cfg.spad_row_bits + cfg.acc_rows * cfg.acc_row_bits
    return bits * SRAM_T_PER_BIT / 1000


def area_model(cfg, anchors):
    """Area (kT, generic) of ``cfg`` scaled unit by unit from the nearest synthesized configuration in ``anchors``
    (a list of ``(AcceleratorConfig, synth_task result)``): ``(area, anchor)``."""
    def distance(a):
        return sum(abs(x - y) if isinstance(x, int) else (x != y) * 4
                   for x, y in zip(dataclasses.astuple(a), dataclasses.astuple(cfg)))
    acfg, res = min(anchors, key=lambda ar: distance(ar[0]))
    scaled = sum((v - _memory_share(u, acfg, res)) * _unit_factor(u, cfg) / _unit_factor(u, acfg)
                 for u, v in res["units"].items())
    return scaled + _memory_kT(cfg), acfg


def _memory_share(unit, cfg, res):
    """The SRAM bit cells in a synthesized unit's area (the scratchpad's and accumulator's memories)."""
    from systolica.synth import SRAM_T_PER_BIT
    if unit == "scratchpad":
        return cfg.spad_rows * cfg.spad_row_bits * SRAM_T_PER_BIT / 1000
    if unit == "accumulator":
        return cfg.acc_rows * cfg.acc_row_bits * SRAM_T_PER_BIT / 1000
    return 0.0


def pareto(points, objectives):
    """Indices of the points no other point dominates under ``objectives`` (``[(key, "min" | "max")]``), sorted by
    the first objective. Points missing a key are left out."""
    sign = {"min": 1, "max": -1}
    vals = [(i, tuple(sign[s] * p[k] for k, s in objectives)) for i, p in enumerate(points)
            if all(p.get(k) is not None for k, _ in objectives)]
    front = [i for i, v in vals
             if not any(all(w[j] <= v[j] for j in range(len(v))) and w != v for _, w in vals)]
    return sorted(front, key=lambda i: tuple(sign[s] * points[i][k] for k, s in objectives))


#: The fronts written: name -> objectives.
FRONTS = {
    "edp_vs_accuracy": [("edp", "min"), ("accuracy", "max")],
    "latency_vs_accuracy": [("latency_cycles", "min"), ("accuracy", "max")],
    "area_vs_latency": [("area", "min"), ("latency_cycles", "min")],
}


def _ranks(objs):
    """Non-dominated sorting: the front number of each objective vector (all minimized)."""
    rank, left = [None] * len(objs), set(range(len(objs)))
    r = 0
    while left:
        front = {i for i in left if not any(all(objs[j][k] <= objs[i][k] for k in range(len(objs[i])))
                                            and objs[j] != objs[i] for j in left)}
        for i in front:
            rank[i] = r
        left -= front
        r += 1
    return rank


def evolve(space, evaluate, *, population=40, iterations=40, mutation=0.2, seed=0, progress=None):
    """The paper's evolutionary search: ``population`` genomes, ``iterations`` generations; each child takes each
    gene from one of two parents (tournament-selected by Pareto rank) and mutates it with probability
    ``mutation``; parents and children are ranked by non-dominated sorting over (EDP, latency, -accuracy) and the
    best ``population`` survive (ties by a seeded shuffle). ``evaluate(list of (config, Variant))`` returns their
    points (dicts, None for an infeasible one). Returns every point evaluated."""
    rng = random.Random(seed)
    sizes = space.genome_sizes()
    seen, evaluated = {}, []

    def score(genomes):
        new = [g for g in dict.fromkeys(genomes) if g not in seen]
        pts = evaluate([space.decode(g) for g in new])
        for g, p in zip(new, pts):
            seen[g] = p
            if p is not None:
                evaluated.append(p)

    def objs(g):
        p = seen[g]
        return (p["edp"], p["latency_cycles"], -p["accuracy"]) if p else (float("inf"),) * 3

    pop = [space.random_genome(rng) for _ in range(population)]
    score(pop)
    for it in range(iterations):
        ranks = dict(zip(pop, _ranks([objs(g) for g in pop])))

        def pick():
            a, b = rng.sample(pop, 2)
            return a if ranks[a] <= ranks[b] else b
        children = []
        while len(children) < population:
            a, b = pick(), pick()
            child = tuple(rng.choice((x, y)) for x, y in zip(a, b))
            child = tuple(rng.randrange(s) if rng.random() < mutation else x for x, s in zip(child, sizes))
            children.append(child)
        score(children)
        pool = list(dict.fromkeys(pop + children))
        rng.shuffle(pool)
        r = _ranks([objs(g) for g in pool])
        pop = [g for _, g in sorted(zip(r, pool), key=lambda t: t[0])][:population]
        if progress:
            best = min((seen[g] for g in pop if seen[g]), key=lambda p: p["edp"], default=None)
            progress(f"generation {it + 1}/{iterations}: {len(evaluated)} points evaluated"
                     + (f", lowest EDP {best['edp']:.3g} at cosine {best['accuracy']:.4f}" if best else ""))
    return evaluated


# ---- the cache and the Dask runner --------------------------------------------------------------------------
class DiskCache:
    """Task results by kind and arguments: ``<root>/<kind>/<sha256 of the arguments' JSON>.json``."""

    def __init__(self, root):
        self.root = pathlib.Path(root)

    def _path(self, kind, args):
        key = json.dumps(args, sort_keys=True)
        return self.root / kind / (hashlib.sha256(key.encode()).hexdigest()[:20] + ".json"), key

    def get(self, kind, args):
        path, key = self._path(kind, args)
        if path.is_file():
            d = json.loads(path.read_text())
            if d["args"] == key:
                return d["result"]
        return None

    def put(self, kind, args, result):
        path, key = self._path(kind, args)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"args": key, "result": result}))
        tmp.replace(path)


_TASKS = {"layer": layer_task, "accuracy": accuracy_task, "synth": synth_task, "whole": program_task}


class Runner:
    """Tasks on a Dask cluster: a ``LocalCluster`` of ``workers`` single-threaded processes (default: one per
    core), or the scheduler at ``scheduler`` (``tcp://host:port``). Results come from ``cache`` when there, are
    written to it as they finish (so a run can be resumed), with a progress bar on stderr."""

    def __init__(self, cache, scheduler=None, workers=None, bar=True):
        import logging
        from distributed import Client, LocalCluster
        self.cache, self.bar = cache, bar
        self.tasks_per_worker = {}          # worker address -> tasks it ran (cached results not counted)
        if scheduler is not None:
            if not isinstance(scheduler, str) or not scheduler.startswith("tcp://"):
                raise ValueError(f"--scheduler must be tcp://HOST:PORT, not {scheduler!r}")
            self.cluster = None
            try:
                self.client = Client(scheduler, timeout="20s")
            except OSError as e:
                raise ValueError(f"no Dask scheduler at {scheduler}: {e}") from None
        else:
            n = workers or os.cpu_count() or 1
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"workers must be a positive integer, not {workers!r}")
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self.cluster)

    @property
    def workers(self):
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    def map(self, kind, arglist, desc=None):
        """Results of task ``kind`` for each arguments tuple of ``arglist`` (JSON values), in order."""
        from distributed import as_completed
        from tqdm import tqdm
        results = [self.cache.get(kind, list(a)) for a in arglist]
        todo = [i for i, r in enumerate(results) if r is None]
        if not todo:
            return results
        futs = {}
        for i in todo:
            f = self.client.submit(_TASKS[kind], *arglist[i], pure=False, key=f"{kind}-{i}-{time.time_ns()}")
            futs[f] = i
        with tqdm(total=len(arglist), initial=len(arglist) - len(todo), desc=desc or kind, disable=not self.bar,
                  unit="task", leave=False) as bar:
            for f in as_completed(futs):
                i = futs[f]
                results[i] = f.result()
                self.cache.put(kind, list(arglist[i]), results[i])
                bar.update(1)
        for addrs in self.client.who_has(list(futs)).values():
            for a in addrs:
                self.tasks_per_worker[a] = self.tasks_per_worker.get(a, 0) + 1
        return results

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
