"""Simulator-independent description of a tile-engine job: memory images, commands and the expected result.

A job places A (K-block-major for "ws", transposed per row block for "os"), B and C regions in the
scratchpad/accumulator as ``hw.execute`` documents, and computes the expected accumulator rows with
``golden.matmul`` and the expected timing with ``golden.cycles``. The cocotb TB and the Amaranth-simulator
bench both consume it.

:data:`CASES` is the one list of tile-engine test cases: ``sim.cocotb_tile`` makes a cocotb test of each and
``tests/hw/test_tile.py`` a pytest case of each, importing this module without a simulator.
"""
import dataclasses
import os

import numpy as np

from golden import cycles
from golden.matmul import check_int_matrix, matmul

__all__ = ["MatmulOp", "Job", "a_rows", "a_rows_os", "a_region", "b_rows", "CASES"]


@dataclasses.dataclass
class MatmulOp:
    """``C[c_addr:c_addr+M, :N] (+)= A @ B`` with A at ``a_addr`` and B at ``b_addr`` in the scratchpad."""
    a: np.ndarray
    b: np.ndarray
    a_addr: int
    b_addr: int
    c_addr: int
    accumulate: bool

    @property
    def rows(self):
        return self.a.shape[0]

    @property
    def k(self):
        return self.a.shape[1]

    @property
    def cols(self):
        return self.b.shape[1]

    def tile_op(self):
        return cycles.TileOp(rows=self.rows, k=self.k, cols=self.cols)


def a_rows(a, dim):
    """Scratchpad rows holding A, K-block-major, zero-padded on the right: ``[(offset, row)]``."""
    m, k = a.shape
    kb = -(-k // dim)
    pad = np.zeros((m, kb * dim), dtype=np.int64)
    pad[:, :k] = a
    return [(blk * m + i, pad[i, blk * dim:(blk + 1) * dim]) for blk in range(kb) for i in range(m)]


def a_rows_os(a, dim):
    """Scratchpad rows holding A for the output-stationary unit: per row block, ``A[rb*dim:(rb+1)*dim, k]``
    for each k (rows past M are zero): ``[(offset, row)]``."""
    m, k = a.shape
    rb = -(-m // dim)
    pad = np.zeros((rb * dim, k), dtype=np.int64)
    pad[:m] = a
    return [(blk * k + kk, pad[blk * dim:(blk + 1) * dim, kk]) for blk in range(rb) for kk in range(k)]


def a_region(rows, k, config):
    """Scratchpad rows an A operand of ``rows x k`` occupies in ``config``'s dataflow."""
    n = config.dim
    return -(-rows // n) * k if config.dataflow == "os" else -(-k // n) * rows


def b_rows(b, dim):
    """Scratchpad rows holding B (row k is ``B[k, :]`` padded to ``dim`` columns with zeros)."""
    k, n = b.shape
    pad = np.zeros((k, dim), dtype=np.int64)
    pad[:, :n] = b
    return [(i, pad[i]) for i in range(k)]


class Job:
    """A list of :class:`MatmulOp` on one configuration, with the golden result."""

    def __init__(self, config, ops):
        self.cfg = config
        self.ops = list(ops)
        n = config.dim
        acc = {}  # accumulator row -> int64 array (unknown columns stay unchecked)
        self.spad = {}
        for op in self.ops:
            check_int_matrix("a", op.a, config.input_width)
            check_int_matrix("b", op.b, config.weight_width)
            if op.a.shape[1] != op.b.shape[0]:
                raise ValueError(f"a is {op.a.shape} but b is {op.b.shape}")
            if not 1 <= op.cols <= n:
                raise ValueError(f"b has {op.cols} columns; a tile has 1..{n}")
            op.tile_op().check(config)
            layout = a_rows_os(op.a, n) if config.dataflow == "os" else a_rows(op.a, n)
            for base, size, rows in ((op.a_addr, a_region(op.rows, op.k, config), layout),
                                     (op.b_addr, op.k, b_rows(op.b, n))):
                if base < 0 or base + size > config.spad_rows:
                    raise ValueError(f"scratchpad rows {base}..{base + size - 1} are outside "
                                     f"0..{config.spad_rows - 1}")
                for off, row in rows:
                    old = self.spad.get(base + off)
                    if old is not None and not np.array_equal(old, row):
                        raise ValueError(f"scratchpad row {base + off} is used by two operands")
                    self.spad[base + off] = row
            if op.c_addr < 0 or op.c_addr + op.rows > config.acc_rows:
                raise ValueError(f"accumulator rows {op.c_addr}..{op.c_addr + op.rows - 1} are outside "
                                 f"0..{config.acc_rows - 1}")
            prev = None
            if op.accumulate:
                prev = np.stack([acc.get(op.c_addr + i, np.zeros(n, np.int64))[:op.cols]
                                 for i in range(op.rows)])
            res = matmul(op.a, op.b, prev, acc_bits=config.acc_width, a_bits=config.input_width)
            for i in range(op.rows):
                row = acc.get(op.c_addr + i, np.zeros(n, np.int64)).copy()
                row[:op.cols] = res[i]
                acc[op.c_addr + i] = row
        self.expected = acc
        self.checked_cols = {}
        for op in self.ops:
            for i in range(op.rows):
                a = op.c_addr + i
                self.checked_cols[a] = max(self.checked_cols.get(a, 0), op.cols)

    def tile_ops(self):
        return [op.tile_op() for op in self.ops]

    def read_ranges(self):
        """Contiguous accumulator ranges ``(addr, count)`` covering every written row."""
        addrs = sorted(self.expected)
        ranges = []
        for a in addrs:
            if ranges and ranges[-1][0] + ranges[-1][1] == a:
                ranges[-1][1] += 1
            else:
                ranges.append([a, 1])
        return [tuple(r) for r in ranges]


# ---- the cases: name -> ``(config, numpy Generator) -> [MatmulOp]`` ----------------------------------------------
CASES = {}


def _case(fn):
    CASES[fn.__name__] = fn
    return fn


def _place(cfg, shapes_and_data, *, c_addrs=None, accumulate=None):
    """Lay out operands one after another in the scratchpad; C tiles at ``c_addrs`` (default: stacked)."""
    ops, sp, cp = [], 0, 0
    for i, (a, b) in enumerate(shapes_and_data):
        size = a_region(a.shape[0], a.shape[1], cfg)
        c_addr = c_addrs[i] if c_addrs else cp
        acc = accumulate[i] if accumulate else False
        ops.append(MatmulOp(a=a, b=b, a_addr=sp, b_addr=sp + size, c_addr=c_addr, accumulate=acc))
        sp += size + a.shape[1]
        cp += a.shape[0]
    return ops


def _rand(rng, cfg, m, k, n):
    ia = 1 << (cfg.input_width - 1)
    return rng.integers(-ia, ia, (m, k)), rng.integers(-128, 128, (k, n))


@_case
def random_shapes(cfg, rng):
    """Random M, K, N (mostly not multiples of dim: padding), random overwrite/accumulate onto shared C."""
    n = cfg.dim
    pairs, caddrs, accs = [], [], []
    for _ in range(6):
        m, k, c = int(rng.integers(1, 2 * n + 1)), int(rng.integers(1, 3 * n + 2)), int(rng.integers(1, n + 1))
        pairs.append(_rand(rng, cfg, m, k, c))
        caddrs.append(int(rng.integers(0, n)))
        accs.append(bool(rng.integers(0, 2)))
    return _place(cfg, pairs, c_addrs=caddrs, accumulate=accs)


@_case
def k_1(cfg, rng):
    return _place(cfg, [_rand(rng, cfg, cfg.dim, 1, cfg.dim)])


@_case
def k_4096(cfg, rng):
    return _place(cfg, [_rand(rng, cfg, cfg.dim, 4096, cfg.dim)])


@_case
def all_min(cfg, rng):
    """All -128 (and the activation minimum): the largest positive accumulations."""
    n, lo = cfg.dim, -(1 << (cfg.input_width - 1))
    k = 4 * n + 3
    return _place(cfg, [(np.full((n, k), lo), np.full((k, n), -128))])


@_case
def all_max(cfg, rng):
    n, hi = cfg.dim, (1 << (cfg.input_width - 1)) - 1
    k = 4 * n + 1
    return _place(cfg, [(np.full((n, k), hi), np.full((k, n), 127)), (np.full((n, k), hi), np.full((k, n), -128))])


@_case
def zeros(cfg, rng):
    n = cfg.dim
    a, b = _rand(rng, cfg, n, 2 * n, n)
    # First fill C with something, then overwrite with a zero product: zeros must really be written.
    return _place(cfg, [(a, b), (np.zeros((n, 2 * n), np.int64), np.zeros((2 * n, n), np.int64))],
                  c_addrs=[0, 0], accumulate=[False, False])


@_case
def identity(cfg, rng):
    n = cfg.dim
    a, _ = _rand(rng, cfg, 2 * n + 1, n, n)
    return _place(cfg, [(a, np.eye(n, dtype=np.int64))])


@_case
def accumulate_vs_overwrite(cfg, rng):
    n = cfg.dim
    p = [_rand(rng, cfg, n + 1, 2 * n - 1, n) for _ in range(4)]
    return _place(cfg, p, c_addrs=[2, 2, 2, 2], accumulate=[True, True, False, True])


@_case
def back_to_back(cfg, rng):
    """Back-to-back dim x dim tiles with K = 384 (the utilization target), reusing A and B; ``SYSTOLICA_TILES``
    tiles (default 8; the bench sets more)."""
    n = cfg.dim
    a, b = _rand(rng, cfg, n, 384, n)
    return [MatmulOp(a=a, b=b, a_addr=0, b_addr=a_region(n, 384, cfg), c_addr=i * n, accumulate=False)
            for i in range(int(os.environ.get("SYSTOLICA_TILES", "8")))]
