"""Exact cycle model of the systolic tile engine (hw/execute.py, hw/accumulator.py, hw/counters.py).

A tile operation ``C (+)= A x B`` with ``rows`` A rows, inner size ``k`` (``KB = ceil(k / dim)`` weight blocks)
is a sequence of blocks. Block ``b`` (over all operations in order) has a preload start ``p_b`` and a stream
start ``s_b``; an operation's command handshake is at cycle ``T``::

    T_j = max(v_j, E_{j-1})            v_j: first cycle command j is valid; E: last preload cycle of op j - 1
    p_b = max(p_{b-1} + dim, s_{b-2} + rows_{b-2}, T_j + 1 if b is op j's first block)
    s_b = max(p_b + 1, s_{b-1} + rows_{b-1})
    E_j = p_{last block of j} + dim - 1
    D_j = s_{last block of j} + rows_j + 2*dim - 1 + P + W
                    (op_done pulses in cycle D_j; P = config.pe_pipeline, W = ACC_WRITE_LATENCY)

An isolated operation therefore takes ``D - T = (KB - 1) * max(rows, dim) + rows + 2*dim + 1 + W + P`` cycles, which is
also what the ``busy_cycles`` counter reads for it; back-to-back operations with ``rows >= dim`` keep the
array busy every cycle (one A row per cycle), so utilization tends to 1.

Output-stationary (``dataflow="os"``, hw/execute_os.py): one k step per cycle from ``T + 1``, blocks are row
blocks of ``dim`` rows, a block's ``last`` step waits while one of its result rows would leave the mesh in the
same cycle as an earlier block's (only when k < 2*dim - 1), and row ``i`` commits ``dim + 2*i + 1 + W`` cycles after
its block's ``last`` step (see :meth:`Engine._issue_os` and :data:`FORMULA`).

``ACC_WRITE_LATENCY``: an accumulator write accepted in cycle t commits (and ``done`` pulses) in cycle t + W.
"""
import dataclasses

from .config import AcceleratorConfig

__all__ = ["ACC_WRITE_LATENCY", "FORMULA", "TileOp", "OpTiming", "Engine", "blocks", "op_cycles", "schedule",
           "utilization", "busy_cycles", "mac_cycles"]

#: Cycles from an accumulator write's acceptance to its commit (hw.accumulator: read, registered read, add/write).
ACC_WRITE_LATENCY = 2

FORMULA = ("ws: cycles(rows, k) = (ceil(k/dim) - 1) * max(rows, dim) + rows + 2*dim + 3 + pe_pipeline; "
           "os (k >= 2*dim - 1): cycles(rows, k) = RB*k + dim + 2*i_last + 3 with RB = ceil(rows/dim), "
           "i_last = rows - 1 - (RB - 1)*dim; shorter k: golden.cycles.schedule "
           "(isolated op, handshake to done)")


@dataclasses.dataclass(frozen=True)
class TileOp:
    """Shape of one tile operation (addresses do not affect timing)."""
    rows: int
    k: int
    cols: int = None

    def check(self, config):
        for name in ("rows", "k"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, not {v!r}")
        if self.cols is not None and not (isinstance(self.cols, int) and 1 <= self.cols <= config.dim):
            raise ValueError(f"cols must be in 1..{config.dim}, not {self.cols!r}")
        if self.rows > config.acc_rows:
            raise ValueError(f"rows={self.rows} exceeds the accumulator's {config.acc_rows} rows")
        if self.k > config.spad_rows:
            raise ValueError(f"k={self.k} exceeds the scratchpad's {config.spad_rows} rows")


@dataclasses.dataclass(frozen=True)
class OpTiming:
    accept: int   # cycle of the command handshake
    done: int     # cycle op_done pulses

    @property
    def cycles(self):
        return self.done - self.accept


def _check_config(config):
    if not isinstance(config, AcceleratorConfig):
        raise ValueError(f"config must be an AcceleratorConfig, not {config!r}")


def blocks(op, config):
    """Number of blocks: weight blocks ``ceil(k / dim)`` (ws) or row blocks ``ceil(rows / dim)`` (os)."""
    if config.dataflow == "os":
        return -(-op.rows // config.dim)
    return -(-op.k // config.dim)


def op_cycles(op, config):
    """Cycles from handshake to ``op_done`` of one operation issued to an idle engine."""
    _check_config(config)
    op.check(config)
    n = config.dim
    if config.dataflow == "os":
        return schedule([op], config)[0].cycles
    return (blocks(op, config) - 1) * max(op.rows, n) + op.rows + 2 * n + 1 + ACC_WRITE_LATENCY + config.pe_pipeline


def schedule(ops, config, valid_at=None):
    """Timing of operations issued in order: list of :class:`OpTiming`.

    ``valid_at[j]`` is the first cycle command j is presented (default: all at cycle 0, i.e. back to back);
    cycles are counted from the same origin, with the engine idle before the first command.
    """
    ops = list(ops)
    if valid_at is None:
        valid_at = [0] * len(ops)
    if len(valid_at) != len(ops):
        raise ValueError(f"valid_at has {len(valid_at)} entries for {len(ops)} operations")
    engine = Engine(config)
    return [engine.issue(op, v) for op, v in zip(ops, valid_at)]


class Engine:
    """The execute unit's timing, one operation at a time: :meth:`issue` gives the :class:`OpTiming` of the next
    operation in order (an operation's timing never depends on later ones), so a program's model adds its
    MATMULs as it meets them. :func:`schedule` is this over a list."""

    def __init__(self, config):
        _check_config(config)
        self._cfg = config
        self._e_prev = None       # cycle the previous operation's final step issues (the next one is accepted)
        # weight-stationary: preload and stream starts and rows of the last two blocks
        self._p, self._s, self._rows = [], [], []
        # output-stationary: the latest commit of a row written so far, and the up-chain slots taken
        self._pending, self._taken = None, set()
        #: weight-stationary: ``(first, end)`` cycles of every block's B reads (its preload's non-zero rows), in
        #: order: the cycles the array holds the scratchpad port it shares with the nonlinear unit's residual reads
        self.b_reads = []

    def issue(self, op, valid_at=0):
        """Timing of ``op`` (a :class:`TileOp`) presented from cycle ``valid_at`` after every earlier one."""
        op.check(self._cfg)
        t = valid_at if self._e_prev is None else max(valid_at, self._e_prev)
        return self._issue_os(op, t) if self._cfg.dataflow == "os" else self._issue_ws(op, t)

    def _issue_ws(self, op, t):
        n = self._cfg.dim
        p, s, rows = self._p, self._s, self._rows
        for kb in range(blocks(op, self._cfg)):
            pb = t + 1 if kb == 0 else p[-1] + n
            if p:
                pb = max(pb, p[-1] + n)
            if len(p) >= 2:
                pb = max(pb, s[-2] + rows[-2])
            sb = pb + 1
            if p:
                sb = max(sb, s[-1] + rows[-1])
            p.append(pb)
            s.append(sb)
            rows.append(op.rows)
            self.b_reads.append((pb, pb + min(n, op.k - kb * n)))
            del p[:-2], s[:-2], rows[:-2]
        self._e_prev = p[-1] + n - 1
        return OpTiming(accept=t, done=s[-1] + op.rows + 2 * n - 1 + ACC_WRITE_LATENCY + self._cfg.pe_pipeline)

    def _issue_os(self, op, t):
        """Output-stationary timing (hw/execute_os.py): one k step issued per cycle from ``T + 1``; a block whose
        ``last`` step is issued at s sends row i out of the mesh at s + 1 + dim + 2*i; the ``last`` step waits
        while one of those cycles is taken by an earlier block's row, and an operation's final block also waits
        while its final row would commit before a row written by an earlier block (of this operation or an
        earlier one: with K < 2*dim - 1 a short final block can overtake its own operation's earlier blocks);
        row i commits at s + dim + 2*i + 1 + ACC_WRITE_LATENCY. No block's first row commits before an earlier
        operation's row (which may be the same accumulator row)."""
        n, w = self._cfg.dim, 1 + ACC_WRITE_LATENCY    # row i of a block issued last at s commits at s + n + 2*i + w
        taken = self._taken
        issue = t + 1
        rb = blocks(op, self._cfg)
        i_last = op.rows - 1 - (rb - 1) * n
        older = self._pending          # the latest commit of an earlier operation's row
        for b in range(rb):
            last = issue + op.k - 1
            # A slot taken by an earlier block's row, or (final block) op_done before an earlier row's commit: wait.
            while (any(last + 1 + n + 2 * i in taken for i in range(n))
                   or (older is not None and last + n + w < older)
                   or (b == rb - 1 and self._pending is not None and last + n + 2 * i_last + w < self._pending)):
                last += 1
            taken.difference_update([x for x in taken if x <= last])
            taken.update(last + 1 + n + 2 * i for i in range(n))
            commit = last + n + 2 * (min(n, op.rows - b * n) - 1) + w
            self._pending = commit if self._pending is None else max(self._pending, commit)
            issue = last + 1
        self._e_prev = last
        return OpTiming(accept=t, done=last + n + 2 * i_last + w)


def utilization(ops, config):
    """(mac_cycles, busy_cycles) the hardware counters read after ``ops`` run back to back from idle."""
    return mac_cycles(ops, config), busy_cycles(schedule(ops, config))

def busy_cycles(timings):
    """What ``busy_cycles`` reads after operations with these :class:`OpTiming` (an operation is in flight in
    cycles ``accept + 1 .. done``)."""
    busy, cur_start, cur_end = 0, None, None
    for t in sorted(timings, key=lambda t: t.accept):
        if cur_end is None or t.accept >= cur_end:
            if cur_end is not None:
                busy += cur_end - cur_start
            cur_start, cur_end = t.accept, t.done
        else:
            cur_end = max(cur_end, t.done)
    return 0 if cur_end is None else busy + cur_end - cur_start


def mac_cycles(ops, config):
    """What ``mac_cycles`` reads after ``ops``: one per A row issued, ``rows * ceil(k / dim)`` per operation
    (ws), or one per k step, ``k * ceil(rows / dim)`` (os)."""
    if config.dataflow == "os":
        return sum(op.k * blocks(op, config) for op in ops)
    return sum(op.rows * blocks(op, config) for op in ops)


# ---- nonlinear unit (hw/nonlinear.py, hw/norm.py, hw/lanes.py) -------------------------------------------------
NONLINEAR_FORMULA = (
    "per pass, from its start P (the command's handshake for the first): rows of W lines arrive as B = dim/n "
    "beats each, N = rows*W*B beats, one per cycle; output pass: done = P + READ_TO_LANES - 1 + N + LANE_LATENCY; "
    "max pass: next P = P + READ_TO_LANES + R - 1 + N (R = reduce_latency(n)); sum / statistics pass: row r's record is "
    "ready at t_r = P + c - 1 + (r+1)*W*B + stall, engine start s_r = max(t_r, s_(r-E) + DERIVE), "
    "stall += s_r - t_r, next P = s_last + DERIVE (c adds LANE_LATENCY when the pass goes through the lanes: "
    "softmax's exp-sum pass, LayerNorm's statistics pass, whose U1 forms the residual sum); through the "
    "scratchpad writer the output pass ends 1 cycle later (the row register), transposed 1 + dim + "
    "(ceil(rows/dim) - 1)*(dim + 1 - W*B) later (each earlier block's drain holds the lanes)")


def nonlinear_cycles(op, rows, lines, config, *, to_spad=False, transpose=False):
    """Cycles from a nonlinear command's handshake to its ``done`` pulse, the output never stalled.

    ``op`` is a ``golden.nlops.LaneOp``; ``rows`` logical rows of ``lines`` accumulator lines. The passes and their
    timing constants are the hardware's (``golden.nlops``); see :data:`NONLINEAR_FORMULA`. ``to_spad``: the output
    goes through the scratchpad writer (``hw.writer``) instead of the output stream, ``transpose`` in
    ``dim x dim`` blocks (needs ``lines == 1``); the writer's extra cycles are added to the output pass.
    """
    from .nlops import DERIVE_CYCLES, LANE_LATENCY, PASSES, READ_TO_LANES, LaneOp, NormMode, reduce_latency

    _check_config(config)
    engines = config.derive_engines
    for name, v in (("rows", rows), ("lines", lines)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, not {v!r}")
    if rows * lines > config.acc_rows:
        raise ValueError(f"{rows} rows of {lines} lines exceed the accumulator's {config.acc_rows} lines")
    if transpose and not (to_spad and lines == 1):
        raise ValueError(f"a transposed output goes to the scratchpad in rows of one line, not to_spad={to_spad!r} "
                         f"lines={lines!r}")
    n = min(config.lanes, config.dim)
    wb = lines * (config.dim // n)
    beats = rows * wb
    p = 0
    for mode, lane_op in PASSES[LaneOp(op)]:
        if mode is None:
            done = p + READ_TO_LANES - 1 + beats + LANE_LATENCY     # the last beat's handshake
            if not to_spad:
                return done
            # hw.writer: a row is assembled from its beats in a register and written the cycle after its last
            # beat, and ``done`` pulses with the last row's write.
            if not transpose:
                return done + 1
            # Transposed, every dim-row block is taken into the buffer (a cycle after its last beat) and then
            # drained over dim cycles, column by column; the last block's drain ends with ``done``. While an
            # earlier block drains, the writer takes the next row's wb beats and then holds ``i.ready`` low until
            # the drain ends: dim + 1 - wb cycles in which the lanes' pipeline stands still (hw.lanes: one enable
            # for every stage), so every later beat comes that much later.
            d = config.dim
            return done + 1 + d + (-(-rows // d) - 1) * (d + 1 - wb)
        c = READ_TO_LANES + reduce_latency(n) + (LANE_LATENCY if lane_op is not None else 0)
        if mode == NormMode.MAX:
            p += c - 1 + beats
            continue
        d = DERIVE_CYCLES[mode]
        starts, stall = [], 0
        for r in range(rows):
            t = p + c - 1 + (r + 1) * wb + stall
            s = max(t, starts[r - engines] + d) if r >= engines else t
            stall += s - t
            starts.append(s)
        p = starts[-1] + d
    raise AssertionError("every op ends with an output pass")
