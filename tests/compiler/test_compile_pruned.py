"""The compiler on pruned models: layers of different head counts, FFN widths and windows in one program, run on
the ISA model bit-exactly against golden/'s integer encoder of the pruned model."""
import numpy as np
import pytest

from compiler import compile_encoder
from compiler.plan import LayerDims, Options
from golden.config import AcceleratorConfig
from golden.encoder import quantize_model, tokens_of_length
from golden.model import load_model
from golden.prune import Variant, prune


@pytest.mark.parametrize("variant", [
    Variant((12, 8, 6), (1536, 768, 1024), (None, 4, None)),
    Variant((3, 3), (64, 64), (None, None)),
])
def test_pruned_encoder_bit_exact(variant):
    m = load_model("minilm")
    enc = quantize_model(prune(m, variant))
    cfg = AcceleratorConfig(dim=8, input_width=12)
    ids = tokens_of_length(m, 16)
    prog = compile_encoder(enc, cfg, ids, options=Options(fuse_ffn2_layernorm=True), windows=list(variant.windows))
    out, _ = prog.run()
    np.testing.assert_array_equal(out, enc.forward(ids, windows=list(variant.windows))[-1])
    assert prog.plan.dims.heads == max(variant.heads) and prog.plan.dims.ffn == max(variant.ffn)


def test_envelope_refuses_different_hidden():
    with pytest.raises(ValueError, match="layers differ in hidden: 384 and 768"):
        LayerDims.envelope([LayerDims(384, 12, 1536, 12), LayerDims(768, 12, 1536, 12)])
