"""Systolica compiler: integer MiniLM layers -> ISA programs (golden.isa) with their memory images."""
from .plan import Options, make_plan
from .program import Program, compile_encoder, compile_layer

__all__ = ["Options", "Program", "compile_layer", "compile_encoder", "make_plan", "report"]


def report(*args, **kw):
    """Per-layer instruction counts, memory traffic and cycle estimates (see :mod:`compiler.report`)."""
    from .report import report as _report
    return _report(*args, **kw)
