"""Longest register-to-register paths of a synthesized ECP5 netlist, without place and route.

``systolica build --estimate`` synthesizes (Yosys ``synth_ecp5``, a few minutes) and ranks the paths of the JSON
netlist with a fixed delay per cell and a net delay that grows with fanout, in seconds, where nextpnr takes
40 minutes to place the whole accelerator. The delays are rough ECP5-like figures, not nextpnr's timing model:
the ranking and the changes between two netlists mean something, the nanoseconds do not. On the ``ulx3s-85f``
accelerator the longest path read 24.0 ns where nextpnr's post-placement estimate was 35.5 ns (28.17 MHz).

A path starts at a flip-flop's Q, a block RAM's or LUT RAM's data output (or a top-level input) and ends at a
flip-flop's, block RAM's or LUT RAM's data, enable or address input. Unregistered MULT18X18D, LUT4, PFUMX,
L6MUX21 and CCU2C cells (the carry input to carry output is the fast chain) are combinational.

``python -m systolica.netlist_timing NETLIST.json [--top N]`` prints the ``N`` longest path groups (paths whose
end names differ only in bit indices count once).
"""
import argparse
import collections
import json
import math
import re
import sys

__all__ = ["DELAYS", "Path", "longest_paths", "format_paths"]

#: ns: per cell kind, from an input to an output (CCU2C: ``carry`` from CIN to COUT, ``sum`` to S0/S1), a start's
#: clock-to-out, a net's base delay and its growth per doubling of the fanout, an end's setup.
DELAYS = {"LUT4": 0.2, "PFUMX": 0.2, "L6MUX21": 0.2, "MULT18X18D": 4.0, "TRELLIS_DPR16X4": 0.6,
          "carry": 0.06, "sum": 0.3, "carry_in_sum": 0.25,
          "start": {"TRELLIS_FF": 0.5, "DP16KD": 3.5, "TRELLIS_DPR16X4": 1.0, "MULT18X18D": 1.0},
          "net": 0.6, "net_per_fanout_doubling": 0.15, "setup": 0.2}
_STARTS = {"TRELLIS_FF": "Q", "DP16KD": "DO", "TRELLIS_DPR16X4": "DO", "MULT18X18D": "P"}
_CLOCKS = {"CLK", "CLKA", "CLKB", "WCK"}


Path = collections.namedtuple("Path", "ns cells start end kinds steps")
Path.__doc__ = """A path: ``ns`` (estimate), ``cells`` on it, ``start`` / ``end`` net names, ``kinds`` {cell type:
count}, ``steps`` [(arrival ns, net name, cell type)]."""


def _registered_mult(cell):
    return cell["parameters"].get("REG_OUTPUT_CLK", "NONE") != "NONE"


def _arcs(cell):
    """(input ports or None for all, output port prefix, delay) of a combinational cell; None for a sequential one."""
    t = cell["type"]
    if t in ("LUT4", "PFUMX", "L6MUX21"):
        return [(None, "Z", DELAYS[t])]
    if t == "CCU2C":
        a0, a1 = {"A0", "B0", "C0", "D0"}, {"A0", "B0", "C0", "D0", "A1", "B1", "C1", "D1"}
        return [({"CIN"}, "COUT", DELAYS["carry"]), ({"CIN"}, "S0", DELAYS["carry_in_sum"]),
                ({"CIN"}, "S1", DELAYS["carry_in_sum"]), (a0, "S0", DELAYS["sum"]), (a1, "S1", DELAYS["sum"] + 0.1),
                (a1, "COUT", DELAYS["sum"])]
    if t == "MULT18X18D" and not _registered_mult(cell):
        return [(None, "P", DELAYS[t])]
    if t == "TRELLIS_DPR16X4":
        return [({"RAD"}, "DO", DELAYS[t])]
    return None


def _port_in(port, ports):
    """Whether input ``port`` is one of ``ports`` (names or bus prefixes such as ``RAD``; None: every input)."""
    return ports is None or port.startswith(tuple(ports))


def longest_paths(netlist, top=None):
    """The paths of ``netlist`` (a ``synth_ecp5`` JSON file's path or its parsed dict) ending at each register
    input, longest first; ``top``: the top module's name (default: the one module with cells)."""
    if not isinstance(netlist, dict):
        with open(netlist) as f:
            netlist = json.load(f)
    modules = netlist["modules"]
    if top is None:
        withcells = [k for k, v in modules.items() if v.get("cells") and "top" in v.get("attributes", {})]
        top = withcells[0] if withcells else max(modules, key=lambda k: len(modules[k].get("cells", {})))
    mod = modules[top]
    cells = mod["cells"]
    def rank(name):     # a source-level name first: fewest mapped-cell suffixes and Yosys '$' names, then shortest
        return len(re.findall(r"_(?:LUT4|CCU2C|PFUMX|L6MUX21|TRELLIS_FF)_", name)), name.count("$"), len(name)

    names = {}
    for name, net in mod["netnames"].items():
        for b in net["bits"]:
            if isinstance(b, int) and (b not in names or rank(name) < rank(names[b])):
                names[b] = name
    fanout = collections.Counter()
    driven = set()
    for c in cells.values():
        for p, bits in c["connections"].items():
            out = c["port_directions"][p] == "output"
            for b in bits:
                if isinstance(b, int):
                    (driven.add(b) if out else fanout.update([b]))

    def net_delay(b):
        return DELAYS["net"] + DELAYS["net_per_fanout_doubling"] * math.log2(max(fanout[b], 1))

    succ, indeg = collections.defaultdict(list), collections.Counter()
    for cn, c in cells.items():
        arcs = _arcs(c)
        for ins, outp, delay in arcs or ():
            conns, dirs = c["connections"], c["port_directions"]
            outs = [b for p, bits in conns.items() if dirs[p] == "output" and p.startswith(outp) for b in bits
                    if isinstance(b, int)]
            for p, bits in conns.items():
                if dirs[p] != "input" or not _port_in(p, ins):
                    continue
                for b in bits:
                    if isinstance(b, int):
                        for o in outs:
                            succ[b].append((o, delay, cn, p == "CIN"))
                            indeg[o] += 1
    arrival = {}        # net -> (ns, previous net, cell)
    for cn, c in cells.items():
        port = _STARTS.get(c["type"])
        if port is None or (c["type"] == "MULT18X18D" and not _registered_mult(c)):
            continue
        for p, bits in c["connections"].items():
            if p.startswith(port) and c["port_directions"][p] == "output":
                arrival.update((b, (DELAYS["start"][c["type"]], None, cn)) for b in bits if isinstance(b, int))
    for b in set(fanout) | driven:
        if indeg[b] == 0 and b not in arrival:
            arrival[b] = (0.0, None, None)          # a top-level input, or an output of the clock or I/O cells
    queue, left = collections.deque(arrival), dict(indeg)
    while queue:
        b = queue.popleft()
        for o, delay, cn, carry in succ.get(b, ()):
            t = arrival[b][0] + delay + (0.0 if carry else net_delay(b))
            if o not in arrival or t > arrival[o][0]:
                arrival[o] = (t, b, cn)
            left[o] -= 1
            if left[o] == 0:
                queue.append(o)
    ends = []
    for cn, c in cells.items():
        t = c["type"]
        if t not in ("TRELLIS_FF", "DP16KD", "TRELLIS_DPR16X4") and not (t == "MULT18X18D" and _registered_mult(c)):
            continue
        for p, bits in c["connections"].items():
            if c["port_directions"][p] != "input" or p in _CLOCKS or (t == "TRELLIS_DPR16X4" and p.startswith("RAD")):
                continue
            ends += [(arrival[b][0] + net_delay(b) + DELAYS["setup"], b, cn, p) for b in bits
                     if isinstance(b, int) and b in arrival]
    ends.sort(key=lambda e: -e[0])
    paths = []
    for ns, b, cn, p in ends:
        steps, net = [], b
        while net is not None:
            t, prev, via = arrival[net]
            steps.append((round(t, 2), names.get(net, str(net)), cells[via]["type"] if via in cells else "input"))
            net = prev
        steps.reverse()
        kinds = dict(collections.Counter(k for _, _, k in steps[1:]))
        paths.append(Path(round(ns, 2), len(steps) - 1, steps[0][1], f"{names.get(b, b)} ({cells[cn]['type']}.{p})",
                          kinds, steps))
    return paths


def _group(name):
    """A net name without its bit indices and Yosys' numbered suffixes, and without the mapped cells' names."""
    return re.sub(r"\d+", "#", re.sub(r"_(TRELLIS|LUT4|CCU2C|PFUMX|MULT18X18D)_.*", "", name))


def format_paths(paths, n=20):
    """The ``n`` longest path groups, a line each."""
    lines, seen = [], set()
    for p in paths:
        key = (_group(p.start), _group(p.end))
        if key in seen:
            continue
        seen.add(key)
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(p.kinds.items(), key=lambda kv: -kv[1]))
        lines.append(f"{p.ns:6.1f} ns  {p.cells:3d} cells  {p.start}  ->  {p.end}  [{kinds}]")
        if len(lines) == n:
            break
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m systolica.netlist_timing", description=__doc__.splitlines()[0])
    ap.add_argument("netlist", help="a synth_ecp5 JSON netlist (build/fpga/<...>/synth/systolica_board.json)")
    ap.add_argument("--top", type=int, default=20, help="path groups to print (default: %(default)s)")
    args = ap.parse_args(argv)
    try:
        paths = longest_paths(args.netlist)
    except (OSError, ValueError, KeyError) as e:
        ap.error(f"cannot read the netlist {args.netlist!r}: {e}")
    print(format_paths(paths, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
