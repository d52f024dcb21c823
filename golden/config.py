"""The accelerator's single configuration object.

Plain Python on purpose (no Amaranth import): golden/ and the cycle model import it too, so one object
builds the hardware, parameterizes the reference and feeds the cycle model.
"""
import dataclasses
import hashlib
import json

#: The lanes' exp implementations (``AcceleratorConfig.exp_impl``): I-BERT's polynomial, ReBERT's split LUT.
EXP_IMPLS = ("poly", "lut")


def check_exp_impl(impl):
    if impl not in EXP_IMPLS:
        raise ValueError(f"exp_impl must be 'poly' or 'lut', not {impl!r}")

__all__ = ["EXP_IMPLS", "check_exp_impl", "AcceleratorConfig", "DATAFLOWS", "BUS_WIDTHS", "PRESETS", "preset"]

DATAFLOWS = ("ws", "os")
#: AXI4 data widths the accelerator is built for: a beat must divide the 256-bit instruction and the 128-bit
#: column-table entry (``hw.controller`` assembles both from whole beats).
BUS_WIDTHS = (32, 64, 128)
#: The column table's largest size: the longest row an NL op takes (``golden.isa.MAX_ROW``, tested equal).
MAX_COL_ENTRIES = 4096


def _is_pow2(n):
    return n >= 1 and (n & (n - 1)) == 0


@dataclasses.dataclass(frozen=True)
class AcceleratorConfig:
    """Configuration of the systolic array, its scratchpad and its accumulator.

    Parameters
    ----------
    dim : int
        Side of the square ``dim x dim`` processing-element mesh, 2..32.
    input_width : int
        Width of the activation operand (A), 8..16 bits, signed.
    weight_width : int
        Width of the weight operand (B). Fixed at 8 (int8 weights).
    acc_width : int
        Accumulator width; sums wrap in two's complement at this width (see ``golden.matmul``).
        From ``input_width + weight_width`` to 64.
    dataflow : str
        ``"ws"`` (weight-stationary, double-buffered weights) or ``"os"`` (output-stationary).
    spad_kib : int
        Scratchpad capacity in KiB; it holds rows of ``dim`` elements of ``input_width`` bits.
    spad_banks : int
        Scratchpad banks, a power of two; row ``a`` lives in bank ``a % spad_banks``.
    acc_kib : int
        Accumulator capacity in KiB; it holds rows of ``dim`` elements of ``acc_width`` bits.
    acc_banks : int
        Accumulator banks, a power of two; row ``a`` lives in bank ``a % acc_banks``.
    lanes : int
        Activation lanes reading accumulator rows, 1..64 (``min(lanes, dim)`` are built).
    derive_engines : int
        Derive engines of the normalization unit (``hw.norm``), 1..16. Each derives one row's LayerNorm or
        softmax constants in ``golden.nlops.DERIVE_CYCLES`` cycles, round-robin, so rows of ``W`` accumulator
        lines stream without stalls while ``DERIVE_CYCLES / derive_engines <= W`` (``golden.cycles``).
    col_entries : int
        Entries of the activation lanes' per-column constants table (``golden.nlops.COL_FIELDS``, one per channel
        of a per-channel op: requantization, GELU, LayerNorm), 1..4096 (``golden.isa.MAX_ROW``). A CONFIG of
        entries beyond it, or an NL op other than softmax over rows longer than it, halts with ``TABLE_RANGE``.
        The default holds all-MiniLM-L6-v2's widest per-channel op (its 1536-wide FFN); BERT-base needs 3072.
    bus_width : int
        Data width of the accelerator's AXI4 master in bits, one of ``BUS_WIDTHS``. The DMA moves
        ``bus_width / 8`` bytes per cycle (``golden.program_cycles``).
    pe_pipeline : int
        Extra register stages in each weight-stationary PE, 0..2 (for FPGA Fmax): 1 registers the product
        before the partial-sum adder, 2 also registers the operands (activation, selected weight) before the
        multiplier. Each stage adds one cycle to the mesh latency (``2*dim - 1 + pe_pipeline``) and so to every
        operation's cycle count (``golden.cycles``); throughput is unchanged. ``ws`` only.
    exp_impl : str
        The activation lanes' exp (softmax), one of ``golden.softmax.EXP_IMPLS``: ``"poly"``, I-BERT's second-order
        polynomial (``golden.softmax.i_exp``), or ``"lut"``, ReBERT's split-LUT exponent (``i_exp_lut``: two
        64-entry constant tables per lane, the tables' product in U3's multiplier instead of the polynomial's
        requantization). The lanes compute that one only; an NL SOFTMAX whose constants are for the other halts
        with the nonlinear error. The cycle counts are the same.

    A capacity is an upper bound: it holds ``floor(bits / row_bits)`` rows, rounded down to a multiple of the
    bank count (``spad_rows`` / ``acc_rows`` give the exact figure, and the manifest records it).
    """
    dim: int = 16
    input_width: int = 8
    weight_width: int = 8
    acc_width: int = 32
    dataflow: str = "ws"
    spad_kib: int = 256
    spad_banks: int = 4
    acc_kib: int = 64
    acc_banks: int = 2
    lanes: int = 16
    derive_engines: int = 2
    col_entries: int = 1536
    bus_width: int = 128
    pe_pipeline: int = 0
    exp_impl: str = "poly"

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            want = str if f.name in ("dataflow", "exp_impl") else int
            if not isinstance(v, want) or isinstance(v, bool):
                raise ValueError(f"{f.name} must be {want.__name__}, not {v!r}")
        if not 2 <= self.dim <= 32:
            raise ValueError(f"dim must be in 2..32, not {self.dim!r}")
        if not 8 <= self.input_width <= 16:
            raise ValueError(f"input_width must be in 8..16, not {self.input_width!r}")
        if self.weight_width != 8:
            raise ValueError(f"weight_width is fixed at 8 (int8 weights), not {self.weight_width!r}")
        lo = self.input_width + self.weight_width
        if not lo <= self.acc_width <= 64:
            raise ValueError(f"acc_width must be in {lo}..64 for input_width={self.input_width}, "
                             f"not {self.acc_width!r}")
        if self.dataflow not in DATAFLOWS:
            raise ValueError(f"dataflow must be one of {DATAFLOWS}, not {self.dataflow!r}")
        for name in ("spad_banks", "acc_banks"):
            v = getattr(self, name)
            if not _is_pow2(v) or v > 64:
                raise ValueError(f"{name} must be a power of two in 1..64, not {v!r}")
        if not 1 <= self.lanes <= 64:
            raise ValueError(f"lanes must be in 1..64, not {self.lanes!r}")
        if not 1 <= self.derive_engines <= 16:
            raise ValueError(f"derive_engines must be in 1..16, not {self.derive_engines!r}")
        if not 1 <= self.col_entries <= MAX_COL_ENTRIES:
            raise ValueError(f"col_entries must be in 1..{MAX_COL_ENTRIES}, not {self.col_entries!r}")
        if self.bus_width not in BUS_WIDTHS:
            raise ValueError(f"bus_width must be one of {BUS_WIDTHS}, not {self.bus_width!r}")
        if not 0 <= self.pe_pipeline <= 2:
            raise ValueError(f"pe_pipeline must be in 0..2, not {self.pe_pipeline!r}")
        if self.pe_pipeline and self.dataflow != "ws":
            raise ValueError(f"pe_pipeline={self.pe_pipeline} is built for the weight-stationary array only "
                             f"(dataflow={self.dataflow!r})")
        check_exp_impl(self.exp_impl)
        for mem, row_bits in (("spad", self.spad_row_bits), ("acc", self.acc_row_bits)):
            kib, banks = getattr(self, f"{mem}_kib"), getattr(self, f"{mem}_banks")
            if kib < 1:
                raise ValueError(f"{mem}_kib must be >= 1, not {kib!r}")
            if kib * 1024 * 8 < row_bits * banks:
                raise ValueError(f"{mem}_kib={kib} holds fewer than one {row_bits}-bit row per bank "
                                 f"({banks} banks, dim={self.dim})")

    # -- derived sizes -------------------------------------------------------------------------------------
    @property
    def spad_row_bits(self):
        """Bits in one scratchpad row: ``dim`` elements of ``input_width`` bits."""
        return self.dim * self.input_width

    @property
    def acc_row_bits(self):
        """Bits in one accumulator row: ``dim`` elements of ``acc_width`` bits."""
        return self.dim * self.acc_width

    @property
    def spad_rows(self):
        """Scratchpad rows: as many as fit in ``spad_kib``, a multiple of ``spad_banks``."""
        return self.spad_kib * 1024 * 8 // self.spad_row_bits // self.spad_banks * self.spad_banks

    @property
    def acc_rows(self):
        """Accumulator rows: as many as fit in ``acc_kib``, a multiple of ``acc_banks``."""
        return self.acc_kib * 1024 * 8 // self.acc_row_bits // self.acc_banks * self.acc_banks

    @property
    def spad_addr_width(self):
        return max(1, (self.spad_rows - 1).bit_length())

    @property
    def acc_addr_width(self):
        return max(1, (self.acc_rows - 1).bit_length())

    @property
    def bus_bytes(self):
        """Bytes per AXI4 beat: what the DMA moves per cycle."""
        return self.bus_width // 8

    @property
    def macs_per_cycle(self):
        return self.dim * self.dim

    # -- serialization -------------------------------------------------------------------------------------
    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self, **kw):
        return json.dumps(self.to_dict(), sort_keys=True, **kw)

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict):
            raise ValueError(f"configuration must be a JSON object, not {d!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown configuration field(s) {unknown}")
        return cls(**d)

    @classmethod
    def from_json(cls, text):
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"configuration is not valid JSON: {e}") from None
        return cls.from_dict(d)

    def config_hash(self):
        """Short stable hash of the configuration (the same JSON gives the same hash)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


#: Named configurations: the fields a preset sets (the others keep their defaults).
#:
#: ``ulx3s-85f``: the largest whole accelerator that fits the ULX3S's LFE5U-85F (156 MULT18X18D, 208 DP16KD,
#: 83,640 LUT4) and still runs MiniLM at 32 tokens (docs/synth.md has the measurements): DIM 8 with registered PE
#: operands, 12-bit activations, a 64 KiB scratchpad (the 32-token layer's activations take 4,992 of its 5,460
#: rows), a 32 KiB accumulator and 4 activation lanes. With 8 lanes it needs 162 MULT18X18D and about 98% of the
#: LUTs (Yosys, per unit); 4 lanes cost 2% more cycles on a 32-token MiniLM layer (cycle model).
#:
#: ``bert-base``: DIM 16 with memories that hold a BERT-base layer (768 hidden, 3072 FFN) up to 512 tokens: a
#: 1.5 MiB scratchpad, a 256 KiB accumulator (the paper's reconfigured size: at 512 tokens two 32-token tiles'
#: scores and contexts take 2,304 lines, so attention is software-pipelined at tile 32; with 128 KiB it ran at tile
#: 16, 1.048x the MAC-bound cycles against 1.011x, cycle model) and a 3,072-entry column table (FFN1's per-channel
#: constants). A simulation configuration: it is far beyond an FPGA's block RAM.
PRESETS = {
    "ulx3s-85f": dict(dim=8, input_width=12, lanes=4, spad_kib=64, acc_kib=32, pe_pipeline=2),
    "bert-base": dict(dim=16, input_width=12, spad_kib=1536, acc_kib=256, col_entries=3072),
}


def preset(name, **changes):
    """The configuration preset ``name`` (:data:`PRESETS`), with ``changes`` applied over it."""
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, not {name!r}")
    return AcceleratorConfig(**{**PRESETS[name], **changes})
