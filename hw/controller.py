"""Controller: instruction fetch and decode, three decoupled queues (load / execute / store), dependency tokens.

Fetch reads the program from ``prog_addr`` in bursts of ``FETCH_INSTRS`` instructions over its AXI read port;
decode checks each instruction against the configuration (``golden.isa.Instr.check`` in hardware) and sends it to
its queue; each unit runs its queue in order, taking and giving tokens as docs/isa.md says. On a decode error,
a bus error, a nonlinear error or an ``abort`` the controller stops fetching and reports ``error`` with
``error_code`` (``golden.isa.ErrorCode``) and ``error_info`` (docs/isa.md, "Errors"):

- a decode error is precise: every instruction before the bad one completes, none after it is queued, and
  ``error_info`` is its address (unless an instruction before it ends in a runtime error or a deadlock first);
- a runtime error (bus, nonlinear) or a deadlock drops every queued instruction that has not started, lets the
  started ones finish, and reports the faulting bus address (``bus_error_addr``), the NL's address, or 0;
- ``abort`` (a CSR pulse) stops the program as a runtime error does: the controller is idle again once the
  instructions already started have finished (``ErrorCode.ABORTED``, info 0).
HALT stops fetching and reports ``done`` once every queue is empty and every unit idle. A program whose queues
wait on tokens that can never come (no unit busy, fetch stopped or blocked) ends with ``ErrorCode.DEADLOCK``:
the controller never hangs.

Latency: an instruction enters the prefetch FIFO ``CHECK_STAGES`` cycles after its last beat arrives (its decode
checks are pipelined) and is decoded in 1 cycle at the FIFO's head; an instruction starts at the earliest
in the cycle after it reaches the head of its queue. Throughput: one instruction decoded per cycle.
"""
from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from golden.isa import (CHANNELS, FIELDS, FIELD_BASE, FLAGS, INSTR_BITS, INSTR_BYTES, QUEUE_OF, ErrorCode, Footprint,
                        Opcode, Queue, conflicts, decode_checks, flag_channel, footprint, queue_flags)

from .accumulator import AccFillLayout, AccReadCmdLayout, AccRowLayout
from .axi import ReadPortSignature
from .dma import DmaReqLayout, LineLayout
from .execute import CmdLayout
from .lanes import ColWriteLayout, LaneConstsLayout
from .nonlinear import NlCmdLayout
from .scratchpad import ReadPortSignature as SpadReadPort, SpadWriteLayout

__all__ = ["CHECK_STAGES", "Controller", "FETCH_INSTRS", "FootprintLayout", "MM_IN_FLIGHT", "PREFETCH",
           "QUEUE_DEPTH"]

FETCH_INSTRS = 4
CHECK_STAGES = 3    # an instruction's last beat -> its FIFO write: the word, its products, its decode verdict
PREFETCH = 32       # instructions fetched ahead of decode (several fetch requests in flight behind DMA bursts)
QUEUE_DEPTH = 16
MM_IN_FLIGHT = 4    # MATMULs issued and not complete (the NL hazard check compares against each)
RETIRE_DEPTH = 8    # execute instructions issued and not retired (issue waits while the retire ring is full)


def _instr_layout(op):
    fields = {"head": FIELD_BASE}
    for name, width, _ in FIELDS[op]:
        fields[name] = width
    fields["rest"] = INSTR_BITS - sum(fields.values())
    return data.StructLayout(fields)


LAYOUTS = {op: _instr_layout(op) for op in Opcode}


def FootprintLayout(cfg):
    """An execute instruction's ``golden.isa.footprint`` in one shape for MATMUL and NL: two scratchpad intervals
    and one accumulator interval (``s0, s1, acc``: MATMUL A, B read and C written; NL residual read, output written
    and accumulator lines read). Ends are inclusive; only an instruction that passed its range checks issues, so
    they fit the address widths."""
    def interval(width):
        return data.StructLayout({"valid": 1, "lo": width, "hi": width})
    return data.StructLayout({"s0": interval(cfg.spad_addr_width), "s1": interval(cfg.spad_addr_width),
                              "acc": interval(cfg.acc_addr_width)})


def _as_footprint(fp, op):
    """The ``golden.isa.Footprint`` of a :func:`FootprintLayout` view, read as an ``op`` instruction's."""
    s0, s1, acc = ((i.valid, i.lo, i.hi) for i in (fp.s0, fp.s1, fp.acc))
    if op == Opcode.MATMUL:
        return Footprint(spad_read=(s0, s1), acc_write=(acc,))
    return Footprint(spad_read=(s0,), spad_write=(s1,), acc_read=(acc,))


_EntryLayout = data.StructLayout({"word": INSTR_BITS, "pc": 32})


def _ExEntryLayout(cfg):
    return data.StructLayout({"word": INSTR_BITS, "pc": 32, "fp": FootprintLayout(cfg)})


def _FetchedLayout(cfg):
    """A fetched instruction with its decode checks' verdict and footprint (computed as it enters the FIFO)."""
    return data.StructLayout({"entry": _ExEntryLayout(cfg), "code": 8, "target": 2})


class Controller(wiring.Component):
    """Fetch, decode, queues, tokens and the three units' sequencing (the datapaths are outside).

    Members (all streams valid/ready)
    -------
    start : In(1) pulse; prog_addr : In(32); busy, done, error : Out(1); error_code : Out(8); error_info : Out(32)
    fetch, config_mem : Out(hw.axi.ReadPortSignature)
        Instruction fetch and the execute unit's CONFIG reads (AxiMaster read ports).
    ld_req : Out(DmaReqLayout); ld_lines : In(LineLayout(dim, acc_width))
        The load DMA reader; lines go to ``spad_write`` / ``acc_write``.
    st_req : Out(DmaReqLayout); st_lines : Out(LineLayout(dim, acc_width)); st_done : In(1)
        The store DMA writer; lines come from ``st_spad`` / ``st_acc_cmd`` + ``st_acc``.
    exe_cmd : Out(CmdLayout); exe_done : In(1)
        Tile operations (one per MATMUL column block); ``exe_done`` pulses once per completed block.
    nl_cmd : Out(NlCmdLayout); nl_done, nl_busy, nl_error : In(1)
    consts : Out(LaneConstsLayout); col_write : Out(ColWriteLayout stream)
    bus_error : In(1); bus_error_addr : In(32)
        The AXI master's sticky error and the address of its first failing beat (read) or burst (write).
    abort : In(1) pulse
    """

    def __init__(self, config):
        self._cfg, self._dw = config, config.bus_width
        rp = ReadPortSignature(32, config.bus_width, 20)
        dim, aw = config.dim, config.acc_width
        super().__init__({
            "start": In(1), "prog_addr": In(32), "busy": Out(1), "done": Out(1), "error": Out(1),
            "error_code": Out(8), "error_info": Out(32), "bus_error": In(1), "bus_error_addr": In(32),
            "abort": In(1),
            "fetch": Out(rp), "config_mem": Out(rp),
            "ld_req": Out(stream.Signature(DmaReqLayout())),
            "ld_lines": In(stream.Signature(LineLayout(dim, aw))),
            "spad_write": Out(stream.Signature(SpadWriteLayout(config))),
            "acc_write": Out(stream.Signature(AccFillLayout(config))),
            "st_req": Out(stream.Signature(DmaReqLayout())),
            "st_lines": Out(stream.Signature(LineLayout(dim, aw))), "st_done": In(1),
            "st_spad": Out(SpadReadPort(config.spad_addr_width, config.spad_row_bits)),
            "st_acc_cmd": Out(stream.Signature(AccReadCmdLayout(config))),
            "st_acc": In(stream.Signature(AccRowLayout(config))),
            "exe_cmd": Out(stream.Signature(CmdLayout(config))), "exe_done": In(1),
            "nl_cmd": Out(stream.Signature(NlCmdLayout(config))),
            "nl_done": In(1), "nl_busy": In(1), "nl_error": In(1),
            "consts": Out(LaneConstsLayout),
            "col_write": Out(stream.Signature(ColWriteLayout)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, dw = self._cfg, self._dw
        bpi = INSTR_BITS // dw
        running = Signal()      # between start and done/error
        stop = Signal()         # fetch stopped (HALT decoded, or an error)
        err_code = Signal(8)
        err_info = Signal(32)
        halting = Signal()      # a runtime error, a deadlock or an abort: queued instructions are dropped (a
        #                         decode error leaves them to drain: the instructions before it still run)
        m.d.comb += [self.busy.eq(running), self.error_code.eq(err_code), self.error_info.eq(err_info)]

        # ---- fetch: bursts of FETCH_INSTRS instructions into a prefetch FIFO ---------------------------------
        fetched_layout, ex_layout = _FetchedLayout(cfg), _ExEntryLayout(cfg)
        m.submodules.ififo = ififo = SyncFIFOBuffered(width=fetched_layout.size, depth=PREFETCH)
        pc_fetch = Signal(32)
        in_flight = Signal(range(PREFETCH + 1))    # instructions requested, not yet in the FIFO
        beat = Signal(range(max(bpi, 2)))
        word = Signal(INSTR_BITS)
        pc_word = Signal(32)
        req = self.fetch.req
        space = ififo.level + in_flight + FETCH_INSTRS <= PREFETCH
        m.d.comb += [req.valid.eq(running & ~stop & space), req.payload.addr.eq(pc_fetch),
                     req.payload.beats.eq(FETCH_INSTRS * bpi)]
        issued = req.valid & req.ready
        with m.If(issued):
            m.d.sync += pc_fetch.eq(pc_fetch + FETCH_INSTRS * INSTR_BYTES)
        resp = self.fetch.resp
        m.d.comb += resp.ready.eq(1)       # the FIFO has room by construction; after a stop beats are dropped
        got_instr = Signal()
        with m.If(resp.valid):
            m.d.sync += word.eq(Cat(word[dw:], resp.payload.data) if bpi > 1 else resp.payload.data)
            m.d.sync += beat.eq(Mux(beat == bpi - 1, 0, beat + 1))
            m.d.comb += got_instr.eq(beat == bpi - 1)
        full_word = Cat(word[dw:], resp.payload.data) if bpi > 1 else resp.payload.data
        # Decode checks on the instruction on its way into the FIFO (off the dispatch path: the verdict waits in
        # the FIFO with the word), over CHECK_STAGES registered stages: the word, its products, its verdict.
        assert CHECK_STAGES == 3    # _decode_checks: products from stage 1's word, the verdict from stage 2's
        words = [Signal(INSTR_BITS, name=f"check_word{i}") for i in range(CHECK_STAGES)]
        valids = [Signal(name=f"check_valid{i}") for i in range(CHECK_STAGES)]
        m.d.sync += [words[0].eq(full_word), valids[0].eq(got_instr)]
        for i in range(1, CHECK_STAGES):
            m.d.sync += [words[i].eq(words[i - 1]), valids[i].eq(valids[i - 1])]
        code_in, target_in = Signal(8), Signal(2)      # target: 0 ld, 1 ex, 2 st, 3 halt
        fp_in = Signal(FootprintLayout(cfg))
        self._decode_checks(m, words[0], words[1], target_in, code_in, fp_in)
        written = valids[-1]
        m.d.comb += [ififo.w_en.eq(written & ~stop),
                     ififo.w_data.eq(Cat(words[-1], pc_word, fp_in, code_in, target_in))]
        with m.If(written):
            m.d.sync += pc_word.eq(pc_word + INSTR_BYTES)
        m.d.sync += in_flight.eq(in_flight + Mux(issued, FETCH_INSTRS, 0) - written)

        # ---- decode: check, then dispatch to a queue ---------------------------------------------------------
        queues = {q: SyncFIFOBuffered(width=(ex_layout if q == "ex" else _EntryLayout).size, depth=QUEUE_DEPTH)
                  for q in ("ld", "ex", "st")}
        for name, q in queues.items():
            m.submodules[f"q_{name}"] = q
        fetched = data.View(fetched_layout, ififo.r_data)
        head, code, target = fetched.entry, fetched.code, fetched.target
        fifo_of = {0: queues["ld"], 1: queues["ex"], 2: queues["st"]}
        can_push = Signal()
        with m.Switch(target):
            for t, q in fifo_of.items():
                with m.Case(t):
                    m.d.comb += can_push.eq(q.w_rdy)
            with m.Case(3):
                m.d.comb += can_push.eq(1)
        take = ififo.r_rdy & running & ~stop & (can_push | (code != 0))
        m.d.comb += ififo.r_en.eq(take | (stop & ififo.r_rdy))
        for t, q in fifo_of.items():
            m.d.comb += [q.w_data.eq(head if t == 1 else Cat(head.word, head.pc)),
                         q.w_en.eq(take & (code == 0) & (target == t))]
        fail = Signal()
        fail_code = Signal(8)
        fail_info = Signal(32)
        with m.If(take & (code != 0)):
            m.d.comb += [fail.eq(1), fail_code.eq(code), fail_info.eq(head.pc)]
        with m.If(take & (code == 0) & (target == 3)):
            m.d.sync += stop.eq(1)

        # ---- tokens ----------------------------------------------------------------------------------------
        names = tuple(CHANNELS.values())       # golden.isa: l2e, e2l, e2s, s2e
        tok = {n: Signal(8, name=f"tok_{n}") for n in names}
        inc = {n: Signal(name=f"inc_{n}") for n in names}
        dec = {n: Signal(name=f"dec_{n}") for n in names}
        for n in names:
            m.d.sync += tok[n].eq(tok[n] + inc[n] - dec[n])

        def gate(entry, queue):
            """(flags, tokens available) of the instruction at the head of ``queue``: each pop flag the queue
            may use against its channel's counter. ``take`` decrements those counters when it starts."""
            word = entry[:INSTR_BITS]      # the word leads every queue entry
            f = {flag: word[8 + i] for i, flag in enumerate(FLAGS)}
            pops = [flag for flag in queue_flags(queue) if flag.startswith("pop")]
            ok = Cat(*(~f[flag] | (tok[flag_channel(queue, flag)] != 0) for flag in pops)).all()

            def take():
                return [dec[flag_channel(queue, flag)].eq(f[flag]) for flag in pops]
            return f, ok, take

        # ---- load unit ---------------------------------------------------------------------------------------
        ql = queues["ld"]
        ld_busy, ld_flags = Signal(), Signal(4)
        ld_view = data.View(LAYOUTS[Opcode.LOAD], data.View(_EntryLayout, ql.r_data).word)
        f, ok, take = gate(ql.r_data, Queue.LOAD)
        flush = Signal()        # stopped on an error: queued instructions are dropped, none starts
        ld_start = ql.r_rdy & ~ld_busy & ok & running & ~flush & self.ld_req.ready
        m.d.comb += [ql.r_en.eq(ld_start), self.ld_req.valid.eq(ld_start),
                     self.ld_req.payload.mem_addr.eq(ld_view.mem_addr), self.ld_req.payload.lines.eq(ld_view.lines),
                     self.ld_req.payload.stride.eq(ld_view.stride),
                     self.ld_req.payload.elem_bytes.eq(ld_view.elem_bytes)]
        ld_dst, ld_addr = Signal(), Signal(16)
        with m.If(ld_start):
            m.d.comb += take()
            m.d.sync += [ld_busy.eq(1), ld_dst.eq(ld_view.dst), ld_addr.eq(ld_view.local),
                         ld_flags.eq(Cat(f["push_next"]))]
        lines = self.ld_lines
        sw, aw_ = self.spad_write, self.acc_write
        m.d.comb += [sw.payload.addr.eq(ld_addr), aw_.payload.addr.eq(ld_addr)]
        for j in range(cfg.dim):
            m.d.comb += [sw.payload.data[j * cfg.input_width:(j + 1) * cfg.input_width].eq(lines.payload.data[j]),
                         aw_.payload.data[j].eq(lines.payload.data[j])]
        m.d.comb += [sw.valid.eq(lines.valid & ~ld_dst), aw_.valid.eq(lines.valid & ld_dst),
                     lines.ready.eq(Mux(ld_dst, aw_.ready, sw.ready))]
        with m.If(lines.valid & lines.ready):
            m.d.sync += ld_addr.eq(ld_addr + 1)
            with m.If(lines.payload.last):
                m.d.sync += ld_busy.eq(0)
                m.d.comb += inc[flag_channel(Queue.LOAD, "push_next")].eq(ld_flags[0])

        # ---- store unit --------------------------------------------------------------------------------------
        qs = queues["st"]
        st_busy, st_push = Signal(), Signal()
        st_view = data.View(LAYOUTS[Opcode.STORE], data.View(_EntryLayout, qs.r_data).word)
        f, ok, take = gate(qs.r_data, Queue.STORE)
        st_start = qs.r_rdy & ~st_busy & ok & running & ~flush & self.st_req.ready
        m.d.comb += [qs.r_en.eq(st_start), self.st_req.valid.eq(st_start),
                     self.st_req.payload.mem_addr.eq(st_view.mem_addr), self.st_req.payload.lines.eq(st_view.lines),
                     self.st_req.payload.stride.eq(st_view.stride),
                     self.st_req.payload.elem_bytes.eq(st_view.elem_bytes)]
        st_src, st_addr, st_left, st_pending = Signal(), Signal(16), Signal(17), Signal()
        with m.If(st_start):
            m.d.comb += take()
            m.d.sync += [st_busy.eq(1), st_src.eq(st_view.src), st_addr.eq(st_view.local),
                         st_left.eq(st_view.lines), st_push.eq(f["push_prev"])]
        # accumulator source: one read command; scratchpad source: the read port, one row in flight
        acc_cmd_pending = Signal()
        with m.If(st_start & st_view.src):
            m.d.sync += acc_cmd_pending.eq(1)
        with m.If(self.st_acc_cmd.valid & self.st_acc_cmd.ready):
            m.d.sync += acc_cmd_pending.eq(0)
        m.d.comb += [self.st_acc_cmd.valid.eq(acc_cmd_pending),
                     self.st_acc_cmd.payload.addr.eq(st_addr), self.st_acc_cmd.payload.count.eq(st_left),
                     self.st_acc_cmd.payload.stride.eq(1)]
        out = self.st_lines
        spad_row = data.View(data.ArrayLayout(cfg.input_width, cfg.dim), self.st_spad.data)
        advance = ~st_pending | out.ready
        with m.If(st_src):
            m.d.comb += [out.valid.eq(self.st_acc.valid), self.st_acc.ready.eq(out.ready),
                         out.payload.last.eq(self.st_acc.payload.last)]
            m.d.comb += [out.payload.data[j].eq(self.st_acc.payload.data[j]) for j in range(cfg.dim)]
        with m.Else():
            m.d.comb += [out.valid.eq(st_pending), out.payload.last.eq(0),
                         self.st_spad.addr.eq(st_addr), self.st_spad.en.eq(st_busy & advance & (st_left != 0))]
            m.d.comb += [out.payload.data[j].eq(spad_row[j].as_signed()) for j in range(cfg.dim)]
            with m.If(st_busy & advance):
                m.d.sync += st_pending.eq(st_left != 0)
                with m.If(st_left != 0):
                    m.d.sync += [st_addr.eq(st_addr + 1), st_left.eq(st_left - 1)]
        with m.If(self.st_done & st_busy):
            m.d.sync += [st_busy.eq(0), st_pending.eq(0)]
            m.d.comb += inc[flag_channel(Queue.STORE, "push_prev")].eq(st_push)

        # ---- execute unit --------------------------------------------------------------------------------------
        # Issue in order; an NL runs beside the MATMULs it does not conflict with (golden.isa.conflicts on the
        # footprints), and a MATMUL issues beside a running NL it does not conflict with. Tokens are pushed at
        # retirement, in program order (a retire ring of the instructions issued and not retired).
        qe = queues["ex"]
        ex_entry = data.View(ex_layout, qe.r_data)
        ex_op = ex_entry.word[:8]
        f, ok, take = gate(qe.r_data, Queue.EXECUTE)
        ex_busy = Signal()          # a CONFIG in progress, an NL being sent, or a MATMUL issuing its blocks
        ex_push = Signal(2)         # (push_prev, push_next) of the instruction in progress
        ex_prev, ex_next = (flag_channel(Queue.EXECUTE, flag) for flag in ("push_prev", "push_next"))
        # MATMULs in flight: their block counts, completed in order by exe_done, and their footprints
        # (MM_IN_FLIGHT - 1 queued behind the head's count in mm_left)
        m.submodules.mm_fifo = mm_fifo = SyncFIFOBuffered(width=16, depth=MM_IN_FLIGHT - 1)
        mm_left = Signal(16)        # blocks of the head of mm_fifo not yet done
        mm_head_valid = Signal()
        mm_outstanding = Signal(20)  # tile commands issued and not yet done
        mm_idle = mm_outstanding == 0
        mm_fp = [Signal(FootprintLayout(cfg), name=f"mm_fp{i}") for i in range(MM_IN_FLIGHT)]
        mm_fp_valid = Signal(MM_IN_FLIGHT)
        mm_tail, mm_head = Signal(range(MM_IN_FLIGHT)), Signal(range(MM_IN_FLIGHT))
        nl_fp = Signal(FootprintLayout(cfg))
        nl_run = Signal()           # an NL sent or running (its footprint in nl_fp)
        # the retire ring: kind (0 MATMUL, 1 NL, 2 CONFIG) and push flags of each instruction not retired
        ring = [Signal(4, name=f"retire{i}") for i in range(RETIRE_DEPTH)]
        r_head, r_tail = Signal(range(RETIRE_DEPTH)), Signal(range(RETIRE_DEPTH))
        r_count = Signal(range(RETIRE_DEPTH + 1))
        ring_space = r_count < RETIRE_DEPTH     # an entry for the instruction starting now (one at a time)

        # The hazard verdicts are registered (off the issue path): a verdict is used in the cycle after it was
        # computed, when neither the queue head nor the work in flight has changed since (``fresh``); a
        # completion in between only makes it conservative for a cycle.
        head_fp = ex_entry.fp
        nl_hazard, mm_hazard, fresh = Signal(), Signal(), Signal()
        m.d.sync += [
            nl_hazard.eq(Cat(*(mm_fp_valid[i] & conflicts(_as_footprint(mm_fp[i], Opcode.MATMUL),
                                                          _as_footprint(head_fp, Opcode.NL))
                               for i in range(MM_IN_FLIGHT))).any()),
            mm_hazard.eq(nl_run & conflicts(_as_footprint(nl_fp, Opcode.NL),
                                            _as_footprint(head_fp, Opcode.MATMUL))),
        ]
        can = {
            Opcode.CONFIG: ~nl_run & ring_space,
            Opcode.MATMUL: fresh & ~mm_hazard & mm_fifo.w_rdy & ring_space,
            Opcode.NL: fresh & ~nl_run & ~nl_hazard & ring_space,
        }
        ready_op = Signal()
        with m.Switch(ex_op):
            for op_, cond in can.items():
                with m.Case(int(op_)):
                    m.d.comb += ready_op.eq(cond)
        ex_start = qe.r_rdy & ~ex_busy & ok & ready_op & running & ~flush
        m.d.comb += qe.r_en.eq(ex_start)
        with m.If(ex_start):
            m.d.comb += take()

        cur = Signal(INSTR_BITS)
        cur_op = cur[:8]
        cur_fp = Signal(FootprintLayout(cfg))
        cmm = data.View(LAYOUTS[Opcode.MATMUL], cur)
        ccf = data.View(LAYOUTS[Opcode.CONFIG], cur)
        ec = self.exe_cmd
        # block ``blk``'s B and C addresses, ``b_addr + blk * b_stride`` and ``c_addr + blk * c_stride``, kept as
        # running sums (no multiplier)
        blk = Signal(16)
        b_at, c_at = Signal.like(ec.payload.b_addr), Signal.like(ec.payload.c_addr)
        new_mm = data.View(LAYOUTS[Opcode.MATMUL], ex_entry.word)
        with m.If(ex_start):
            m.d.sync += [cur.eq(ex_entry.word), cur_fp.eq(head_fp), ex_busy.eq(1), blk.eq(0),
                         ex_push.eq(Cat(f["push_prev"], f["push_next"])),
                         b_at.eq(new_mm.b_addr), c_at.eq(new_mm.c_addr)]
        # retire-ring entries, one per cycle at most: a MATMUL's with its first block, an NL's when it is sent,
        # a CONFIG's when it completes
        r_push = Signal()
        r_kind = Signal(2)
        with m.If(r_push):
            with m.Switch(r_tail):
                for i in range(RETIRE_DEPTH):
                    with m.Case(i):
                        m.d.sync += ring[i].eq(Cat(r_kind, ex_push))
            m.d.sync += r_tail.eq(Mux(r_tail == RETIRE_DEPTH - 1, 0, r_tail + 1))

        # MATMUL: one tile command per column block
        last_blk = blk == cmm.blocks - 1
        m.d.comb += [
            ec.valid.eq(ex_busy & (cur_op == Opcode.MATMUL)),
            ec.payload.a_addr.eq(cmm.a_addr), ec.payload.b_addr.eq(b_at),
            ec.payload.c_addr.eq(c_at), ec.payload.rows.eq(cmm.rows),
            ec.payload.k.eq(cmm.k), ec.payload.cols.eq(Mux(last_blk, cmm.cols, cfg.dim)),
            ec.payload.accumulate.eq(cmm.accumulate),
        ]
        # the MATMUL's completion record and footprint go in with its first block (earlier blocks may finish
        # before its last block is issued)
        mm_first = ec.valid & ec.ready & (blk == 0)
        m.d.sync += fresh.eq(qe.r_rdy & ~ex_start & ~mm_first)
        m.d.comb += [mm_fifo.w_data.eq(cmm.blocks), mm_fifo.w_en.eq(mm_first)]
        with m.If(mm_first):
            m.d.comb += [r_push.eq(1), r_kind.eq(0)]
            with m.Switch(mm_tail):
                for i in range(MM_IN_FLIGHT):
                    with m.Case(i):
                        m.d.sync += mm_fp[i].eq(cur_fp)
            m.d.sync += mm_tail.eq(mm_tail + 1)
        m.d.sync += mm_outstanding.eq(mm_outstanding + (ec.valid & ec.ready) - self.exe_done)
        with m.If(ec.valid & ec.ready):
            m.d.sync += [blk.eq(blk + 1), b_at.eq(b_at + cmm.b_stride), c_at.eq(c_at + cmm.c_stride)]
            with m.If(last_blk):
                m.d.sync += ex_busy.eq(0)
        # MATMUL completion, in order
        mm_complete = Signal()
        m.d.comb += mm_fifo.r_en.eq(~mm_head_valid | (self.exe_done & (mm_left == 1)))
        with m.If(mm_fifo.r_en & mm_fifo.r_rdy):
            m.d.sync += [mm_head_valid.eq(1), mm_left.eq(mm_fifo.r_data)]
        with m.Elif(self.exe_done & (mm_left == 1)):
            m.d.sync += mm_head_valid.eq(0)
        with m.If(self.exe_done & mm_head_valid):
            with m.If(mm_left == 1):
                m.d.comb += mm_complete.eq(1)
                m.d.sync += mm_head.eq(mm_head + 1)
            with m.If(~(mm_fifo.r_en & mm_fifo.r_rdy)):
                m.d.sync += mm_left.eq(mm_left - 1)
        fp_set = Signal(MM_IN_FLIGHT)
        fp_clear = Signal(MM_IN_FLIGHT)
        m.d.comb += [fp_set.eq(Mux(mm_first, 1 << mm_tail, 0)), fp_clear.eq(Mux(mm_complete, 1 << mm_head, 0))]
        m.d.sync += mm_fp_valid.eq((mm_fp_valid | fp_set) & ~fp_clear)

        # NL: one command; the queue moves on once it is sent, the unit runs it (nl_run) until nl_done
        nc = self.nl_cmd
        cnl = data.View(LAYOUTS[Opcode.NL], cur)
        m.d.comb += [nc.valid.eq(ex_busy & (cur_op == Opcode.NL))]
        for name in ("op", "rows", "lines", "row_stride", "line_stride", "var_shift", "residual", "res_base",
                     "res_row_stride", "res_line_stride", "dst_base", "dst_row_stride", "dst_line_stride",
                     "transpose", "band", "window", "q_base", "k_base", "cls_line"):
            m.d.comb += getattr(nc.payload, name).eq(getattr(cnl, name))
        m.d.comb += [nc.payload.base.eq(cnl.acc_base), nc.payload.to_spad.eq(1)]
        nl_pc = Signal(32)          # the running NL's address (ERROR_INFO of a nonlinear error)
        with m.If(ex_start & (ex_op == Opcode.NL)):
            m.d.sync += [nl_run.eq(1), nl_fp.eq(head_fp), nl_pc.eq(ex_entry.pc)]
        # the unit's error flag is sticky until its next command: it speaks for this program once one of the
        # program's NLs has been accepted (a program after one that ended in a nonlinear error starts clean)
        nl_armed = Signal()
        nl_error = self.nl_error & nl_armed
        with m.If(nc.valid & nc.ready):
            m.d.sync += [ex_busy.eq(0), nl_armed.eq(1)]
            m.d.comb += [r_push.eq(1), r_kind.eq(1)]
        # the unit's done, registered: its writer's last handshake does not reach the retirement and the token
        # counters in the same cycle (golden.program_cycles.Latencies.nl_done)
        nl_done = Signal()
        m.d.sync += nl_done.eq(self.nl_done)
        nl_complete = nl_run & nl_done
        with m.If(nl_complete):
            m.d.sync += nl_run.eq(0)
        # CONFIG: lane constants (a 512-bit block) or column-table entries (one 128-bit entry per 128 bits)
        creq = self.config_mem.req
        cfg_sent = Signal()
        entry_beats = max(1, 128 // dw)
        m.d.comb += [creq.valid.eq(ex_busy & (cur_op == Opcode.CONFIG) & ~cfg_sent),
                     creq.payload.addr.eq(ccf.mem_addr),
                     creq.payload.beats.eq(Mux(ccf.kind == 0, 512 // dw, ccf.count * entry_beats))]
        with m.If(creq.valid & creq.ready):
            m.d.sync += cfg_sent.eq(1)
        cresp = self.config_mem.resp
        block = Signal(512)
        consts = Signal(LaneConstsLayout)
        m.d.comb += [self.consts.eq(consts), cresp.ready.eq(1)]
        col_addr = Signal(13)
        entry = Signal(128)
        ebeat = Signal(range(max(2, entry_beats)))
        with m.If(cfg_sent & cresp.valid):
            with m.If(ccf.kind == 0):
                m.d.sync += block.eq(Cat(block[dw:], cresp.payload.data))
                with m.If(cresp.payload.last):
                    m.d.sync += consts.eq(Cat(block[dw:], cresp.payload.data)[:LaneConstsLayout.size])
            with m.Else():
                m.d.sync += [entry.eq(Cat(entry[dw:], cresp.payload.data) if dw < 128 else cresp.payload.data),
                             ebeat.eq(Mux(ebeat == entry_beats - 1, 0, ebeat + 1))]
        full_entry = (Cat(entry[dw:], cresp.payload.data) if dw < 128 else cresp.payload.data)[:128]
        cw = self.col_write
        m.d.comb += [cw.valid.eq(cfg_sent & cresp.valid & (ccf.kind == 1) & (ebeat == entry_beats - 1)),
                     cw.payload.addr.eq(ccf.offset + col_addr),
                     cw.payload.value.eq(full_entry[:len(cw.payload.value.as_value())])]
        with m.If(cw.valid):
            m.d.sync += col_addr.eq(col_addr + 1)
        cfg_done = cfg_sent & cresp.valid & cresp.payload.last
        with m.If(cfg_done):
            m.d.sync += [ex_busy.eq(0), cfg_sent.eq(0), col_addr.eq(0)]

        # retirement, in program order: the ring's head once complete (a MATMUL or NL completing this cycle
        # retires in it); a CONFIG completing with the ring empty gives its tokens at once
        # completed, not retired (an NL at the head holds back the MATMULs and NLs completing behind it)
        mm_done_n, nl_done_n = Signal(range(RETIRE_DEPTH + 1)), Signal(range(RETIRE_DEPTH + 1))
        head_entry = Signal(4)
        with m.Switch(r_head):
            for i in range(RETIRE_DEPTH):
                with m.Case(i):
                    m.d.comb += head_entry.eq(ring[i])
        head_kind = head_entry[:2]
        ring_empty = r_count == 0
        retire = Signal()
        m.d.comb += retire.eq(~ring_empty & Mux(head_kind == 0, (mm_done_n != 0) | mm_complete,
                                                Mux(head_kind == 1, (nl_done_n != 0) | nl_complete, 1)))
        cfg_bypass = cfg_done & ring_empty
        with m.If(cfg_done & ~ring_empty):
            m.d.comb += [r_push.eq(1), r_kind.eq(2)]
        with m.If(retire):
            m.d.comb += [inc[ex_prev].eq(head_entry[2]), inc[ex_next].eq(head_entry[3])]
            m.d.sync += r_head.eq(Mux(r_head == RETIRE_DEPTH - 1, 0, r_head + 1))
        with m.Elif(cfg_bypass):
            m.d.comb += [inc[ex_prev].eq(ex_push[0]), inc[ex_next].eq(ex_push[1])]
        m.d.sync += [r_count.eq(r_count + r_push - retire),
                     mm_done_n.eq(mm_done_n + mm_complete - (retire & (head_kind == 0))),
                     nl_done_n.eq(nl_done_n + nl_complete - (retire & (head_kind == 1)))]

        # ---- start, completion, errors -------------------------------------------------------------------------
        units_idle = ~ld_busy & ~st_busy & ~ex_busy & mm_idle & ~self.nl_busy & ~nl_run & ring_empty
        queues_empty = ~ql.r_rdy & ~qe.r_rdy & ~qs.r_rdy
        blocked = Signal()
        # an execute head whose hazard verdict predates its queue's last change or a completion is not blocked
        calm = Signal()
        m.d.sync += calm.eq(~mm_complete & ~nl_complete)
        settled = ~qe.r_rdy | (fresh & calm)
        m.d.comb += blocked.eq(units_idle & ~queues_empty & ~ld_start & ~st_start & ~ex_start & settled &
                               (stop | (ififo.r_rdy & ~can_push) | (~ififo.r_rdy & (in_flight == 0) & ~req.valid)))
        finished = running & stop & units_idle & queues_empty & ~ififo.r_rdy & (in_flight == 0)
        m.d.comb += self.done.eq(finished & (err_code == 0))
        m.d.comb += self.error.eq(finished & (err_code != 0))
        with m.If(finished):
            m.d.sync += running.eq(0)
        # A decode error waits while the instructions before it drain; a runtime error, a deadlock or an abort in
        # the meantime replaces it (it is earlier in program order, or the program is stopped).
        with m.If(running & ~halting):
            with m.If(fail):
                m.d.sync += [err_code.eq(fail_code), err_info.eq(fail_info), stop.eq(1)]
            with m.Elif(self.bus_error):
                m.d.sync += [err_code.eq(ErrorCode.BUS), err_info.eq(self.bus_error_addr), stop.eq(1),
                             halting.eq(1)]
            with m.Elif(nl_error):
                m.d.sync += [err_code.eq(ErrorCode.NONLINEAR), err_info.eq(nl_pc), stop.eq(1), halting.eq(1)]
            with m.Elif(self.abort):
                m.d.sync += [err_code.eq(ErrorCode.ABORTED), err_info.eq(0), stop.eq(1), halting.eq(1)]
            with m.Elif(blocked):
                m.d.sync += [err_code.eq(ErrorCode.DEADLOCK), err_info.eq(0), stop.eq(1), halting.eq(1)]
        # the error inputs stop new starts in the cycle they rise: an instruction that waits for the faulting one
        # (a token, or its queue) cannot start before its error is registered
        m.d.comb += flush.eq(running & (halting | self.bus_error | nl_error | self.abort))
        with m.If(flush):
            # a controller stopped on an error drops what is still queued; started work finishes
            m.d.comb += [q.r_en.eq(q.r_rdy) for q in (ql, qe, qs)]
        with m.If(self.start & ~running):
            m.d.sync += [running.eq(1), stop.eq(0), err_code.eq(0), err_info.eq(0), halting.eq(0), nl_armed.eq(0),
                         pc_fetch.eq(self.prog_addr),
                         pc_word.eq(self.prog_addr), beat.eq(0)]
            m.d.sync += [tok[n].eq(0) for n in names]
        return m

    def _decode_checks(self, m, word1, word2, target, code, fp):
        """``target`` queue (0 load, 1 execute, 2 store, 3 halt), error ``code`` (0: fine) and footprint ``fp``
        (:func:`FootprintLayout`, MATMUL and NL), registered, of the instruction in ``word2``: the checks of
        ``golden.isa.decode_checks`` and ``golden.isa.footprint``, whose products are registered from ``word1``,
        the same instruction one cycle earlier (the footprint's are the checks' first products)."""
        def fields(word, op):
            v, w = data.View(LAYOUTS[op], word), data.View(LAYOUTS[Opcode.HALT], word).as_value()
            f = {name: getattr(v, name) for name, _, _ in FIELDS[op]}
            f.update({flag: w[8 + i] for i, flag in enumerate(FLAGS)}, reserved=v.rest)
            return f

        def registering(products):
            def product(a, b):
                a, b = Value.cast(a), Value.cast(b)
                p = Signal((a * b).shape())
                m.d.sync += p.eq(a * b)
                products.append(p)
                return p
            return product

        products = {op: [] for op in Opcode}
        for op in Opcode:
            decode_checks(op, fields(word1, op), self._cfg, Mux, product=registering(products[op]))
        target_of = {Queue.LOAD: 0, Queue.EXECUTE: 1, Queue.STORE: 2}
        with m.Switch(word2[:8]):
            for op in Opcode:
                with m.Case(op):
                    taken = iter(products[op])
                    checks = decode_checks(op, fields(word2, op), self._cfg, Mux, product=lambda a, b: next(taken))
                    assert next(taken, None) is None
                    shared = iter(products[op])
                    fpo = footprint(op, fields(word2, op), self._cfg, Mux, product=lambda a, b: next(shared))
                    if op in (Opcode.MATMUL, Opcode.NL):
                        ivs = (fpo.spad_read + fpo.spad_write)[:2] + (fpo.acc_read + fpo.acc_write)
                        for dst, (valid, lo, hi) in zip((fp.s0, fp.s1, fp.acc), ivs):
                            m.d.sync += [dst.valid.eq(valid), dst.lo.eq(lo), dst.hi.eq(hi)]
                    else:
                        m.d.sync += fp.eq(0)
                    m.d.sync += target.eq(target_of.get(QUEUE_OF.get(op), 3))
                    with m.If(checks[0][0]):
                        m.d.sync += code.eq(checks[0][1])
                    for cond, err, _ in checks[1:]:
                        with m.Elif(cond):
                            m.d.sync += code.eq(err)
                    with m.Else():
                        m.d.sync += code.eq(0)
            with m.Default():
                m.d.sync += [target.eq(3), code.eq(ErrorCode.ILLEGAL_OPCODE), fp.eq(0)]
