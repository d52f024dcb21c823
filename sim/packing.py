"""Pack and unpack the tile engine's stream payloads as integers (for any simulator).

Field offsets come from the ``lib.data`` layouts in hw/, so they are never spelled twice. Importing this
imports Amaranth (layouts only; no simulation).
"""
import numpy as np

from hw.accumulator import AccFillLayout, AccReadCmdLayout, AccRowLayout, AccWriteLayout
from hw.execute import CmdLayout
from hw.scratchpad import SpadWriteLayout

__all__ = ["Packer"]


def _fields(layout):
    return {name: (field.offset, field.width) for name, field in layout}


class Packer:
    """Integer encodings of ``cmd``, ``spad_write``, ``acc_read_cmd`` payloads and decoding of ``acc_read``."""

    def __init__(self, config):
        self.cfg = config
        self._cmd = _fields(CmdLayout(config))
        self._spw = _fields(SpadWriteLayout(config))
        self._rdc = _fields(AccReadCmdLayout(config))
        self._row = _fields(AccRowLayout(config))
        self._accw = _fields(AccWriteLayout(config))
        self._accf = _fields(AccFillLayout(config))

    @staticmethod
    def _pack(fields, **values):
        word = 0
        for name, v in values.items():
            off, width = fields[name]
            if not 0 <= v < (1 << width):
                raise ValueError(f"{name}={v} does not fit in {width} bits")
            word |= v << off
        return word

    def cmd(self, *, a_addr, b_addr, c_addr, rows, k, cols, accumulate):
        return self._pack(self._cmd, a_addr=a_addr, b_addr=b_addr, c_addr=c_addr, rows=rows, k=k, cols=cols,
                          accumulate=int(bool(accumulate)))

    def spad_row(self, addr, elems):
        """Pack one scratchpad row of ``dim`` signed ``input_width``-bit values."""
        iw = self.cfg.input_width
        mask = (1 << iw) - 1
        word = 0
        for i, e in enumerate(elems):
            word |= (int(e) & mask) << (i * iw)
        return self._pack(self._spw, addr=addr, data=word)

    def _acc_data(self, row):
        aw = self.cfg.acc_width
        word = 0
        for i, e in enumerate(row):
            word |= (int(e) & ((1 << aw) - 1)) << (i * aw)
        return word

    def acc_write(self, *, addr, row, accumulate, cols, last):
        """Pack an accumulator write (``row``: ``dim`` signed ``acc_width``-bit values)."""
        return self._pack(self._accw, addr=addr, data=self._acc_data(row), accumulate=int(bool(accumulate)),
                          cols=cols, last=int(bool(last)))

    def acc_fill(self, *, addr, row):
        """Pack an accumulator fill (a whole row overwritten)."""
        return self._pack(self._accf, addr=addr, data=self._acc_data(row))

    def acc_read_cmd(self, addr, count, stride=1):
        return self._pack(self._rdc, addr=addr, count=count, stride=stride)

    def acc_row(self, word):
        """Decode an ``acc_read`` payload into (int64 row of ``dim`` signed values, last)."""
        off, width = self._row["data"]
        d = (word >> off) & ((1 << width) - 1)
        aw = self.cfg.acc_width
        vals = []
        for i in range(self.cfg.dim):
            v = (d >> (i * aw)) & ((1 << aw) - 1)
            vals.append(v - (1 << aw) if v >> (aw - 1) else v)
        off, _ = self._row["last"]
        return np.array(vals, dtype=np.int64), (word >> off) & 1
