"""Opt-in FST waveform of a failing test, bounded to a window of cycles.

The design is wrapped in ``<top>_waves``: same ports, plus a cycle counter that calls ``$dumpvars`` when it
reaches ``+wave_from=N`` and ends the rerun with ``$finish`` at ``+wave_to=M`` (Verilator compiles
``$dumpoff`` to nothing, so ending the run is what bounds the file). Plusargs, so one build serves any window.
The wrapper is built with ``--trace-fst`` into its own cache directory; normal runs never pay for tracing.
Usage: ``SYSTOLICA_WAVES=1 pytest tests/hw/test_tile.py -k ...`` (window from ``SYSTOLICA_WAVE_FROM`` /
``SYSTOLICA_WAVE_TO``, default cycles 0..5000); the FST path is printed.
"""
import os

from . import runner

__all__ = ["wrap", "waves_design", "dump_failure"]


def wrap(name, ports):
    """Verilog of ``<name>_waves``: instantiates ``name`` and dumps its signals inside the plusarg window."""
    decl = []
    conn = []
    for pname, direction, width in ports:
        rng = f"[{width - 1}:0] " if width > 1 else ""
        decl.append(f"  {direction} {rng}{pname};")
        conn.append(f".{pname}({pname})")
    plist = ", ".join(p for p, _, _ in ports)
    return f"""
module {name}_waves({plist});
{chr(10).join(decl)}
  {name} dut ({", ".join(conn)});
  reg [63:0] wave_cycle = 0;
  reg [63:0] wave_from = 0;
  reg [63:0] wave_to = 5000;
  initial begin
    if (!$value$plusargs("wave_from=%d", wave_from)) wave_from = 0;
    if (!$value$plusargs("wave_to=%d", wave_to)) wave_to = 5000;
  end
  always @(posedge clk) begin
    wave_cycle <= wave_cycle + 1;
    if (wave_cycle == wave_from) begin
      $dumpfile("waves.fst");
      $dumpvars(0, dut);
    end
    if (wave_cycle == wave_to) $finish;
  end
endmodule
"""


def waves_design(design):
    def make():
        text, ports = design.make_verilog()
        return text + wrap(design.name, ports), ports
    return runner.Design(name=f"{design.name}_waves", key=f"{design.key}-waves", make_verilog=make)


def dump_failure(design, test_module, testcase, extra_env, *, wave_from=None, wave_to=None):
    """Rerun ``testcase`` on the traced wrapper; return the FST path (the rerun is expected to fail again)."""
    wave_from = int(os.environ.get("SYSTOLICA_WAVE_FROM", 0)) if wave_from is None else wave_from
    wave_to = int(os.environ.get("SYSTOLICA_WAVE_TO", 5000)) if wave_to is None else wave_to
    wd = waves_design(design)
    tag = testcase.replace("/", "-") + "-waves"     # a parametrized cocotb test is named "test/param=value"
    try:
        runner.run_test(wd, test_module, testcase=testcase, extra_env=extra_env, waves=True, results_name=tag,
                        plusargs=[f"+wave_from={wave_from}", f"+wave_to={wave_to}"])
    except AssertionError:
        pass
    return runner.BUILD_ROOT / f"{wd.key}-fst" / "runs" / tag / "waves.fst"
