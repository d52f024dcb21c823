"""golden/ against public references: sentence-transformers (float model) and HF I-BERT (integer kernels).

Optional: needs the `crosscheck` extra (torch 2.13.0 CPU, transformers, sentence-transformers); run with
`make crosscheck`. The default install stays torch-free, and `make test` deselects the `crosscheck` marker.
"""
import numpy as np
import pytest

pytestmark = pytest.mark.crosscheck
torch = pytest.importorskip("torch")
qm = pytest.importorskip("transformers.models.ibert.quant_modules")

from golden.encoder import read_sentences  # noqa: E402
from golden.evaluate import cosine  # noqa: E402
from golden.gelu import GeluConstants, i_gelu  # noqa: E402
from golden.layernorm import LayerNormConstants, i_layernorm  # noqa: E402
from golden.model import _model_dir, load_minilm  # noqa: E402
from golden.softmax import SoftmaxConstants, i_softmax  # noqa: E402

T = lambda a: torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64)


def within_one_lsb(ours, theirs):
    """Fraction of elements that differ by at most one output LSB."""
    return float(np.mean(np.abs(np.asarray(ours) - np.asarray(theirs)) <= 1))


def test_float_reference_matches_sentence_transformers():
    st = pytest.importorskip("sentence_transformers")
    ref = st.SentenceTransformer(str(_model_dir()), device="cpu")
    model = load_minilm()
    sentences = read_sentences("evaluation")[:12]
    theirs = ref.encode(sentences, normalize_embeddings=False, convert_to_numpy=True)
    worst = min(cosine(model.sentence_embedding(s), t) for s, t in zip(sentences, theirs))
    assert worst >= 0.9999, worst


@pytest.mark.parametrize("erf_shift", [None, 14])
def test_gelu_matches_ibert(erf_shift):
    s_in, s_out, bits = 10.0 / 32767, 10.0 / 127, 16
    q = np.arange(-2**15, 2**15)
    k = GeluConstants.from_scales(s_in, s_out, bits, 8, erf_shift=erf_shift)
    y, _ = qm.IntGELU(quant_mode=True)(T(q * s_in), T([s_in]))
    theirs = np.clip(np.round(y.numpy() / s_out), -128, 127)
    assert within_one_lsb(i_gelu(q, k), theirs) >= 0.999


def test_softmax_matches_ibert():
    rng = np.random.default_rng(0)
    s = 2e-3
    x = rng.integers(-6000, 6000, (64, 128))
    x[0] = 77                    # an all-equal row
    x[1, 3] = 20000              # a row dominated by one element
    sm = qm.IntSoftmax(output_bit=8, quant_mode=True)
    p, _ = sm(T(x * s), T([s]))
    theirs = np.round(p.numpy() * 256)
    assert within_one_lsb(i_softmax(x, SoftmaxConstants.from_scale(s)), theirs) >= 0.999


def test_layernorm_matches_ibert():
    rng = np.random.default_rng(1)
    n = 384
    g, b = rng.normal(1, 0.3, n), rng.normal(0, 0.5, n)
    xf = rng.normal(0, 3, (64, n))
    xf[:, 7] = 40.0              # an outlier channel, as in BERT's residual stream
    s_in = np.abs(xf).max() / (2**21 - 1)
    x = np.round(xf / s_in).astype(np.int64)
    ln = qm.IntLayerNorm(n, 1e-12, output_bit=8, quant_mode=True)
    ln.weight.data, ln.bias.data = T(g), T(b)
    ln.train()
    y, _ = ln(T(x[None] * s_in), T([s_in]))
    s_out = float(np.abs(y.detach().numpy()).max()) / 127
    theirs = np.clip(np.round(y.detach().numpy()[0] / s_out), -128, 127)
    ours = i_layernorm(x, LayerNormConstants.from_params(g, b, s_out, 22, 8))
    assert within_one_lsb(ours, theirs) >= 0.999
