"""`systolica bench`: run every benchmark section, write `<out>/bench.json` and `<out>/bench.md`.

A section is a module with `run(progress) -> dict[str, tuple[value, unit]]`; a section whose `run` also takes
`dims` (e.g. "accel") measures only those array sizes when `--dims` is given. Ratios are measured inside one
section run, never across runs, so machine load affects both sides alike.
"""
import importlib
import inspect
import json
import pathlib
import time

__all__ = ["SECTIONS", "add_arguments", "run"]

SECTIONS = {
    "golden": "systolica.bench.golden",
    "array": "systolica.bench.array",
    "nonlinear": "systolica.bench.nonlinear",
    "system": "systolica.bench.system",
    "accel": "systolica.bench.accel",
    "synth": "systolica.bench.synth",
}


def add_arguments(parser):
    parser.add_argument("--out", default="build/bench", help="output directory (default: %(default)s)")
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS),
                        help="run only this section (repeatable)")
    parser.add_argument("--dims", help="comma-separated DIMs for the sections that sweep DIM (default: theirs)")


def _markdown(results):
    lines = ["| section | metric | value | unit |", "| --- | --- | ---: | --- |"]
    for section, metrics in results.items():
        for name, (value, unit) in metrics.items():
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            lines.append(f"| {section} | {name} | {shown} | {unit} |")
    return "\n".join(lines) + "\n"


def run(args):
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dims = None
    if args.dims:
        try:
            dims = tuple(int(d) for d in args.dims.split(","))
        except ValueError:
            raise ValueError(f"--dims must be comma-separated integers, not {args.dims!r}") from None
    results = {}
    for section in args.only or SECTIONS:
        t0 = time.perf_counter()
        print(f"[bench] {section} ...", flush=True)
        module = importlib.import_module(SECTIONS[section])
        kwargs = {"dims": dims} if dims and "dims" in inspect.signature(module.run).parameters else {}
        results[section] = module.run(progress=lambda msg: print(f"[bench] {section}: {msg}", flush=True), **kwargs)
        print(f"[bench] {section} done in {time.perf_counter() - t0:.1f} s", flush=True)
    (out / "bench.json").write_text(json.dumps(
        {s: {k: {"value": v, "unit": u} for k, (v, u) in m.items()} for s, m in results.items()}, indent=2))
    (out / "bench.md").write_text(_markdown(results))
    print(_markdown(results))
    print(f"[bench] wrote {out / 'bench.json'} and {out / 'bench.md'}")
    return 0
