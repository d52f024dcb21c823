"""The activation lanes' operand widths (``golden.nlops.lane_intervals``) hold for every constant golden/ makes.

The lanes compute each op as a fixed sequence of steps (``hw.lanes``). This test runs the same steps in NumPy on
constants from golden/'s own constructors (random scales, real-looking and extreme inputs) and checks that

- every intermediate lies in its interval, so the hardware's narrow signals never truncate;
- the saturations golden/ defines (GELU's erf, LayerNorm's z) never act on such constants;
- the steps compute exactly what the machine's ``lane_op`` computes (the decomposition is exact).
"""
import numpy as np
from hypothesis import assume, given, settings, strategies as st

from golden import nlops
from golden.gelu import ERF_BITS, GeluConstants
from golden.layernorm import RECIP_BITS as LN_RECIP_BITS, Z_BITS, LayerNormConstants, layernorm_stats
from golden.machine import lane_op
from golden.numerics import Dyadic, int_range, round_shift
from golden.ops import ResidualConstants
from golden.softmax import CLAMP_Q, EXP_BITS, LUT_F, LUT_L, LUT_TH, LUT_TL, RECIP_BITS, SoftmaxConstants
from golden.isqrt import reciprocal
from golden.nlops import LaneOp

ACC, INP = 32, 16
IV = nlops.lane_intervals(ACC, INP)
IV_LUT = nlops.lane_intervals(ACC, INP, "lut")


class Trace:
    """Collects each named intermediate's range over all the values seen."""

    def __init__(self, iv=IV):
        self.seen = {}
        self.iv = iv

    def __call__(self, name, values):
        v = np.asarray(values)
        lo, hi = self.seen.get(name, (0, 0))
        self.seen[name] = (min(lo, int(v.min())), max(hi, int(v.max())))
        return values

    def check(self):
        for name, (lo, hi) in self.seen.items():
            want = self.iv[name]
            assert want[0] <= lo and hi <= want[1], f"{name} reached [{lo}, {hi}], outside {want}"


def _table(cols, n):
    return {f: np.asarray(getattr(cols, f), dtype=np.int64)[:n] for f in ("m1", "m3", "b")}


def _u1(tr, x, y, k, t, lo, hi):
    u1 = tr("u1", x * t["m1"] + y * k["mb"])
    return tr("g", np.clip(round_shift(u1, k["s1"]), lo, hi))


def _u3(tr, u, k, t, shift=None):
    m = t["m3"] if k["col_mult"] else np.int64(k["m3"])
    b = t["b"] if k["col_mult"] else np.int64(0)
    tr("u3_a", u), tr("u3_b", np.broadcast_to(m, u.shape))
    p = tr("u3", u * m + b)
    return np.clip(round_shift(p, k["s3"] if shift is None else shift), k["lo3"], k["hi3"])


def gelu_steps(tr, x, k, t):
    glo, ghi = int_range(nlops.MAX_GELU_IN_BITS)
    g = _u1(tr, x, 0, k, t, max(k["lo1"], glo), min(k["hi1"], ghi))
    a = tr("s2_a", tr("s2_b", np.minimum(np.abs(g), -k["gelu_b"]) + k["gelu_b"]))
    poly = tr("poly", a * a + k["gelu_c"])
    erf = np.right_shift(np.sign(g) * poly, k["erf_shift"])
    assert int(np.abs(erf).max()) <= 1 << ERF_BITS, "the erf saturation acted on from_scales constants"
    e1 = tr("erf_one", erf + k["gelu_one"])
    tr("u3_a", g), tr("u3_b", e1)
    tt = tr("t", tr("m4_a", g * e1))
    tr("m4_b", np.int64(k["m3"]))
    return np.clip(round_shift(tr("m4", tt * k["m3"]), k["s3"]), k["lo3"], k["hi3"])


def _exp_reduction(x, k):
    """The exp's range reduction of a softmax row (both implementations): ``q``, ``r`` of ``d = xs - max``."""
    pre = k["pre_shift"]
    xs = np.right_shift(x, pre) if pre >= 0 else np.left_shift(x, -pre)
    d = np.maximum(xs - xs.max(axis=1, keepdims=True), CLAMP_Q * k["x0"])
    q = np.floor_divide(d, k["x0"])
    return q, d - k["x0"] * q


def _softmax_out(tr, e):
    """U4: the exps times the row's reciprocal, to 8 bits."""
    f = reciprocal(e.sum(axis=1, keepdims=True), RECIP_BITS)
    tr("m4_a", f), tr("m4_b", e)
    return np.clip(round_shift(tr("m4", e * f), nlops.SOFTMAX_SHIFT), 0, 255)


def softmax_steps(tr, x, k, t):
    q, r = _exp_reduction(x, k)
    rb = tr("s2_a", r + k["exp_b"])
    tr("s2_b", r)
    z = tr("poly", rb * r + k["exp_c"])
    return _softmax_out(tr, _u3(tr, z, k, t, np.minimum(k["s3"] + q, nlops.MAX_SHIFT)))


def softmax_lut_steps(tr, x, k, t):
    """The LUT exp's steps (hw.lanes with exp_impl="lut"): S2's -r * inv + lut_c, the shifter, the tables, U3."""
    q, r = _exp_reduction(x, k)
    tr("s2_a", np.broadcast_to(np.int64(k["exp_b"]), r.shape))
    tr("s2_b", r)
    z = tr("poly", k["exp_b"] * r + k["exp_c"])
    assert int(z.min()) >= 0
    f = np.minimum(np.right_shift(z, k["erf_shift"]), (1 << LUT_F) - 1)
    th = tr("u3_a", np.asarray(LUT_TH)[f >> LUT_L])
    tl = tr("u3_b", np.asarray(LUT_TL)[f & ((1 << LUT_L) - 1)])
    return _softmax_out(tr, np.clip(round_shift(tr("u3", th * tl), np.minimum(k["s3"] + q, nlops.MAX_SHIFT)),
                                    k["lo3"], k["hi3"]))


def layernorm_steps(tr, x, y, k, t, var_shift):
    g = _u1(tr, x, y, k, t, k["lo1"], k["hi1"])
    n = g.shape[1]
    mean, _, f, kb = layernorm_stats(g, LayerNormConstants(n, int(k["hi1"]).bit_length() + 1, 63, var_shift, Dyadic(1, 0), (0,) * n))
    dl = tr("s2_a", g - mean)
    fp = tr("s2_b", f - nlops.LN_F_OFFSET)
    poly = tr("poly", dl * fp + (dl << LN_RECIP_BITS) + dl)
    z = np.right_shift(poly, kb)
    assert int(np.abs(z).max()) < 1 << (Z_BITS - 1), "the z saturation acted"
    return _u3(tr, z, k, t)


def requant_steps(tr, x, k, t):
    return _u3(tr, x, k, t)


def _acc(rng, rows, n, bits=ACC):
    """Accumulator rows: random at several magnitudes, with the extremes and an all-equal row."""
    lo, hi = int_range(bits)
    mags = rng.integers(1, bits, size=(rows, 1))
    x = rng.integers(-(1 << 62), 1 << 62, size=(rows, n)) >> (63 - mags)
    x[0, :2] = lo, hi
    x[-1] = x[-1, 0]
    return np.clip(x, lo, hi)


def _run(op, steps, x, y, lane, cols, var_shift=0, iv=IV):
    k = lane.as_dict()
    t = _table(cols, x.shape[1])
    tr = Trace(iv)
    got = steps(tr, x, k, t) if y is None else steps(tr, x, y, k, t, var_shift)
    tr.check()
    want = lane_op(op, x, y, k, {f: np.asarray(getattr(cols, f), dtype=np.int64) for f in ("m1", "m3", "b")},
                   var_shift)
    np.testing.assert_array_equal(got, want)


#: The real range a tensor's scale covers (its largest magnitude), from 1/4 to 256.
ranges = st.floats(-2, 8).map(lambda e: 2.0 ** e)


@settings(max_examples=80, deadline=None)
@given(st.integers(8, 16), st.integers(4, 16), ranges, ranges, st.integers(0, 2**32 - 1))
def test_gelu_widths(gin, out_bits, r_in, r_out, seed):
    rng = np.random.default_rng(seed)
    n = 24
    k = GeluConstants.from_scales(r_in / 2 ** (gin - 1), r_out / 2 ** (out_bits - 1), gin, out_bits)
    gelu_in = Dyadic.from_ratio(rng.uniform(0.5, 2.0, n) * 2.0 ** -rng.integers(4, 20))
    try:
        lane, cols = nlops.gelu_consts(gelu_in, gin, k, n)
    except ValueError as e:      # a scale too fine for a field: the encoder says which (never silently)
        assert "does not fit" in str(e)
        assume(False)
    _run(LaneOp.GELU, gelu_steps, _acc(rng, 8, n), None, lane, cols)


@settings(max_examples=60, deadline=None)
@given(st.floats(-24, 0).map(lambda e: 2.0 ** e), st.integers(0, 2**32 - 1))
def test_softmax_widths(s, seed):
    rng = np.random.default_rng(seed)
    k = SoftmaxConstants.from_scale(s)
    lane = nlops.softmax_consts(k)
    x = _acc(rng, 6, 40)
    x[1] = 0
    x[2] = -(1 << 31)
    x[2, 5] = (1 << 31) - 1
    cols = nlops.ColConsts.make(m3=[0] * 40)
    _run(LaneOp.SOFTMAX, softmax_steps, x, None, lane, cols)


@settings(max_examples=60, deadline=None)
@given(st.floats(-24, 0).map(lambda e: 2.0 ** e), st.integers(0, 2**32 - 1))
def test_softmax_lut_widths(s, seed):
    rng = np.random.default_rng(seed)
    lane = nlops.softmax_consts(SoftmaxConstants.from_scale(s, impl="lut"))
    x = _acc(rng, 6, 40)
    x[1] = 0
    x[2] = -(1 << 31)
    x[2, 5] = (1 << 31) - 1
    x[3] = -np.arange(40) * int(-lane["x0"]) // 7        # every q, r across the range
    cols = nlops.ColConsts.make(m3=[0] * 40)
    _run(LaneOp.SOFTMAX, softmax_lut_steps, x, None, lane, cols, iv=IV_LUT)


@settings(max_examples=60, deadline=None)
@given(st.integers(8, 24), st.integers(4, 16), st.booleans(), st.integers(0, 2**32 - 1))
def test_layernorm_widths(in_bits, out_bits, residual, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 64))
    gamma, beta = rng.normal(1, 0.5, n), rng.normal(0, 0.5, n)
    k = LayerNormConstants.from_params(gamma, beta, 2.0 ** -rng.integers(0, 10), in_bits, out_bits)
    x = _acc(rng, 8, n, in_bits)
    y = np.zeros_like(x)
    res = None
    if residual:
        s_out = 2.0 ** -rng.integers(0, 12)
        res = ResidualConstants.from_scales(s_out * rng.uniform(1e-4, 1e-2, n), s_out * rng.uniform(0.5, 2),
                                            s_out, in_bits)
        x = _acc(rng, 8, n)
        y = _acc(rng, 8, n, INP)
    lane, cols = nlops.layernorm_consts(k, res)
    _run(LaneOp.LAYERNORM, layernorm_steps, x, y, lane, cols, k.var_shift)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 32), st.booleans(), st.integers(0, 2**32 - 1))
def test_requant_widths(bits, relu, seed):
    rng = np.random.default_rng(seed)
    n = 16
    d = Dyadic.from_ratio(rng.uniform(1e-6, 1.0, n))
    lane, cols = nlops.requant_consts(d, n, bits, relu=relu)
    _run(LaneOp.REQUANT, requant_steps, _acc(rng, 8, n), None, lane, cols)


def test_widths_are_the_hardware_s():
    """The figures the lanes are built with at the default configuration (a change here is a hardware change)."""
    w = nlops.lane_widths(32, 8)
    assert nlops.lane_widths(32, 8, "lut") == w                # the LUT exp fits the poly lanes' widths
    assert (w["s2_b"], w["u3_b"], w["m4_b"]) == (18, 18, 17)     # one MULT18X18D column each
    assert (w["u3_a"], w["m4_a"]) == (34, 34)                    # two
