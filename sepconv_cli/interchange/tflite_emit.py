"""The bookkeeping of a TFLite → ONNX translation: which layout each tensor is held in,
constants as initializers, node and tensor names, and the shapes declared.

A rank-4 tensor an operator computes is held NCHW (:meth:`Emitter.held`); :meth:`tf` gives it
in TFLite's own NHWC through a Transpose made once. Constants stay in the file's layout
unless a rule asks for them NCHW (:meth:`nchw_constant`). Every output gets its shape
declared (``value_info``) from the file, so an operator the reader cannot follow leaves the
shapes after it known.
"""

from __future__ import annotations

import re
from math import prod
from typing import Any

import numpy as np

from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.tflite_file import TfGraph, TfOperator, TfTensor
from sepconv_cli.names import unique_name

TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)
NHWC_AXIS_IN_NCHW = (0, 2, 3, 1)  # NHWC axis a is NCHW axis NHWC_AXIS_IN_NCHW[a]

ACTIVATIONS = {1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
"""TFLite's fused activation codes (ActivationFunctionType; 0 is none)."""


class Emitter:
    """Builds the ONNX nodes of one subgraph; rules (:mod:`tflite_ops`) call it."""

    def __init__(
        self, onnx: Any, graph: TfGraph, layer_names: dict[int, str], where: str = ""
    ) -> None:
        self.onnx = onnx
        self.where = where  # the file, for messages
        # the most values a sparse weight may hold once dense: generous for real sparsity,
        # bounded so a hostile file cannot ask for terabytes of zeros
        self.dense_limit = max(64 * sum(len(t.data or b"") for t in graph.tensors), 1 << 24)
        self.graph = graph
        self.layer_names = layer_names
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self.infos: list[Any] = []
        self.domains: set[str] = set()
        self.notes: list[str] = []
        self.values: dict[int, str] = {}  # tensor → its ONNX name, in the layout it is held
        self.nchw: set[int] = set()  # tensors held channels-first
        self._nhwc: dict[int, str] = {}  # an NCHW-held tensor's Transpose back, made once
        self.constants: dict[int, Any] = {}  # DEQUANTIZE/DENSIFY of a constant: a constant
        self._used: set[str] = set()  # tensor names
        self._node_names: set[str] = set()  # node names: a namespace of their own in ONNX
        self.sparse: list[str] = []
        self.opaque_ops: dict[str, int] = {}

    def fault(self, message: str) -> UsageError:
        """A damaged file's one line, naming the file."""
        return UsageError(f"{self.where}: {message}")

    # -- names ------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        """A tensor or node name not used yet (``base``, else ``base#2``, ``base#3``…)."""
        name = unique_name(base, self._used, "#")
        self._used.add(name)
        return name

    def node_name(self, base: str) -> str:
        """A node name not used yet: the layer's, numbered from the second node on."""
        name = unique_name(base, self._node_names, "#")
        self._node_names.add(name)
        return name

    def tensor(self, index: int) -> TfTensor:
        return self.graph.tensors[index]

    def rank(self, index: int) -> int:
        return len(self.tensor(index).shape)

    # -- constants ----------------------------------------------------------------------
    def known(self, index: int) -> bool:
        """Whether an operator input has a value (-1, an optional input left out, has none)."""
        return index >= 0 and (index in self.values or self.is_constant(index))

    def is_constant(self, index: int) -> bool:
        return index in self.constants or self.tensor(index).is_constant

    def float_value(self, index: int) -> Any:
        if index in self.constants:
            return self.constants[index]
        tensor = self.tensor(index)
        if tensor.data is None and prod(tensor.shape) > self.dense_limit:
            raise self.fault(
                f"sparse tensor {tensor.name!r} declares {prod(tensor.shape):,} values "
                f"{tensor.shape}, more than a file of this size can describe"
            )
        return tensor.float_value()

    def ints(self, index: int) -> list[int]:
        """A constant integer tensor's values (a Pad's paddings, a Mean's axes)."""
        return [int(v) for v in np.asarray(self.tensor(index).array()).reshape(-1)]

    def initializer(self, array: Any, base: str) -> str:
        name = self.fresh(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def nchw_constant(self, index: int) -> str:
        """A constant broadcast against an NCHW tensor: its dims padded to rank 4 in front
        (NumPy's broadcasting), then moved channels-first."""
        value = self.float_value(index)
        if value.ndim <= 4:
            value = value.reshape((1,) * (4 - value.ndim) + value.shape).transpose(TO_NCHW)
        return self.initializer(value, self.tensor(index).name + "/nchw")

    # -- values -------------------------------------------------------------------------
    def held(self, index: int) -> str:
        """The tensor as it is held: NCHW for a rank-4 computed tensor, else as the file has
        it; a constant is an initializer of its float value."""
        if index in self.values:
            return self.values[index]
        if self.is_constant(index):
            tensor = self.tensor(index)
            whole = tensor.dtype in ("int32", "int64", "bool") and not tensor.quantized
            value = tensor.array() if whole and tensor.data is not None else None
            if value is None:
                value = self.float_value(index)  # a number the model computes with
            name = self.initializer(value, tensor.name)
            self.values[index] = name
            return name
        raise KeyError(index)

    def held_ints(self, index: int) -> str:
        """An integer constant as an int64 initializer (indices, repeats)."""
        return self.initializer(np.asarray(self.ints(index), np.int64), self.tensor(index).name)

    def tf(self, index: int) -> str:
        """The tensor in TFLite's own layout (NHWC for a rank-4 one)."""
        name = self.held(index)
        if index not in self.nchw:
            return name
        if index not in self._nhwc:
            moved = self.fresh(name + "/nhwc")
            self.nodes.append(
                self.onnx.helper.make_node(
                    "Transpose", [name], [moved], name=self.node_name(moved), perm=list(TO_NHWC)
                )
            )
            self._nhwc[index] = moved
        return self._nhwc[index]

    def layer(self, op: TfOperator) -> str:
        return self.layer_names.get(op.index, f"{op.op}_{op.index}")

    def node(self, op: TfOperator, op_type: str, inputs: list[str], **attrs: Any) -> str:
        """One ONNX node of ``op``'s arithmetic; its single output's name."""
        output = self.fresh(f"{self.layer(op)}/{op_type}")
        domain = attrs.pop("domain", "")
        self.nodes.append(
            self.onnx.helper.make_node(
                op_type,
                inputs,
                [output],
                name=self.node_name(self.layer(op)),
                domain=domain,
                **attrs,
            )
        )
        return output

    def put(self, index: int, name: str, nchw: bool) -> None:
        """Tensor ``index`` is ONNX value ``name`` (held NCHW or as the file has it), with its
        shape declared from the file."""
        self.values[index] = name
        shape = self.tensor(index).shape
        if nchw:
            self.nchw.add(index)
            shape = tuple(shape[a] for a in TO_NCHW)
        self.infos.append(self.onnx.helper.make_tensor_value_info(name, self.elem(index), shape))

    def put_tf(self, index: int, name: str) -> None:
        """An output made in TFLite's layout: a rank-4 one moved to NCHW (a free Transpose)."""
        if self.rank(index) != 4:
            self.put(index, name, nchw=False)
            return
        raw = self.tensor(index).shape
        self.infos.append(self.onnx.helper.make_tensor_value_info(name, self.elem(index), raw))
        moved = self.fresh(name + "/nchw")
        self.nodes.append(
            self.onnx.helper.make_node(
                "Transpose", [name], [moved], name=self.node_name(moved), perm=list(TO_NCHW)
            )
        )
        self._nhwc[index] = name
        self.put(index, moved, nchw=True)

    def put_held(self, index: int, name: str, nchw: bool) -> None:
        """An output made where its inputs were held: channels-first (``nchw``, a rank-4
        output), else in TFLite's own layout (:meth:`put_tf`)."""
        if nchw and self.rank(index) == 4:
            self.put(index, name, nchw=True)
        else:
            self.put_tf(index, name)

    def elem(self, index: int) -> int:
        """The ONNX element type the translation holds a tensor in: every number the model
        computes with is a float (an int8 tensor holds quantized reals), indices and shapes
        keep their integer type."""
        t = self.onnx.TensorProto
        tensor = self.tensor(index)
        if tensor.quantized:
            return int(t.FLOAT)
        return int({"int32": t.INT32, "int64": t.INT64, "bool": t.BOOL}.get(tensor.dtype, t.FLOAT))

    # -- the graph's ends ---------------------------------------------------------------
    def graph_input(self, index: int) -> None:
        tensor = self.tensor(index)
        name = self.fresh(tensor.name)
        helper = self.onnx.helper
        self.inputs.append(helper.make_tensor_value_info(name, self.elem(index), tensor.shape))
        if len(tensor.shape) == 4:
            moved = self.fresh(name + "/nchw")
            self.nodes.append(
                helper.make_node(
                    "Transpose", [name], [moved], name=self.node_name(moved), perm=list(TO_NCHW)
                )
            )
            self._nhwc[index] = name
            self.values[index] = moved
            self.nchw.add(index)
        else:
            self.values[index] = name

    def graph_output(self, index: int) -> None:
        if index not in self.values and not self.is_constant(index):
            return
        name = self.tf(index)
        shape = self.tensor(index).shape
        self.outputs.append(self.onnx.helper.make_tensor_value_info(name, self.elem(index), shape))

    # -- shared steps ---------------------------------------------------------------------
    def activation(self, op: TfOperator, name: str) -> str:
        """The op's fused activation applied to ``name`` (held in either layout)."""
        code = int(op.options.get("FusedActivationFunction", 0) or 0)
        if code == 0:
            return name
        kind = ACTIVATIONS.get(code, f"code {code}")
        if kind == "RELU":
            return self.node(op, "Relu", [name])
        if kind == "TANH":
            return self.node(op, "Tanh", [name])
        if kind in ("RELU6", "RELU_N1_TO_1"):
            low, high = (0.0, 6.0) if kind == "RELU6" else (-1.0, 1.0)
            lo = self.initializer(np.float32(low), "clip_min")
            hi = self.initializer(np.float32(high), "clip_max")
            return self.node(op, "Clip", [name, lo, hi])
        self.domains.add("tflite")
        return self.node(op, f"FUSED_{kind.replace(' ', '_')}", [name], domain="tflite")

    def opaque(self, op: TfOperator) -> None:
        """An operator without a rule: a node of domain ``tflite`` (``tflite.custom`` for a
        custom operator) reading the tensors as the file holds them, its outputs' shapes
        declared, so the reader names it as not counted and reads on."""
        custom = op.op.startswith("CUSTOM:")
        domain = "tflite.custom" if custom else "tflite"
        op_type = re.sub(r"\W", "_", op.op.split(":", 1)[1] if custom else op.op)
        self.domains.add(domain)
        self.opaque_ops[op.op] = self.opaque_ops.get(op.op, 0) + 1
        inputs = [self.tf(i) if self.known(i) else "" for i in op.inputs]
        outputs = [self.fresh(self.tensor(i).name) if i >= 0 else "" for i in op.outputs]
        self.nodes.append(
            self.onnx.helper.make_node(
                op_type, inputs, outputs, name=self.node_name(self.layer(op)), domain=domain
            )
        )
        for index, name in zip(op.outputs, outputs, strict=True):
            if index >= 0:
                self.put_tf(index, name)
