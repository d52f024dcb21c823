"""Real all-MiniLM-L6-v2 tensors for the hardware tests: layer 0's integer dump on a 32-token input, pickled.

Quantizing the model takes seconds, so the file is made once (``build/vectors/``) and read by the cocotb tests
(``sim.nl_job``'s ``minilm`` case).
"""
import fcntl
import pickle

from .runner import BUILD_ROOT

__all__ = ["SEQ", "vectors_path", "load"]

SEQ = 32
_KEYS = ("input", "acc_q", "q", "scores", "probs", "residual1", "ln1", "ffn1", "gelu_in", "gelu", "constants")


def vectors_path():
    """Path of the pickle (made on first use; safe under pytest-xdist)."""
    path = BUILD_ROOT / "vectors" / f"minilm-layer0-seq{SEQ}.pkl"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            from golden.encoder import tokens_of_length
            from golden.encoder import minilm_encoder

            enc = minilm_encoder()
            dumps = []
            enc.forward(tokens_of_length(enc.model, SEQ), n_layers=1, dumps=dumps)
            vec = {"dump": {k: dumps[0][k] for k in _KEYS}, "gelu_in_bits": enc.spec.gelu_in_bits,
                   "qkv_bits": enc.spec.qkv_bits}
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps(vec))
            tmp.rename(path)
    return path


def load():
    """The pickled dict: ``dump`` (layer 0's tensors and ``constants``), ``gelu_in_bits``, ``qkv_bits``."""
    return pickle.loads(vectors_path().read_bytes())
