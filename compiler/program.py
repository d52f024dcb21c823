"""``compile_layer`` / ``compile_encoder``: integer MiniLM layers -> a :class:`Program` (instructions + memory image).

Program format: ``image`` (:class:`compiler.image.MemoryImage`) holds everything the accelerator reads, with
named regions (see its module doc); the instructions are assembled into region ``program`` (``PROG_ADDR`` =
``prog_addr``), last in the image. The program LOADs ``input`` (seq x hidden int16, tile-major A layout) into
the scratchpad, runs the layers, STOREs the final hidden states to ``output`` (same format), tile by tile as each
is written, and HALTs.
:meth:`Program.read_output` turns a memory dump back into a (seq, hidden) integer array.
"""
from dataclasses import dataclass, field

import numpy as np

from golden.isa import Opcode, assemble

from .emit import Emitter
from .image import MemoryImage, from_a_layout, to_a_layout
from .layer import LayerEmitter, WeightStream
from .plan import LayerDims, Options, make_plan

__all__ = ["Program", "compile_layer", "compile_encoder"]


@dataclass
class Program:
    """A compiled program.

    Attributes
    ----------
    config : golden.config.AcceleratorConfig
    plan : compiler.plan.Plan
    instrs : list of golden.isa.Instr (ending with HALT)
    image : compiler.image.MemoryImage (input, weights, constants, scratch, output, program)
    prog_addr : int
    outputs : dict name -> byte address of a (seq, hidden) int16 tile-major A-layout tensor
    options : compiler.plan.Options
    scale : float or None
        Real value of one unit of the final hidden states (for the pooled embedding).
    schedules : list of (Options, int) or None
        When the compiler chose the schedule: every candidate with its estimated cycles per layer, fastest first.
    windows : list of int or None
        Each layer's ReBERT attention window (None: full attention).
    attention_core : list of int
        Indices of the attention core's instructions (Q K^T, softmax, P V), what a window shrinks.
    """
    config: object
    plan: object
    instrs: list
    image: MemoryImage
    prog_addr: int
    outputs: dict = field(default_factory=dict)
    options: Options = Options()
    scale: float = None
    marks: list = field(default_factory=list)
    ids: object = None
    schedules: list = None
    windows: list = None
    attention_core: list = field(default_factory=list)

    def memory(self):
        """A fresh copy of the memory image (bytearray)."""
        return bytearray(self.image.data)

    def program_bytes(self):
        return assemble(self.instrs, self.config)

    def counts(self):
        out = {}
        for ins in self.instrs:
            out[ins.op.name] = out.get(ins.op.name, 0) + 1
        return out

    def read_output(self, memory, name="output"):
        """The (seq, hidden) int64 hidden states at output ``name`` of a memory dump."""
        p, d = self.plan, self.plan.dim
        n = p.kb_h * p.seq * d
        a = self.outputs[name]
        lines = np.frombuffer(bytes(memory[a:a + 2 * n]), dtype="<i2").astype(np.int64).reshape(-1, d)
        return from_a_layout(lines, p.seq, p.dims.hidden, p.tile, d)

    def run(self, name="output"):
        """Run on :class:`golden.machine.Machine`; returns (hidden states, machine)."""
        from golden.machine import Machine
        m = Machine(self.config).run(self.instrs, self.memory())
        return self.read_output(m.memory, name), m

    def embedding(self, memory):
        """Mean-pooled sentence embedding (float, host side) of the final hidden states."""
        return self.read_output(memory).mean(axis=0) * self.scale


def _build(layers, config, h, options, order, store_every, windows):
    seq = h.shape[0]
    plan = make_plan(LayerDims.envelope([LayerDims.of(L) for L in layers]), config, seq, options)
    em, img = Emitter(config), MemoryImage()
    ws = WeightStream(em, plan, order)
    d = plan.dim
    lines = to_a_layout(np.asarray(h), plan.tile, d)
    if lines.size and (lines.min() < -(1 << 15) or lines.max() >= 1 << 15):
        raise ValueError("input hidden states must fit int16")
    inp = img.add("input", lines.astype("<i2").tobytes())
    hrow = plan.row("h")
    # the input by token tile: tile 0 first, the others after the first linear's first weight chunk (its first
    # MATMULs start on tile 0 while the rest streams in)
    le = LayerEmitter(em, img, plan, ws, options, config)
    loads, row = [], 0
    for t in plan.tiles():
        n = plan.kb_h * plan.rows_of(t)
        loads.append(dict(dst=0, local=hrow + row, lines=n, mem_addr=inp + row * 2 * d, stride=2 * d, elem_bytes=2))
        row += n
    assert row == len(lines)
    em.emit(Opcode.LOAD, **loads[0])
    le.pending = loads[1:]
    outputs = {}
    for i, L in enumerate(layers):
        a = None
        if store_every or i == len(layers) - 1:
            name = "output" if i == len(layers) - 1 else f"output.{i}"
            a = outputs[name] = img.reserve(name, len(lines) * 2 * d)
            em.store_ranges.append((a, a + len(lines) * 2 * d))
        le.layer(i, L, out=a, window=windows[i])
    instrs = em.instrs()
    prog = assemble(instrs, config)
    pa = img.add("program", prog)
    em.mark("end")
    return Program(config, plan, instrs, img, pa, outputs, options, marks=em.marks, attention_core=le.core), ws.record


def _compile(layers, config, h, options, store_every=False, windows=None):
    windows = [None] * len(layers) if windows is None else list(windows)
    if len(windows) != len(layers):
        raise ValueError(f"{len(windows)} attention windows for {len(layers)} layers")
    _, order = _build(layers, config, h, options, None, store_every, windows)
    prog, _ = _build(layers, config, h, options, order, store_every, windows)
    prog.windows = windows
    return prog


def compile_layer(int_layer, config, seq=None, options=Options(), h=None, window=None):
    """Compile one ``golden.encoder.IntLayer`` for ``seq`` tokens; ``window``: ReBERT's attention window
    (``golden.softmax.window_mask``), None for full attention.

    ``h`` (seq x hidden, ``hidden_bits`` integers) is the input placed in the image (zeros if None).
    Raises ``ValueError`` when the configuration cannot hold the layer at this ``seq``.
    """
    if h is None:
        if seq is None:
            raise ValueError("give seq or the input h")
        h = np.zeros((seq, int_layer.wq.w_t.shape[0]), dtype=np.int64)
    elif seq is not None and np.shape(h)[0] != seq:
        raise ValueError(f"input has {np.shape(h)[0]} rows, not seq={seq}")
    return _compile([int_layer], config, np.asarray(h), options, windows=[window])


def compile_encoder(int_encoder, config, seq, n_layers=None, options=None, progress=None, windows=None):
    """Compile the first ``n_layers`` layers of a ``golden.encoder.IntEncoder``.

    ``seq``: token ids (1-D integer array), or an int ``n`` for ``golden.encoder.tokens_of_length(model, n)``. The
    input is the quantized embedding (computed on the host, as golden does). The program's ``output`` holds the
    final hidden states (:meth:`Program.run` / :meth:`Program.read_output`; compare with
    ``int_encoder.forward(prog.ids, n_layers)[-1]``); :meth:`Program.embedding` gives the mean-pooled sentence
    embedding.

    ``options`` None (the default): the schedule the cycle model finds fastest (:func:`compiler.schedule.choose`,
    on the first layer); ``prog.schedules`` lists every candidate with its estimated cycles per layer, fastest
    first. ``windows``: each layer's ReBERT attention window (None, or None in the list: full attention)."""
    if isinstance(seq, (int, np.integer)):
        from golden.encoder import tokens_of_length
        ids = tokens_of_length(int_encoder.model, int(seq))
    else:
        ids = np.asarray(seq)
    n = len(int_encoder.layers) if n_layers is None else n_layers
    if not 1 <= n <= len(int_encoder.layers):
        raise ValueError(f"n_layers must be in 1..{len(int_encoder.layers)}, not {n_layers!r}")
    schedules = None
    if options is None:
        from .schedule import choose
        schedules = choose(int_encoder.layers[0], config, len(ids), progress=progress,
                           window=None if windows is None else windows[0])
        options = schedules[0][0]
    h = int_encoder.quantize_input(int_encoder.model.embed(ids))
    prog = _compile(int_encoder.layers[:n], config, h, options, options.store_all,
                    None if windows is None else list(windows)[:n])
    prog.schedules = schedules
    prog.scale = int_encoder.hidden_scale(n)
    prog.ids = ids
    return prog
