from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsearch.arch import (
    Arch,
    Stage,
    Stem,
    conv_mobilenet,
    make_divisible,
    mobilenet_v1,
    scale_channels,
    shallow_mobilenet,
)
from hwsearch.errors import ArchError, ArchParseError
from hwsearch.space import RandomSuggester, load_space

PAPER_STR = "mbv1_a1.0_r224_in3_cls1000_floor8_stem32s2_ds64x1s1_ds128x2s2_ds256x2s2_ds512x6s2_ds1024x2s2"


def test_paper_mobilenet_canonical_string():
    assert mobilenet_v1().to_str() == PAPER_STR
    assert Arch.from_str(PAPER_STR) == mobilenet_v1()


def test_string_and_json_round_trip_on_200_space_samples():
    space = load_space()
    rng = RandomSuggester(seed=1234)
    seen = set()
    for _ in range(200):
        arch = space.sample(rng)
        text = arch.to_str()
        assert Arch.from_str(text) == arch
        assert Arch.from_str(text).to_str() == text
        assert Arch.from_json(arch.to_json()) == arch
        seen.add(text)
    assert len(seen) > 150  # the samples really differ


def test_arch_is_frozen_and_hashable():
    arch = mobilenet_v1(0.5, 160)
    with pytest.raises(dataclasses.FrozenInstanceError):
        arch.alpha = 1.0  # type: ignore[misc]
    assert len({arch, mobilenet_v1(0.5, 160), mobilenet_v1(0.5, 128)}) == 2


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("mbv1_a1.0_r224_in3_cls1000_floor8_stem32s2_dz64x1s1", "dz64x1s1"),
        ("mbv2_a1.0_r224_in3_cls1000_floor8_stem32s2_ds64x1s1", "mbv2"),
        ("mbv1_a1.0_r224_in3_cls1000_floor9_stem32s2_ds64x1s1", "floor9"),
        ("mbv1_r224_a1.0_in3_cls1000_floor8_stem32s2_ds64x1s1", "r224"),
        ("mbv1_a1.0_r224_in3_cls1000_floor8_stem32s2_ds64x1s1_", ""),
        ("mbv1_a1.0_r224_in3_cls1000_floor8_stem32s2_ds64x1s1 extra", "ds64x1s1 extra"),
    ],
)
def test_parser_names_unknown_token(text, token):
    with pytest.raises(ArchParseError) as info:
        Arch.from_str(text)
    assert info.value.token == token
    assert repr(text.strip()) in str(info.value) or repr(text) in str(info.value)


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("mbv1_a1.0_r224", "in<channels>"),
        ("mbv1_a1.0_r224_in3_cls1000_floor8_stem32s2", "<ds|conv><channels>x<blocks>s<stride>"),
        ("", "family"),
    ],
)
def test_parser_names_missing_token(text, missing):
    with pytest.raises(ArchParseError) as info:
        Arch.from_str(text)
    assert info.value.token == missing
    assert "missing token" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "mbv1_a0.0_r224_in3_cls1000_floor8_stem32s2_ds64x1s1",
        "mbv1_a9.5_r224_in3_cls1000_floor8_stem32s2_ds64x1s1",
        "mbv1_a1.0_r0_in3_cls1000_floor8_stem32s2_ds64x1s1",
        "mbv1_a1.0_r224_in3_cls1000_floor8_stem32s3_ds64x1s1",
        "mbv1_a1.0_r224_in3_cls1000_floor8_stem32s2_ds64x0s1",
    ],
)
def test_parser_rejects_out_of_range_values(text):
    with pytest.raises(ArchParseError):
        Arch.from_str(text)


def test_constructor_validation_names_field():
    with pytest.raises(ArchError, match=r"stages\[0\]\.kind"):
        Arch(1.0, 224, (Stage(64, 1, 1, "mb"),))
    with pytest.raises(ArchError, match="at least one stage"):
        Arch(1.0, 224, ())
    with pytest.raises(ArchError, match="alpha"):
        Arch(float("nan"), 224, (Stage(64, 1, 1),))


def test_json_is_strict():
    data = json.loads(mobilenet_v1().to_json())
    data["depth_multiplier"] = 1
    with pytest.raises(ArchError, match="depth_multiplier"):
        Arch.from_dict(data)
    del data["depth_multiplier"]
    del data["stem"]
    with pytest.raises(ArchError, match="stem"):
        Arch.from_dict(data)
    with pytest.raises(ArchError, match="does not parse"):
        Arch.from_json("{not json")


def test_floor8_rule_is_tf_slim():
    # depth(d) = max(int(d * alpha), 8)
    assert scale_channels(32, 0.25, "floor8") == 8
    assert scale_channels(64, 0.25, "floor8") == 16
    assert scale_channels(1024, 0.75, "floor8") == 768
    assert scale_channels(32, 0.1, "floor8") == 8
    assert scale_channels(100, 0.33, "floor8") == 33


def test_make_divisible_rule():
    assert make_divisible(32 * 0.35) == 16  # 11.2 -> 8 would lose over 10%
    assert make_divisible(100 * 0.33) == 32
    assert make_divisible(1024 * 0.75) == 768
    assert make_divisible(3) == 8
    arch = mobilenet_v1(0.35, 224, channel_rule="div8")
    assert all(layer.out_channels % 8 == 0 for layer in arch.layers() if layer.kind != "fc")


def test_layers_derive_channels_and_sizes():
    layers = mobilenet_v1(0.75, 128).layers()
    stem = layers[0]
    assert (stem.in_channels, stem.out_channels, stem.in_size, stem.out_size) == (3, 24, 128, 64)
    dw = [layer for layer in layers if layer.kind == "dw"]
    assert all(layer.groups == layer.in_channels == layer.out_channels for layer in dw)
    assert len(dw) == 13 and len(layers) == 1 + 26 + 2
    assert layers[-2].in_size == 4 and layers[-1].in_channels == 768
    assert mobilenet_v1().final_size == 7 and mobilenet_v1().total_stride == 32


def test_odd_sizes_round_up_like_same_padding():
    arch = Arch(1.0, 7, (Stage(8, 1, 2),), Stem(8, 2))
    assert [layer.out_size for layer in arch.layers()[:2]] == [4, 2]
    assert arch.final_size == 2


def test_conv_and_shallow_mobilenet_expressible():
    conv = conv_mobilenet()
    assert all(stage.kind == "conv" for stage in conv.stages)
    assert Arch.from_str(conv.to_str()) == conv
    assert "conv512x6s2" in conv.to_str()
    shallow = shallow_mobilenet()
    assert shallow.stages[3].blocks == 1 and shallow.depth == 13 - 5
    assert Arch.from_str(shallow.to_str()) == shallow


# ----- property: the parser never does anything but parse or refuse ------------------------

_VALID = mobilenet_v1(0.75, 160).to_str()
_TOKENS = [*_VALID.split("_"), "conv128x2s2", "ds8x1s1", "a0.25", "r1", "s2", "x", "ds", "1e9", "-1", "nan", "é", " "]


def _parse_or_refuse(text: str) -> None:
    try:
        arch = Arch.from_str(text)
    except ArchParseError as exc:
        assert exc.text == text or exc.text == text.strip()
        return
    # Anything accepted is canonical up to surrounding space: it round-trips through string and JSON.
    assert Arch.from_str(arch.to_str()) == arch
    assert Arch.from_json(arch.to_json()) == arch


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_random_text_parses_or_raises_the_parse_error(text):
    _parse_or_refuse(text)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=14), st.sampled_from(["_", "__", "-", ""]))
def test_token_soup_parses_or_raises_the_parse_error(tokens, sep):
    # Near-valid strings reach deeper into the parser than random characters do.
    _parse_or_refuse(sep.join(tokens))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(_VALID) - 1), st.characters(codec="utf-8"), st.sampled_from(["replace", "insert", "delete"]))
def test_single_edits_of_a_valid_string_parse_or_raise(pos, char, edit):
    if edit == "replace":
        text = _VALID[:pos] + char + _VALID[pos + 1 :]
    elif edit == "insert":
        text = _VALID[:pos] + char + _VALID[pos:]
    else:
        text = _VALID[:pos] + _VALID[pos + 1 :]
    _parse_or_refuse(text)


@pytest.mark.parametrize(
    ("field", "limit"),
    [("resolution", "MAX_RESOLUTION"), ("num_classes", "MAX_CLASSES"), ("in_channels", "MAX_IN_CHANNELS")],
)
def test_sizes_are_bounded_and_the_error_names_the_range(field, limit):
    import hwsearch.arch as arch_module

    top = getattr(arch_module, limit)
    assert getattr(dataclasses.replace(mobilenet_v1(0.25, 32), **{field: top}), field) == top
    with pytest.raises(ArchError, match=rf"{field} = {top + 1} is invalid \(expected an integer in \[1, {top}\]\)"):
        dataclasses.replace(mobilenet_v1(0.25, 32), **{field: top + 1})
