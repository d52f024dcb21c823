"""Schedules chosen with the cycle model: every combination of the schedule options (QK^T + softmax fused or not,
FFN2 + LayerNorm fused or not, the token tile) is compiled for one layer and timed by
:func:`golden.program_cycles.estimate_cycles`; the compiler's default is the fastest.

Every layer of an encoder has the same shape, so one layer's choice is every layer's. The token tiles tried are
the largest that fits (what :func:`compiler.plan.make_plan` picks) and its halves and quarters (multiples of
``dim``): a smaller tile holds fewer activations but reloads each weight more often.
"""
import dataclasses
import itertools

from golden.program_cycles import estimate_cycles

from .plan import LayerDims, Options, make_plan
from .program import compile_layer

__all__ = ["candidates", "choose", "describe"]


def candidates(dims, config, seq, base=Options()):
    """The schedule options tried for a layer of ``dims`` at ``seq`` tokens (``base`` sets the other fields)."""
    d = config.dim
    largest = make_plan(dims, config, seq, dataclasses.replace(base, tile=None)).tile
    tiles = sorted({largest} | {largest // k // d * d for k in (2, 4) if largest // k >= d}, reverse=True)
    return [dataclasses.replace(base, fuse_qk_softmax=fq, fuse_ffn2_layernorm=ff, tile=t)
            for fq, ff, t in itertools.product((True, False), (True, False), tiles)]


def choose(layer, config, seq, base=Options(), progress=None, window=None):
    """Every candidate schedule of ``layer`` (a ``golden.encoder.IntLayer``, attention ``window``) at ``seq``
    tokens, compiled and timed by the cycle model: ``[(Options, cycles)]``, fastest first (ties keep the candidate
    order)."""
    cands = candidates(LayerDims.of(layer), config, seq, base)
    out = []
    for i, opts in enumerate(cands):
        if progress:
            progress(f"schedule {i + 1}/{len(cands)}: {describe(opts)}")
        prog = compile_layer(layer, config, seq, opts, window=window)
        out.append((opts, estimate_cycles(prog.instrs, config).cycles))
    return sorted(out, key=lambda c: c[1])


def describe(options):
    """A schedule in words: ``QK^T+softmax fused, FFN2+LN unfused, tile 64``."""
    f = lambda b: "fused" if b else "unfused"  # noqa: E731
    return (f"QK^T+softmax {f(options.fuse_qk_softmax)}, FFN2+LN {f(options.fuse_ffn2_layernorm)}, "
            f"tile {options.tile}")
