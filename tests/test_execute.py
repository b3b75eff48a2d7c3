"""Execution kernels against a naive loop reference written here, never against themselves.

The reference loops over batch, output positions and kernel taps in Python, skips taps that
fall in the padding (no padded copy, no im2col, no einsum), and takes its output size from
the formula of docs/conventions.md, written out again below.
"""

from __future__ import annotations

import itertools
import tracemalloc
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sepconv_cli.counting.lowering import Forms
from sepconv_cli.counting.network import build
from sepconv_cli.counting.ops import (
    Add,
    BatchNorm,
    Conv,
    ConvRole,
    Dense,
    Pool,
)
from sepconv_cli.counting.shapes import resolve_padding
from sepconv_cli.errors import RuntimeFailure
from sepconv_cli.execution import depthwise, workers
from sepconv_cli.execution.kernels import (
    Chain,
    UnsupportedDtypeError,
    estimate_bytes,
    prepare,
    prepare_chain,
    run_form,
)
from sepconv_cli.execution.memory import MemoryGuardError, check_memory, default_memory_limit
from sepconv_cli.execution.timing import TimingSettings, time_forms
from sepconv_cli.spec.presets import resolve_model
from sepconv_cli.units import human_bytes

Array = np.ndarray[Any, Any]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- naive reference


def out_len(n: int, k: int, s: int, d: int, pad: tuple[int, int]) -> int:
    return (n + pad[0] + pad[1] - d * (k - 1) - 1) // s + 1


def ref_conv(
    x: Array,
    w: Array,
    b: Array | None,
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    groups: int,
) -> Array:
    """Grouped convolution, HWIO weights ``(*k, Cin/g, Cout)``, one tap at a time."""
    n_, *spatial, _ = x.shape
    kernel = w.shape[:-2]
    cg, cout = w.shape[-2], w.shape[-1]
    og = cout // groups
    outs = [
        out_len(n, k, s, d, p)
        for n, k, s, d, p in zip(spatial, kernel, stride, dilation, pads, strict=True)
    ]
    out = np.zeros((n_, *outs, cout), dtype=np.float64)
    for n in range(n_):
        for pos in itertools.product(*(range(o) for o in outs)):
            acc = np.zeros(cout)
            for tap in itertools.product(*(range(k) for k in kernel)):
                src = [
                    p * s - pb + t * d
                    for p, s, (pb, _), t, d in zip(pos, stride, pads, tap, dilation, strict=True)
                ]
                if any(i < 0 or i >= size for i, size in zip(src, spatial, strict=True)):
                    continue  # a padded zero
                xv = x[tuple([n, *src])].astype(np.float64)
                for g in range(groups):
                    ins, outs_ = slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)
                    acc[outs_] += xv[ins] @ w[tap][:, outs_]
            out[tuple([n, *pos])] = acc
    if b is not None:
        out += b
    return out


def ref_depthwise(
    x: Array,
    w: Array,
    b: Array | None,
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
) -> Array:
    """Depthwise, weights ``(*k, C, M)``, output channel ``c*M + m``: position by position
    and tap by tap, each tap adding ``x[c] * w[tap][c, m]`` for every (c, m) at once (float64,
    taps summed in order)."""
    n_, *spatial, c_ = x.shape
    kernel = w.shape[:-2]
    mult = w.shape[-1]
    outs = [
        out_len(n, k, s, d, p)
        for n, k, s, d, p in zip(spatial, kernel, stride, dilation, pads, strict=True)
    ]
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    out = np.zeros((n_, *outs, c_ * mult))
    for n in range(n_):
        for pos in itertools.product(*(range(o) for o in outs)):
            total = np.zeros((c_, mult))
            for tap in itertools.product(*(range(k) for k in kernel)):
                src = [
                    p * s - pb + t * d
                    for p, s, (pb, _), t, d in zip(pos, stride, pads, tap, dilation, strict=True)
                ]
                if all(0 <= i < size for i, size in zip(src, spatial, strict=True)):
                    total += x64[tuple([n, *src])][:, None] * w64[tap]
            out[tuple([n, *pos])] = total.reshape(-1)  # (c, m) -> channel c*M + m
    if b is not None:
        out += b
    return out


def ref_pool(
    x: Array,
    kind: str,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
) -> Array:
    """Max or average over the real (unpadded) elements of each window."""
    n_, *spatial, c_ = x.shape
    ones = (1,) * len(kernel)
    outs = [
        out_len(n, k, s, 1, p) for n, k, s, p in zip(spatial, kernel, stride, pads, strict=True)
    ]
    out = np.zeros((n_, *outs, c_))
    for n in range(n_):
        for pos in itertools.product(*(range(o) for o in outs)):
            vals = []
            for tap in itertools.product(*(range(k) for k in kernel)):
                src = [
                    p * s - pb + t for p, s, (pb, _), t in zip(pos, stride, pads, tap, strict=True)
                ]
                if all(0 <= i < size for i, size in zip(src, spatial, strict=True)):
                    vals.append(x[tuple([n, *src])])
            stack = np.array(vals, dtype=np.float64)
            out[tuple([n, *pos])] = stack.max(axis=0) if kind == "max" else stack.mean(axis=0)
    del ones
    return out


def run_conv(
    op: Conv,
    batch: int,
    dtype: str = "float64",
    seed: int = 0,
    threads: int = 1,
    split: bool | None = None,
) -> tuple[Array, Array]:
    """(executed, reference) for ``op`` on the kernel's own random input and weights."""
    prep = prepare(op, batch, dtype, rng(seed), threads=threads, split=split)
    got = np.array(prep.checked(), dtype=np.float64)
    x, w, b = prep.x, prep.weights["w"], prep.weights.get("b")
    if op.groups == op.in_channels and op.groups > 1:
        want = ref_depthwise(x, w, b, op.stride, op.dilation, op.pads)
    else:
        want = ref_conv(x, w, b, op.stride, op.dilation, op.pads, op.groups)
    return got, want


def conv(
    in_shape: tuple[int, ...],
    cout: int,
    kernel: tuple[int, ...],
    *,
    stride: tuple[int, ...] | None = None,
    dilation: tuple[int, ...] | None = None,
    padding: str | tuple[int, ...] = "valid",
    groups: int = 1,
    bias: bool = False,
    role: ConvRole = "conv",
) -> Conv:
    rank = len(kernel)
    stride = stride or (1,) * rank
    dilation = dilation or (1,) * rank
    pads = resolve_padding(padding, in_shape[:-1], kernel, stride, dilation)
    return Conv(in_shape, cout, kernel, stride, dilation, pads, groups=groups, bias=bias, role=role)


# --------------------------------------------------------------------------- convolutions

CONV_CASES = [
    # 1D, 2D, 3D; valid / same (asymmetric) / explicit; stride; dilation; groups; bias
    pytest.param(conv((9, 3), 4, (3,)), 2, id="1d-valid-batch2"),
    pytest.param(conv((10, 2), 3, (4,), stride=(3,), padding="same"), 1, id="1d-same-s3"),
    pytest.param(
        conv((8, 4), 6, (3,), dilation=(2,), padding=(2,), groups=2, bias=True),
        2,
        id="1d-dilated-grouped-bias",
    ),
    pytest.param(conv((7, 6, 3), 5, (3, 3)), 1, id="2d-valid"),
    pytest.param(
        conv((8, 8, 3), 4, (3, 3), stride=(2, 2), padding="same"), 2, id="2d-same-s2-asymmetric"
    ),
    pytest.param(
        conv((7, 9, 2), 3, (3, 2), stride=(2, 3), padding=(1, 2), bias=True),
        1,
        id="2d-explicit-rect",
    ),
    pytest.param(
        conv((9, 9, 2), 2, (3, 3), dilation=(2, 3), padding="same"), 1, id="2d-dilated-same"
    ),
    pytest.param(conv((6, 6, 6), 9, (3, 3), groups=3, padding="same"), 2, id="2d-groups3"),
    pytest.param(conv((5, 5, 4), 6, (1, 1), role="pointwise"), 2, id="2d-pointwise"),
    pytest.param(
        conv((6, 7, 4), 3, (1, 1), stride=(2, 2), bias=True, role="pointwise"),
        1,
        id="2d-pointwise-s2-bias",
    ),
    pytest.param(
        conv((6, 6, 4), 4, (1, 1), groups=2, role="pointwise"), 1, id="2d-pointwise-grouped"
    ),
    pytest.param(
        conv((5, 4, 6, 2), 3, (2, 3, 2), stride=(1, 2, 2), padding="same"), 1, id="3d-same"
    ),
    pytest.param(
        conv((4, 5, 5, 2), 2, (3, 2, 2), dilation=(1, 2, 1), padding=(1, 1, 0), bias=True),
        2,
        id="3d-dilated-explicit",
    ),
]

DEPTHWISE_CASES = [
    pytest.param(conv((9, 3), 3, (3,), groups=3, padding="same", role="depthwise"), 2, id="dw-1d"),
    pytest.param(
        conv((10, 4), 8, (3,), stride=(2,), groups=4, role="depthwise"), 1, id="dw-1d-M2-s2"
    ),
    pytest.param(
        conv((8, 8, 4), 4, (3, 3), groups=4, padding="same", role="depthwise"), 2, id="dw-2d-same"
    ),
    pytest.param(
        conv((8, 8, 4), 4, (3, 3), stride=(2, 2), groups=4, padding="same", role="depthwise"),
        1,
        id="dw-2d-s2-asymmetric-phased",
    ),
    pytest.param(
        conv(
            (9, 11, 3),
            3,
            (3, 5),
            stride=(3, 3),
            groups=3,
            padding="same",
            bias=True,
            role="depthwise",
        ),
        1,
        id="dw-2d-s3-k5-bias",
    ),
    pytest.param(
        conv((9, 9, 2), 6, (3, 3), dilation=(2, 2), groups=2, padding="same", role="depthwise"),
        2,
        id="dw-2d-M3-dilated",
    ),
    pytest.param(
        conv(
            (9, 10, 2),
            4,
            (3, 3),
            stride=(2, 2),
            dilation=(1, 2),
            groups=2,
            padding=(1, 2),
            role="depthwise",
        ),
        1,
        id="dw-2d-M2-s2-dilated-phased",
    ),
    pytest.param(
        conv(
            (5, 5, 5, 3), 3, (3, 3, 3), stride=(1, 2, 2), groups=3, padding="same", role="depthwise"
        ),
        2,
        id="dw-3d",
    ),
    pytest.param(
        conv((4, 6, 5, 2), 4, (2, 3, 3), groups=2, padding="valid", role="depthwise"),
        1,
        id="dw-3d-M2",
    ),
]


@pytest.mark.parametrize(("op", "batch"), CONV_CASES + DEPTHWISE_CASES)
def test_conv_matches_naive_reference(op: Conv, batch: int) -> None:
    got, want = run_conv(op, batch)
    assert got.shape == (batch, *op.out_shape)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    ("op", "batch"),
    [
        *DEPTHWISE_CASES,
        pytest.param(
            conv(
                (5, 6, 256),
                256,
                (3, 3),
                stride=(2, 2),
                groups=256,
                padding="same",
                role="depthwise",
            ),
            1,
            id="dw-2d-s2-wide",
        ),
    ],
)
def test_depthwise_strided_without_phases(
    op: Conv, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wide layers read the strided view directly; force that path on every case."""
    monkeypatch.setattr(depthwise, "PHASE_BELOW_CHANNELS", 1)
    got, want = run_conv(op, batch)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


SPLIT_CASES = [
    *DEPTHWISE_CASES,
    pytest.param(
        conv(
            (13, 7, 5),
            5,
            (3, 3),
            stride=(2, 2),
            groups=5,
            padding="same",
            bias=True,
            role="depthwise",
        ),
        3,
        id="dw-2d-s2-odd-rows-bias",
    ),
    pytest.param(
        conv((6, 6, 3), 3, (5, 5), groups=3, padding="same", role="depthwise"),
        1,
        id="dw-2d-k5-more-halo-than-rows",
    ),
    pytest.param(
        conv((7, 4, 2), 2, (3, 3), groups=2, role="depthwise"), 2, id="dw-2d-valid-direct"
    ),
]


@pytest.mark.parametrize("threads", [2, 3, 16])
@pytest.mark.parametrize(("op", "batch"), SPLIT_CASES)
def test_depthwise_split_in_parts(op: Conv, batch: int, threads: int) -> None:
    """Rows split over threads, each part with its own input slab and halo: same result."""
    got, want = run_conv(op, batch, threads=threads, split=True)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_depthwise_split_and_whole_agree_exactly(dtype: str) -> None:
    """Parts compute the same sums in the same order as the whole: bit-identical, so timing
    both ways and keeping the faster never changes a result."""
    op = conv(
        (9, 8, 6), 12, (3, 3), stride=(2, 2), groups=6, padding="same", bias=True, role="depthwise"
    )
    outs = [
        np.array(prepare(op, 2, dtype, rng(3), threads=t, split=s).checked())
        for t, s in ((1, None), (2, True), (4, True), (2, None))
    ]
    for other in outs[1:]:
        np.testing.assert_array_equal(other, outs[0])


@pytest.mark.parametrize(
    ("shape", "stride", "threads", "split", "parts"),
    [
        # work = output elements × 9 taps; a part needs 2**19 = 524,288
        ((112, 112, 32), 1, 2, None, 2),  # 112*112*32*9 = 3,612,672: 6 parts' worth, 2 threads
        ((112, 112, 32), 1, 8, None, 6),  # ... and 8 threads: 6 parts (on 64 CPUs)
        ((14, 14, 512), 1, 2, None, 1),  # 14*14*512*9 = 903,168: one part's worth
        ((28, 28, 256), 2, 2, None, 1),  # 14*14*256*9 = 451,584
        ((14, 14, 512), 1, 2, True, 2),  # forced
        ((8, 8, 4), 2, 16, True, 4),  # forced, but only 4 output rows
        ((112, 112, 32), 1, 2, False, 1),  # forbidden
        ((112, 112, 32), 1, 1, None, 1),  # one thread
    ],
)
def test_depthwise_part_count(
    shape: tuple[int, ...],
    stride: int,
    threads: int,
    split: bool | None,
    parts: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workers, "usable_cpus", lambda: 64)
    op = conv(
        shape,
        shape[-1],
        (3, 3),
        stride=(stride, stride),
        groups=shape[-1],
        padding="same",
        role="depthwise",
    )
    assert depthwise.part_count(op, 1, threads, split) == parts
    prep = prepare(op, 1, "float32", rng(), threads=threads, split=split)
    assert prep.kernel.endswith(f"-{parts}-threads") == (parts > 1)


def test_depthwise_parts_never_outnumber_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    op = conv((112, 112, 32), 32, (3, 3), groups=32, padding="same", role="depthwise")
    monkeypatch.setattr(workers, "usable_cpus", lambda: 2)
    assert depthwise.part_count(op, 1, 8) == 2  # 6 parts' worth of work, 2 CPUs
    assert depthwise.part_count(op, 1, 8, split=True) == 8  # forced: as asked


def test_depthwise_split_by_the_size_rule_matches_reference() -> None:
    op = conv(
        (64, 64, 32), 32, (3, 3), groups=32, padding="same", bias=True, role="depthwise"
    )  # 64*64*32*9 = 1,179,648 >= 2 * 2**19: two parts
    got, want = run_conv(op, 1, threads=2)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype, tol", [("float32", 1e-4), ("float16", 2e-2)])
@pytest.mark.parametrize(
    "op",
    [
        conv((8, 8, 4), 6, (3, 3), stride=(2, 2), padding="same", bias=True),
        conv((8, 8, 4), 4, (3, 3), stride=(2, 2), groups=4, padding="same", role="depthwise"),
        conv((6, 6, 4), 5, (1, 1), role="pointwise"),
    ],
)
def test_lower_precisions(op: Conv, dtype: str, tol: float) -> None:
    got, want = run_conv(op, 2, dtype)
    assert got.dtype == np.float64  # converted by run_conv; the kernel ran in dtype
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, np.abs(want).max()))


def test_unsupported_dtypes_are_refused_clearly() -> None:
    op = conv((4, 4, 2), 2, (3, 3))
    for name in ("bfloat16", "int8"):
        with pytest.raises(UnsupportedDtypeError, match=f"--dtype {name}.*float32"):
            prepare(op, 1, name, rng())


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_convolutions_match_reference(data: st.DataObject) -> None:
    rank = data.draw(st.integers(1, 3), "rank")
    depthwise = data.draw(st.booleans(), "depthwise")
    spatial = tuple(
        data.draw(
            st.lists(st.integers(1, 7 if rank < 3 else 4), min_size=rank, max_size=rank), "spatial"
        )
    )
    kernel = tuple(data.draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
    stride = tuple(data.draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
    dilation = tuple(data.draw(st.lists(st.integers(1, 2), min_size=rank, max_size=rank)))
    pads = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in range(rank))
    assume(
        all(
            out_len(n, k, s, d, p) > 0
            for n, k, s, d, p in zip(spatial, kernel, stride, dilation, pads, strict=True)
        )
    )
    groups = data.draw(st.sampled_from([1, 2, 3]), "groups")
    if depthwise:
        cin = groups
        cout = cin * data.draw(st.integers(1, 2), "multiplier")
        groups = cin
        assume(cin > 1)
    else:
        cin = groups * data.draw(st.integers(1, 2))
        cout = groups * data.draw(st.integers(1, 3))
    batch = data.draw(st.integers(1, 2), "batch")
    op = Conv(
        (*spatial, cin),
        cout,
        kernel,
        stride,
        dilation,
        pads,
        groups=groups,
        bias=data.draw(st.booleans(), "bias"),
    )
    threads = data.draw(st.integers(1, 3), "threads") if depthwise else 1
    got, want = run_conv(op, batch, threads=threads, split=True)
    assert got.shape == (batch, *op.out_shape)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------- other operations


@pytest.mark.parametrize(
    ("pool", "batch"),
    [
        (Pool((7, 7, 3), "max", (3, 3), (2, 2), ((1, 1), (1, 1))), 2),
        (
            Pool(
                (8, 7, 2),
                "avg",
                (3, 2),
                (2, 2),
                resolve_padding("same", (8, 7), (3, 2), (2, 2), (1, 1)),
            ),
            1,
        ),
        (Pool((8, 8, 2), "avg", (2, 2), (2, 2), ((0, 0), (0, 0))), 2),
        (Pool((9, 3), "max", (3,), (3,), ((0, 0),)), 1),
        (Pool((4, 5, 4, 2), "avg", (2, 3, 2), (1, 2, 2), ((1, 0), (1, 1), (0, 1))), 1),
    ],
)
def test_pooling_matches_reference(pool: Pool, batch: int) -> None:
    prep = prepare(pool, batch, "float64", rng())
    got = prep.checked()
    want = ref_pool(prep.x, pool.kind, pool.kernel, pool.stride, pool.pads)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_global_pool(kind: str) -> None:
    op = Pool((5, 4, 3), kind, (5, 4), (5, 4), ((0, 0), (0, 0)), global_=True)  # type: ignore[arg-type]
    prep = prepare(op, 2, "float64", rng())
    got = prep.checked()
    x = prep.x
    want = np.array(
        [
            [
                (max if kind == "max" else lambda v: sum(v) / len(v))(
                    [x[n, i, j, c] for i in range(5) for j in range(4)]
                )
                for c in range(3)
            ]
            for n in range(2)
        ]
    )
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_dense_batch_norm_and_add() -> None:
    dense = prepare(Dense((2, 3, 4), 5), 2, "float64", rng())
    x, w, b = dense.x, dense.weights["w"], dense.weights["b"]
    want = np.array(
        [
            [sum(x[n].reshape(-1)[f] * w[f, u] for f in range(24)) + b[u] for u in range(5)]
            for n in range(2)
        ]
    )
    np.testing.assert_allclose(dense.checked(), want, rtol=1e-12)

    bn = prepare(BatchNorm((3, 4, 5)), 2, "float64", rng(1))
    s, t = bn.weights["scale"], bn.weights["shift"]
    want_bn = np.array(
        [
            [
                [[bn.x[n, i, j, c] * s[c] + t[c] for c in range(5)] for j in range(4)]
                for i in range(3)
            ]
            for n in range(2)
        ]
    )
    np.testing.assert_allclose(bn.checked(), want_bn, rtol=1e-12)

    flat_bn = prepare(BatchNorm((6,)), 3, "float64", rng(2))
    np.testing.assert_allclose(
        flat_bn.checked(), flat_bn.x * flat_bn.weights["scale"] + flat_bn.weights["shift"]
    )

    residual = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    add = prepare(Add((3, 4, 5)), 2, "float64", rng(), residual=residual)
    np.testing.assert_allclose(add.checked(), add.x + residual)


def test_weights_can_be_given() -> None:
    op = conv((5, 5, 2), 3, (3, 3), padding="same", bias=True)
    w = np.ones((3, 3, 2, 3))
    prep = prepare(op, 1, "float64", rng(), weights={"w": w, "b": np.zeros(3)})
    prep.x[...] = 1.0
    out = prep()
    assert out[0, 2, 2, 0] == 18.0  # 9 taps x 2 channels of ones
    assert out[0, 0, 0, 0] == 8.0  # corner: 4 real taps
    with pytest.raises(ValueError, match="shape"):
        prepare(op, 1, "float64", rng(), weights={"w": np.ones((3, 3, 3))})


# --------------------------------------------------------------------------- laws


@pytest.mark.parametrize("mult", [1, 2, 3])
@pytest.mark.parametrize(
    ("spatial", "kernel", "stride", "padding"),
    [
        ((9, 9), (3, 3), (1, 1), "same"),
        ((10, 9), (3, 3), (2, 2), "same"),
        ((8, 7), (5, 3), (1, 2), "valid"),
        ((11,), (3,), (2,), "same"),
        ((5, 6, 5), (3, 3, 3), (1, 2, 1), "same"),
    ],
)
def test_separable_equals_standard_with_composed_kernel(
    mult: int,
    spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: str,
) -> None:
    """dw (k, C, M) then pw (C*M, O) == one standard conv with
    W[k, c, o] = sum_m dw[k, c, m] * pw[c*M + m, o]  (M = 1: dw[k, c] * pw[c, o])."""
    cin, cout, batch = 3, 4, 2
    shape = (*spatial, cin)
    dw = conv(
        shape, cin * mult, kernel, stride=stride, padding=padding, groups=cin, role="depthwise"
    )
    pw = conv(dw.out_shape, cout, (1,) * len(kernel), role="pointwise")
    std = conv(shape, cout, kernel, stride=stride, padding=padding)
    r = rng(7)
    w_dw = r.standard_normal((*kernel, cin, mult))
    w_pw = r.standard_normal((cin * mult, cout))
    x = r.standard_normal((batch, *shape))

    first = prepare(dw, batch, "float64", r, weights={"w": w_dw})
    first.x[...] = x
    second = prepare(
        pw,
        batch,
        "float64",
        r,
        x=first.out,
        weights={"w": w_pw.reshape(*(1,) * len(kernel), cin * mult, cout)},
    )
    separable = Chain([first, second]).checked()

    composed = np.einsum("...cm,cmo->...co", w_dw, w_pw.reshape(cin, mult, cout))
    whole = prepare(std, batch, "float64", r, weights={"w": composed})
    whole.x[...] = x
    np.testing.assert_allclose(separable, whole.checked(), rtol=1e-10, atol=1e-10)


def _small_model(name: str) -> Any:
    return build(resolve_model(name), width_multiplier=Fraction(1, 4), resolution=(32, 32))


@pytest.mark.parametrize("preset", ["mobilenet_v1", "mobilenet_v2", "xception"])
def test_executed_shapes_equal_counted_shapes(preset: str) -> None:
    model = _small_model(preset)
    for row in model.rows:
        for form in (row.forms.as_specified, row.forms.standard, row.forms.separable):
            out = run_form(form, batch=2)
            assert out.shape == (2, *row.output_shape), row.name
            assert np.isfinite(out).all()


def test_chain_feeds_each_output_into_the_next() -> None:
    model = _small_model("mobilenet_v2")
    row = next(r for r in model.rows if any(isinstance(op, Add) for op in r.forms.separable))
    ops = row.forms.separable
    chain = prepare_chain(ops, 1, "float64", rng())
    chain.checked()
    # replay op by op with fresh prepares wired to the same weights: same result
    x = chain.x.copy()
    for step in chain.steps:
        if isinstance(step.op, Add):
            x = x + chain.x
        else:
            p = prepare(step.op, 1, "float64", rng(), weights=step.weights)
            p.x[...] = x
            x = p().copy()
    np.testing.assert_allclose(chain.out, x, rtol=1e-12)


# --------------------------------------------------------------------------- memory


@pytest.mark.parametrize(
    "ops",
    [
        (conv((16, 16, 8), 16, (3, 3), padding="same", bias=True), BatchNorm((16, 16, 16))),
        (
            conv((16, 16, 8), 8, (3, 3), stride=(2, 2), groups=8, padding="same", role="depthwise"),
            BatchNorm((8, 8, 8)),
            conv((8, 8, 8), 12, (1, 1), role="pointwise"),
        ),
        (conv((9, 9, 4), 8, (3, 3), groups=2, padding=(1, 1)),),
        (Pool((8, 8, 4), "avg", (3, 3), (2, 2), ((1, 1), (1, 1))), Dense((4, 4, 4), 10)),
        # a multiplier: each m computed into a scratch block, then copied into place
        (
            conv(
                (12, 12, 4),
                8,
                (3, 3),
                stride=(2, 2),
                groups=4,
                padding="same",
                bias=True,
                role="depthwise",
            ),
        ),
        # large enough to run in two parts when threads allow: one input slab per part
        (conv((64, 64, 32), 32, (3, 3), groups=32, padding="same", bias=True, role="depthwise"),),
        (
            conv(
                (96, 96, 32), 32, (3, 3), stride=(2, 2), groups=32, padding="same", role="depthwise"
            ),
        ),
        (Add((6, 6, 4)),),
        (
            BatchNorm((6, 6, 4)),
            Add((6, 6, 4)),
            Pool((6, 6, 4), "max", (6, 6), (6, 6), ((0, 0), (0, 0)), global_=True),
        ),
        # weights far larger than everything else, drawn at random: the draw's temporaries
        # must not add up to a second copy of them
        (Dense((1, 1, 2048), 1000),),
        (Pool((40, 40, 16), "avg", (3, 3), (1, 1), ((1, 1), (1, 1))),),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("threads", [1, 2])
def test_estimate_counts_what_prepare_allocates(
    ops: tuple[Any, ...], dtype: str, threads: int
) -> None:
    """NumPy's own allocation accounting (tracemalloc) against the guard's estimate, both
    ways: what the prepared chain holds is at least the estimate (no phantom buffers), and
    the peak while preparing it is at most the estimate plus a tolerance (no allocation
    missing from the plans: the error that lets the guard pass a layer that does not fit).

    Tolerance: 64 KiB for what does not grow with the layer (Python objects: array headers,
    views, closures, the Prepared records; NumPy's 8192-element iteration buffers; one
    random-draw chunk), plus 5% for the small helpers that do (average pooling's window
    counts, 8 bytes per output position, and batch-norm's per-row tiles of its vectors).
    """
    estimate = estimate_bytes(ops, 2, dtype, threads)
    prepare_chain(ops, 2, dtype, rng(), threads=threads)  # warm-up: lazy imports, caches
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        chain = prepare_chain(ops, 2, dtype, rng(), threads=threads)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held - before >= estimate
    assert peak - before <= estimate * 1.05 + 64 * 1024, (peak - before, estimate)
    # and the chain's own bookkeeping (what it reports it allocated) is the estimate
    assert chain.nbytes == estimate


def test_memory_guard_refuses_before_allocating() -> None:
    huge = conv((4096, 4096, 256), 512, (3, 3), padding="same")
    forms = Forms("standard", (huge,), (huge,), (huge,))
    needed = estimate_bytes([huge], 8, "float32")
    assert needed > 100 * 2**30
    settings_ = TimingSettings(max_memory=1 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(MemoryGuardError) as caught:
            time_forms(forms, 8, "float32", settings_)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    assert isinstance(caught.value, RuntimeFailure)
    assert caught.value.exit_code == 3
    message = str(caught.value)
    assert message.startswith(f"needs {human_bytes(needed)} of memory, more than the 1.0 MiB")
    assert message.endswith("limit (--max-memory)")


def test_memory_guard_message_and_default_limit() -> None:
    with pytest.raises(
        MemoryGuardError,
        match=r"needs 37\.2 GiB of memory, more than the "
        r"12\.0 GiB limit \(--max-memory\)",
    ):
        check_memory(int(37.2 * 2**30), 12 * 2**30)
    check_memory(10, 11)
    limit = default_memory_limit()
    assert 0 < limit < 1 << 50


@pytest.mark.parametrize(("normalized", "bias"), [(6, True), (120, False)])
def test_layer_norm_kernel_matches_the_formula(normalized: int, bias: bool) -> None:
    """(x − mean) / sqrt(var + 1e-5) · scale + bias over the trailing values, in float64
    by hand, against the kernel's float32 run on the same data and weights."""
    from sepconv_cli.counting.ops import LayerNorm
    from sepconv_cli.execution.kernels import prepare

    op = LayerNorm((4, 5, 6), normalized, bias=bias)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 5, 6)).astype(np.float32)
    prepared = prepare(op, 2, "float32", rng, x=x)
    got = prepared.checked()
    rows = x.astype(np.float64).reshape(-1, normalized)
    mean = rows.mean(axis=1, keepdims=True)
    var = ((rows - mean) ** 2).mean(axis=1, keepdims=True)
    want = (rows - mean) / np.sqrt(var + 1e-5) * prepared.weights["scale"]
    if bias:
        want = want + prepared.weights["bias"]
    np.testing.assert_allclose(got.reshape(-1, normalized), want, rtol=1e-5, atol=1e-5)
