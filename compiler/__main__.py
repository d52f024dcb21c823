"""``python -m compiler [seq ...]``: print the per-layer report (DIM 16, the model's activation width)."""
import sys

from . import report

report(seqs=tuple(int(a) for a in sys.argv[1:]) or (32, 128))
