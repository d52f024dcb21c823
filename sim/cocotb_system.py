"""cocotb test of the whole accelerator on the fast harness (driven by sim.system.run_program).

Environment: ``SYSTOLICA_SYSTEM`` (JSON: prog_addr, reads [[addr, nbytes]], dump path, max_ns, bus_width),
``SYSTOLICA_RESULT`` (JSON output, see sim.system.SystemResult).
"""
import json
import os
import time

import cocotb

from hw import csr
from hw.accelerator import N_PERF

from .tb_axi_harness import HarnessTB


@cocotb.test()
async def test_program(dut):
    """Start the program through the CSRs, wait for irq, report status, counters and memory regions."""
    args = json.loads(os.environ["SYSTOLICA_SYSTEM"])
    tb = HarnessTB(dut, data_width=args["bus_width"])
    await tb.reset()
    await tb.csr_write(csr.PROG_ADDR, args["prog_addr"])
    c0, t0 = tb.cycles(), time.perf_counter()
    await tb.csr_write(csr.CTRL, csr.CTRL_START)
    await tb.wait_irq(timeout_ns=args["max_ns"])
    seconds, wall = time.perf_counter() - t0, tb.cycles() - c0
    res = {"status": await tb.csr_read(csr.STATUS), "error_code": await tb.csr_read(csr.ERROR_CODE),
           "error_info": await tb.csr_read(csr.ERROR_INFO), "wall_cycles": wall, "seconds": seconds}
    lo = await tb.csr_read(csr.CYCLES_LO)
    res["cycles"] = lo | (await tb.csr_read(csr.CYCLES_HI)) << 32
    perf = []
    for i in range(N_PERF):
        lo = await tb.csr_read(csr.perf_lo(i))
        perf.append(lo | (await tb.csr_read(csr.perf_lo(i) + 4)) << 32)
    res["perf"] = perf
    res["reads"] = {}
    for addr, nbytes in args["reads"]:
        res["reads"][str(addr)] = (await tb.dump(args["dump"], addr, nbytes)).hex()
    dut._log.info(f"status {res['status']:#x} error {res['error_code']} after {res['cycles']} cycles, "
                  f"{wall / max(seconds, 1e-9):,.0f} cycles/s")
    with open(os.environ["SYSTOLICA_RESULT"], "w") as f:
        json.dump(res, f)
