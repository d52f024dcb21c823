"""`systolica explore`: hardware x model co-design of all-MiniLM-L6-v2 and the accelerator, Pareto fronts of
latency, area, energy and accuracy, on Dask (docs/explore.md; the machinery is ``systolica.codesign``).

Per point: latency from the program cycle model (layer programs composed, the fronts' points re-timed as whole
programs), area from Yosys (cached per configuration; a per-unit scaling model between synthesized ones),
energy from action counts times ``golden.energy.TABLE`` (Horowitz, ISSCC 2014), EDP, and accuracy as the pruned
integer model's mean embedding cosine to the full float model on held-out real text. The fronts' best points
run on the RTL: bit-exact against golden/, cycles within 1% of the model. Writes JSON, Markdown and PNG.
"""
import json
import pathlib
import random
import sys
import tempfile
import time

from . import codesign as cd

__all__ = ["add_arguments", "run", "evaluate_points", "write_report"]

OUT = cd.ROOT / "build" / "explore"


def add_arguments(parser):
    parser.add_argument("--space", choices=sorted(cd.SPACES), default="small",
                        help="small: exhaustive, minutes; large: the issue's space, evolutionary (default: small)")
    parser.add_argument("--json", metavar="FILE", default=str(OUT / "explore.json"),
                        help="the result; Markdown and PNG beside it (default: %(default)s)")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="an existing Dask scheduler (default: a LocalCluster with one worker per core)")
    parser.add_argument("--workers", type=int, default=None, help="LocalCluster workers (default: the cores)")
    parser.add_argument("--cache", metavar="DIR", default=str(OUT / "cache"),
                        help="task results by arguments, so a run resumes (default: %(default)s)")
    parser.add_argument("--seq", type=int, default=cd.SEQ, help="tokens per input (default: %(default)s)")
    parser.add_argument("--population", type=int, default=40, help="evolutionary search (default: 40)")
    parser.add_argument("--iterations", type=int, default=40, help="evolutionary search (default: 40)")
    parser.add_argument("--mutation", type=float, default=0.2, help="evolutionary search (default: 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="evolutionary search (default: 0)")
    parser.add_argument("--rtl", type=int, default=2, metavar="N",
                        help="run N points of the EDP-accuracy front (DIM <= 16, the baseline left out) on the RTL: "
                             "its two ends first (default: 2; 0: none)")
    parser.add_argument("--throughput", type=int, default=None, metavar="N",
                        help="instead of a search: cost N random model points of the space on the cycle model "
                             "(latency, energy, area model) and report points per minute")
    parser.add_argument("--dask-speedup", type=int, default=None, metavar="K",
                        help="instead of a search: Yosys on K configurations of the space with 1 and then 2 Dask "
                             "workers (fresh synthesis directories), and the ratio of the wall times")


def _log(msg):
    print(f"[explore] {msg}", file=sys.stderr, flush=True)


def _check(args):
    if not 2 <= args.seq <= 512:
        raise ValueError(f"--seq must be in 2..512, not {args.seq}")
    for name in ("population", "iterations"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be positive, not {getattr(args, name)}")
    if not 0 <= args.mutation <= 1:
        raise ValueError(f"--mutation must be in [0, 1], not {args.mutation}")
    if args.rtl < 0:
        raise ValueError(f"--rtl must be >= 0, not {args.rtl}")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be positive, not {args.workers}")
    if args.throughput is not None and args.throughput < 1:
        raise ValueError(f"--throughput must be positive, not {args.throughput}")
    if args.dask_speedup is not None and args.dask_speedup < 2:
        raise ValueError(f"--dask-speedup needs at least 2 configurations, not {args.dask_speedup}")


# ---- evaluation -----------------------------------------------------------------------------------------------
class Areas:
    """Area per configuration: Yosys for ``synthesized`` configurations (synth tasks), else the area model from
    the nearest of them."""

    def __init__(self, runner, synthesized):
        results = runner.map("synth", [(c.to_dict(), str(cd.ROOT / "build" / "synth")) for c in synthesized],
                             desc="yosys")
        self.anchors = list(zip(synthesized, results))

    @classmethod
    def of(cls, anchors):
        """From ``(config, synth_task result)`` pairs already at hand."""
        a = cls.__new__(cls)
        a.anchors = list(anchors)
        return a

    def __call__(self, cfg):
        for c, r in self.anchors:
            if c == cfg:
                return r["area_kT"], "yosys", r
        a, anchor = cd.area_model(cfg, self.anchors)
        return a, f"model (from {anchor.config_hash()})", None

    def validation(self):
        """Leave-one-out: each synthesized configuration's Yosys area against the model from the others."""
        out = []
        for i, (c, r) in enumerate(self.anchors):
            rest = self.anchors[:i] + self.anchors[i + 1:]
            if rest:
                a, anchor = cd.area_model(c, rest)
                out.append({"config": c.to_dict(), "yosys_kT": r["area_kT"], "model_kT": a,
                            "error": a / r["area_kT"] - 1, "from": anchor.to_dict()})
        return out


def evaluate_points(runner, pairs, areas, seq, accuracy=True):
    """Points (dicts in the output schema) of ``(config, Variant)`` pairs; None where a layer does not fit."""
    from golden.energy import energy
    shapes = sorted({(c, s) for c, v in pairs if c is not None
                     for s in zip(v.heads, v.ffn, v.windows)}, key=lambda cs: (cs[0].to_json(), str(cs[1])))
    res = runner.map("layer", [(c.to_dict(), h, f, w, seq) for c, (h, f, w) in shapes], desc="cycle model")
    costs = {}
    for (c, s), r in zip(shapes, res):
        costs.setdefault(c, {})[s] = r
    accs = {}
    if accuracy:
        keys = sorted({(v, c.exp_impl) for c, v in pairs if c is not None}, key=lambda k: (k[0].key(), k[1]))
        res = runner.map("accuracy", [(v.to_dict(), e, seq) for v, e in keys], desc="accuracy")
        accs = {k: r["accuracy"] for k, r in zip(keys, res)}
    out = []
    for c, v in pairs:
        comp = None if c is None else cd.compose(costs[c], v)
        if comp is None:
            out.append(None)
            continue
        cycles, acts = comp
        e = energy(acts, c)
        area, source, _ = areas(c)
        out.append({"config": c.to_dict(), "model": v.to_dict(), "label": v.label(), "latency_cycles": cycles,
                    "area": area, "area_source": source, "energy_pj": e["total"],
                    "energy_breakdown_pj": e, "edp": e["total"] * cycles,
                    "nonlinear_energy_share": e["nonlinear"] / e["total"],
                    "nonlinear_energy_share_with_memory": (e["nonlinear"] + e["nonlinear_memory"]) / e["total"],
                    "accuracy": accs.get((v, c.exp_impl)), "actions": acts.to_dict()})
    return out


def _whole_program(p, r):
    """Replace a point's composed latency and energy by its whole program's (``r``: a ``whole`` task result)."""
    from golden.config import AcceleratorConfig
    from golden.energy import Actions, energy
    cfg = AcceleratorConfig.from_dict(p["config"])
    e = energy(Actions.from_dict(r["actions"]), cfg)
    p.update(latency_cycles_composed=p["latency_cycles"], energy_pj_composed=p["energy_pj"],
             composition_error=p["latency_cycles"] / r["cycles"] - 1, latency_cycles=r["cycles"],
             energy_pj=e["total"], energy_breakdown_pj=e, edp=e["total"] * r["cycles"],
             nonlinear_energy_share=e["nonlinear"] / e["total"],
             nonlinear_energy_share_with_memory=(e["nonlinear"] + e["nonlinear_memory"]) / e["total"],
             actions=r["actions"])


def _rtl_check(point, seq, log_file):
    """Run a point on the RTL (Verilator): bit-exact against golden/ (``run_layers`` raises otherwise), cycles
    against the whole program's model."""
    from golden.config import AcceleratorConfig
    from golden.prune import Variant
    from golden.rebert import HELDOUT_MODULES, stdlib_inputs
    from systolica.run import run_layers
    cfg = AcceleratorConfig.from_dict(point["config"])
    v = Variant.from_dict(point["model"])
    enc = cd.quantized_variant(v, cfg.exp_impl)
    ids = stdlib_inputs(enc.model, HELDOUT_MODULES[:1], seq)[0]
    with open(log_file, "a") as f:
        r = run_layers(enc, cfg, ids, v.layers, cd.SCHEDULE, lambda m: print(m, file=f, flush=True),
                       windows=list(v.windows))
    off = (r["model_cycles"] - r["cycles"]) / r["cycles"]
    return {"config": point["config"], "model": point["model"], "label": point["label"], "cycles_rtl": r["cycles"],
            "cycles_model": r["model_cycles"], "model_error": off, "bit_exact": True,
            "within_1_percent": abs(off) <= 0.01, "input": HELDOUT_MODULES[0], "tokens": seq}


# ---- modes ------------------------------------------------------------------------------------------------------
def _throughput(runner, space, n, seq, seed):
    """``n`` random model variants of ``space`` (its layers, per-layer heads, FFN widths and windows) on the
    baseline hardware, costed on the cycle model (latency, energy, area; no accuracy): the layer shapes' table
    first (a Dask task per shape), then the composition per point."""
    rng = random.Random(seed)
    pairs = [(cd.BASELINE, space.decode(space.random_genome(rng))[1]) for _ in range(n)]
    t0 = time.perf_counter()
    areas = Areas(runner, [cd.BASELINE])
    shapes = sorted({s for _, v in pairs for s in zip(v.heads, v.ffn, v.windows)}, key=str)
    runner.map("layer", [(cd.BASELINE.to_dict(), h, f, w, seq) for h, f, w in shapes], desc="layer table")
    t1 = time.perf_counter()
    pts = evaluate_points(runner, pairs, areas, seq, accuracy=False)
    t2 = time.perf_counter()
    ok = sum(p is not None for p in pts)
    r = {"mode": "throughput", "space": space.name, "hardware": cd.BASELINE.to_dict(), "points": n,
         "feasible": ok, "distinct_models": len({v for _, v in pairs}), "layer_shapes": len(shapes),
         "table_seconds": t1 - t0, "compose_seconds": t2 - t1, "seconds": t2 - t0,
         "points_per_minute": 60 * n / (t2 - t0), "workers": runner.workers}
    _log(f"{n} model points ({r['distinct_models']} distinct, {ok} fit) from {len(shapes)} layer shapes on "
         f"{r['workers']} workers: table {t1 - t0:.1f} s, composition {t2 - t1:.1f} s; "
         f"{r['points_per_minute']:.0f} points per minute")
    return r


def _dask_speedup(space, k, cache):
    from sim.system import accelerator_verilog
    cfgs = space.configs()[:k]
    _log(f"Verilog of {k} configurations first (elaboration, cached; not timed)")
    for c in cfgs:
        accelerator_verilog(c, progress=lambda m: None)
    times = {}
    for n in (1, 2):
        runner = cd.Runner(cd.DiskCache(tempfile.mkdtemp(prefix="explore-cache-")), workers=n)
        with tempfile.TemporaryDirectory(prefix="explore-synth-") as d:
            t0 = time.perf_counter()
            runner.map("synth", [(c.to_dict(), d) for c in cfgs], desc=f"yosys, {n} worker(s)")
            times[n] = time.perf_counter() - t0
        runner.close()
        _log(f"{k} Yosys runs on {n} worker(s): {times[n]:.1f} s")
    r = {"mode": "dask_speedup", "configs": [c.to_dict() for c in cfgs], "seconds_1_worker": times[1],
         "seconds_2_workers": times[2], "speedup": times[1] / times[2]}
    _log(f"2 workers against 1: {r['speedup']:.2f}x faster")
    return r


def run(args):
    _check(args)
    space = cd.SPACES[args.space]
    out = pathlib.Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.dask_speedup is not None:
        r = _dask_speedup(space, args.dask_speedup, args.cache)
        out.write_text(json.dumps(r, indent=1))
        return 0
    runner = cd.Runner(cd.DiskCache(args.cache), scheduler=args.scheduler, workers=args.workers)
    try:
        if args.throughput is not None:
            r = _throughput(runner, space, args.throughput, args.seq, args.seed)
            out.write_text(json.dumps(r, indent=1))
            return 0
        return _explore(args, space, runner, out)
    finally:
        runner.close()


def _explore(args, space, runner, out):
    from golden.energy import TABLE
    from golden.prune import Variant
    t0 = time.perf_counter()
    _log(f"space {space.name}: {space.size():,} points, {space.search} search, {runner.workers} Dask workers, "
         f"cache {args.cache}")
    # Yosys for every configuration of an exhaustive space, for the baseline and the smallest array otherwise
    anchors = [c for c in space.configs() if c.dim <= cd.MAX_SYNTH_DIM] if space.search == "exhaustive" else \
        [cd.BASELINE, cd.BASELINE.replace(dim=8)]
    if cd.BASELINE not in anchors:
        anchors.append(cd.BASELINE)
    areas = Areas(runner, anchors)
    base = evaluate_points(runner, [(cd.BASELINE, Variant.full(cd.minilm()))], areas, args.seq)[0]
    _log(f"baseline (full MiniLM, default hardware): {base['latency_cycles']:,} cycles, "
         f"{base['energy_pj'] / 1e6:.1f} uJ, cosine {base['accuracy']:.4f}, area {base['area']:,.0f} kT")
    if space.search == "exhaustive":
        pairs = [(c, v) for c in space.configs() for v in space.variants()]
        points = [p for p in evaluate_points(runner, pairs, areas, args.seq) if p is not None]
    else:
        points = cd.evolve(space, lambda pairs: evaluate_points(runner, pairs, areas, args.seq),
                           population=args.population, iterations=args.iterations, mutation=args.mutation,
                           seed=args.seed, progress=_log)
    for i, p in enumerate(points):
        p["id"] = i
    # the fronts' points as whole programs (compiled and timed, actions counted): their figures replace the
    # composed ones, until every point on a front has them
    while True:
        fronts = {name: cd.pareto(points, obj) for name, obj in cd.FRONTS.items()}
        todo = sorted(i for i in set().union(*fronts.values()) if "latency_cycles_composed" not in points[i])
        if not todo:
            break
        progs = runner.map("whole", [(points[i]["config"], points[i]["model"], points[i]["config"]["exp_impl"],
                                      args.seq) for i in todo], desc="whole programs")
        for i, r in zip(todo, progs):
            _whole_program(points[i], r)
    search_s = time.perf_counter() - t0
    _log(f"{len(points)} points in {search_s:.0f} s; fronts: "
         + ", ".join(f"{k} {len(v)}" for k, v in fronts.items()))

    rtl = []
    if args.rtl:
        cands = _rtl_candidates(points, base, args.rtl)
        log_file = out.with_suffix(".rtl.log")
        for p in cands:
            key = [p["config"], p["model"], args.seq]
            r = runner.cache.get("rtl", key)
            if r is None:
                _log(f"RTL: {p['label']} on DIM {p['config']['dim']} (Verilator; log in {log_file}) ...")
                r = _rtl_check(p, args.seq, log_file)
                runner.cache.put("rtl", key, r)
            else:
                _log(f"RTL: {p['label']} on DIM {p['config']['dim']}: from the cache")
            _log(f"  bit-exact; RTL {r['cycles_rtl']:,} cycles, model {r['cycles_model']:,} "
                 f"({100 * r['model_error']:+.2f}%)")
            r = dict(r, id=p["id"])
            if not r["within_1_percent"]:
                raise AssertionError(f"the cycle model is {100 * r['model_error']:+.2f}% off the RTL on "
                                     f"{p['label']} (more than 1%)")
            rtl.append(r)
    result = {"space": space.name, "search": space.search, "seq": args.seq, "workers": runner.workers,
              "seconds": time.perf_counter() - t0, "search_seconds": search_s,
              "schedule": "QK^T+softmax fused, FFN2+LN fused, largest tile",
              "energy_table": {k: {"value": v, "source": s} for k, (v, s) in TABLE.items()},
              "area_model_validation": areas.validation(),
              "points": points, "pareto": fronts, "rtl_checked": rtl, "baseline": base,
              "targets": _targets(points, base)}
    write_report(result, out)
    _log(f"wrote {out}, {out.with_suffix('.md')}, {out.with_suffix('.png')}")
    return 0


def _rtl_candidates(points, base, n):
    """Points of the EDP-accuracy front of the points an RTL run can take (DIM <= :data:`codesign.MAX_SYNTH_DIM`:
    a DIM-32 Verilator build takes too long; the baseline itself left out, tests/systolica check it): its two ends
    first (the lowest EDP, the highest accuracy), then the others from the low-EDP end."""
    ok = [p for p in points if p["config"]["dim"] <= cd.MAX_SYNTH_DIM
          and not (p["config"] == base["config"] and p["model"] == base["model"])]
    front = [ok[i] for i in cd.pareto(ok, cd.FRONTS["edp_vs_accuracy"])]      # lowest EDP first
    order = front[:1] + front[-1:] + front[1:-1] if len(front) > 1 else front
    return order[:n]


def _targets(points, base):
    """The issue's targets: the best latency and EDP ratios to the baseline at accuracy within 0.005 of it."""
    near = [p for p in points if p["accuracy"] is not None and p["accuracy"] >= base["accuracy"] - 0.005]
    if not near:
        return {"accuracy_floor": base["accuracy"] - 0.005, "points": 0}
    fast = min(near, key=lambda p: p["latency_cycles"])
    low = min(near, key=lambda p: p["edp"])
    return {"accuracy_floor": base["accuracy"] - 0.005, "points": len(near),
            "latency_x_lower": base["latency_cycles"] / fast["latency_cycles"], "latency_point": fast["id"],
            "edp_x_lower": base["edp"] / low["edp"], "edp_point": low["id"]}


# ---- report -----------------------------------------------------------------------------------------------------
def _cfg_label(c):
    from golden.config import AcceleratorConfig
    d = AcceleratorConfig.from_dict(c).to_dict()
    base = cd.BASELINE.to_dict()
    diff = [f"{k}={v}" for k, v in d.items() if v != base[k]]
    return "default" if not diff else " ".join(diff)


def write_report(result, out):
    out = pathlib.Path(out)
    out.write_text(json.dumps(result, indent=1, default=str))
    pts, base = result["points"], result["baseline"]
    md = [f"# Co-design exploration: space `{result['space']}` ({result['search']}, {len(pts)} points, "
          f"{result['seq']} tokens)", "",
          f"Baseline (full MiniLM, default hardware): {base['latency_cycles']:,} cycles, "
          f"{base['energy_pj'] / 1e6:.1f} uJ, EDP {base['edp']:.3g} pJ*cycles, area {base['area']:,.0f} kT, "
          f"cosine {base['accuracy']:.4f}; nonlinear units {100 * base['nonlinear_energy_share']:.2f}% of the "
          f"energy ({100 * base['nonlinear_energy_share_with_memory']:.2f}% with their SRAM accesses; the paper: "
          f"9.3% of the power).", ""]
    t = result["targets"]
    if t.get("points"):
        md.append(f"Within 0.005 cosine of the baseline ({t['points']} points): latency {t['latency_x_lower']:.2f}x "
                  f"lower (point {t['latency_point']}), EDP {t['edp_x_lower']:.2f}x lower (point {t['edp_point']}).")
        md.append("")
    for name, ids in result["pareto"].items():
        md += [f"## {name.replace('_', ' ')}", "",
               "| id | hardware | model | cycles | x baseline | energy (uJ) | EDP x lower | area (kT) | cosine |",
               "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for i in ids:
            p = pts[i]
            md.append(f"| {i} | {_cfg_label(p['config'])} | {p['label']} | {p['latency_cycles']:,} | "
                      f"{base['latency_cycles'] / p['latency_cycles']:.2f} | {p['energy_pj'] / 1e6:.1f} | "
                      f"{base['edp'] / p['edp']:.2f} | {p['area']:,.0f} | {p['accuracy']:.4f} |")
        md.append("")
    if result["rtl_checked"]:
        md += ["## On the RTL", "", "| model | hardware | RTL cycles | model cycles | error | bit-exact |",
               "| --- | --- | --- | --- | --- | --- |"]
        for r in result["rtl_checked"]:
            md.append(f"| {r['label']} | {_cfg_label(r['config'])} | {r['cycles_rtl']:,} | {r['cycles_model']:,} | "
                      f"{100 * r['model_error']:+.2f}% | {r['bit_exact']} |")
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    _plot(result, out.with_suffix(".png"))


def _plot(result, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter
    pts, base = result["points"], result["baseline"]
    axes_of = {"edp_vs_accuracy": ("edp", "accuracy", "EDP (pJ x cycles)", "cosine to float MiniLM"),
               "latency_vs_accuracy": ("latency_cycles", "accuracy", "cycles", "cosine to float MiniLM"),
               "area_vs_latency": ("area", "latency_cycles", "area (kT, generic)", "cycles")}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, (name, (x, y, xl, yl)) in zip(axes, axes_of.items()):
        ax.scatter([p[x] for p in pts], [p[y] for p in pts], s=8, color="#bbbbbb", label="points")
        f = [pts[i] for i in result["pareto"][name]]
        ax.plot([p[x] for p in f], [p[y] for p in f], "o-", color="#2a6fbb", ms=4, label="Pareto front")
        ax.scatter([base[x]], [base[y]], marker="*", s=120, color="#d62728", label="baseline", zorder=3)
        if x != "area":
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_title(name.replace("_", " "))
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)

