"""The named choices (``Literal`` types) agree with the tables and data that list them.

mypy checks that every value written in the code is one of a type's choices; these tests
check the other direction at run time: that each table lists every choice, and that the
values the counting code produces for the built-in models are all named.
"""

from __future__ import annotations

from typing import get_args

from sepconv_cli.counting.lowering import DeclaredForm
from sepconv_cli.counting.network import build
from sepconv_cli.counting.ops import DTYPE_BYTES, Role
from sepconv_cli.spec import fields
from sepconv_cli.spec.layers import TYPES, LayerType, is_layer_type
from sepconv_cli.spec.presets import resolve_model


def test_every_layer_type_has_its_fields_listed() -> None:
    assert tuple(TYPES) == get_args(LayerType)
    assert (
        is_layer_type("conv")
        and is_layer_type("add")
        and not is_layer_type("sum")
        and not is_layer_type(3)
    )


def test_batch_norm_modes_are_the_three_placements() -> None:
    assert fields.BN_MODES == ("none", "each", "output")
    assert fields.batch_norm(True) == "each" and fields.batch_norm(False) == "none"
    assert fields.batch_norm(" Output ") == "output"


def test_one_dtype_list() -> None:
    # bytes per value: IEEE 754 binary64/32/16, bfloat16 (16 bits), int8
    assert DTYPE_BYTES == {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int8": 1}
    assert tuple(DTYPE_BYTES) == fields.DTYPES


def test_built_in_models_produce_only_named_roles_and_forms() -> None:
    roles: set[str] = set()
    forms: set[str] = set()
    for preset in ("mobilenet_v1", "mobilenet_v2", "xception"):
        for row in build(resolve_model(preset)).rows:
            forms.add(row.form)
            for ops in (row.forms.as_specified, row.forms.standard, row.forms.separable):
                roles.update(op.role for op in ops)
    assert roles <= set(get_args(Role))
    assert forms <= set(get_args(DeclaredForm))
    assert {"conv", "depthwise", "pointwise", "batch_norm", "add"} <= roles
