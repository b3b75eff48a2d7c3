"""A model that writes the same layer mapping many times (validated once per distinct
mapping) reads exactly as if each were validated on its own: every layer located at its own
line, every bad one reported, values of other types never taken for equal ones."""

from __future__ import annotations

import pytest

from sepconv_cli.spec.layers import SpecErrors
from sepconv_cli.spec.reader import cost_layers, model_from_document
from sepconv_cli.spec.yaml_loader import loads

MODEL = """\
input: [8, 8, 4]
layers:
  - {type: conv, kernel: 3, filters: 8, bias: true}
  - {type: conv, kernel: 3, filters: 8, bias: true}
  - {type: conv, kernel: 3, filters: 8, bias: true}
"""


def test_repeated_layers_keep_their_own_positions() -> None:
    model = model_from_document(loads(MODEL, "m.yaml"))
    assert [layer.where for layer in model.layers] == [
        "m.yaml:3:5: layers[0]",
        "m.yaml:4:5: layers[1]",
        "m.yaml:5:5: layers[2]",
    ]
    assert model.layers[2].field_where == (
        ("kernel", "m.yaml:5:26: layers[2].kernel"),
        ("filters", "m.yaml:5:38: layers[2].filters"),
        ("bias", "m.yaml:5:47: layers[2].bias"),
    )
    assert {(layer.kernel, layer.filters, layer.bias) for layer in model.layers} == {
        ((3,), 8, True)
    }


def test_equal_values_of_other_types_are_validated_apart() -> None:
    """``1 == True`` and ``3.0 == 3`` in Python; a bias must be a boolean and a kernel an
    integer, so the second and third layers are errors after a valid first one."""
    text = """\
input: [8, 8, 4]
layers:
  - {type: conv, kernel: 3, filters: 8, bias: true}
  - {type: conv, kernel: 3, filters: 8, bias: 1}
  - {type: conv, kernel: 3.0, filters: 8, bias: true}
  - {type: conv, kernel: 3, filters: 8, bias: 1}
"""
    with pytest.raises(SpecErrors) as caught:
        model_from_document(loads(text, "m.yaml"))
    assert caught.value.messages == [
        "m.yaml:4:47: layers[1].bias: expected true or false, got 1",
        "m.yaml:5:26: layers[2].kernel: expected an integer >= 1 or a list of them, "
        "got 3.0 (a float)",
        "m.yaml:6:47: layers[3].bias: expected true or false, got 1",
    ]


def test_defaults_apply_to_every_repeat() -> None:
    text = "input: [8, 8, 4]\ndefaults: {padding: same}\nlayers:\n" + (
        "  - {type: separable, kernel: 3, filters: 8}\n" * 3
    )
    model = model_from_document(loads(text, "m.yaml"))
    assert [layer.padding for layer in model.layers] == ["same", "same", "same"]


def test_cost_spec_layers_repeat_too() -> None:
    text = "- {kernel: 3, filters: 8, input: [8, 8, 4]}\n" * 2
    layers = cost_layers(loads(text, "c.yaml"))
    assert [layer.where for layer in layers] == ["c.yaml:1:3: [0]", "c.yaml:2:3: [1]"]
    assert layers[0] == layers[1]
