"""Whole-accelerator runs on the fast harness: a memory image in, CSR status, counters and memory regions out.

``run_program(config, segments, prog_addr, reads)`` builds (cached) the harness around ``hw.accelerator``, loads
``segments`` (byte address -> bytes) with ``$readmemh``, starts the program through the AXI-Lite CSRs, waits for
``irq`` (no Python per cycle) and returns a :class:`SystemResult`. ``run_programs`` runs many :class:`Job` s in one
simulator launch, with injected bus faults, random stalls, CSR aborts and a watchdog.
"""
import dataclasses
import json
import pathlib
import tempfile

from . import runner
from .tb_axi_harness import harness_design, write_hex

__all__ = ["ACCEL_NAME", "accelerator_verilog", "accelerator_design", "Job", "SystemResult", "run_program",
           "run_programs", "run_with_pauses", "MEM_BYTES"]

MEM_BYTES = 16 << 20
#: Top module name of the accelerator's Verilog in the harness (and in ``systolica.synth``).
ACCEL_NAME = "systolica_accel"


# Trace probes (sim.tb_axi_harness, ``+TRACE``): controller events, bit i of a trace line = PROBES[i].
PROBES = ("ld_start", "ld_last", "st_start", "st_done", "ex_start", "blk_issue", "blk_done", "nl_issue", "nl_done",
          "cfg_req", "cfg_beat", "fetch_req", "start", "done")


def _probes(config):
    c = "dut.ctrl."
    last = config.dim * config.acc_width
    return (f"{c}q_ld.r_en", f"{c}ld_lines__valid && {c}ld_lines__ready && {c}ld_lines__payload[{last}]",
            f"{c}q_st.r_en", f"{c}st_done", f"{c}q_ex.r_en", f"{c}exe_cmd__valid && {c}exe_cmd__ready",
            f"{c}exe_done", f"{c}nl_cmd__valid && {c}nl_cmd__ready", f"{c}nl_done",
            f"{c}config_mem__req__valid && {c}config_mem__req__ready", f"{c}config_mem__resp__valid",
            f"{c}fetch__req__valid && {c}fetch__req__ready", f"{c}start", f"{c}done")


def accelerator_verilog(config, *, name=ACCEL_NAME, root=None, progress=print, force=False):
    """The Verilog of ``hw.accelerator.Accelerator(config)`` with top module ``name``, elaborated once per
    configuration and sources (:func:`sim.runner.cached_verilog`); a :class:`sim.runner.Converted`."""
    def make():
        from hw.accelerator import Accelerator
        from .verilog import convert_component
        return convert_component(Accelerator(config), name=name)
    return runner.cached_verilog(runner.design_key("accel", config), name, make, root=root, progress=progress,
                                 force=force)


def accelerator_design(config, *, optimize=False):
    """The harness around the accelerator, its Verilog from :func:`accelerator_verilog` (the trace probes,
    ``PROBES``, are always built in: they cost no measurable speed when ``+TRACE`` is not given); ``optimize``:
    compiled for long runs (``sim.tb_axi_harness.harness_design``)."""
    def make():
        v = accelerator_verilog(config, progress=lambda msg: None)
        return v.text, v.ports
    return harness_design(runner.design_key("accel", config), make, dut_name=ACCEL_NAME, mem_bytes=MEM_BYTES,
                          probes=_probes(config), optimize=optimize)


def accelerator_plain_design(config):
    """The accelerator's Verilog alone as the top (``ACCEL_NAME``), for cocotb with cocotbext-axi's bus models
    (``sim.cocotb_system.test_pauses``): every cycle runs Python, so only for small programs."""
    def make():
        v = accelerator_verilog(config, progress=lambda msg: None)
        return v.text, v.ports
    return runner.Design(name=ACCEL_NAME, key=runner.design_key("accel-plain", config), make_verilog=make)


def run_with_pauses(config, jobs, *, pause=0.3, seed=1, progress=print):
    """Run ``jobs`` (:class:`Job`: segments, prog_addr, reads, fault; no aborts) on the accelerator between
    cocotbext-axi's AXI4 slave and AXI4-Lite master, with a random pause generator on each of the five AXI
    channels (probability ``pause`` per cycle); injected faults answer SLVERR (cocotbext-axi's only error).
    One launch; a :class:`SystemResult` per job (``fault_at`` and ``wall_cycles`` are not measured: 0)."""
    design = accelerator_plain_design(config)
    with tempfile.TemporaryDirectory(prefix="systolica-pauses-") as tmp:
        tmp = pathlib.Path(tmp)
        spec = {"pause": pause, "seed": seed, "bus_width": config.bus_width,
                "jobs": [{"segments": {str(a): b.hex() for a, b in j.segments.items()}, "prog_addr": j.prog_addr,
                          "reads": [list(r) for r in j.reads], "fault": j.fault, "max_cycles": j.max_cycles}
                         for j in jobs]}
        (tmp / "jobs.json").write_text(json.dumps(spec))
        out = tmp / "result.json"
        runner.run_test(design, "sim.cocotb_system", testcase="test_pauses", progress=progress,
                        extra_env={"SYSTOLICA_SYSTEM": str(tmp / "jobs.json"), "SYSTOLICA_RESULT": str(out)},
                        results_name=f"pauses-{tmp.name}")
        results = json.loads(out.read_text())
    for r in results:
        r["reads"] = {int(a): bytes.fromhex(h) for a, h in r["reads"].items()}
    return [SystemResult(**r) for r in results]


@dataclasses.dataclass
class Job:
    """One program run of :func:`run_programs`: the memory image ``segments`` (byte address -> bytes; the rest
    of the memory keeps what earlier jobs left), the program at ``prog_addr``, the regions to read back
    ``reads`` [(addr, nbytes)], and what the harness does meanwhile: injected bus faults ``fault`` (a dict of
    ``sim.tb_axi_harness.HarnessTB.memory_faults`` arguments: lo, hi, resp, reads, writes), random stalls ``stall``
    (probability per channel and cycle), a CSR abort ``abort_at`` cycles after start, and the watchdog
    ``max_cycles`` (a run that reaches it is reported with ``hung``)."""
    segments: dict
    prog_addr: int
    reads: tuple = ()
    fault: dict = None
    stall: float = 0.0
    abort_at: int = None
    max_cycles: int = 10**9


@dataclasses.dataclass
class SystemResult:
    status: int
    error_code: int
    error_info: int
    cycles: int             # CYCLES CSR: cycles with the controller busy
    perf: list              # perf counters (hw.accelerator)
    reads: dict             # address -> bytes
    wall_cycles: int        # harness cycles from start to irq
    seconds: float          # wall-clock seconds from start to irq
    fault_at: int = None    # harness cycles from start to the memory's first error response (None: none)
    hung: bool = False      # no irq within the job's max_cycles

    @property
    def done(self):
        from hw import csr
        return self.status == csr.STATUS_DONE


def run_program(config, segments, prog_addr, reads=(), *, progress=print, max_ns=10**10, trace=None,
                build_root=None, optimize=False):
    """Run the program at ``prog_addr`` in the memory image ``segments``; read back ``reads`` [(addr, nbytes)].
    ``trace``: a file to write the event trace to (``PROBES``; parse it with ``sim.trace.parse``).
    ``build_root``: where the harness build lives (default: ``build/``; the benchmarks use a fresh one).
    ``optimize``: a harness compiled for long runs (twice the C++ compile time, ~30% faster at DIM 16)."""
    job = Job(segments, prog_addr, tuple(reads), max_cycles=max_ns // 10)
    r, = run_programs(config, [job], progress=progress, trace=trace, build_root=build_root, optimize=optimize)
    if r.hung:
        raise AssertionError(f"no irq within {max_ns} ns")
    return r


def run_programs(config, jobs, *, progress=print, trace=None, build_root=None, optimize=False):
    """Run ``jobs`` (:class:`Job`) one after another in one simulator launch, without a reset between them (the
    accelerator's memories keep their contents); a :class:`SystemResult` per job."""
    design = accelerator_design(config, optimize=optimize)
    with tempfile.TemporaryDirectory(prefix="systolica-run-") as tmp:
        tmp = pathlib.Path(tmp)
        specs = []
        for i, job in enumerate(jobs):
            write_hex(tmp / f"mem{i}.hex", job.segments, config.bus_width)
            specs.append({"hex": str(tmp / f"mem{i}.hex"), "prog_addr": job.prog_addr,
                          "reads": [list(r) for r in job.reads], "fault": job.fault, "stall": job.stall,
                          "abort_at": job.abort_at, "max_cycles": job.max_cycles})
        out = tmp / "result.json"
        (tmp / "jobs.json").write_text(json.dumps({"jobs": specs, "mem_init": str(tmp / "mem.hex"),
                                                   "dump": str(tmp / "dump.hex"), "bus_width": config.bus_width}))
        env = {"SYSTOLICA_SYSTEM": str(tmp / "jobs.json"), "SYSTOLICA_RESULT": str(out)}
        (tmp / "mem.hex").write_bytes((tmp / "mem0.hex").read_bytes() if jobs else b"")
        runner.run_test(design, "sim.cocotb_system", testcase="test_programs", extra_env=env, progress=progress,
                        plusargs=[f"+MEM_INIT={tmp / 'mem.hex'}", f"+MEM_DUMP={tmp / 'dump.hex'}"] +
                        ([f"+TRACE={pathlib.Path(trace).resolve()}"] if trace else []),
                        results_name=f"program-{tmp.name}", root=build_root)
        results = json.loads(out.read_text())
    for r in results:
        r["reads"] = {int(a): bytes.fromhex(h) for a, h in r["reads"].items()}
    return [SystemResult(**r) for r in results]
