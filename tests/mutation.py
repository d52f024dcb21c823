"""Mutation testing (``make mutation``): deliberate faults the tests must catch.

Each mutant replaces one exact source snippet, which must occur exactly once in its file (otherwise the list is
stale: that is an error, never a skip), in a throwaway copy of the tree, and runs the tests meant to kill it. A
mutant is killed when pytest fails. A surviving mutant means a test is missing.

The tree is copied once (``git ls-files``: tracked and untracked, not ignored) into a temporary snapshot, so
concurrent edits of the working tree cannot mix into the run; every mutant gets a fresh copy of that snapshot.
``build/`` is a symlink to the real one: unmutated Verilator builds are reused, and a mutated hw/ or golden/ has
a build key of its own (``sim.runner.rtl_digest``); those builds are deleted after the mutant's run. Before any
mutant, the selected tests must pass on the unmutated snapshot, or no result would mean anything.

Run ``.venv/bin/python tests/mutation.py [--only ID ...] [--timeout S]``; exit status 0 only if every mutant is
killed (2 for a stale list or a failing unmutated tree).
"""
import argparse
import dataclasses
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider", "-m", "not slow and not crosscheck", "--hypothesis-seed=0")
TIMEOUT = 900


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One fault: ``snippet`` (exactly once in ``path``) becomes ``replacement``; ``tests`` must then fail."""
    id: str
    description: str
    path: str
    snippet: str
    replacement: str
    tests: tuple


TILE_PYSIM = "tests/hw/test_tile_pysim.py::test_random_ops"
NL_BESIDE = "tests/hw/test_system.py::test_nl_beside_matmuls_keeps_program_order"

MUTANTS = (
    # ---- integer semantics (golden.numerics) ----
    Mutant("round-half-up-floor", "round_shift floors instead of rounding half up", "golden/numerics.py",
           "    return np.right_shift(x + half, shift)", "    return np.right_shift(x, shift)",
           ("tests/golden/test_numerics.py",)),
    Mutant("requantize-no-saturate", "requantize drops its final saturation", "golden/numerics.py",
           "return saturate(round_shift(x * dyadic.m + np.asarray(offset, dtype=np.int64), dyadic.shift), "
           "bits, signed)", "return round_shift(x * dyadic.m + np.asarray(offset, dtype=np.int64), dyadic.shift)",
           ("tests/golden/test_numerics.py",)),
    # ---- nonlinear kernels ----
    Mutant("softmax-no-saturate", "softmax probabilities are not clipped to 8 bits (256 stays 256)",
           "golden/softmax.py",
           "p = saturate(round_shift(e * f, RECIP_BITS - OUT_BITS), OUT_BITS, signed=False)",
           "p = round_shift(e * f, RECIP_BITS - OUT_BITS)", ("tests/golden/test_softmax.py",)),
    Mutant("softmax-ln2", "i-exp's range reduction uses a wrong ln 2", "golden/softmax.py",
           "LN2 = 0.6931 ", "LN2 = 0.6831 ", ("tests/golden/test_softmax.py",)),
    Mutant("gelu-erf-constant", "i-GELU's erf clip point b is mistyped", "golden/gelu.py",
           "ERF_B = -1.769", "ERF_B = -1.796", ("tests/golden/test_gelu.py",)),
    Mutant("gelu-erf-shift", "i-GELU shifts its erf polynomial one bit too far", "golden/gelu.py",
           "np.right_shift(y, k.erf_shift)", "np.right_shift(y, k.erf_shift + 1)",
           ("tests/golden/test_gelu.py",)),
    Mutant("layernorm-recip-bits", "LayerNorm's reciprocal loses a bit of precision", "golden/layernorm.py",
           "RECIP_BITS = 17 ", "RECIP_BITS = 16 ", ("tests/golden/test_layernorm.py",)),
    Mutant("isqrt-strict-compare", "the square-root digit recurrence takes a bit only on a strict excess",
           "golden/isqrt.py", "take = rem >= trial", "take = rem > trial", ("tests/golden/test_isqrt.py",)),
    Mutant("lanes-gelu-one", "the lanes' GELU adds one erf unit too many to its '1 +' term (RTL)", "hw/lanes.py",
           "w5 + k.gelu_one,", "w5 + k.gelu_one + 1,",
           ("tests/hw/test_nonlinear.py::test_nonlinear[dim4-gelu_requant]",)),
    Mutant("norm-max-chain", "the reducer's max leaves chain a Mux expression (same values, 2**n copies of the "
           "tree)", "hw/norm.py", "level.append((v0, v0, xs,",
           "level.append((Mux(v0 > level[-1][0], v0, level[-1][0]) if level else v0, v0, xs,",
           ("tests/hw/test_structure.py",)),
    Mutant("lanes-ln-offset", "the lanes' LayerNorm multiplies by f - 2**17 - 1 but adds back (g - mean) * 2 "
           "instead of (g - mean) * (2**17 + 1)", "hw/lanes.py", "Mux(c.ln, (dl << LN_RECIP_BITS) + dl, k.exp_c)",
           "Mux(c.ln, dl + dl, k.exp_c)", ("tests/hw/test_nonlinear.py::test_nonlinear[dim4-layernorm_random]",)),
    Mutant("lanes-band-exp", "the lanes do not zero the exp of a score a softmax band masks (RTL)", "hw/lanes.py",
           "Mux(keep6b, round_clamp(m, pre6b, k.lo3, k.hi3), 0)", "round_clamp(m, pre6b, k.lo3, k.hi3)",
           ("tests/hw/test_nonlinear.py::test_nonlinear[dim4-softmax_band]",)),
    Mutant("band-cls", "a softmax band forgets that every query keeps [CLS] (RTL)", "hw/nonlinear.py",
           "| (key_zero if e == 0 else 0)", "| 0", ("tests/hw/test_nonlinear.py::test_nonlinear[dim4-softmax_band]",)),
    Mutant("nl-other-exp", "the nonlinear unit runs a softmax whose constants are for the exp its lanes do not "
           "build (RTL)", "hw/nonlinear.py", "self.error.eq(norm.error | bad_consts)", "self.error.eq(norm.error)",
           ("tests/hw/test_nonlinear.py::test_nonlinear[dim4-lut-softmax_other_exp]",)),
    Mutant("nl-ln-shift-unchecked", "the nonlinear unit runs a LayerNorm whose var_shift leaves its inputs wider "
           "than the statistics (RTL)", "hw/nonlinear.py", "self._ln_too_wide(m, pc.var_shift)", "0",
           ("tests/hw/test_nonlinear.py::test_nonlinear[dim4-layernorm_short_shift]",
            "tests/hw/test_fuzz.py::test_fuzzed_programs_agree_with_the_model[seed1]")),
    # ---- the array: reference, cycle model, gateware ----
    Mutant("matmul-wrap-width", "golden's accumulator wraps one bit wider than acc_width", "golden/matmul.py",
           "mask = (np.int64(1) << np.int64(bits)) - np.int64(1)",
           "mask = (np.int64(1) << np.int64(bits + 1)) - np.int64(1)",
           ("tests/golden/test_matmul.py", "tests/hw/test_tile_pysim.py::test_accumulator_wraps_like_golden")),
    Mutant("ws-cycles-closed-form", "the isolated weight-stationary operation costs one cycle more",
           "golden/cycles.py", "+ op.rows + 2 * n + 1 + ACC_WRITE_LATENCY + config.pe_pipeline",
           "+ op.rows + 2 * n + 2 + ACC_WRITE_LATENCY + config.pe_pipeline", ("tests/golden/test_cycles.py",)),
    Mutant("ws-cycles-stream-overlap", "a block's rows may start streaming one cycle before the previous block's "
           "last row", "golden/cycles.py", "sb = max(sb, s[-1] + rows[-1])",
           "sb = max(sb, s[-1] + rows[-1] - 1)", ("tests/golden/test_cycles.py", TILE_PYSIM)),
    Mutant("os-cycles-output-slot", "the output-stationary model books result slots one cycle late",
           "golden/cycles.py", "taken.update(last + 1 + n + 2 * i for i in range(n))",
           "taken.update(last + 2 + n + 2 * i for i in range(n))", ("tests/golden/test_cycles.py",)),
    Mutant("os-final-block-overtakes", "an output-stationary op_done waits only for the previous operation's "
           "final row, not for its own earlier blocks' rows", "hw/execute_os.py",
           "Cat(*(wheel[x].valid & (x > final_slot)", "Cat(*(wheel[x].last & (x > final_slot)",
           ("tests/hw/test_tile_pysim.py::test_cycle_model_is_exact_for_any_shapes",)),
    Mutant("spad-write-bank", "a scratchpad write goes to the mirrored bank", "hw/scratchpad.py",
           "(wa[:bank_bits] == i)", "(wa[:bank_bits] == nb - 1 - i)", (TILE_PYSIM,)),
    Mutant("acc-rmw-bank", "the accumulator's read-modify-write adds the other bank's old row",
           "hw/accumulator.py", "m.d.sync += old_q.eq(d)",
           "m.d.sync += old_q.eq(old[-1 - i])", (TILE_PYSIM,)),
    Mutant("pe-pipeline-stage", "pe_pipeline=2 builds only one register stage", "hw/pe.py",
           "if self._pipe >= 2:", "if self._pipe >= 3:", (TILE_PYSIM,)),
    Mutant("execute-k-padding", "the last weight block keeps row k = K instead of zeroing it", "hw/execute.py",
           "w_zero.eq(~(row < k_rem))", "w_zero.eq(~(row <= k_rem))", ("tests/hw/test_execute_pysim.py",)),
    # ---- memory traffic ----
    Mutant("dma-read-stride", "a strided DMA read advances one byte too far per line", "hw/dma.py",
           "offs.w_data.eq(Cat(s.off, s.beats)),\n"
           "                     offs.w_en.eq(self.mem.req.valid & self.mem.req.ready)]\n"
           "        with m.If(offs.w_en):\n"
           "            m.d.sync += [s.segs.eq(s.segs - 1), s.addr.eq(s.addr + s.stride)]",
           "offs.w_data.eq(Cat(s.off, s.beats)),\n"
           "                     offs.w_en.eq(self.mem.req.valid & self.mem.req.ready)]\n"
           "        with m.If(offs.w_en):\n"
           "            m.d.sync += [s.segs.eq(s.segs - 1), s.addr.eq(s.addr + s.stride + 1)]",
           ("tests/hw/test_dma_pysim.py::test_strided_read",)),
    Mutant("dma-write-offset", "a DMA write segment ignores its start offset within the first beat", "hw/dma.py",
           "n.eq(offs.r_data + Mux(in_fire, s.L, 0))", "n.eq(Mux(in_fire, s.L, 0))",
           ("tests/hw/test_dma_pysim.py::test_strided_write",)),
    # ---- the controller's hazard checks (an NL beside MATMULs) ----
    Mutant("nl-ignores-matmuls", "an NL issues while a MATMUL it reads the results of is in flight",
           "hw/controller.py", "Opcode.NL: fresh & ~nl_run & ~nl_hazard & ring_space",
           "Opcode.NL: fresh & ~nl_run & ring_space",
           (NL_BESIDE,)),
    Mutant("matmul-ignores-nl", "a MATMUL issues beside an NL whose output rows it reads",
           "hw/controller.py", "mm_hazard.eq(nl_run & conflicts(", "mm_hazard.eq(0 & nl_run & conflicts(",
           (NL_BESIDE,)),
    # ---- ISA contracts ----
    Mutant("lane-op-swap", "SOFTMAX and LAYERNORM swap their NL op codes (consistently, everywhere)",
           "golden/nlops.py", "    SOFTMAX = 3     # EXP, then U4 with the row's reciprocal\n    LAYERNORM = 4 ",
           "    SOFTMAX = 4     # EXP, then U4 with the row's reciprocal\n    LAYERNORM = 3 ",
           ("tests/golden/test_nlops.py",)),
    Mutant("machine-bus-error-code", "a LOAD beyond memory reports a bad field instead of a bus error",
           "golden/machine.py", "ErrorCode.BUS, fail)", "ErrorCode.BAD_FIELD, fail)",
           ("tests/golden/test_machine_errors.py",)),
    # ---- reliability: errors, aborts, the queue model (tests/hw/test_bus_faults.py, tests/hw/test_fuzz.py) ----
    Mutant("bus-error-info", "a bus error reports 0 instead of the failing address (RTL)", "hw/controller.py",
           "err_info.eq(self.bus_error_addr)", "err_info.eq(0)",
           ("tests/hw/test_bus_faults.py::test_faults_on_every_transfer_kind",)),
    Mutant("abort-ignored", "CTRL.abort does nothing (RTL)", "hw/csr.py", "self.abort.eq(w_data[2])",
           "self.abort.eq(0)",
           ("tests/hw/test_bus_faults.py::test_abort_from_the_middle_of_each_kind_of_instruction",)),
    Mutant("decode-error-imprecise", "a decode error drops the queued instructions before it (RTL)",
           "hw/controller.py", "err_info.eq(fail_info), stop.eq(1)]",
           "err_info.eq(fail_info), stop.eq(1), halting.eq(1)]",
           ("tests/hw/test_fuzz.py::test_fuzzed_programs_agree_with_the_model[seed1]",)),
    Mutant("norm-error-lost", "a softmax row sum's error that comes as the next pass starts is lost (RTL)",
           "hw/norm.py", "        with m.If(Cat(*(e.done & e.error for e in engines)).any()):\n"
           "            m.d.sync += err.eq(1)\n        with m.Elif(self.clear):\n            m.d.sync += err.eq(0)",
           "        with m.If(self.clear):\n            m.d.sync += err.eq(0)\n"
           "        with m.Elif(Cat(*(e.done & e.error for e in engines)).any()):\n            m.d.sync += err.eq(1)",
           ("tests/hw/test_fuzz.py::test_fuzzed_programs_agree_with_the_model[seed1]",)),
    Mutant("queues-all-must", "the queue model says every STORE that can run must have run, even after a fault",
           "golden/queues.py", '"must" if (j in must or not runtime) else "maybe"', '"must"',
           ("tests/hw/test_fuzz.py::test_fuzzed_programs_agree_with_the_model[seed1]",)),
    # ---- the decoder's checks (golden.isa.decode_checks: the assembler, the ISA model and the RTL decoder) ----
    Mutant("isa-acc-range", "a LOAD may write one accumulator line past the end", "golden/isa.py",
           "((loc == 1) & (end > acc)", "((loc == 1) & (end > acc + 1)", ("tests/golden/test_isa_checks.py",)),
    Mutant("isa-nl-row-length", "an NL row of exactly MAX_ROW values is refused", "golden/isa.py",
           '(product(f["lines"], dim) > MAX_ROW)', '(product(f["lines"], dim) >= MAX_ROW)',
           ("tests/golden/test_isa_checks.py",)),
    # ---- compiler ----
    Mutant("compiler-tile-rows", "the last token tile is planned one row too long", "compiler/plan.py",
           "return min(self.tile, self.seq - t * self.tile)", "return min(self.tile, self.seq - t * self.tile + 1)",
           ("tests/compiler/test_compile.py::test_layer_bit_exact_dim8_and_ragged_seq",)),
    Mutant("compiler-weight-reload", "a prefetched weight chunk is loaded a second time (right results, double "
           "traffic)", "compiler/layer.py",
           "        if i not in self.loaded:\n            self._load(i, (addr, lines))",
           "        if True:\n            self._load(i, (addr, lines))",
           ("tests/compiler/test_compile.py::test_layer_bit_exact_all_fusion_options",)),
)


class StaleMutant(Exception):
    """A mutant's snippet does not occur exactly once: the list no longer matches the sources."""


def mutated_text(mutant, tree):
    """The text of ``mutant.path`` under ``tree`` with the fault in (:class:`StaleMutant` unless the snippet
    occurs exactly once)."""
    path = tree / mutant.path
    text = path.read_text() if path.exists() else ""
    n = text.count(mutant.snippet)
    if n != 1:
        raise StaleMutant(f"{mutant.id}: the snippet occurs {n} times in {mutant.path}, not exactly once:\n"
                          f"    {mutant.snippet!r}")
    return text.replace(mutant.snippet, mutant.replacement)


def snapshot(dst):
    """Copy the working tree's source files (tracked or untracked, not ignored) to ``dst``."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():               # a tracked file deleted in the working tree is not part of it
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


def fresh_copy(base, dst):
    """A working copy of the snapshot ``base`` at ``dst``, sharing the real ``build/``."""
    shutil.copytree(base, dst)
    (ROOT / "build").mkdir(exist_ok=True)
    (dst / "build").symlink_to(ROOT / "build")


def rtl_digest(tree):
    """``sim.runner.rtl_digest`` of the sources at ``tree`` (the build key of anything Verilator built there)."""
    return subprocess.run([sys.executable, "-c", "from sim.runner import rtl_digest; print(rtl_digest())"],
                          cwd=tree, env=_env(tree), check=True, capture_output=True, text=True).stdout.strip()


def _env(tree):
    # The copy, not the editable install's checkout, is what every process (cocotb's too) must import.
    return dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")


def run_pytest(tree, tests, timeout):
    """(pytest exit code, or None on timeout; seconds; output) of ``tests`` run in ``tree``."""
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "pytest", *PYTEST_ARGS, *tests], cwd=tree, env=_env(tree),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)     # the session this run started: pytest and its simulators
        out, _ = proc.communicate()
        code = None
    return code, time.monotonic() - t0, out


def verdict(code):
    """pytest exit code -> (killed, label). 1: a test failed, 2: collection error from the fault; 3-5 (internal
    error, usage error such as a missing node id, nothing collected) say the run itself is broken."""
    if code is None:
        return True, "killed (timeout)"
    if code in (1, 2):
        return True, "killed"
    if code == 0:
        return False, "SURVIVED"
    return False, f"ERROR (pytest exit {code})"


def first_failure(out):
    """The node id of the first failing test in pytest's ``-ra`` summary (``FAILED id - msg``), or ``""``."""
    summary = out.partition("short test summary info")[2]
    for line in summary.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line.split(" ", 1)[1].split(" - ", 1)[0]
    return ""


def run_mutant(m, base, tmp, clean_digest, timeout):
    """(pytest exit code or None, seconds, first failing test) of mutant ``m`` applied to a fresh copy of
    ``base``; the Verilator builds of a mutated RTL digest are deleted afterwards (nothing else can use them)."""
    tree = tmp / m.id
    fresh_copy(base, tree)
    (tree / m.path).write_text(mutated_text(m, base))
    code, secs, out = run_pytest(tree, m.tests, timeout)
    digest = rtl_digest(tree)
    if digest != clean_digest:
        for p in (ROOT / "build").glob(f"*-{digest}*"):
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
    shutil.rmtree(tree)
    return code, secs, first_failure(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", metavar="ID", help="run only this mutant (repeatable)")
    ap.add_argument("--timeout", type=float, default=TIMEOUT, help=f"seconds per pytest run (default {TIMEOUT})")
    args = ap.parse_args(argv)
    ids = [m.id for m in MUTANTS]
    unknown = sorted(set(args.only or ()) - set(ids))
    if len(set(ids)) != len(ids) or unknown:
        print(f"mutation: duplicate or unknown mutant id(s) {unknown}; known: {ids}", file=sys.stderr)
        return 2
    mutants = [m for m in MUTANTS if not args.only or m.id in args.only]

    with tempfile.TemporaryDirectory(prefix="systolica-mutation-") as tmp:
        tmp = pathlib.Path(tmp)
        base = tmp / "base"
        snapshot(base)
        stale = []
        for m in mutants:
            try:
                mutated_text(m, base)
            except StaleMutant as e:
                stale.append(str(e))
        if stale:
            print("mutation: STALE MUTANT LIST\n" + "\n".join(stale), file=sys.stderr)
            return 2

        tests = list(dict.fromkeys(t for m in mutants for t in m.tests))
        baseline = tmp / "baseline"
        fresh_copy(base, baseline)
        code, secs, out = run_pytest(baseline, tests, args.timeout)
        if code != 0:
            print(out[-6000:])
            print(f"mutation: the unmutated tree does not pass the selected tests (pytest exit {code}, "
                  f"{secs:.0f} s): fix that first", file=sys.stderr)
            return 2
        print(f"unmutated tree: {len(tests)} test selections pass ({secs:.0f} s)", flush=True)
        clean_digest = rtl_digest(baseline)

        killed = 0
        for m in mutants:
            code, secs, by = run_mutant(m, base, tmp, clean_digest, args.timeout)
            ok, label = verdict(code)
            killed += ok
            print(f"{m.id:<26} {label:<18} {secs:6.1f} s  {m.description}" + (f"  [{by}]" if by else ""),
                  flush=True)
    print(f"{killed}/{len(mutants)} mutants killed")
    return 0 if killed == len(mutants) else 1


if __name__ == "__main__":
    sys.exit(main())
