"""Adaptive pooling, ceil_mode and per-side padding: counts against hand arithmetic and the
walking reference (tests/reference.py), executed values against a naive window loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import reference as ref  # tests/reference.py: pytest puts tests/ on the path
from test_models import fail, one, profile, write

from sepconv_cli.counting.ops import Conv, Pool, PoolKind
from sepconv_cli.execution.kernels import prepare

# ----------------------------------------------------------------- adaptive pooling


def test_adaptive_windows_by_hand() -> None:
    # 5 → 7: [floor(5i/7), ceil(5(i+1)/7)) = [0,1) [0,2) [1,3) [2,3) [2,4) [3,5) [4,5)
    assert [e - s for s, e in ref.adaptive_windows_1d(5, 7)] == [1, 2, 2, 1, 2, 2, 1]
    # 10 → 7: [0,2) [1,3) [2,5) [4,6) [5,8) [7,9) [8,10)
    assert [e - s for s, e in ref.adaptive_windows_1d(10, 7)] == [2, 2, 3, 2, 3, 2, 2]


@pytest.mark.parametrize(
    ("size", "per_dim_sum"),
    [(5, 11), (10, 16), (14, 14), (7, 7), (1, 7)],  # window lengths summed, from above
)
def test_adaptive_pool_7_counts(tmp_path: Path, size: int, per_dim_sum: int) -> None:
    row = one(tmp_path, f"[{size}, {size}, 512]", "{type: pool, mode: avg, output_size: 7}")
    assert row["output_shape"] == [7, 7, 512]
    assert row["as_specified"]["macs"] == 0
    flops = per_dim_sum * per_dim_sum * 512
    assert row["as_specified"]["flops"] == flops
    assert flops == ref.adaptive_pool_flops((size, size, 512), (7, 7))


def test_adaptive_pool_per_dim_and_1d(tmp_path: Path) -> None:
    row = one(tmp_path, "[10, 5, 3]", "{type: pool, output_size: [7, 2]}")
    assert row["output_shape"] == [7, 2, 3]
    # dim 0: 16 (above); dim 1: 5 → 2 is [0,3) [2,5): 6
    assert row["as_specified"]["flops"] == 16 * 6 * 3
    row = one(tmp_path, "[9, 4]", "{type: pool, output_size: 4}")
    assert row["as_specified"]["flops"] == ref.adaptive_pool_flops((9, 4), (4,)) == 12 * 4


# ----------------------------------------------------------------- ceil_mode


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pad", "floor_out", "ceil_out"),
    [
        (112, 3, 2, 0, 55, 56),  # GoogLeNet's maxpool1 after conv1: ceil keeps 56
        (113, 3, 2, 0, 56, 56),  # odd input: the last window fits either way
        (56, 3, 2, 0, 27, 28),  # GoogLeNet's maxpool2
        (14, 2, 2, 0, 7, 7),
        (5, 2, 2, 1, 3, 3),  # the 4th window would start in the right padding: dropped
        (6, 3, 2, 1, 3, 4),
    ],
)
def test_ceil_mode_output_sizes(
    tmp_path: Path,
    size: int,
    kernel: int,
    stride: int,
    pad: int,
    floor_out: int,
    ceil_out: int,
) -> None:
    assert ref.pool_positions_1d(size, kernel, stride, pad, pad) == floor_out
    assert ref.pool_positions_1d(size, kernel, stride, pad, pad, ceil_mode=True) == ceil_out
    layer = f"{{type: pool, kernel: {kernel}, stride: {stride}, padding: {pad}"
    floor_row = one(tmp_path, f"[{size}, {size}, 2]", layer + "}")
    ceil_row = one(tmp_path, f"[{size}, {size}, 2]", layer + ", ceil_mode: true}")
    assert floor_row["output_shape"] == [floor_out, floor_out, 2]
    assert ceil_row["output_shape"] == [ceil_out, ceil_out, 2]
    # one FLOP per window element, the whole kernel of every window
    assert ceil_row["as_specified"]["flops"] == ceil_out * ceil_out * 2 * kernel * kernel


def test_googlenet_stem_with_ceil_pools(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "input: [224, 224, 3]\nlayers:\n"
        "  - {type: conv, kernel: 7, stride: 2, padding: 3, filters: 64}\n"
        "  - {type: pool, kernel: 3, stride: 2, ceil_mode: true}\n"
        "  - {type: conv, kernel: 3, padding: 1, filters: 192}\n"
        "  - {type: pool, kernel: 3, stride: 2, ceil_mode: true}\n",
    )
    shapes = [row["output_shape"] for row in profile(path)["layers"]]
    assert shapes == [[112, 112, 64], [56, 56, 64], [56, 56, 192], [28, 28, 192]]


# ----------------------------------------------------------------- per-side padding


def test_per_side_conv_padding_counts(tmp_path: Path) -> None:
    row = one(
        tmp_path, "[10, 10, 4]", "{type: conv, kernel: 3, filters: 8, padding: [[0, 1], [1, 2]]}"
    )
    # H: 10 + 0 + 1 - 3 + 1 = 9; W: 10 + 1 + 2 - 3 + 1 = 11
    assert row["output_shape"] == [9, 11, 8]
    assert row["as_specified"]["macs"] == 9 * 11 * 8 * 4 * 9 == 28_512
    want = ref.conv((10, 10, 4), 8, 3, padding=((0, 1), (1, 2)))  # type: ignore[arg-type]
    assert row["as_specified"]["macs"] == want.macs
    assert row["separable"]["depthwise"]["macs"] == 9 * 11 * 4 * 9  # same pads


def test_one_pair_is_every_dims(tmp_path: Path) -> None:
    row = one(tmp_path, "[5, 5, 2]", "{type: pool, kernel: 2, padding: [[0, 1]]}")
    assert row["output_shape"] == [3, 3, 2]  # (5 + 1 - 2) // 2 + 1


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("{type: conv, kernel: 3, filters: 4, padding: [[1, 2, 3]]}", "expected [before,"),
        ("{type: conv, kernel: 3, filters: 4, padding: [1, [0, 1]]}", "write every dim as"),
        ("{type: conv, kernel: 3, filters: 4, padding: [[-1, 0]]}", "expected an integer >= 0"),
        ("{type: conv, kernel: 3, filters: 4, padding: [[0,1],[0,1],[0,1]]}", "padding has 3"),
        ("{type: pool, kernel: 2, padding: [[0, 2]]}", "at most half the kernel"),
        ("{type: pool, kernel: 2, output_size: 3}", "a kernel (a window) or an output_size"),
        ("{type: pool, output_size: 3, stride: 2}", "an adaptive pool (output_size)"),
        ("{type: pool, output_size: 0}", "expected an integer >= 1"),
        ("{type: pool, mode: max}", "a pool layer needs kernel (or output_size"),
        ("{type: pool, kernel: 3, padding: same, ceil_mode: true}", "ceil_mode applies to"),
        ("{type: pool, output_size: [7, 7, 7]}", "output_size has 3 values"),
    ],
)
def test_bad_pools_and_pads_are_located(tmp_path: Path, layer: str, message: str) -> None:
    path = write(tmp_path, f"input: [8, 8, 4]\nlayers:\n  - {layer}\n")
    err = fail(path)
    assert f"{path}:3:" in err and message in err, err


def test_a_bad_pair_points_at_padding(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "input: [8, 8, 4]\nlayers:\n"
        "  - {type: conv, kernel: 3, filters: 4, padding: [[1, 2, 3]]}\n",
    )
    assert f"{path}:3:50: layers[0].padding: expected [before, after] pairs" in fail(path)


# ----------------------------------------------------------------- execution


def naive_pool(x: Any, kind: str, windows: list[list[tuple[int, int]]]) -> Any:
    """Pool ``x`` (batch, spatial..., C) over explicit windows per dim (input coordinates,
    clipped to the input): max, or the mean of the real elements."""
    out_shape = (x.shape[0], *(len(w) for w in windows), x.shape[-1])
    out = np.empty(out_shape)
    for position in np.ndindex(*out_shape[1:-1]):
        index = tuple(
            slice(max(a, 0), min(b, n))
            for (a, b), n in zip(
                (windows[d][i] for d, i in enumerate(position)), x.shape[1:-1], strict=True
            )
        )
        every = slice(None)
        block_index = (every, *index, every)
        out_index = (every, *position, every)
        block = x[block_index]
        axes = tuple(range(1, block.ndim - 1))
        out[out_index] = block.max(axis=axes) if kind == "max" else block.mean(axis=axes)
    return out


def sliding(size: int, kernel: int, stride: int, before: int, count: int) -> list[tuple[int, int]]:
    return [(i * stride - before, i * stride - before + kernel) for i in range(count)]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(
    ("in_shape", "output_size"),
    [((5, 5, 3), (7, 7)), ((10, 10, 2), (7, 7)), ((14, 14, 2), (7, 7)), ((9, 4, 2), (4, 3))],
)
def test_adaptive_pool_executes_torchs_windows(
    kind: str, in_shape: tuple[int, ...], output_size: tuple[int, ...]
) -> None:
    rank = len(output_size)
    op = Pool(in_shape, kind, (1,) * rank, (1,) * rank, ((0, 0),) * rank, output_size=output_size)  # type: ignore[arg-type]
    prep = prepare(op, 2, "float64", np.random.default_rng(1))
    got = prep.checked()
    windows = [
        ref.adaptive_windows_1d(n, o) for n, o in zip(in_shape[:-1], output_size, strict=True)
    ]
    np.testing.assert_allclose(got, naive_pool(prep.x, kind, windows), rtol=1e-12)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pad"),
    [(14, 3, 2, 0), (5, 2, 2, 1), (6, 3, 2, 1), (7, 3, 3, 0)],
)
def test_ceil_mode_pool_executes(
    kind: PoolKind, size: int, kernel: int, stride: int, pad: int
) -> None:
    op = Pool(
        (size, size + 1, 2),
        kind,
        (kernel, kernel),
        (stride, stride),
        ((pad, pad),) * 2,
        ceil_mode=True,
    )
    prep = prepare(op, 2, "float64", np.random.default_rng(2))
    got = prep.checked()
    counts = [ref.pool_positions_1d(n, kernel, stride, pad, pad, True) for n in (size, size + 1)]
    windows = [
        sliding(n, kernel, stride, pad, c) for n, c in zip((size, size + 1), counts, strict=True)
    ]
    np.testing.assert_allclose(got, naive_pool(prep.x, kind, windows), rtol=1e-12)


def test_per_side_padded_conv_executes() -> None:
    op = Conv((6, 7, 3), 4, (3, 3), (1, 2), (1, 1), ((0, 2), (1, 0)))
    prep = prepare(op, 1, "float64", np.random.default_rng(3))
    got = prep.checked()
    x, w = prep.x[0], prep.weights["w"]
    padded = np.pad(x, ((0, 2), (1, 0), (0, 0)))
    want = np.zeros(got.shape[1:])
    for i in range(want.shape[0]):
        for j in range(want.shape[1]):
            patch = padded[i : i + 3, 2 * j : 2 * j + 3, :]
            want[i, j] = np.einsum("hwc,hwco->o", patch, w.reshape(3, 3, 3, 4))
    np.testing.assert_allclose(got[0], want, rtol=1e-10)
