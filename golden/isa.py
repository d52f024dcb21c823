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

__all__ = ["Opcode", "Queue", "ErrorCode", "FIELDS", "FLAGS", "INSTR_BITS", "INSTR_BYTES", "Instr", "encode",
           "decode", "assemble", "disassemble", "parse", "format_instr", "isa_markdown"]

INSTR_BITS = 256
INSTR_BYTES = INSTR_BITS // 8
FIELD_BASE = 12


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
    NONLINEAR = 6           # a softmax row's sum of exps too small (see hw.norm)
    TABLE_RANGE = 7         # a column-table entry out of range


FLAGS = ("pop_prev", "pop_next", "push_prev", "push_next")

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
        ("op", 3, "hw.nlops.LaneOp: 0 requant, 1 GELU, 3 softmax, 4 LayerNorm"),
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
        q = QUEUE_OF.get(op)
        if (q == Queue.LOAD and (pop_prev or push_prev)) or (q == Queue.STORE and (pop_next or push_next)) or \
                (q is None and any(flags.values())):
            raise ValueError(f"{op.name} cannot use dependency flags {[k for k, v in flags.items() if v]} "
                             "(no such neighbouring queue)")
        return cls(op, tuple(fields), **{k: bool(v) for k, v in flags.items()})

    def __getitem__(self, name):
        return dict(self.fields)[name]

    @property
    def queue(self):
        return QUEUE_OF.get(self.op)

    def check(self, config):
        """Raise ``ValueError`` if the instruction cannot run on ``config`` (the hardware would halt)."""
        f = dict(self.fields)
        spad, acc = config.spad_rows, config.acc_rows
        if self.op in (Opcode.LOAD, Opcode.STORE):
            local = "dst" if self.op == Opcode.LOAD else "src"
            cap = acc if f[local] else spad
            if f["lines"] < 1 or f["local"] + f["lines"] > cap:
                raise ValueError(f"{self.op.name} lines {f['local']}..{f['local'] + f['lines'] - 1} outside "
                                 f"the {'accumulator' if f[local] else 'scratchpad'}'s {cap}")
            want = (4,) if f[local] else (1, 2)
            if f["elem_bytes"] not in want:
                raise ValueError(f"{self.op.name} elem_bytes={f['elem_bytes']} must be one of {want}")
        elif self.op == Opcode.MATMUL:
            kb = -(-f["k"] // config.dim)
            if f["rows"] < 1 or f["k"] < 1 or f["blocks"] < 1 or not 1 <= f["cols"] <= config.dim:
                raise ValueError(f"MATMUL rows={f['rows']} k={f['k']} blocks={f['blocks']} cols={f['cols']} "
                                 f"out of range (dim {config.dim})")
            last_b = f["b_addr"] + (f["blocks"] - 1) * f["b_stride"] + f["k"] - 1
            last_a = f["a_addr"] + kb * f["rows"] - 1
            last_c = f["c_addr"] + (f["blocks"] - 1) * f["c_stride"] + f["rows"] - 1
            if max(last_a, last_b) >= spad or last_c >= acc:
                raise ValueError(f"MATMUL reaches scratchpad row {max(last_a, last_b)} / accumulator line "
                                 f"{last_c} (capacities {spad} / {acc})")
        elif self.op == Opcode.NL:
            if f["rows"] < 1 or f["lines"] < 1:
                raise ValueError(f"NL rows={f['rows']} lines={f['lines']} must be >= 1")
            last = lambda base, rs, ls: base + (f["rows"] - 1) * rs + (f["lines"] - 1) * ls  # noqa: E731
            if last(f["acc_base"], f["row_stride"], f["line_stride"]) >= acc:
                raise ValueError(f"NL reads accumulator line {last(f['acc_base'], f['row_stride'], f['line_stride'])}"
                                 f" of {acc}")
            if f["op"] not in (0, 1, 3, 4) or f["lines"] * config.dim > 4096 or (f["transpose"] and f["lines"] != 1):
                raise ValueError(f"NL op={f['op']} lines={f['lines']} transpose={f['transpose']} not allowed "
                                 f"(ops 0, 1, 3, 4; rows of at most 4096 values; transpose needs lines=1)")
            ends = {"dst": last(f["dst_base"], f["dst_row_stride"], f["dst_line_stride"])}
            if f["transpose"]:
                ends["dst"] = (f["dst_base"] + (f["rows"] - 1) // config.dim * f["dst_row_stride"]
                               + (config.dim - 1) * f["dst_line_stride"])
            if f["residual"]:
                ends["res"] = last(f["res_base"], f["res_row_stride"], f["res_line_stride"])
            for name, end in ends.items():
                if end >= spad:
                    raise ValueError(f"NL {name} reaches scratchpad row {end} of {spad}")
        elif self.op == Opcode.CONFIG:
            if f["kind"] > 1 or (f["kind"] == 1 and (f["count"] < 1 or f["offset"] + f["count"] > 4096)):
                raise ValueError(f"CONFIG kind={f['kind']} offset={f['offset']} count={f['count']} out of range")


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
        raise ValueError(f"illegal opcode 0x{word & 0xFF:02x}") from None
    used = (1 << FIELD_BASE) - 1
    values = {}
    for name, pos, width in LAYOUTS[op]:
        values[name] = (word >> pos) & ((1 << width) - 1)
        used |= ((1 << width) - 1) << pos
    if word & ~used:
        raise ValueError(f"{op.name}: reserved bits set (0x{word & ~used:x})")
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
