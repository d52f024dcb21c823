"""Tiling and storage plan of an encoder layer on one accelerator configuration.

Activations live in the scratchpad in the *tile-major A layout* (``compiler.image``): the sequence is cut into
token tiles of ``T`` rows (a multiple of ``dim``; the last tile may be shorter) and each tile is K-block-major,
so any tile is a MATMUL A operand. Scratchpad map (rows), persistent over the layer:

``h``      layer input, ``KB_h * seq`` rows; overwritten tile by tile by the layer output (LN2), so a layer's
           output is the next layer's input in place
``ctx``    attention context (A operand of Wo), ``KB_a * seq`` (``KB_a = heads * d_head / dim``)
phase area, shared by the two phases:
  attention (per head): ``q`` (A, ``KB_d * seq``), ``kt`` (B of Q K^T: ``ceil(seq/dim)`` blocks of ``d_head``
  rows), ``v`` (B of P V: ``KB_d`` blocks of ``seq`` rows), ``p`` (A of P V for one query tile, ``SB * T``)
  feed-forward (per token tile): ``ln1`` (``KB_h * T``), ``gelu`` (``KB_ffn * T``)
``wbuf0``, ``wbuf1``: the two weight buffers, all the remaining rows split in two.

The accumulator is used in two halves (ping-pong) by ops that fit in half of it, else from line 0.
"""
import dataclasses
from dataclasses import dataclass, field

from golden.isa import MAX_ROW

__all__ = ["Options", "LayerDims", "Plan", "make_plan"]


@dataclass(frozen=True)
class Options:
    """Schedule options.

    Parameters
    ----------
    fuse_qk_softmax : bool
        Softmax straight from the accumulator (True), or the paper's unfused baseline: scores STOREd to memory as
        int32 and LOADed back before the softmax.
    fuse_ffn2_layernorm : bool
        LayerNorm 2 straight from FFN2's accumulator lines (True), or (default, the paper's baseline) FFN2's
        int32 results for the token tile STOREd to memory and LOADed back for the LayerNorm. Both give
        bit-identical outputs; the unfused one costs the round trip.
    tile : int or None
        Token tile override (a multiple of ``dim``); None picks the largest that fits.
    store_all : bool
        ``compile_encoder``: STORE every layer's output (``output.<i>``), not only the last.
    """
    fuse_qk_softmax: bool = True
    fuse_ffn2_layernorm: bool = False
    tile: int = None
    store_all: bool = False


@dataclass(frozen=True)
class LayerDims:
    """A layer's shape. ``attn``: the width of Q, K, V and the context, ``heads x head_dim``; narrower than
    ``hidden`` when heads were pruned (``golden.prune``); None means ``hidden``."""
    hidden: int
    heads: int
    ffn: int
    act_bits: int
    attn: int = None

    @property
    def attn_width(self):
        return self.hidden if self.attn is None else self.attn

    @property
    def head_dim(self):
        return self.attn_width // self.heads

    @classmethod
    def envelope(cls, dims):
        """The shape a plan for layers of ``dims`` is made for: their largest head count and FFN width (pruned
        layers differ in those, ``golden.prune``); their hidden width, head width and activation width must agree
        (a layer's output is the next one's input, and the attention regions hold one head)."""
        first = dims[0]
        for d in dims[1:]:
            for name in ("hidden", "head_dim", "act_bits"):
                if getattr(d, name) != getattr(first, name):
                    raise ValueError(f"layers differ in {name}: {getattr(first, name)} and {getattr(d, name)}")
        heads = max(d.heads for d in dims)
        attn = heads * first.head_dim
        return cls(first.hidden, heads, max(d.ffn for d in dims), first.act_bits,
                   None if attn == first.hidden else attn)

    @classmethod
    def of(cls, layer):
        hidden, attn = layer.wq.w_t.shape
        return cls(hidden, layer.heads, layer.w1.w_t.shape[1], layer.spec.activation_width,
                   None if attn == hidden else attn)


@dataclass
class Plan:
    """Where everything lives: ``spad`` name -> (first row, rows); ``tile``; ``wbuf_rows``. Made for the
    envelope of an encoder's layers (:meth:`LayerDims.envelope`); :meth:`for_layer` is the same storage seen
    with one layer's shape."""
    dims: LayerDims
    seq: int
    dim: int
    tile: int
    spad: dict = field(default_factory=dict)
    wbuf_rows: int = 0
    acc_rows: int = 0

    def for_layer(self, dims):
        """This plan's storage with a layer's own ``dims`` (at most the envelope's heads and FFN width)."""
        if dims.heads > self.dims.heads or dims.ffn > self.dims.ffn:
            raise ValueError(f"a layer of {dims.heads} heads and FFN {dims.ffn} exceeds the plan's "
                             f"{self.dims.heads} and {self.dims.ffn}")
        return dataclasses.replace(self, dims=dims)

    @property
    def ntiles(self):
        return -(-self.seq // self.tile)

    def rows_of(self, t):
        """Rows of token tile ``t``."""
        return min(self.tile, self.seq - t * self.tile)

    def tiles(self):
        return range(self.ntiles)

    @property
    def kb_h(self):
        return self.dims.hidden // self.dim

    @property
    def kb_a(self):
        """K blocks of the attention context (Wo's input)."""
        return self.dims.attn_width // self.dim

    @property
    def kb_d(self):
        return self.dims.head_dim // self.dim

    @property
    def kb_f(self):
        return self.dims.ffn // self.dim

    @property
    def sb(self):
        """Column blocks of a score row."""
        return -(-self.seq // self.dim)

    def row(self, name):
        return self.spad[name][0]

    def acc_slot(self, lines, i):
        """Accumulator base of the ``i``-th use of ``lines`` lines: rotating quarters, else alternating halves, when
        they fit (with four small regions, a linear's bias LOADs need not wait for the two last ops' NLs)."""
        if lines > self.acc_rows:
            raise ValueError(f"{lines} accumulator lines exceed the accumulator's {self.acc_rows}")
        if lines <= self.acc_rows // 4:
            return (i % 4) * (self.acc_rows // 4)
        return (i % 2) * (self.acc_rows // 2) if lines <= self.acc_rows // 2 else 0


def _layout(dims, seq, dim, tile, spad_rows):
    kb_h, kb_d, kb_f = dims.hidden // dim, dims.head_dim // dim, dims.ffn // dim
    sb = -(-seq // dim)
    att = {"q": kb_d * seq, "kt": dims.head_dim * sb, "v": kb_d * seq, "p": 2 * sb * tile}     # P: two buffers
    ffn = {"ln1": kb_h * tile, "gelu": kb_f * tile}
    spad, pos = {}, 0
    for name, n in (("h", kb_h * seq), ("ctx", dims.attn_width // dim * seq)):
        spad[name] = (pos, n)
        pos += n
    area = max(sum(att.values()), sum(ffn.values()))
    for group in (att, ffn):
        p = pos
        for name, n in group.items():
            spad[name] = (p, n)
            p += n
    pos += area
    wb = (spad_rows - pos) // 2
    spad["wbuf0"] = (pos, wb)
    spad["wbuf1"] = (pos + wb, wb)
    return spad, wb, pos


def make_plan(dims, config, seq, options=Options()):
    """The plan for ``seq`` tokens, or ``ValueError`` naming what does not fit."""
    d = config.dim
    if not isinstance(seq, int) or seq < 1:
        raise ValueError(f"seq must be a positive int, not {seq!r}")
    for name, v in (("hidden", dims.hidden), ("head_dim", dims.head_dim), ("ffn", dims.ffn)):
        if v % d:
            raise ValueError(f"{name}={v} is not a multiple of dim={d}")
    if config.input_width < dims.act_bits:
        raise ValueError(f"input_width={config.input_width} is narrower than the model's activations "
                         f"({dims.act_bits} bits)")
    if config.dataflow != "ws":
        raise ValueError(f"the compiler targets the weight-stationary dataflow, not {config.dataflow!r}")
    sb = -(-seq // d)
    if max(sb, dims.hidden // d) * d > MAX_ROW:
        raise ValueError(f"seq={seq} / hidden={dims.hidden} rows exceed the nonlinear unit's {MAX_ROW} values")
    if max(dims.hidden, dims.ffn) > config.col_entries:
        raise ValueError(f"the model's per-channel ops span {max(dims.hidden, dims.ffn)} channels (hidden="
                         f"{dims.hidden}, ffn={dims.ffn}); the configuration's column table has col_entries="
                         f"{config.col_entries}")
    if seq * (dims.head_dim // d) > config.acc_rows:
        raise ValueError(f"seq={seq} cannot tile: a head's K/V projection needs {seq * (dims.head_dim // d)} "
                         f"accumulator lines, the accumulator has {config.acc_rows}")
    if options.tile is not None:
        if options.tile % d or options.tile < d:
            raise ValueError(f"tile={options.tile} is not a positive multiple of dim={d}")
        cands = [options.tile]
    else:
        cands = list(range(sb * d, 0, -d))
    why = []
    for t in cands:
        lines = max(t * sb, t * dims.hidden // d)
        if lines > config.acc_rows:
            why.append(f"tile {t}: {lines} accumulator lines > {config.acc_rows}")
            continue
        spad, wb, used = _layout(dims, seq, d, t, config.spad_rows)
        if wb < d:
            why.append(f"tile {t}: activations need {used} scratchpad rows of {config.spad_rows}, leaving "
                       f"{max(wb, 0)} per weight buffer (< dim)")
            continue
        return Plan(dims, seq, d, t, spad, wb, config.acc_rows)
    raise ValueError(f"seq={seq} cannot tile on this configuration: {why[-1] if why else 'no tile'}")
