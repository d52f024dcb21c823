"""The Systolica ISA's executable specification: a functional machine that runs programs in program order.

:class:`Machine` holds the architectural state of docs/isa.md (memory, scratchpad, accumulator, lane constants,
column table, token counters) and executes instructions (``golden.isa``) one after another with golden/ semantics.
The three hardware queues only reorder *timing*: a program whose tokens are placed correctly computes exactly
what the program-order run computes. A pop that finds its counter at zero in program order raises ``ValueError``
(the program relies on a later instruction's push: it would wait forever, or its result would depend on timing).

Semantics per instruction (see docs/isa.md for the fields):

LOAD / STORE
    ``dim`` little-endian elements of ``elem_bytes`` bytes per line, sign-extended and wrapped to
    ``input_width`` (scratchpad) or ``acc_width`` (accumulator, int32 in memory). A STORE whose value does not
    fit ``elem_bytes`` raises (the compiler guarantees it fits).
MATMUL
    Per column block ``j``: ``C[:, :cols_j] (+)= A @ B_j[:, :cols_j]`` with :func:`golden.matmul.matmul`
    (wrapping at ``acc_width``); A is K-block-major, B one scratchpad row per k whose low ``weight_width`` bits
    are the weight (as the mesh reads them); accumulator columns ``>= cols_j`` are left untouched.
NL
    The lane ops of ``golden.nlops`` from the current lane constants and column table, built on the golden
    kernels (:func:`golden.softmax.i_softmax`, :func:`golden.layernorm.i_layernorm`, :func:`golden.gelu.i_gelu`,
    :func:`golden.numerics.round_shift`): see :func:`lane_op`. Results are truncated to ``input_width`` and
    written straight or transposed (``hw.writer``).

The timing estimate of a program lives in :mod:`golden.program_cycles` (re-exported here).
"""
import numpy as np

from . import nlops
from .isa import CHANNELS, INSTR_BYTES, ErrorCode, IsaError, Opcode, disassemble
from .nlops import LaneOp

from .gelu import GeluConstants, i_gelu
from .layernorm import XS_BITS, LayerNormConstants, i_layernorm, ln_shift_fits
from .matmul import matmul, wrap
from .numerics import Dyadic, int_range, round_shift
from .softmax import EXP_BITS, MIN_EXP_SUM, SoftmaxConstants, i_softmax

__all__ = ["Machine", "MachineError", "lane_op", "estimate_cycles", "Latencies"]


class MachineError(ValueError):
    """An error the hardware reports in ``ERROR_CODE`` (``code``: ``golden.isa.ErrorCode``) and ``ERROR_INFO``
    (``info``: the bus address of a bus error's first failing beat), or a program bug."""

    def __init__(self, msg, code=ErrorCode.BAD_FIELD, info=0):
        super().__init__(msg)
        self.code, self.info = code, info


def _u3(u, k, m3c, bc, cols):
    """U3: ``clamp(round_shift(u * M + B, s3), lo3, hi3)`` with per-column (``col_mult``) or scalar M, B."""
    m = m3c[cols] if k["col_mult"] else np.int64(k["m3"])
    b = bc[cols] if k["col_mult"] else np.int64(0)
    return np.clip(round_shift(u * m + b, k["s3"]), k["lo3"], k["hi3"])


def lane_op(op, x, y, k, table, var_shift=0, mask=None):
    """Result of lane op ``op`` on rows ``x`` (R, L) of accumulator values with residual operand ``y`` (or None);
    ``mask`` (SOFTMAX: the scores a band keeps, ``golden.nlops.band_mask``) or None.

    Parameters
    ----------
    op : golden.nlops.LaneOp
    x : (R, L) int64 array
    y : (R, L) int64 array or None
        The scratchpad operand of U1 (``residual``); zeros when None.
    k : dict
        Lane constants (``golden.nlops.FIELDS``).
    table : dict of arrays
        Column table ``m1``, ``m3``, ``b``; column ``c`` uses entry ``c``.
    var_shift : int
        LayerNorm's variance shift (the NL instruction's field).
    """
    rows, n = x.shape
    cols = np.arange(n)
    if op != LaneOp.SOFTMAX and n > len(table["m1"]):
        raise MachineError(f"rows of {n} values exceed the column table's {len(table['m1'])} entries",
                           ErrorCode.TABLE_RANGE)
    m1, m3c, bc = table["m1"], table["m3"], table["b"]
    yy = np.zeros_like(x) if y is None else y

    def u1(lo=k["lo1"], hi=k["hi1"]):
        return np.clip(round_shift(x * m1[cols] + yy * np.int64(k["mb"]), k["s1"]), lo, hi)

    if op == LaneOp.REQUANT:
        return _u3(x, k, m3c, bc, cols)
    if op == LaneOp.GELU:
        # U1's clip, narrowed to the lanes' GELU input range; i_gelu up to t = g * (erf + one) (identity
        # requantization), then this op's U3.
        glo, ghi = int_range(nlops.MAX_GELU_IN_BITS)
        g = u1(max(k["lo1"], glo), min(k["hi1"], ghi))
        gk = GeluConstants(nlops.MAX_GELU_IN_BITS, 63, k["gelu_b"], k["gelu_c"], k["erf_shift"],
                           k["gelu_one"], Dyadic(1, 0))
        return _u3(i_gelu(g, gk), k, m3c, bc, cols)
    if op == LaneOp.SOFTMAX:
        if (k["lo3"], k["hi3"]) != (0, (1 << EXP_BITS) - 1):
            raise MachineError(f"softmax exps clip to lo3={k['lo3']}..hi3={k['hi3']}, not 0..{(1 << EXP_BITS) - 1}")
        if k["exp_lut"]:
            sk = SoftmaxConstants(64, k["pre_shift"], k["x0"], 0, 0, Dyadic(1, k["s3"]), impl="lut",
                                  lut_inv=-k["exp_b"], lut_shift=k["erf_shift"], lut_c=k["exp_c"])
        else:
            sk = SoftmaxConstants(64, k["pre_shift"], k["x0"], k["exp_b"], k["exp_c"], Dyadic(k["m3"], k["s3"]))
        dump = {}
        if mask is not None and rows and not mask.any(axis=-1).all():
            # every score masked: the unit's row max is the accumulator minimum, the exps all 0
            raise MachineError("softmax row whose band keeps no score: sum of exps 0", ErrorCode.NONLINEAR)
        p = i_softmax(x, sk, dump, mask=mask)
        if rows and int(dump["exp_sum"].min()) < MIN_EXP_SUM:
            raise MachineError(f"softmax row sum of exps {int(dump['exp_sum'].min())} below {MIN_EXP_SUM}",
                               ErrorCode.NONLINEAR)
        return p
    if op == LaneOp.LAYERNORM:
        g = u1()
        # i_layernorm up to z (identity requantization), then this op's U3 (gamma, beta per column).
        in_bits = nlops.signed_width(k["lo1"], k["hi1"])
        if not ln_shift_fits(k["lo1"], k["hi1"], var_shift):
            # the unit's statistics are sized for shifted inputs of XS_BITS (golden.layernorm)
            raise MachineError(f"LayerNorm of inputs in {k['lo1']}..{k['hi1']} with var_shift={var_shift}: the "
                               f"shifted inputs exceed {XS_BITS} bits", ErrorCode.NONLINEAR)
        lk = LayerNormConstants(n, in_bits, 63, var_shift, Dyadic(1, 0), (0,) * n)
        return _u3(i_layernorm(g, lk), k, m3c, bc, cols)
    raise MachineError(f"NL op {int(op)} is not an instruction-level op {[o.name for o in nlops.NL_OPS]}")


class Machine:
    """Architectural state of one accelerator and a program-order interpreter.

    Parameters
    ----------
    config : golden.config.AcceleratorConfig

    Attributes
    ----------
    memory : bytearray
    spad : (spad_rows, dim) int64 array, values signed ``input_width``-bit
    acc : (acc_rows, dim) int64 array, values signed ``acc_width``-bit
    lane : golden.nlops.LaneConsts
    table : dict name -> (config.col_entries,) int64 array (``m1``, ``m3``, ``b``)
    tokens : dict channel -> count (``l2e``, ``e2l``, ``e2s``, ``s2e``)
    stats : dict of counters (instructions per opcode, bytes read / written)
    bus_faults : tuple of (lo, hi, reads, writes)
        Byte ranges ``[lo, hi)`` whose reads (``reads``) and / or writes (``writes``) the memory answers with an
        error, as a faulty slave (sim/axi_mem.sv's injection); memory beyond ``len(memory)`` always does.
    """

    def __init__(self, config, bus_faults=()):
        self.config = config
        self.memory = bytearray()
        self.bus_faults = tuple(bus_faults)
        self.spad = np.zeros((config.spad_rows, config.dim), dtype=np.int64)
        self.acc = np.zeros((config.acc_rows, config.dim), dtype=np.int64)
        self.lane = nlops.LaneConsts.make()
        self.table = {n: np.zeros(config.col_entries, dtype=np.int64) for n in nlops.COL_FIELDS}
        self.tokens = dict.fromkeys(CHANNELS.values(), 0)
        self.stats = {"bytes_read": 0, "bytes_written": 0}

    # ---- memory -------------------------------------------------------------------------------------------
    def _mem(self, addr, n, write=False, segment=None):
        """``addr``, or a bus error if bytes ``[addr, addr + n)`` meet the end of the memory or a faulty range.
        Its info is the hardware's (``hw.axi.AxiMaster``): a read's first failing beat, a write's failing burst
        (the write's ``segment`` start, default ``addr``, cut into bursts of at most 256 beats that never cross
        4 KiB)."""
        ends = [max(addr, len(self.memory))] if addr + n > len(self.memory) else []
        ends += [max(addr, lo) for lo, hi, rd, wr in self.bus_faults
                 if (wr if write else rd) and addr < hi and lo < addr + n]
        if not ends:
            return addr
        beat = self.config.bus_width // 8
        fail = min(ends) // beat * beat
        if write:
            a = (addr if segment is None else segment) // beat * beat
            while True:
                nxt = a + min(256 * beat, 4096 - a % 4096)
                if fail < nxt:
                    fail = a
                    break
                a = nxt
        where = f" (beyond the {len(self.memory)}-byte memory)" if addr + n > len(self.memory) else ""
        raise MachineError(f"{'write' if write else 'read'} of 0x{addr:x}..0x{addr + n - 1:x}: bus error at "
                           f"0x{fail:x}{where}", ErrorCode.BUS, fail)

    def read_lines(self, addr, lines, stride, elem_bytes):
        """``lines`` lines of ``dim`` signed little-endian elements of ``elem_bytes`` bytes (int64 array)."""
        d, out = self.config.dim, np.empty((lines, self.config.dim), dtype=np.int64)
        dt = {1: "<i1", 2: "<i2", 4: "<i4"}[elem_bytes]
        for i in range(lines):
            a = self._mem(addr + i * stride, d * elem_bytes)
            out[i] = np.frombuffer(self.memory, dtype=dt, count=d, offset=a)
        self.stats["bytes_read"] += lines * d * elem_bytes
        return out

    def write_lines(self, addr, values, stride, elem_bytes):
        lo, hi = int_range(8 * elem_bytes)
        if values.size and (values.min() < lo or values.max() > hi):
            raise MachineError(f"STORE of value {int(values.min() if values.min() < lo else values.max())} that "
                               f"does not fit {elem_bytes}-byte elements")
        dt = {1: "<i1", 2: "<i2", 4: "<i4"}[elem_bytes]
        n = self.config.dim * elem_bytes
        for i, row in enumerate(values):
            # one write segment if the lines are contiguous, else one per line (hw.dma)
            a = self._mem(addr + i * stride, n, write=True, segment=addr if stride == n else None)
            self.memory[a:a + row.size * elem_bytes] = row.astype(dt).tobytes()
        self.stats["bytes_written"] += values.size * elem_bytes

    # ---- execution ----------------------------------------------------------------------------------------
    def run(self, program, memory_image=None, max_instrs=None, prog_addr=0):
        """Execute ``program`` (bytes or a list of ``golden.isa.Instr``) in program order until HALT or its end.

        ``memory_image`` (bytes-like, or dict address -> bytes) replaces the memory first; returns ``self``.
        Every instruction is checked with ``Instr.check(config)``; errors raise ``ValueError`` naming the
        instruction index (a :class:`MachineError` with the hardware's code and info: a decode or nonlinear
        error's info is the instruction's address, ``prog_addr`` + 32 per instruction, a deadlock's 0). What a run
        on the decoupled queues leaves when it ends on an error: ``golden.queues``.
        """
        if memory_image is not None:
            self.load_image(memory_image)
        instrs = disassemble(bytes(program)) if isinstance(program, (bytes, bytearray, memoryview)) else program
        for i, ins in enumerate(instrs):
            if max_instrs is not None and i >= max_instrs:
                break
            try:
                if ins.op == Opcode.HALT:
                    break
                self.step(ins)
            except (MachineError, IsaError) as e:
                info = getattr(e, "info", 0) if e.code in (ErrorCode.BUS, ErrorCode.DEADLOCK) else \
                    prog_addr + i * INSTR_BYTES
                raise MachineError(f"instruction {i} ({ins.op.name}): {e}", e.code, info) from None
            except ValueError as e:
                raise ValueError(f"instruction {i} ({ins.op.name}): {e}") from None
        return self

    def load_image(self, image):
        if isinstance(image, dict):
            size = max((a + len(b) for a, b in image.items()), default=0)
            self.memory = bytearray(size)
            for a, b in image.items():
                self.memory[a:a + len(b)] = b
        else:
            self.memory = bytearray(image)

    def _tokens(self, ins):
        for ch in ins.pops:
            if self.tokens[ch] == 0:
                raise MachineError(f"a pop finds no {ch} token in program order: the program waits forever (or "
                                   "depends on queue timing)", ErrorCode.DEADLOCK)
            self.tokens[ch] -= 1

    def _push(self, ins):
        for ch in ins.pushes:
            self.tokens[ch] += 1

    def step(self, ins):
        """Execute one instruction (not HALT)."""
        ins.check(self.config)
        f = dict(ins.fields)
        self._tokens(ins)
        self.stats[ins.op.name] = self.stats.get(ins.op.name, 0) + 1
        getattr(self, f"_{ins.op.name.lower()}")(f)
        self._push(ins)

    def _load(self, f):
        cfg = self.config
        v = self.read_lines(f["mem_addr"], f["lines"], f["stride"], f["elem_bytes"])
        if f["dst"]:
            if f["elem_bytes"] != 4:
                raise MachineError(f"accumulator LOAD needs elem_bytes=4, not {f['elem_bytes']}")
            self.acc[f["local"]:f["local"] + f["lines"]] = wrap(v, cfg.acc_width)
        else:
            self.spad[f["local"]:f["local"] + f["lines"]] = wrap(v, cfg.input_width)

    def _store(self, f):
        src = self.acc if f["src"] else self.spad
        self.write_lines(f["mem_addr"], src[f["local"]:f["local"] + f["lines"]], f["stride"], f["elem_bytes"])

    def _config(self, f):
        if f["kind"] == 0:
            a = self._mem(f["mem_addr"], nlops.LANE_BLOCK_BYTES)
            self.lane = nlops.unpack_lane_consts(self.memory[a:a + nlops.LANE_BLOCK_BYTES])
            self.stats["bytes_read"] += nlops.LANE_BLOCK_BYTES
        else:
            n = f["count"] * nlops.COL_ENTRY_BYTES
            a = self._mem(f["mem_addr"], n)
            cols = nlops.unpack_col_entries(self.memory[a:a + n])
            for name in nlops.COL_FIELDS:
                self.table[name][f["offset"]:f["offset"] + f["count"]] = getattr(cols, name)
            self.stats["bytes_read"] += n

    def _matmul(self, f):
        cfg, d = self.config, self.config.dim
        kb = -(-f["k"] // d)
        rows = f["rows"]
        a = self.spad[f["a_addr"]:f["a_addr"] + kb * rows].reshape(kb, rows, d).transpose(1, 0, 2)
        a = a.reshape(rows, kb * d)[:, :f["k"]]
        for j in range(f["blocks"]):
            cols = d if j < f["blocks"] - 1 else f["cols"]
            b0 = f["b_addr"] + j * f["b_stride"]
            b = wrap(self.spad[b0:b0 + f["k"], :cols], cfg.weight_width)
            c0 = f["c_addr"] + j * f["c_stride"]
            c = self.acc[c0:c0 + rows, :cols] if f["accumulate"] else None
            self.acc[c0:c0 + rows, :cols] = matmul(a, b, c, acc_bits=cfg.acc_width, a_bits=cfg.input_width,
                                                   b_bits=cfg.weight_width)

    def _nl(self, f):
        cfg, d = self.config, self.config.dim
        rows, lines = f["rows"], f["lines"]
        if f["transpose"] and lines != 1:
            raise MachineError(f"NL transpose needs lines=1, not {lines}")
        k = self.lane.as_dict()
        r_idx = np.arange(rows)[:, None]
        j_idx = np.arange(lines)[None, :]
        x = self.acc[f["acc_base"] + r_idx * f["row_stride"] + j_idx * f["line_stride"]].reshape(rows, lines * d)
        y = None
        if f["residual"]:
            y = self.spad[f["res_base"] + r_idx * f["res_row_stride"] + j_idx * f["res_line_stride"]]
            y = y.reshape(rows, lines * d)
        try:
            op = LaneOp(f["op"])
        except ValueError:
            raise MachineError(f"unknown NL op {f['op']}") from None
        if k["op"] != op:
            # the lanes' output pass computes the lane block's op, the passes follow the instruction's op
            raise MachineError(f"NL op {op.name} with lane constants of op {k['op']} (CONFIG the op's constants)",
                               ErrorCode.NONLINEAR)
        made_for = "lut" if k["exp_lut"] else "poly"
        if op == LaneOp.SOFTMAX and made_for != cfg.exp_impl:
            # the lanes build one exp (config.exp_impl): the nonlinear unit refuses constants for the other
            raise MachineError(f"NL SOFTMAX with exp constants for exp_impl={made_for!r} on an accelerator built "
                               f"with exp_impl={cfg.exp_impl!r}", ErrorCode.NONLINEAR)
        mask = nlops.band_mask(rows, lines, d, f["q_base"], f["k_base"], f["window"], f["cls_line"]) \
            if f["band"] else None
        out = wrap(lane_op(op, x, y, k, self.table, f["var_shift"], mask), cfg.input_width)
        if not f["transpose"]:
            dst = f["dst_base"] + r_idx * f["dst_row_stride"] + j_idx * f["dst_line_stride"]
            self.spad[dst.ravel()] = out.reshape(rows * lines, d)
            return
        for blk in range(-(-rows // d)):
            part = np.zeros((d, d), dtype=np.int64)
            sub = out[blk * d:(blk + 1) * d]
            part[:len(sub)] = sub
            base = f["dst_base"] + blk * f["dst_row_stride"]
            self.spad[base + np.arange(d) * f["dst_line_stride"]] = part.T


def __getattr__(name):
    if name in ("estimate_cycles", "Latencies"):
        from . import program_cycles
        return getattr(program_cycles, name)
    raise AttributeError(name)
