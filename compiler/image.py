"""The memory image of a compiled program: one bytearray and a map of named regions.

Formats (all little-endian):

weights ``w.<layer>.<name>``
    A QuantLinear's ``w_t`` (K x N) int8 in the scratchpad B layout, column block by column block: block ``cb``
    row ``k`` (``W[k, cb*dim:(cb+1)*dim]``, zero-padded) at ``addr + (cb*K + k)*dim``. Any run of consecutive
    rows of one block, or of whole consecutive blocks, is one LOAD (stride ``dim``).
biases ``b.<layer>.<name>``
    int32 accumulator lines: line ``cb`` (columns ``cb*dim ...``) at ``addr + cb*dim*4``; a LOAD with stride 0
    replicates it to every row of a column block.
constants ``lane.*`` / ``cols.*``
    64-byte lane-constant blocks (``golden.nlops.pack_lane_consts``) and 16-byte column-table entries
    (``golden.nlops.pack_col_entries``), one per NL op kind and layer.
activations ``input`` / ``output``
    ``seq x hidden`` int16 in the tile-major A layout: tile ``t`` (``T`` rows, the last ``Tt``), K block ``kb``,
    row ``m`` at line ``t*KB*T + kb*Tt + m`` of ``dim`` elements (:func:`a_layout_index`).
scratch ``scratch.*``
    int32 accumulator lines written by STORE and read back by LOAD (unfused schedules).
program ``program``
    The instructions (32 bytes each), placed last.
"""
import numpy as np

__all__ = ["MemoryImage", "b_layout", "bias_lines", "a_layout_index", "to_a_layout", "from_a_layout"]

ALIGN = 64


class MemoryImage:
    """A growing bytearray with named, aligned regions; identical constant blobs are stored once."""

    def __init__(self):
        self.data = bytearray()
        self.regions = {}
        self._blobs = {}

    def reserve(self, name, size):
        """Zero-filled region ``name`` of ``size`` bytes; returns its address."""
        if name in self.regions:
            raise ValueError(f"memory region {name!r} already exists")
        addr = -(-len(self.data) // ALIGN) * ALIGN
        self.data += bytes(addr + size - len(self.data))
        self.regions[name] = (addr, size)
        return addr

    def add(self, name, blob, dedupe=False):
        """Region ``name`` holding ``blob``; with ``dedupe``, a blob already stored is reused."""
        blob = bytes(blob)
        if dedupe and blob in self._blobs:
            addr = self._blobs[blob]
            self.regions.setdefault(name, (addr, len(blob)))
            return addr
        addr = self.reserve(name, len(blob))
        self.data[addr:addr + len(blob)] = blob
        if dedupe:
            self._blobs[blob] = addr
        return addr

    def addr(self, name):
        return self.regions[name][0]

    def layout(self):
        """``{name: (address, size)}`` sorted by address."""
        return dict(sorted(self.regions.items(), key=lambda kv: kv[1][0]))


def b_layout(w_t, dim):
    """int8 bytes of ``w_t`` (K x N) in the B layout (column-block-major, ``dim`` bytes per row)."""
    w = np.asarray(w_t, dtype=np.int64)
    k, n = w.shape
    if w.min() < -128 or w.max() > 127:
        raise ValueError(f"weights must be int8, found {int(w.min())}..{int(w.max())}")
    nb = -(-n // dim)
    pad = np.zeros((k, nb * dim), dtype=np.int8)
    pad[:, :n] = w
    return pad.reshape(k, nb, dim).transpose(1, 0, 2).tobytes()


def bias_lines(bias, dim):
    """int32 accumulator lines of a bias vector (one line per column block, zero-padded)."""
    b = np.asarray(bias, dtype=np.int64)
    nb = -(-len(b) // dim)
    out = np.zeros(nb * dim, dtype=np.int64)
    out[:len(b)] = b
    if out.min() < -(1 << 31) or out.max() >= 1 << 31:
        raise ValueError("bias does not fit int32")
    return out.astype("<i4").tobytes()


def a_layout_index(seq, width, tile, dim):
    """Line index of every ``(row, column block)`` of a ``seq x width`` tensor in the tile-major A layout."""
    kb = width // dim
    idx = np.empty((seq, kb), dtype=np.int64)
    for t0 in range(0, seq, tile):
        tt = min(tile, seq - t0)
        m = np.arange(tt)[:, None]
        idx[t0:t0 + tt] = (t0 // tile) * kb * tile + np.arange(kb)[None, :] * tt + m
    return idx


def to_a_layout(x, tile, dim):
    """Lines (``seq*KB`` x ``dim``) of ``x`` (seq x width) in the tile-major A layout."""
    seq, width = x.shape
    if width % dim:
        raise ValueError(f"width {width} is not a multiple of dim={dim}")
    out = np.zeros((seq * (width // dim), dim), dtype=np.int64)
    out[a_layout_index(seq, width, tile, dim).ravel()] = np.asarray(x).reshape(seq * (width // dim), dim)
    return out


def from_a_layout(lines, seq, width, tile, dim):
    """Inverse of :func:`to_a_layout`."""
    idx = a_layout_index(seq, width, tile, dim)
    return np.asarray(lines)[idx.ravel()].reshape(seq, width)
