"""The counting rules for what only model files hold (ONNX today): layer norms, products of
computed tensors, recurrent layers, elementwise functions and reductions. Part of the rules
:mod:`sepconv_cli.counting.conventions` states, kept apart for length."""

from __future__ import annotations

from sepconv_cli.counting.convention_type import Convention

LAYER_NORM = Convention(
    key="layer_norm",
    title="Layer norm (ONNX files)",
    doc="An ONNX `LayerNormalization` (ConvNeXt, transformers) is a `layer_norm` row: no "
    "MACs; as parameters its scale and its bias, one per normalized position each; as FLOPs "
    "one per arithmetic operation of (x − mean) / sqrt(var + eps) · scale + bias: per value "
    "the add into the mean, the subtraction, the square, the add into the variance and the "
    "multiply by 1/sqrt (5), plus 1 for the scale and 1 for the bias; per normalized group "
    "4 (two divisions by n, the add of eps, the reciprocal square root). Unlike a "
    "batch-norm it cannot fold into the convolution before it (its statistics are computed "
    "at inference); `--time` runs it (its one form) on the tensor in the file's layout.",
)


GRAPH_NODES = Convention(
    key="graph_nodes",
    title="Other nodes of model files",
    doc="What a model file holds beyond a convolution network's layers, counted as fvcore, "
    "onnx-tool and torch's FlopCounterMode count it. Every node is counted on its own "
    "input's items, its leading dim: the batch, or the windows or patches a hybrid network "
    "folds into it (MobileViT's `(4, 256, 64)` tokens), all of them; a node whose inputs are "
    "all constants (a positional encoding) runs once, whatever the batch. A **product of "
    "two computed tensors** (`MatMul`, `Gemm` or a two-operand `Einsum` with no weight: "
    "attention's Q·Kᵀ and A·V) is a `matmul` row: `prod(output) · K` MACs, each output value "
    "a sum of K products (an `Einsum`: the product of all its labels' sizes), FLOPs "
    "`2 · MACs`, no parameters. A **recurrent layer** (`LSTM`, `GRU`, `RNN`) is a "
    "`recurrent` row: per step, direction and item `gates · hidden · (input + hidden)` MACs "
    "(gates: LSTM 4, GRU 3, RNN 1); FLOPs `2 · MACs`, plus `2 · gates · hidden` bias adds "
    "when it has a bias and the state update per hidden unit (LSTM c = f·c + i·g and h = "
    "o·tanh(c): 4; GRU r·(R·h) and h = (1 − z)·ĥ + z·h: 4; RNN 0), its gate functions not "
    "counted (as activations are not in FLOPs); parameters W, R, B as the file holds them. "
    "An **elementwise node** that is neither `Add`/`Sub`/`Mul`/`Div` (one FLOP per output "
    "value) nor one of the activation functions above is an `elementwise` row: 1 FLOP per "
    "output value whatever its formula (`Pow`, `Sqrt`, `Exp`, `Erf`, `Max`, `Where`, a "
    "comparison, and compound functions such as `Elu` or `Softplus` too; a `Clip` that is "
    "no ReLU6 2, `LogSoftmax` 5, as `softmax`), no MACs; a `PRelu`'s slope is parameters. A "
    "**reduction** (`ReduceSum`, `ReduceMax`, `ReduceL2`, `ArgMax`, a `ReduceMean` over "
    "other than the spatial dims) is a `reduce` row: 1 FLOP per input value. An "
    "`InstanceNormalization` or `GroupNormalization` is a `normalization` row: by the layer "
    "norm's rule 7 FLOPs per value and 4 per group, its scale and bias as parameters. A "
    "`Resize` that interpolates is an `elementwise` row: each output value a weighted sum "
    "of `taps^d` inputs (linear 2, cubic 4 taps per resized dim), `2 · taps^d − 1` FLOPs "
    "(nearest: data movement). An activation "
    "function on a tensor that something else reads too is an `activation` row, its FLOPs "
    "the activation's (apart). None of these has a separable form: one form each.",
    json="products of computed tensors prod(out)*K MACs; LSTM/GRU/RNN gates*hidden*(input+"
    "hidden) MACs per step, direction and item; other elementwise nodes 1 FLOP per output "
    "value (Clip 2, LogSoftmax 5); reductions 1 FLOP per input value; a node's items are "
    "its leading dim (windows and patches included)",
)
