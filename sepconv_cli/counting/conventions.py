"""The counting conventions, stated once: every text that tells a reader how sepconv counts.
One module on purpose, though near 500 lines: it is one table of rules and the texts made
from it, and a rule reworded here must be read next to every rendering it feeds (JSON,
``--help``, footers); split, a rule and its wording would drift apart. Only the page that
lays every rule out in full, ``docs/conventions.md``, is rendered in a module of its own
(:mod:`sepconv_cli.counting.conventions_page`), from these rules.

Each :class:`Convention` is one rule in all the words sepconv prints it in: its JSON
``conventions`` entry, its clause of the ``--help`` epilog, its phrase in the tables'
footers, and its full statement in ``docs/conventions.md``. The report texts below are
assembled from :data:`RULES`, so a rule is reworded in one place and every output follows:

* :func:`report_conventions` — the ``conventions`` object of ``cost`` and ``profile`` JSON;
  :func:`sweep_conventions` — the same plus ``ratio``, for ``sweep`` JSON.
* :data:`HELP_EPILOG` — the ``--help`` sentence of ``cost``, ``profile`` and ``sweep``;
  :data:`SWEEP_HELP_PREFIX` — what ``sweep --help`` puts before it.
* :data:`COST_FOOTER`, :data:`PROFILE_FORMS_FOOTER`, :data:`PROFILE_COUNTS_FOOTER`,
  :data:`SWEEP_FOOTER` (the Rich tables) and :data:`SWEEP_MARKDOWN_NOTE`.
* :func:`markdown` — ``docs/conventions.md`` (rendered by :mod:`.conventions_page`);
  ``python -m sepconv_cli.counting.conventions`` rewrites that file and
  ``tests/test_docs.py`` fails when it is stale.

The JSON strings are a contract (scripts read them): change one only on purpose, knowing it
changes every report. The arithmetic itself lives in :mod:`sepconv_cli.counting.ops` (one
class per operation), :mod:`sepconv_cli.counting.lowering` (the three forms of each layer
type) and :mod:`sepconv_cli.counting.pairing` (a depthwise and the 1×1 it feeds as one
convolution). Pure Python; never imports NumPy.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sepconv_cli.counting.convention_type import Convention
from sepconv_cli.counting.conventions_files import GRAPH_NODES, LAYER_NORM

THEORY = "1/Cout + 1/prod(k)"  # MobileNet's closed form of separable / standard MACs
_THEORY_HOLDS = "M = 1 and the conv is not already depthwise"


LAYOUT = Convention(
    key="layout",
    title="Shapes and the batch",
    doc="Shapes are channels-last and exclude the batch: `[spatial..., C]` with 1, 2 or 3 "
    "spatial dims (`12x12x3` on the command line, `[12, 12, 3]` in YAML). The batch `N` "
    "(`--batch`, default 1) multiplies every activation-dependent count (MACs, FLOPs, "
    "activation bytes), never parameters or weight bytes.",
    json="channels-last shapes [spatial..., C]; batch separate, multiplies activation counts",
    help="Shapes are channels-last (12x12x3 = 12×12 spatial, 3 channels); --batch multiplies "
    "activation counts",
    footer="Shapes are channels-last; the batch multiplies activation counts, not parameters",
)

OUTPUT_SIZE = Convention(
    key="output_size",
    title="Output size and padding",
    doc="Per spatial dim: `floor((in + pad_before + pad_after - dilation·(k-1) - 1) / stride) "
    "+ 1`. `valid` padding is 0; `same` is TensorFlow's rule, `out = ceil(in / stride)`, with "
    "the odd extra pad on the after side; an int or a per-dim list is symmetric explicit "
    "padding; `[[top, bottom], [left, right]]` gives each side's pad. A pool with "
    "`ceil_mode: true` rounds up instead (torch): `ceil((in + pad_before + pad_after - k) / "
    "stride) + 1`, less one when the last window would start at or past `in + pad_before`. "
    "An adaptive pool (`output_size`) has that output size, output `i` of a dim pooling "
    "input `[floor(i·in/out), ceil((i+1)·in/out))` (torch's `AdaptiveAvgPool2d`; an output "
    "larger than the input repeats elements, as torch does). An output size below 1 is an "
    "error naming the layer (or the flag).",
    json="floor((in + pad_before + pad_after - dilation*(k-1) - 1) / stride) + 1; "
    "same = TensorFlow rule ceil(in / stride)",
)

MACS = Convention(
    key="macs",
    title="MACs",
    doc="One MAC is one multiply-accumulate. Convolution: `N · prod(out) · Cout · (Cin/groups) "
    "· prod(k)`. Dense: `N · in_features · units`, where `in_features` is the product of the "
    "input shape. A bias is not a MAC (fvcore's convention). Pooling, batch-norm and residual "
    "adds have no MACs.",
    json="multiply-accumulates; conv = N*prod(out)*Cout*(Cin/groups)*prod(k); "
    "bias is not a MAC (fvcore)",
    help="MACs = multiply-accumulates (bias is not a MAC)",
    footer="MACs = multiply-accumulates (bias not counted)",
)

FLOPS = Convention(
    key="flops",
    title="FLOPs",
    doc="`2 · MACs`, plus one add per output element when there is a bias. Pooling: one "
    "operation per window element per output, padded positions included (with `ceil_mode`, "
    "the whole kernel of the last window too); an adaptive pool one per element of each "
    "output's window, summed exactly; global pooling one per input element. Batch-norm "
    "(inference: scale and shift): 2 per element. Residual add: 1 per output element. "
    "Activation functions: apart, see below.",
    json="2*MACs + one add per output element with bias; pooling 1 per window element "
    "(average pooling divides by the unpadded elements, TensorFlow's rule); batch-norm 2 per "
    "element; residual add 1 per element",
    help="FLOPs = 2·MACs (+1 per output with bias)",
    footer="FLOPs = 2·MACs, +1 per output with bias",
)

AVERAGE_POOL = Convention(
    key="average_pool",
    title="Average pooling",
    doc="Average pooling divides each window's sum by the number of real (unpadded) input "
    "elements in that window: TensorFlow's `same` rule, as Keras' `AveragePooling` does. "
    "Max pooling pads with −∞. The divisor changes the values `--time` computes, not the "
    "counts: FLOPs stay one per window element. (The JSON states this inside `flops`.)",
)

ACTIVATIONS = Convention(
    key="activations",
    title="Activation functions",
    doc="An `activation:` on a layer has no MACs and no parameters. Its FLOPs are sepconv's "
    "own convention, one per arithmetic operation of the function's formula with an `exp` "
    "or `erf` counted as one, per activated element: `relu` max(x, 0) 1, `relu6` "
    "min(max(x, 0), 6) 2, `hardsigmoid` min(max(x + 3, 0), 6) / 6 4, `hardswish` "
    "x·hardsigmoid(x) 5, `sigmoid` 1 / (1 + exp(−x)) 4, `silu` x·sigmoid(x) 5, `gelu` "
    "x/2·(1 + erf(x/√2)) 5, `tanh` 1 (a primitive, like `exp`), `leaky_relu` max(x, a·x) 2 "
    "(whatever its slope a), `softmax` exp(x − max) / Σ over the channels 5 (the compare "
    "into the max, the subtraction, the exp, the add into the sum, the division), `none` 0 "
    "(ptflops and mmcv count every ReLU-like function as "
    "1; fvcore, whose totals sepconv's `flops` match, counts none). The activated elements "
    "are the layer's output (a `residual` block's: after its add), except in an "
    "`inverted_residual`, where they are the expansion's and the depthwise's outputs (the "
    "projection is linear, as in MobileNetV2), and in a depthwise-separable pair (below), "
    "where the depthwise's activation is on the depthwise's output as written and the 1×1's "
    "on the row's output. They are the same in every form. These FLOPs "
    "are kept apart, as `activation_function_flops` per layer and in the totals, so "
    "`macs` and `flops` stay fvcore's. Activations are counted, not timed: `--time` runs "
    "the forms without them.",
    json="no MACs or params; FLOPs per activated element relu 1, relu6 2, hardsigmoid 4, "
    "hardswish 5, sigmoid 4, silu 5, gelu 5, tanh 1, leaky_relu 2, softmax 5, reported "
    "apart as "
    "activation_function_flops "
    "(not in flops); not timed",
    footer="Activation FLOPs (relu 1 per element … gelu 5) are counted apart, not in FLOPs, "
    "and not timed",
)

PARAMS = Convention(
    key="params",
    title="Parameters",
    doc="Weights plus bias. Convolution weights: `Cout · (Cin/groups) · prod(k)`; dense: "
    "`in_features · units`. A bias adds one per output channel; convolutions have none unless "
    "asked (`--bias`, `bias: true`), dense layers have one unless `bias: false`. Batch-norm, "
    "where a layer declares it, adds 2 per channel (scale and shift), counted in `params` and "
    "also on their own as `bn_params`.",
    json="weights + bias; batch-norm 2 per channel (scale, shift), in params and bn_params",
    footer="params include batch-norm scale and shift where declared",
)

BYTES = Convention(
    key="bytes",
    title="Bytes",
    doc="`weight_bytes = params · itemsize` (`--dtype`: float32 4, float64 8, float16 and "
    "bfloat16 2, int8 1). `input_bytes` and `output_bytes` are the tensors entering and "
    "leaving; `intermediate_bytes` the tensors made and consumed inside a form of several "
    "operations (the depthwise output of a separable conv); `activation_bytes = input + "
    "intermediate + output`. `bytes_moved` assumes every operation reads its inputs and "
    "weights once and writes its output once (a lower bound on traffic); "
    "`arithmetic_intensity = flops / bytes_moved`.",
    json="params * itemsize; activation_bytes = input + intermediate + output tensors; "
    "bytes_moved = each op reads inputs and weights once and writes its output once",
    footer="Bytes: params × itemsize; activations = input + intermediate + output tensors",
)

SEPARABLE = Convention(
    key="separable",
    title="The separable form of a convolution",
    doc="A k×k convolution (k > 1) becomes a depthwise k×k with depth multiplier M (same "
    "stride, padding and dilation; `Cin → Cin·M`) followed by a pointwise 1×1 "
    "(`Cin·M → Cout`), whatever its groups: a grouped convolution has the same separable "
    "form as the dense one. A convolution that already is depthwise (`type: depthwise`, or a "
    "`conv` whose groups equal its input channels, more than 1) is its own separable form; "
    "written as a `conv` its multiplier is `M = filters / groups`, and a `depth_multiplier` "
    "beside it must agree. With a bias only the pointwise has one (Keras "
    "`SeparableConv2D`). With `batch_norm: true` a batch-norm follows each of the two "
    "convolutions; with `batch_norm: output` only the pointwise.",
    json="depthwise k x k with multiplier M (same stride, padding, dilation) then "
    "pointwise 1x1, whatever the groups; a depthwise conv (groups = Cin) is its own; "
    "bias only on the pointwise",
    help="The separable form is depthwise k×k (multiplier M, same stride/padding/dilation) "
    "then pointwise 1×1",
    footer="Separable = depthwise k×k (multiplier M, same stride and padding) then pointwise 1×1",
    short="Separable = depthwise k×k then pointwise 1×1",
)

FORMS = Convention(
    key="forms",
    title="The three forms of every layer",
    doc="Every layer is counted in three forms, by one rule whatever type it is written as:\n"
    "\n"
    "- `as_specified`: the layer as written, groups included;\n"
    "- `standard`: every k×k convolution (k > 1) as the dense convolution (groups = 1) with "
    "the same input and output channels, kernel, stride, padding and dilation;\n"
    "- `separable`: every k×k convolution (k > 1) as depthwise k×k then pointwise 1×1 (as "
    "above), except that a convolution that already is depthwise is its own separable "
    "form.\n"
    "\n"
    "A 1×1 convolution, dense, pooling and add layers have one form. JSON `form` names "
    "which form the layer is as written; it follows the operation, not the type:\n"
    "\n"
    "| Written as (k > 1) | `form` | `standard` | `separable` |\n"
    "|---|---|---|---|\n"
    "| `conv`, groups = 1 | `standard` | the layer as written | depthwise k×k + "
    "pointwise 1×1 |\n"
    "| `conv`, 1 < groups < Cin | `grouped` | the dense k×k conv (groups = 1) | depthwise "
    "k×k + pointwise 1×1 |\n"
    "| `depthwise` (multiplier M), or `conv` with groups = Cin and filters = Cin·M | "
    "`depthwise` | the dense k×k conv `Cin → Cin·M` (groups = 1) | the layer as written |\n"
    "| `separable` | `separable` | the dense k×k conv (groups = 1) | the layer as written |\n"
    "| a depthwise then the 1×1 it alone feeds (one row, type `separable`: "
    "[below](#a-depthwise-and-the-11-convolution-it-feeds)) | `separable` | one dense k×k "
    "conv from the depthwise's input to the 1×1's output channels | the two as written |\n"
    "| `inverted_residual` | `separable` | its depthwise and projection as one dense k×k "
    "conv from the expanded width to the output channels (with a squeeze-and-excite "
    "between them, its depthwise alone as the dense k×k conv on the expanded width) | the "
    "layer as written |\n"
    "| any 1×1 conv, `pointwise`, `dense`, `pool`, `global_pool` | `none` | the layer as "
    "written | the layer as written |\n"
    "\n"
    "Only a grouped convolution is, as written, neither of the other two forms; `cost` then "
    "shows an *As specified* column. The same operation written two ways gives the same "
    "report: a `depthwise` layer and a `conv` with groups = Cin (filters = Cin·M) have "
    "identical counts in every form and every total, and the same `form`; in the JSON only "
    "the `type` it echoes differs (and the default `name`, which is made from the type). A "
    "`conv` with groups = 1 is dense even on one input channel. A `residual` block is not a "
    "row of its own: its main path and shortcut layers are rows, then an `add` row (form "
    "`none`). A `branches` block is likewise its branches' rows, then a `concat` or `add` "
    "row (form `none`); a concat and a channel `shuffle` have no MACs and no FLOPs and "
    "read and write their tensors once.",
    json="as_specified = the layer as written, groups included; standard = every k x k conv "
    "(k > 1) dense (groups = 1); separable = every k x k conv as depthwise then pointwise, "
    "a depthwise conv being its own; 1x1 convs, dense, pool and add have one form",
    footer="Std = every k×k conv dense (groups 1). Sep = every k×k conv as depthwise + "
    "pointwise (a depthwise conv is its own)",
    short="As specified = the layer as written; Standard = the same conv with groups = 1",
)

PAIRS = Convention(
    key="pairs",
    title="A depthwise and the 1×1 convolution it feeds",
    doc="A depthwise k×k convolution (k > 1) whose output goes only into one 1×1 "
    "convolution (groups 1, stride 1, no padding), through its batch-norm, its activation "
    "and a layer norm at most, is one depthwise-separable convolution, counted as one row "
    "of type `separable`. Its `as_specified` and `separable` forms are the two "
    "convolutions as written, with their norms; its `standard` form is one dense k×k "
    "convolution (groups 1; the depthwise's kernel, stride, padding and dilation) from the "
    "depthwise's input channels to the 1×1's output channels, with the 1×1's bias and "
    "batch-norm (the depthwise's bias and batch-norm, and a layer norm between, have no "
    "place in it). That is the rule a `separable` layer follows, so MobileNet written with "
    "`separable` layers, with `depthwise` and `pointwise` layers, or read from its ONNX "
    "file has the same three forms (its standard form the paper's Conv MobileNet, 4,866 M "
    "mult-adds). Both activations stay counted in every form (see Activation functions).\n"
    "\n"
    "- In a spec: a `depthwise` layer (or a `conv` whose groups equal its input channels) "
    "followed in the same list (the model's layers, a block's main path or shortcut, a "
    "branch) by a `pointwise` layer (or a `conv` with kernel 1), with at most one "
    "`layer_norm` without an activation between them (ConvNeXt's block), none with a "
    "`repeat` other than 1. The row is named by its layers' names joined by `+` "
    "(`dw+pw`, `dwconv+norm+pwconv1`).\n"
    "- An `inverted_residual`: its depthwise and its projection, unless a "
    "squeeze-and-excite stands between them.\n"
    "- In an ONNX file: a depthwise `Conv` whose output, through `BatchNormalization`, an "
    "activation or `LayerNormalization`, is read only by one 1×1 `Conv` (or a `MatMul` on "
    "channels-last tokens, a 1×1 convolution).\n"
    "\n"
    "A depthwise followed by anything else keeps the rule of the table above (its "
    "standard form the dense k×k `Cin → Cin·M`, the 1×1 a row of its own): a "
    "squeeze-and-excite between the two (MBConv), an output that also feeds a shortcut or "
    "another branch (a `residual` or `branches` block after it), a pool, a grouped or "
    "strided 1×1, or nothing.",
    json="a depthwise k x k conv whose output goes only (through batch-norm, layer norm or "
    "activation) into one 1x1 conv is one separable row: as_specified = separable = the two "
    "as written; standard = one dense k x k conv from the depthwise's input to the 1x1's "
    "output channels, with the 1x1's norm",
    help="a depthwise k×k feeding only a 1×1 conv is one separable conv, its standard form "
    "one dense k×k",
    footer="A depthwise and the 1×1 conv it alone feeds are one row, whose Std is one dense "
    "k×k conv",
)

ONE_BY_ONE = Convention(
    key="one_by_one",
    title="1×1 convolutions",
    doc="A 1×1 convolution has nothing spatial to separate: its three forms are the same "
    "operations (JSON `form` `none`), grouped or not. That holds for `conv` and `depthwise` "
    "layers with kernel 1 and for `pointwise` layers; a `separable` layer with kernel 1 is "
    "counted in every form as the full 1×1 convolution (its depthwise 1×1 would only add "
    "work). A `conv` with kernel 1 and groups = 1 is labelled a pointwise convolution.",
    json="kernel 1x1: nothing spatial to separate; the three forms are the same operations",
    footer="A 1×1 conv is already pointwise: it has one form, so separable = standard",
)

SQUEEZE_EXCITE = Convention(
    key="squeeze_excite",
    title="Squeeze-and-excite",
    doc="A squeeze-and-excite (the `squeeze_excite` block, or an `inverted_residual` with "
    "`se_channels` or `se_ratio`) on a tensor of C channels with a squeeze of S channels is "
    "counted as: global average pool, 1×1 conv with bias `C → S`, activation, 1×1 conv with "
    "bias `S → C`, gate (sigmoid or hard-sigmoid), channel-wise multiply of its input by "
    "the gate. MACs are the two convs' only, `N · 2 · C · S`: what PyTorch's "
    "`FlopCounterMode` counts (convolutions and matrix products, checked in the tests "
    "against torchvision's blocks) and torchvision's published figures. fvcore's "
    "`FlopCountAnalysis` adds by default one per input element of `adaptive_avg_pool2d` "
    "(and batch-norm), which sepconv counts as FLOPs, not MACs. Params "
    "`C·S + S + S·C + C`. FLOPs: the pool "
    "one per input element, the convs `2 · MACs` plus their bias adds, the multiply one per "
    "element (an elementwise op like the residual add, no MACs); the activation and the "
    "gate are not counted, as no activation is. Bytes: the block reads its input twice (the "
    "pool and the multiply); the pooled vector, the squeeze and the gate are intermediate "
    "tensors. It is the same in every form, and in a separable form's parts it belongs to "
    "neither the depthwise nor the pointwise part.",
)

PEAK_MEMORY = Convention(
    key="peak_memory",
    title="Peak activation memory",
    doc="The most activation bytes alive at once, in each form (what must fit in SRAM; the "
    "weights, `weight_bytes`, are apart). The operations are walked in execution order: a "
    "tensor is alive from the step that writes it (the model input from the start) to the "
    "last step that reads it (a model output to the end), and a step needs its inputs and "
    "its output alive at once. A convolution, a dense layer, a pool, a layer norm or a "
    "shuffle is a step. A batch-norm, an activation function and arithmetic with a "
    "constant (a layer scale) are done in place, in the step that wrote their input, when "
    "nothing else reads it. A residual add is a step of its own (its two inputs and its "
    "output), a concat likewise with all its inputs, and a branch or a channel-split part "
    "reads its block's input in place. A squeeze-and-excite is its pool, its two 1×1 convs "
    "and its multiply, so its pooled vector and gate count while they live, and its input "
    "stays alive until the multiply. In the separable form a k×k conv is two steps, and "
    "the depthwise output is a tensor of its own between them (MCUNet's point: separating "
    "can raise the peak); a depthwise and the 1×1 it feeds are one step in the standard "
    "form. Bytes = elements × the dtype's size × batch. Each row's `live_bytes` is the most "
    "alive at any of its steps; `peak_activation_bytes` the most over the rows, `peak_at` "
    "the first row that reaches it. A model file is walked in its nodes' order; a view "
    "(`Reshape`, `Flatten`, `Identity`, `Split`, `Slice`) is its input's tensor, and an "
    "activation written out over several nodes (x·σ(x), GELU) is one activation. `cost` "
    "walks a layer alone: its input, what its form makes, its output.\n"
    "\n"
    "Worked example, float32, batch 1 (`sepconv profile mobilenet_v1`): `conv1` holds its "
    "224×224×3 input and 112×112×32 output, 150,528 + 401,408 = 551,936 elements; `sep1`'s "
    "depthwise step holds 112×112×32 twice (802,816), its 1×1 step the depthwise output "
    "and 112×112×64, 401,408 + 802,816 = 1,204,224 elements = 4,816,896 bytes (4.82 MB), "
    "MobileNetV1's peak in every form (one dense 3×3 holds the same input and output). In "
    "MobileNetV2, `block2` expands 112×112×16 to 96 channels (200,704 + 1,204,224 = "
    "1,404,928), then its depthwise (stride 2) holds the expansion and 56×56×96, 1,204,224 "
    "+ 301,056 = 1,505,280 elements (6.02 MB, the peak as specified); its standard form "
    "writes 56×56×24 there instead (1,279,488), so the standard peak is the expansion's "
    "5.62 MB: the separable form has 2.9× fewer MACs in that row but a 7% higher peak. A "
    "residual block keeps its input alive: `block3`'s 56×56×24 input (75,264) is held "
    "through its expansion and depthwise (75,264 + 451,584 + 451,584 = 978,432) to its add.",
    json="most activation bytes alive at once; a tensor lives from the step writing it to "
    "the last step reading it; batch-norm and activations in place; residual add, concat "
    "and squeeze-excite parts are steps; the separable form's depthwise output is a tensor",
    footer="Peak = the most activation bytes alive at once (liveness)",
)

THEORY_RATIO = Convention(
    key="theory",
    title="The theory ratio",
    doc=f"For a `conv` (dense or grouped: its standard form is dense either way), a "
    f"`separable` layer or a depthwise-separable pair (an `inverted_residual` without "
    f"expansion or squeeze-and-excite among them) with k > 1 and depth multiplier M = 1, "
    f"separable MACs / standard "
    f"MACs is exactly `{THEORY}` (MobileNet, Xception). Reports print it as the theory "
    "(JSON `ratio.theory`, and `ratio.theory_exact` as a fraction); other layers have none "
    "(`null`), among them a convolution that already is depthwise.",
    json=f"{THEORY}: exact separable/standard MAC ratio when M = 1 and the conv is not "
    "already depthwise",
    help=f"for M = 1 its MAC ratio is exactly {THEORY}",
    footer=f"Theory = {THEORY}, exact when {_THEORY_HOLDS}",
)

RATIO = Convention(
    key="ratio",
    title="Ratios",
    doc="A ratio is always separable / standard: `ratio.macs` and `ratio.params` per layer "
    "(JSON floats rounded to 6 decimals; `null` when the standard count is 0). Below 1 the "
    "separable form is cheaper.",
    json="separable MACs / standard MACs",
    help="Sep/std = separable MACs / standard MACs",
    footer="Sep/std = separable / standard MACs",
    short="Sep/std = Sep MACs / Std MACs",
    in_report_json=False,
)

REPEAT = Convention(
    key="repeat",
    title="Repeated layers",
    doc="`repeat: n` applies a layer n times in sequence. Once an instance keeps its input "
    'shape, the remaining identical instances share one row with `"repeat": n`, whose '
    "counts (and times) cover all n: totals are the plain sum of rows, and "
    "`repeat: 1000000000` costs nothing extra to count. Instances that change the shape are "
    "unrolled, one row each, up to 100,000 rows.",
    footer="× = n identical repeats counted in one row",
)

EXACT = Convention(
    key="exact",
    title="Exact integers",
    doc="Counts are exact Python integers at any size, never floats: JSON integers, however "
    "large. Human units (`1.23 M`) appear only in tables.",
)

RULES: tuple[Convention, ...] = (
    LAYOUT,
    OUTPUT_SIZE,
    MACS,
    FLOPS,
    AVERAGE_POOL,
    ACTIVATIONS,
    LAYER_NORM,
    GRAPH_NODES,
    PARAMS,
    BYTES,
    SEPARABLE,
    FORMS,
    PAIRS,
    ONE_BY_ONE,
    SQUEEZE_EXCITE,
    PEAK_MEMORY,
    THEORY_RATIO,
    RATIO,
    REPEAT,
    EXACT,
)


# ------------------------------------------------------------------ JSON

JSON_CONVENTIONS: dict[str, str] = {
    rule.key: rule.json for rule in RULES if rule.json and rule.in_report_json
}


def report_conventions(dtype: str, itemsize: int) -> dict[str, str | int]:
    """The ``conventions`` object of ``cost`` and ``profile`` JSON (keys in this order)."""
    return {**JSON_CONVENTIONS, "dtype": dtype, "itemsize": itemsize}


def sweep_conventions(dtype: str, itemsize: int) -> dict[str, str | int]:
    """The ``conventions`` object of ``sweep`` JSON: the report's, then ``ratio``."""
    return {**report_conventions(dtype, itemsize), RATIO.key: RATIO.json}


# ------------------------------------------------------------------ --help

HELP_EPILOG = (
    f"{LAYOUT.help}. {MACS.help}; {FLOPS.help}. {SEPARABLE.help}; {THEORY_RATIO.help}; "
    f"{PAIRS.help}."
)
SWEEP_HELP_PREFIX = f"{RATIO.help}. "

# ------------------------------------------------------------------ table footers

COST_FOOTER = "\n".join(
    (
        f"{MACS.footer}; {FLOPS.footer}.",
        f"{SEPARABLE.footer}.",
        f"{BYTES.footer}.",
        f"{LAYOUT.footer}.",
    )
)
# `cost`'s note under a depthwise layer (the FORMS rule's exception, said where it applies)
DEPTHWISE_NOTE = "Already depthwise (groups = input channels): it is its own separable form."
# one line each: the terminal wraps them at its own width (a fixed wrap width wrapped twice
# on an 80-column terminal)
PROFILE_FORMS_FOOTER = f"{FORMS.footer}. {PAIRS.footer}. {RATIO.short}.\n"
PROFILE_COUNTS_FOOTER = f"{MACS.footer}; {PARAMS.footer}. {REPEAT.footer}."
SWEEP_FOOTER = f"{RATIO.footer}. {THEORY_RATIO.footer}.\n{MACS.footer}. {SEPARABLE.short}."
SWEEP_MARKDOWN_NOTE = f"\n{RATIO.footer}; theory = {THEORY} (exact when {_THEORY_HOLDS}).\n"

# ------------------------------------------------------------------ docs/conventions.md

DOC_PATH = Path("docs") / "conventions.md"


def markdown() -> str:
    """``docs/conventions.md``: every rule in full (:mod:`.conventions_page` renders it)."""
    from sepconv_cli.counting.conventions_page import markdown as page

    return page()


def main(argv: list[str]) -> int:
    """Write ``docs/conventions.md`` (or the path given); ``--check`` only compares."""
    from sepconv_cli.counting.conventions_page import main as write

    return write(argv, Path(__file__).resolve().parents[2] / DOC_PATH)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
