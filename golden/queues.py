"""What a program leaves behind on the decoupled queues, also when it ends on an error (docs/isa.md, "Errors").

:class:`golden.machine.Machine` runs a program in program order. The hardware runs three queues (load, execute,
store), each in order, that wait for each other only through tokens; on a correctly synchronized program the
result is the same. This module says what the hardware may do when the program is *not* well behaved:

- Fetch decodes in order from ``prog_addr`` up to HALT or the first instruction that fails its decode checks.
  A decode error is precise: every instruction before it runs, none after it.
- The queues run as a network of in-order processes on token counters (:func:`outcome` runs them, the oldest
  runnable queue head first). A pop waits until its channel's counter is non-zero, so the k-th pop of a channel
  pairs with its k-th push. When every queue waits and some are not empty, the program has deadlocked.
- A runtime error (a bus error, a nonlinear error) stops every start after it, and started instructions finish.
  When it is raised depends on timing, so a STORE that neither waits for the faulting instruction nor is waited
  for by it *may* have run: :attr:`Outcome.status` says, per instruction, ``must``, ``maybe`` or ``never``.
  Instructions after a faulting one in its own queue, and those that wait for them through tokens, never start.
- A bus error on an instruction's fetch is a runtime error too: the instructions before it may have run, none
  after it. (Fetch reads ahead of the program: one that ends within ``hw.controller.PREFETCH`` instructions of a
  faulty address may see that fault.)
- A CSR abort stops the run as a runtime error does, at any time: every STORE may have run.
- The reported error is the first in time. Independent faulting instructions can each be first: the hardware's
  ``(code, info)`` must be one of :attr:`Outcome.errors`, and :meth:`Outcome.status_for` gives the statuses for
  the one it reports.
"""
import dataclasses

from .isa import INSTR_BYTES, ErrorCode, IsaError, Opcode, Queue, decode
from .machine import Machine, MachineError

__all__ = ["Outcome", "fetch", "outcome"]

RUNTIME = (ErrorCode.BUS, ErrorCode.NONLINEAR)
FETCH = -1      # the faulting "instruction" of a fetch's bus error


@dataclasses.dataclass
class Outcome:
    """The end of a run: ``errors`` (code, info, faulting instruction's index, :data:`FETCH`, or None for a
    decode error or a deadlock) the hardware may report, the
    instructions fetched, the writes of each STORE the model ran ``writes`` (index -> [(addr, bytes)]), the
    indices of the instructions it ran ``ran``, and the ancestors of each faulting instruction (the instructions
    it waited for, directly or not)."""
    errors: list
    instrs: list
    writes: dict
    ran: set
    ancestors: dict

    def status_for(self, code, info):
        """Per STORE index: ``must`` / ``maybe`` / ``never`` have written, given the error the hardware reports;
        None if ``(code, info)`` is not one the hardware may report. An abort (``ABORTED``, info 0) may come at
        any time: every STORE the run would reach may have run."""
        stores = [j for j, ins in enumerate(self.instrs) if ins.op == Opcode.STORE]
        if (code, info) == (ErrorCode.ABORTED, 0):
            return {j: "maybe" if j in self.ran else "never" for j in stores}
        match = [k for c, i, k in self.errors if (c, i) == (code, info)]
        if not match and not (code == 0 and not self.errors):
            return None
        k = match[0] if match else None
        must = self.ancestors.get(k, self.ran) if k is not None else self.ran
        runtime = any(c in RUNTIME for c, _, _ in self.errors)
        return {j: "never" if j not in self.ran else "must" if (j in must or not runtime) else "maybe"
                for j in stores}


def fetch(machine, prog_addr, limit=1024):
    """``(instructions, bad)``: the instructions from ``prog_addr`` up to HALT or the first that fails its decode
    checks or its fetch (a bus error), and that failure as ``(code, info)`` (None after a HALT)."""
    instrs = []
    for i in range(limit):
        a = prog_addr + i * INSTR_BYTES
        try:
            machine._mem(a, INSTR_BYTES)
            ins = decode(int.from_bytes(machine.memory[a:a + INSTR_BYTES], "little"))
            ins.check(machine.config)
        except MachineError as e:
            return instrs, (e.code, e.info)
        except IsaError as e:
            return instrs, (e.code, a)
        if ins.op == Opcode.HALT:
            return instrs, None
        instrs.append(ins)
    raise ValueError(f"no HALT within {limit} instructions of 0x{prog_addr:x}")


def _edges(instrs):
    """Predecessors of each instruction: the one before it in its queue, and the push each of its pops pairs
    with (the k-th pop of a channel takes the k-th push, both in program order)."""
    preds = {i: set() for i in range(len(instrs))}
    last = {}
    pops = {}
    for i, ins in enumerate(instrs):
        if ins.queue in last:
            preds[i].add(last[ins.queue])
        last[ins.queue] = i
        for ch in ins.pops:
            n = pops.setdefault(ch, 0)
            pops[ch] += 1
            later = [j for j, x in enumerate(instrs) if ch in x.pushes]
            if n < len(later) and later[n] < i:
                preds[i].add(later[n])
    return preds


def _closure(preds, k):
    seen, todo = set(), [k]
    while todo:
        for p in preds[todo.pop()]:
            if p not in seen:
                seen.add(p)
                todo.append(p)
    return seen


def outcome(config, image=None, prog_addr=0, machine=None, limit=1024):
    """Run the program at ``prog_addr`` as the queues do (module docstring); an :class:`Outcome`. ``machine``
    (a :class:`golden.machine.Machine` whose state the run starts from, and which it leaves as the model ran it)
    or a fresh one; ``image`` (as ``Machine.load_image``) replaces its memory first."""
    m = machine if machine is not None else Machine(config)
    if image is not None:
        m.load_image(image)
    instrs, bad = fetch(m, prog_addr, limit)
    queues = {q: [i for i, ins in enumerate(instrs) if ins.queue == q] for q in Queue}
    heads = dict.fromkeys(Queue, 0)
    halted = set()                      # queues stopped by a runtime error in them
    faults, ran, writes = [], set(), {}
    while True:
        ready = [queues[q][heads[q]] for q in Queue if q not in halted and heads[q] < len(queues[q]) and
                 all(m.tokens[ch] > 0 for ch in instrs[queues[q][heads[q]]].pops)]
        if not ready:
            break
        i = min(ready)
        ins, f = instrs[i], dict(instrs[i].fields)
        heads[ins.queue] += 1
        for ch in ins.pops:
            m.tokens[ch] -= 1
        try:
            getattr(m, f"_{ins.op.name.lower()}")(f)
        except MachineError as e:
            if e.code not in RUNTIME:
                raise ValueError(f"instruction {i} ({ins.op.name}) is outside what the hardware defines: {e}") \
                    from None
            info = e.info if e.code == ErrorCode.BUS else prog_addr + i * INSTR_BYTES
            faults.append((int(e.code), info, i))
            halted.add(ins.queue)
            continue
        ran.add(i)
        if ins.op == Opcode.STORE:
            n = config.dim * f["elem_bytes"]
            writes[i] = [(a, bytes(m.memory[a:a + n])) for a in (f["mem_addr"] + r * f["stride"]
                                                                 for r in range(f["lines"]))]
        for ch in ins.pushes:
            m.tokens[ch] += 1
    stuck = any(heads[q] < len(queues[q]) for q in Queue if q not in halted)
    if bad is not None and bad[0] == ErrorCode.BUS:
        faults.append((int(bad[0]), bad[1], FETCH))
    if faults:
        errors = faults
    elif stuck:
        errors = [(int(ErrorCode.DEADLOCK), 0, None)]
    elif bad is not None:
        errors = [(int(bad[0]), bad[1], None)]
    else:
        errors = []
    preds = _edges(instrs)
    return Outcome(errors, instrs, writes, ran, {k: set() if k == FETCH else _closure(preds, k) for _, _, k in faults})

