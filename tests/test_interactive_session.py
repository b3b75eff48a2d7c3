"""``sepconv interactive``'s state machine (``Session.handle``), without a terminal.

Expected numbers are hand arithmetic on the seed layer, 12x12x3 input, 5x5 kernel, 256
filters, valid padding -> 8x8x256:
  standard  MACs 3*25*64*256 = 1,228,800   params 3*25*256 = 19,200
  separable MACs 3*25*64 + 3*256*64 = 4,800 + 49,152 = 53,952   params 75 + 768 = 843
With a 3x3 kernel the output is 10x10x256:
  standard  MACs 3*9*100*256 = 691,200     params 3*9*256 = 6,912
  separable MACs 3*9*100 + 3*256*100 = 2,700 + 76,800 = 79,500   params 27 + 768 = 795
Bytes moved (inputs and weights read once, output written once, float32):
  depthwise 12*12*3*4 + 75*4 + 8*8*3*4 = 1,728 + 300 + 768 = 2,796 B, FLOPs 2*4,800 = 9,600
  pointwise 8*8*3*4 + 768*4 + 8*8*256*4 = 768 + 3,072 + 65,536 = 69,376 B, FLOPs 98,304
Timing is faked: no test here runs NumPy kernels or measures the machine.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from sepconv_cli.analysis.interactive import HELP, Session
from sepconv_cli.counting.report import LayerReport
from sepconv_cli.errors import SepconvError
from sepconv_cli.execution.overhead import OVERHEAD_FLOOR_S, overhead_parts
from sepconv_cli.execution.records import FormTiming, LayerTiming

CEILINGS = {"gemm_gflops": 100.0, "bandwidth_gbs": 20.0}
KERNEL_5_TO_3 = """kernel 5 → 3 · output 8×8×256 → 10×10×256
  standard MACs     1,228,800 → 691,200  (-537,600)
  separable MACs       53,952 →  79,500  (+25,548)
  standard params      19,200 →   6,912  (-12,288)
  separable params        843 →     795  (-48)
  separable / standard MACs: 0.0439 → 0.1150
  (table prints the full table)"""


@pytest.mark.parametrize("line", ["kernel 3", "kernel=3", "kernel = 3", "kernel= 3", "k =3"])
def test_key_value_and_key_space_value_are_the_same_change(line: str) -> None:
    session = Session()
    reply = session.handle(line)
    assert not reply.error, reply.message
    assert reply.message == KERNEL_5_TO_3
    assert reply.report is None  # the full table only on request


def test_a_change_shows_unchanged_totals_as_such() -> None:
    reply = Session().handle("bias on")  # + one bias per filter: 256 params in both forms
    assert reply.message.splitlines() == [
        "bias off → on",
        "  standard MACs     1,228,800  (unchanged)",
        "  separable MACs       53,952  (unchanged)",
        "  standard params      19,200 → 19,456  (+256)",
        "  separable params        843 →  1,099  (+256)",
        "  separable / standard MACs: 0.0439 (unchanged)",
        "  (table prints the full table)",
    ]


def test_setting_the_same_value_says_nothing_changed() -> None:
    assert Session().handle("kernel 5").message == "nothing changed"


def test_reset_lists_every_field_it_puts_back() -> None:
    session = Session()
    session.handle("kernel 3")
    session.handle("stride 2")
    first = session.handle("reset").message.splitlines()[:2]
    assert first[0] == "reset to the worked example"
    assert first[1] == "kernel 3 → 5 · stride 2 → 1 · output 5×5×256 → 8×8×256"
    assert session.values == {"input": "12x12x3", "kernel": "5", "filters": "256"}


@pytest.mark.parametrize(
    ("line", "suggestion"),
    [
        ("kernal 5", "kernel"),
        ("kernal=5", "kernel"),
        ("filtres 64", "filters"),
        ("strides 2", "stride"),
        ("tabel", "table"),
    ],
)
def test_unknown_commands_get_a_did_you_mean(line: str, suggestion: str) -> None:
    session = Session()
    reply = session.handle(line)
    assert reply.error
    assert f"(did you mean {suggestion!r}?)" in reply.message
    assert session.values == {"input": "12x12x3", "kernel": "5", "filters": "256"}


def test_a_refused_value_leaves_the_layer_as_it_was() -> None:
    session = Session()
    reply = session.handle("kernel=0")
    assert reply.error and "(unchanged)" in reply.message
    assert session.values["kernel"] == "5"


@pytest.mark.parametrize("word", ["table", "show"])
def test_the_full_table_comes_on_request(word: str) -> None:
    reply = Session().handle(word)
    assert reply.report is not None and reply.report.standard.macs == 1_228_800
    assert "table" in HELP and "full cost table" in HELP


# --------------------------------------------------------------------------- time


def form(median_s: float) -> FormTiming:
    return FormTiming(median_s, median_s, median_s, 0.0, 5, 1.0)


def fake_timer(standard: float, separable: float, depthwise: float, pointwise: float):  # type: ignore[no-untyped-def]
    def timer(report: LayerReport) -> LayerReport:
        timing = LayerTiming(
            form(standard), form(separable), form(depthwise), form(pointwise), standard / separable
        )
        return replace(report, timing=timing)

    return timer


def timed_session(*medians: float) -> Session:
    return Session(timer=fake_timer(*medians), ceilings=lambda: dict(CEILINGS))


def test_time_on_a_layer_too_small_names_no_bound() -> None:
    # depthwise: 2,796 B in 5.592 µs = 0.50 GB/s (20 GB/s available), 9,600 FLOPs = 1.72
    # GFLOP/s (100 available): 2.5 % of its roofline, under 100 µs: call overhead
    reply = timed_session(200e-6, 150e-6, 5.592e-6, 120e-6).handle("time")
    assert reply.warning and not reply.error and reply.report is None
    lines = reply.message.splitlines()
    assert lines[0] == (
        "Measured (NumPy, medians): standard 200 µs, separable 150 µs "
        "(depthwise 5.59 µs + pointwise 120 µs)."
    )
    verdict = lines[1]
    assert verdict.startswith("Too small to time meaningfully: the depthwise part took 5.59 µs")
    assert "2.7 KiB (0.50 GB/s; this machine copies 20.0 GB/s)" in verdict
    assert "9,600 FLOPs (1.72 GFLOP/s; its GEMM peak is 100.0)" in verdict
    assert "memory-bound" not in reply.message and "×" not in reply.message


def test_time_on_a_layer_large_enough_shows_the_measured_table() -> None:
    reply = timed_session(2e-3, 1e-3, 400e-6, 600e-6).handle("time")
    assert reply.report is not None and reply.report.timing is not None
    assert reply.timed and not reply.message


def test_a_timer_failure_is_a_message_not_a_crash() -> None:
    def failing(report: LayerReport) -> LayerReport:
        raise SepconvError("needs 37.2 GiB")

    reply = Session(timer=failing, ceilings=lambda: dict(CEILINGS)).handle("time")
    assert reply.error and reply.message == "cannot time this layer: needs 37.2 GiB"


def test_the_overhead_rule_needs_both_a_short_time_and_a_far_roofline() -> None:
    report = Session().report()
    # pointwise best case: 69,376 B / 20 GB/s = 3.4688 µs (compute: 0.98 µs)
    at_20us = replace(report, timing=fake_timer(200e-6, 150e-6, 200e-6, 20e-6)(report).timing)
    assert overhead_parts(at_20us, CEILINGS) == []  # 17 % of its roofline: the work shows
    at_50us = replace(report, timing=fake_timer(200e-6, 150e-6, 200e-6, 50e-6)(report).timing)
    (part,) = overhead_parts(at_50us, CEILINGS)  # 6.9 %: the calls are the time
    assert (part.part, round(part.share, 4)) == ("pointwise", round(3.4688e-6 / 50e-6, 4))
    # a slow part at 100 µs or more is a measurement, however far from the roofline
    slow = replace(report, timing=fake_timer(1.0, 1.0, OVERHEAD_FLOOR_S, 1.0)(report).timing)
    assert overhead_parts(slow, CEILINGS) == []
    assert overhead_parts(at_50us, {}) == []  # unknown ceilings: no verdict


# --------------------------------------------------------------------------- the spec's newer keys


def test_activation_adds_its_flops_apart_and_leaves_the_macs() -> None:
    # relu6: 2 FLOPs per output element (docs/conventions.md), 8*8*256 = 16,384 elements
    session = Session()
    reply = session.handle("activation relu6")
    assert not reply.error, reply.message
    assert reply.message.splitlines()[0] == "activation none → relu6"
    assert "standard MACs     1,228,800  (unchanged)" in reply.message
    assert "activation FLOPs          0 → 32,768  (+32,768)" in reply.message
    assert session.report().activation_function_flops == 2 * 8 * 8 * 256


def test_batch_norm_adds_scale_and_shift_per_channel() -> None:
    # standard: +2*256 = 512; separable: depthwise (3 channels) + pointwise (256) = +518
    session = Session()
    reply = session.handle("bn on")
    assert reply.message.splitlines()[0] == "batch_norm off → on"
    assert "standard params      19,200 → 19,712  (+512)" in reply.message
    assert "separable params        843 →  1,361  (+518)" in reply.message
    assert session.handle("batch_norm maybe").error


def test_per_side_padding_as_before_after_pairs() -> None:
    # 12 + 0 + 1 - 5 + 1 = 9 per dim: 9x9x256, standard 3*25*81*256 = 1,555,200
    session = Session()
    reply = session.handle("padding 0:1x0:1")
    assert not reply.error, reply.message
    assert session.report().standard.macs == 3 * 25 * 81 * 256 == 1_555_200
    assert "output 8×8×256 → 9×9×256" in reply.message
    refused = session.handle("padding 1:2:3")
    assert refused.error and "padding" in refused.message


@pytest.mark.parametrize(
    ("word", "where"),
    [
        ("se_ratio", "inverted_residual, squeeze_excite layers"),
        ("expanded", "inverted_residual layers"),
        ("ceil_mode", "pool layers"),
        ("output_size", "pool, resize layers"),
        ("merge", "branches layers"),
        ("split", "branches layers"),
        ("units", "dense layers"),
    ],
)
def test_keys_of_other_layer_types_say_where_they_belong(word: str, where: str) -> None:
    reply = Session().handle(f"{word} 2")
    assert reply.error
    assert reply.message.startswith(f"{word} is a key of {where}; ")
    assert "sepconv profile FILE" in reply.message


@pytest.mark.parametrize("word", ["depthwise", "squeeze_excite", "branches", "shuffle"])
def test_layer_types_say_how_to_get_them(word: str) -> None:
    reply = Session().handle(word)
    assert reply.error and reply.message.startswith(f"{word} is a layer type; ")
