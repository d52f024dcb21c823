"""The Systolica instruction set: encodings, a Python assembler and a disassembler (plain Python).

Every instruction is 256 bits (eight little-endian 32-bit words in memory). Word 0 holds the opcode (bits 7:0),
four dependency flags (bits 11:8) and zeros; the other fields follow in declaration order from bit 12 upward,
each at the width its table gives (see docs/isa.md, generated from these tables by :func:`isa_markdown`).

Instructions go to one of three in-order queues: LOAD to the load unit, CONFIG / MATMUL / NL to the execute
unit, STORE to the store unit; HALT waits for all three to drain. Queues synchronize only through dependency
tokens (as VTA does): an instruction first takes the tokens its ``pop_*`` flags name (waiting while a counter is
zero) and, once complete, gives the tokens its ``push_*`` flags name. ``prev``/``next`` are the neighbouring
queues in the order load -> execute -> store.
"""
import dataclasses
import enum
import functools
import operator
import typing

from .layernorm import MAX_N
from .nlops import NL_OPS, LaneOp

__all__ = ["Opcode", "Queue", "ErrorCode", "IsaError", "FIELDS", "FLAGS", "CHANNELS", "MAX_ROW", "INSTR_BITS",
           "INSTR_BYTES", "Instr", "flag_channel", "channel_flags", "queue_flags", "allowed_flags", "decode_checks",
           "Footprint", "footprint", "conflicts",
           "encode", "decode", "assemble", "disassemble", "parse", "format_instr", "isa_markdown"]

INSTR_BITS = 256
INSTR_BYTES = INSTR_BITS // 8
FIELD_BASE = 12

#: The longest row a nonlinear instruction takes (``lines * dim`` values), and so the column table's entries:
#: the integer LayerNorm is proven exact up to this length (``golden.layernorm.MAX_N``).
MAX_ROW = MAX_N


class Opcode(enum.IntEnum):
    HALT = 0x01
    LOAD = 0x10
    CONFIG = 0x20
    MATMUL = 0x21
    NL = 0x22
    STORE = 0x30


class Queue(enum.IntEnum):
    LOAD = 0
    EXECUTE = 1
    STORE = 2


QUEUE_OF = {Opcode.LOAD: Queue.LOAD, Opcode.CONFIG: Queue.EXECUTE, Opcode.MATMUL: Queue.EXECUTE,
            Opcode.NL: Queue.EXECUTE, Opcode.STORE: Queue.STORE}


class ErrorCode(enum.IntEnum):
    """``ERROR_CODE`` after the accelerator halted on an error (0: none)."""
    ILLEGAL_OPCODE = 1
    BAD_FIELD = 2           # a reserved bit set, a zero count, cols > dim, an unknown kind or op
    SPAD_RANGE = 3          # a scratchpad row out of range
    ACC_RANGE = 4           # an accumulator line out of range
    BUS = 5                 # SLVERR/DECERR on the AXI master
    NONLINEAR = 6           # a softmax row's sum of exps too small (golden.softmax.MIN_EXP_SUM), or its lane
    #                         constants for the exp the lanes do not build (AcceleratorConfig.exp_impl)
    TABLE_RANGE = 7         # a column-table entry out of range
    DEADLOCK = 8            # every queue waits on tokens no unit can give
    ABORTED = 9             # stopped by the host (CSR CTRL.abort)


class IsaError(ValueError):
    """An instruction the hardware would refuse: ``code`` is the ``ErrorCode`` it halts with."""

    def __init__(self, msg, code):
        super().__init__(msg)
        self.code = ErrorCode(code)


FLAGS = ("pop_prev", "pop_next", "push_prev", "push_next")

#: Token channels between neighbouring queues, ``(from, to) -> name``: the sender pushes, the receiver pops.
CHANNELS = {(Queue.LOAD, Queue.EXECUTE): "l2e", (Queue.EXECUTE, Queue.LOAD): "e2l",
            (Queue.EXECUTE, Queue.STORE): "e2s", (Queue.STORE, Queue.EXECUTE): "s2e"}


def _neighbour(queue, side):
    """The queue on ``side`` (``prev``/``next``) of ``queue`` in the order load -> execute -> store, or None."""
    other = int(queue) + (1 if side == "next" else -1)
    return Queue(other) if other in set(Queue) else None


@functools.cache
def queue_flags(queue):
    """The dependency flags an instruction of ``queue`` may set: those whose neighbouring queue exists."""
    return tuple(f for f in FLAGS if _neighbour(queue, f.split("_")[1]) is not None)


@functools.cache
def allowed_flags(op):
    """The dependency flags an ``op`` instruction may set (none for HALT, which belongs to no queue)."""
    q = QUEUE_OF.get(Opcode(op))
    return () if q is None else queue_flags(q)


def channel_flags(sender, receiver):
    """``(push flag of sender, pop flag of receiver)`` of the channel between two neighbouring queues: the inverse
    of :func:`flag_channel` (load -> execute: ``push_next`` of the load, ``pop_prev`` of the execute)."""
    if (sender, receiver) not in CHANNELS:
        raise ValueError(f"no token channel from {Queue(sender).name} to {Queue(receiver).name}")
    side = "next" if receiver > sender else "prev"
    return f"push_{side}", f"pop_{'prev' if side == 'next' else 'next'}"


def flag_channel(queue, flag):
    """The channel a dependency ``flag`` of an instruction in ``queue`` uses: ``pop_prev`` of the execute queue
    takes an ``l2e`` token, ``push_next`` of the load queue gives one."""
    kind, side = flag.split("_")
    other = _neighbour(queue, side)
    return CHANNELS[(other, queue) if kind == "pop" else (queue, other)]


#: Fields per opcode: (name, width, doc). Widths are fixed; ranges against a configuration are checked by the
#: assembler (``Instr.check``) and again by the hardware's decoder, which halts with an error code.
FIELDS = {
    Opcode.HALT: (),
    Opcode.LOAD: (
        ("dst", 1, "0: scratchpad, 1: accumulator"),
        ("local", 16, "first scratchpad row / accumulator line"),
        ("lines", 16, "rows/lines to load (>= 1), to consecutive local addresses"),
        ("mem_addr", 32, "byte address of the first line in memory"),
        ("stride", 32, "bytes between the starts of consecutive lines in memory"),
        ("elem_bytes", 3, "bytes per element in memory: 1 or 2 (scratchpad, sign-extended), 4 (accumulator)"),
    ),
    Opcode.STORE: (
        ("src", 1, "0: scratchpad, 1: accumulator"),
        ("local", 16, "first scratchpad row / accumulator line"),
        ("lines", 16, "rows/lines to store (>= 1), from consecutive local addresses"),
        ("mem_addr", 32, "byte address of the first line in memory"),
        ("stride", 32, "bytes between the starts of consecutive lines in memory"),
        ("elem_bytes", 3, "bytes per element in memory: 1, 2 (scratchpad; must hold the value), 4 (accumulator)"),
    ),
    Opcode.CONFIG: (
        ("kind", 2, "0: lane constants (one 64-byte block), 1: column table entries (16 bytes each)"),
        ("offset", 12, "first column-table entry written"),
        ("count", 13, "column-table entries (kind 1)"),
        ("mem_addr", 32, "byte address of the block"),
    ),
    Opcode.MATMUL: (
        ("a_addr", 16, "scratchpad row of A (K-block-major: block kb, row m at a_addr + kb*rows + m)"),
        ("b_addr", 16, "scratchpad row of B's first column block (row k = B[k, block])"),
        ("c_addr", 16, "accumulator line of C's first column block (row m at c_addr + m)"),
        ("rows", 16, "rows of A and C (>= 1)"),
        ("k", 16, "inner dimension (>= 1)"),
        ("cols", 8, "columns of the last column block (1..dim); earlier blocks are dim wide"),
        ("accumulate", 1, "accumulate onto C (else the first K block overwrites)"),
        ("blocks", 16, "column blocks (>= 1): block j uses b_addr + j*b_stride, c_addr + j*c_stride"),
        ("b_stride", 16, "scratchpad rows between B column blocks"),
        ("c_stride", 16, "accumulator lines between C column blocks"),
    ),
    Opcode.NL: (
        ("op", 3, "golden.nlops.LaneOp: 0 requant, 1 GELU, 3 softmax, 4 LayerNorm (golden.nlops.NL_OPS)"),
        ("acc_base", 16, "accumulator line of row 0, line 0"),
        ("rows", 16, "logical rows (>= 1)"),
        ("lines", 13, "lines per row (>= 1); a row holds lines*dim values"),
        ("row_stride", 16, "accumulator lines between rows"),
        ("line_stride", 16, "accumulator lines between a row's lines"),
        ("var_shift", 6, "LayerNorm's variance shift"),
        ("residual", 1, "add a scratchpad operand in U1 (LayerNorm of a residual sum)"),
        ("res_base", 16, "scratchpad row of the residual operand's row 0, line 0"),
        ("res_row_stride", 16, "scratchpad rows between residual rows"),
        ("res_line_stride", 16, "scratchpad rows between a residual row's lines"),
        ("dst_base", 16, "scratchpad row receiving row 0, line 0 of the output"),
        ("dst_row_stride", 16, "scratchpad rows between output rows"),
        ("dst_line_stride", 16, "scratchpad rows between an output row's lines"),
        ("transpose", 1, "write dim x dim output blocks transposed (B operands such as K^T)"),
        ("band", 1, "SOFTMAX over a band of keys: scores outside ReBERT's window take no part (golden.nlops.band_mask)"),
        ("window", 13, "the band's half-width W: query i keeps key j when |i - j| <= W, and key 0 ([CLS])"),
        ("q_base", 13, "the band's query index of row 0 (row r: q_base + r)"),
        ("k_base", 13, "the band's key index of its first band line's first value (then dim per line)"),
        ("cls_line", 1, "line 0 holds keys 0..dim-1 ([CLS]'s block) and the band lines follow it"),
    ),
}


def _layout(op):
    pos, out = FIELD_BASE, []
    for name, width, _ in FIELDS[op]:
        out.append((name, pos, width))
        pos += width
    assert pos <= INSTR_BITS, (op, pos)
    return out


LAYOUTS = {op: _layout(op) for op in Opcode}


@dataclasses.dataclass(frozen=True)
class Instr:
    """One instruction: an opcode, its dependency flags and its fields (missing fields are 0)."""
    op: Opcode
    fields: tuple = ()          # ((name, value), ...) in declaration order
    pop_prev: bool = False
    pop_next: bool = False
    push_prev: bool = False
    push_next: bool = False

    @classmethod
    def make(cls, opcode, /, *, pop_prev=False, pop_next=False, push_prev=False, push_next=False, **values):
        op = Opcode(opcode)
        names = [f[0] for f in FIELDS[op]]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"{op.name} has no field(s) {unknown}; fields are {names}")
        fields = []
        for name, width, _ in FIELDS[op]:
            v = values.get(name, 0)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 1 << width:
                raise ValueError(f"{op.name}.{name}={v!r} does not fit its {width}-bit field")
            fields.append((name, v))
        flags = dict(pop_prev=pop_prev, pop_next=pop_next, push_prev=push_prev, push_next=push_next)
        bad = [k for k, v in flags.items() if v and k not in allowed_flags(op)]
        if bad:
            raise ValueError(f"{op.name} cannot use dependency flags {bad} (no such neighbouring queue)")
        return cls(op, tuple(fields), **{k: bool(v) for k, v in flags.items()})

    def __getitem__(self, name):
        return dict(self.fields)[name]

    @property
    def queue(self):
        return QUEUE_OF.get(self.op)

    @property
    def pops(self):
        """Channels this instruction takes a token from before it starts (:data:`CHANNELS` names)."""
        return [flag_channel(self.queue, f) for f in ("pop_prev", "pop_next") if getattr(self, f)]

    @property
    def pushes(self):
        """Channels this instruction gives a token to once it completes."""
        return [flag_channel(self.queue, f) for f in ("push_prev", "push_next") if getattr(self, f)]

    def check(self, config):
        """Raise :class:`IsaError` (a ``ValueError`` with the hardware's error code) if the instruction cannot
        run on ``config``: the decoder's checks of :func:`decode_checks`, evaluated on this instruction."""
        values = {**dict(self.fields), "reserved": 0, **{f: int(getattr(self, f)) for f in FLAGS}}
        for cond, code, what in decode_checks(self.op, values, config, _select):
            if cond:
                raise IsaError(f"{format_instr(self)}: {what} ({code.name})", code)


def _select(cond, a, b):
    return a if cond else b


def _any(conds):
    return functools.reduce(operator.or_, conds, False)


class Footprint(typing.NamedTuple):
    """The local memory an execute instruction touches, as bounding intervals ``(valid, first, last)`` (inclusive
    line / row numbers; ``valid`` 0: no access): what the controller compares to let an NL run beside MATMULs."""
    spad_read: tuple = ()
    spad_write: tuple = ()
    acc_read: tuple = ()
    acc_write: tuple = ()


def footprint(op, f, config, select=_select, product=operator.mul):
    """The :class:`Footprint` of a MATMUL or NL with fields ``f``, for one of two evaluators as in
    :func:`decode_checks` (whose range checks are these intervals' ends); other opcodes touch nothing the execute
    unit overlaps (LOAD / STORE synchronize through tokens, CONFIG waits for the nonlinear unit).

    - MATMUL reads A (``a_addr``, ``ceil(k / dim) * rows`` rows) and B (block ``j``'s ``k`` rows from
      ``b_addr + j * b_stride``) and writes C (block ``j``'s ``rows`` lines from ``c_addr + j * c_stride``).
    - NL reads accumulator lines ``acc_base + r*row_stride + j*line_stride``, the residual rows likewise from
      ``res_base``, and writes the scratchpad rows of ``dst_*`` (transposed: ``dst_base + (r // dim)*dst_row_stride
      + c*dst_line_stride``, ``c < dim``).
    """
    op, dim = Opcode(op), config.dim
    if op == Opcode.MATMUL:
        kb = (f["k"] + dim - 1) // dim
        last_a = f["a_addr"] + product(kb, f["rows"]) - 1
        last_b = f["b_addr"] + product(f["blocks"] - 1, f["b_stride"]) + f["k"] - 1
        last_c = f["c_addr"] + product(f["blocks"] - 1, f["c_stride"]) + f["rows"] - 1
        return Footprint(spad_read=((1, f["a_addr"], last_a), (1, f["b_addr"], last_b)),
                         acc_write=((1, f["c_addr"], last_c),))
    if op == Opcode.NL:
        def last(base, rs, ls):
            return f[base] + product(f["rows"] - 1, f[rs]) + product(f["lines"] - 1, f[ls])
        last_t = (f["dst_base"] + product((f["rows"] - 1) // dim, f["dst_row_stride"])
                  + product(dim - 1, f["dst_line_stride"]))
        last_dst = select(f["transpose"], last_t, last("dst_base", "dst_row_stride", "dst_line_stride"))
        return Footprint(spad_read=((f["residual"], f["res_base"], last("res_base", "res_row_stride",
                                                                         "res_line_stride")),),
                         spad_write=((1, f["dst_base"], last_dst),),
                         acc_read=((1, f["acc_base"], last("acc_base", "row_stride", "line_stride")),))
    return Footprint()


def conflicts(earlier, later):
    """Whether ``later`` (a :class:`Footprint`) must wait for ``earlier`` to finish: one writes what the other reads
    or writes, in the same memory. One expression for two evaluators, as :func:`decode_checks`: Python ints (the
    cycle model) or the controller's signals (only ``& | <=``)."""
    def overlaps(a, b):
        return a[0] & b[0] & (a[1] <= b[2]) & (b[1] <= a[2])
    pairs = []
    for mem in ("spad", "acc"):
        e_r, e_w = getattr(earlier, mem + "_read"), getattr(earlier, mem + "_write")
        l_r, l_w = getattr(later, mem + "_read"), getattr(later, mem + "_write")
        pairs += [(a, b) for a in e_w for b in l_r + l_w] + [(a, b) for a in e_r for b in l_w]
    return functools.reduce(operator.or_, (overlaps(a, b) for a, b in pairs), False)


def decode_checks(op, f, config, select, product=operator.mul):
    """The decoder's checks of one instruction, in the order it applies them: ``[(condition, ErrorCode, what)]``;
    the instruction's error is the first whose condition holds.

    One definition for two evaluators: :meth:`Instr.check` (the assembler and the ISA model) evaluates it on
    Python ints with ``select = a if c else b``, and ``hw.controller`` on the Amaranth values of the decoded
    fields with ``select = Mux``, so the two cannot disagree. ``f`` maps every field name of ``op``, the four
    :data:`FLAGS` and ``reserved`` (the unused instruction bits) to values; conditions use only
    ``+ - // == != < <= > >= & |`` and ``product(a, b)``, every multiplication, called in the same order on every
    evaluation (the hardware registers the products a cycle ahead of the rest).
    """
    op = Opcode(op)
    spad, acc, dim = config.spad_rows, config.acc_rows, config.dim
    fields = _any([f["reserved"] != 0] + [f[flag] != 0 for flag in FLAGS if flag not in allowed_flags(op)])
    if op == Opcode.HALT:
        return [(fields, ErrorCode.BAD_FIELD, "reserved bits or dependency flags set")]
    if op in (Opcode.LOAD, Opcode.STORE):
        loc = f["dst"] if op == Opcode.LOAD else f["src"]
        eb, end = f["elem_bytes"], f["local"] + f["lines"]
        eb_ok = select(loc, eb == 4, (eb == 1) | (eb == 2))
        return [(fields | (f["lines"] == 0) | (eb_ok == 0), ErrorCode.BAD_FIELD,
                 "lines must be >= 1, elem_bytes 4 (accumulator) or 1, 2 (scratchpad)"),
                ((loc == 1) & (end > acc), ErrorCode.ACC_RANGE, f"lines outside the accumulator's {acc}"),
                ((loc == 0) & (end > spad), ErrorCode.SPAD_RANGE, f"lines outside the scratchpad's {spad}")]
    if op == Opcode.CONFIG:
        table = f["kind"] == 1
        return [(fields | (f["kind"] > 1) | (table & (f["count"] == 0)), ErrorCode.BAD_FIELD,
                 "kind must be 0 or 1; a column-table write needs count >= 1"),
                (table & (f["offset"] + f["count"] > config.col_entries), ErrorCode.TABLE_RANGE,
                 f"column-table entries beyond the table's {config.col_entries}")]
    if op == Opcode.MATMUL:
        fp = footprint(op, f, config, select, product)
        (_, _, last_a), (_, _, last_b) = fp.spad_read
        last_c = fp.acc_write[0][2]
        return [(fields | (f["rows"] == 0) | (f["k"] == 0) | (f["blocks"] == 0) | (f["cols"] == 0) |
                 (f["cols"] > dim), ErrorCode.BAD_FIELD, f"rows, k, blocks must be >= 1 and cols in 1..{dim}"),
                ((last_a >= spad) | (last_b >= spad), ErrorCode.SPAD_RANGE,
                 f"A or B reaches beyond the scratchpad's {spad} rows"),
                (last_c >= acc, ErrorCode.ACC_RANGE, f"C reaches beyond the accumulator's {acc} lines")]
    if op == Opcode.NL:
        fp = footprint(op, f, config, select, product)
        last_acc, last_dst, last_res = fp.acc_read[0][2], fp.spad_write[0][2], fp.spad_read[0][2]
        bad_op = functools.reduce(operator.and_, [f["op"] != int(o) for o in NL_OPS])
        band_fields = (f["window"] != 0) | (f["q_base"] != 0) | (f["k_base"] != 0) | (f["cls_line"] != 0)
        bad_band = select(f["band"], f["op"] != int(LaneOp.SOFTMAX), band_fields)
        return [(fields | (f["rows"] == 0) | (f["lines"] == 0) | bad_op | (product(f["lines"], dim) > MAX_ROW) |
                 ((f["transpose"] == 1) & (f["lines"] != 1)) | bad_band, ErrorCode.BAD_FIELD,
                 f"rows, lines must be >= 1, op one of {[o.name for o in NL_OPS]}, rows of at most {MAX_ROW} "
                 "values; transpose needs lines=1; band only with SOFTMAX, its fields zero without it"),
                ((f["op"] != int(LaneOp.SOFTMAX)) & (product(f["lines"], dim) > config.col_entries),
                 ErrorCode.TABLE_RANGE,
                 f"rows longer than the column table's {config.col_entries} entries (every op but softmax reads "
                 "one entry per column)"),
                (last_acc >= acc, ErrorCode.ACC_RANGE, f"reads beyond the accumulator's {acc} lines"),
                ((last_dst >= spad) | ((f["residual"] == 1) & (last_res >= spad)), ErrorCode.SPAD_RANGE,
                 f"output or residual rows beyond the scratchpad's {spad}")]
    raise AssertionError(op)


def encode(instr):
    """The instruction as a 256-bit integer."""
    word = int(instr.op)
    for i, flag in enumerate(FLAGS):
        word |= int(getattr(instr, flag)) << (8 + i)
    values = dict(instr.fields)
    for name, pos, width in LAYOUTS[instr.op]:
        word |= values[name] << pos
    return word


def decode(word):
    """Inverse of :func:`encode`; ``ValueError`` for an illegal opcode or set reserved bits (as the hardware)."""
    if not isinstance(word, int) or not 0 <= word < 1 << INSTR_BITS:
        raise ValueError(f"instruction word must be a {INSTR_BITS}-bit integer, not {word!r}")
    try:
        op = Opcode(word & 0xFF)
    except ValueError:
        raise IsaError(f"illegal opcode 0x{word & 0xFF:02x}", ErrorCode.ILLEGAL_OPCODE) from None
    used = (1 << FIELD_BASE) - 1
    values = {}
    for name, pos, width in LAYOUTS[op]:
        values[name] = (word >> pos) & ((1 << width) - 1)
        used |= ((1 << width) - 1) << pos
    if word & ~used:
        raise IsaError(f"{op.name}: reserved bits set (0x{word & ~used:x})", ErrorCode.BAD_FIELD)
    flags = {f: bool((word >> (8 + i)) & 1) for i, f in enumerate(FLAGS)}
    return Instr.make(op, **flags, **values)


def assemble(instrs, config=None):
    """Program bytes (little-endian 32-byte instructions); with ``config``, every instruction is range-checked."""
    out = bytearray()
    for i, ins in enumerate(instrs):
        if config is not None:
            try:
                ins.check(config)
            except ValueError as e:
                raise ValueError(f"instruction {i}: {e}") from None
        out += encode(ins).to_bytes(INSTR_BYTES, "little")
    return bytes(out)


def disassemble(data):
    """Instructions of program bytes."""
    if len(data) % INSTR_BYTES:
        raise ValueError(f"program length {len(data)} is not a multiple of {INSTR_BYTES} bytes")
    return [decode(int.from_bytes(data[i:i + INSTR_BYTES], "little")) for i in range(0, len(data), INSTR_BYTES)]


def format_instr(ins):
    """One line of assembly: ``MATMUL a_addr=0 b_addr=64 ... [pop_prev push_next]``."""
    flags = [f for f in FLAGS if getattr(ins, f)]
    text = " ".join([ins.op.name] + [f"{k}={v}" for k, v in ins.fields])
    return text + (f" [{' '.join(flags)}]" if flags else "")


def parse(line):
    """Inverse of :func:`format_instr`."""
    text = line.split("#", 1)[0].strip()
    flags = []
    if text.endswith("]"):
        text, _, fl = text[:-1].partition("[")
        flags = fl.split()
    head, *args = text.split()
    try:
        op = Opcode[head.upper()]
    except KeyError:
        raise ValueError(f"unknown instruction {head!r}") from None
    values = {}
    for a in args:
        k, sep, v = a.partition("=")
        if not sep:
            raise ValueError(f"expected field=value, not {a!r}")
        values[k] = int(v, 0)
    bad = sorted(set(flags) - set(FLAGS))
    if bad:
        raise ValueError(f"unknown flag(s) {bad}")
    return Instr.make(op, **{f: True for f in flags}, **values)


def isa_markdown():
    """The encoding tables of docs/isa.md."""
    lines = []
    for op in Opcode:
        q = QUEUE_OF.get(op)
        lines += [f"### {op.name} (opcode 0x{int(op):02x}, {q.name.lower() + ' queue' if q is not None else 'all queues'})",
                  "", "| field | bits | meaning |", "| --- | --- | --- |"]
        for (name, pos, width), (_, _, doc) in zip(LAYOUTS[op], FIELDS[op]):
            lines.append(f"| `{name}` | {pos + width - 1}:{pos} | {doc} |")
        if not FIELDS[op]:
            lines.append("| | | no fields |")
        lines.append("")
    return "\n".join(lines)
