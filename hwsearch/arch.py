"""The architecture type: a frozen description of one MobileNet-V1-style network.

An :class:`Arch` stores only what cannot be derived. Channel counts come from the
base channels and the width multiplier α through one channel rule; spatial sizes
come from the resolution and the strides. :meth:`Arch.layers` expands the network
into its conv / depthwise / pointwise / FC layers, which the cost model, the model
builder and the latency tables all consume.

The canonical string form, e.g. for the paper's 1.0 MobileNet-224::

    mbv1_a1.0_r224_in3_cls1000_floor8_stem32s2_ds64x1s1_ds128x2s2_ds256x2s2_ds512x6s2_ds1024x2s2

reads: family, α, input resolution, input channels, classes, channel rule, stem
(channels, stride), then one token per stage: block kind, base channels, number
of blocks, stride of the stage's first block.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from hwsearch.errors import ArchError, ArchParseError

FAMILY = "mbv1"
BLOCK_KINDS = ("ds", "conv")
CHANNEL_RULES = ("floor8", "div8")
STRIDES = (1, 2)
LAYER_KINDS = ("stem", "dw", "pw", "conv", "pool", "fc")
MAX_ALPHA = 4.0
# Upper bounds: far beyond any network this tool searches or exports, low enough that counting,
# exporting or timing one never exhausts a machine's memory.
MAX_RESOLUTION = 2048
MAX_CHANNELS = 16_384
MAX_BLOCKS = 64  # per stage
MAX_STAGES = 16
MAX_IN_CHANNELS = 64
MAX_CLASSES = 100_000


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never dropping below 90% of it."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def scale_channels(channels: int, alpha: float, rule: str) -> int:
    """Apply width multiplier ``alpha`` to base ``channels`` by the named channel rule.

    ``floor8`` is the TF-slim reference rule ``max(int(c * alpha), 8)``;
    ``div8`` rounds to a multiple of 8, which vector units and tensor cores prefer.
    """
    if rule == "floor8":
        return max(int(channels * alpha), 8)
    if rule == "div8":
        return make_divisible(channels * alpha, 8)
    raise ArchError(f"unknown channel rule {rule!r}", value=rule, hint=f"one of {', '.join(CHANNEL_RULES)}")


def conv_out_size(size: int, stride: int) -> int:
    """Output side of a 3x3 'same' convolution: ceil(size / stride)."""
    return -(-size // stride)


@dataclass(frozen=True)
class Stem:
    """The first, full 3x3 convolution."""

    channels: int = 32
    stride: int = 2


@dataclass(frozen=True)
class Stage:
    """A run of identical blocks; only the first block applies ``stride``."""

    channels: int
    blocks: int
    stride: int
    kind: str = "ds"


@dataclass(frozen=True)
class Layer:
    """One layer of an expanded architecture, with every shape derived."""

    name: str
    kind: str
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    groups: int
    in_size: int
    out_size: int


PAPER_STAGES: tuple[Stage, ...] = (
    Stage(64, 1, 1, "ds"),
    Stage(128, 2, 2, "ds"),
    Stage(256, 2, 2, "ds"),
    Stage(512, 6, 2, "ds"),
    Stage(1024, 2, 2, "ds"),
)


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
        raise ArchError(f"{name} = {value!r} is invalid", value=value, hint=f"expected {bound}")


def _check_choice(name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed or isinstance(value, bool):
        raise ArchError(f"{name} = {value!r} is invalid", value=value, hint=f"one of {', '.join(map(str, allowed))}")


@dataclass(frozen=True)
class Arch:
    """A MobileNet-V1-style network: stem, stages of ``ds``/``conv`` blocks, pool, FC."""

    alpha: float
    resolution: int
    stages: tuple[Stage, ...]
    stem: Stem = field(default_factory=Stem)
    in_channels: int = 3
    num_classes: int = 1000
    channel_rule: str = "floor8"

    def __post_init__(self) -> None:
        alpha = self.alpha
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
            raise ArchError(f"alpha = {alpha!r} is invalid", value=alpha, hint=f"expected a number in (0, {MAX_ALPHA}]")
        if not 0 < alpha <= MAX_ALPHA:
            raise ArchError(f"alpha = {alpha!r} is invalid", value=alpha, hint=f"expected a number in (0, {MAX_ALPHA}]")
        object.__setattr__(self, "alpha", float(alpha))
        _check_int("resolution", self.resolution, 1, MAX_RESOLUTION)
        _check_int("in_channels", self.in_channels, 1, MAX_IN_CHANNELS)
        _check_int("num_classes", self.num_classes, 1, MAX_CLASSES)
        _check_choice("channel_rule", self.channel_rule, CHANNEL_RULES)
        _check_int("stem.channels", self.stem.channels, 1, MAX_CHANNELS)
        _check_choice("stem.stride", self.stem.stride, STRIDES)
        stages = tuple(self.stages)
        if not stages or len(stages) > MAX_STAGES:
            raise ArchError(f"an architecture needs at least one stage and at most {MAX_STAGES}; it has {len(stages)}",
                            value=len(stages))  # fmt: skip
        for i, stage in enumerate(stages):
            if not isinstance(stage, Stage):
                raise ArchError(f"stages[{i}] = {stage!r} is not a Stage", value=stage)
            _check_int(f"stages[{i}].channels", stage.channels, 1, MAX_CHANNELS)
            _check_int(f"stages[{i}].blocks", stage.blocks, 1, MAX_BLOCKS)
            _check_choice(f"stages[{i}].stride", stage.stride, STRIDES)
            _check_choice(f"stages[{i}].kind", stage.kind, BLOCK_KINDS)
        object.__setattr__(self, "stages", stages)

    # ----- derived quantities -------------------------------------------------

    def width(self, base_channels: int) -> int:
        """Channels actually used for ``base_channels`` under this arch's α and rule."""
        return scale_channels(base_channels, self.alpha, self.channel_rule)

    @property
    def total_stride(self) -> int:
        """Total downsampling factor of stem and stages."""
        return self.stem.stride * math.prod(s.stride for s in self.stages)

    @property
    def final_size(self) -> int:
        """Side of the last feature map, before global pooling."""
        size = conv_out_size(self.resolution, self.stem.stride)
        for stage in self.stages:
            size = conv_out_size(size, stage.stride)
        return size

    @property
    def depth(self) -> int:
        """Number of blocks over all stages."""
        return sum(s.blocks for s in self.stages)

    def layers(self) -> tuple[Layer, ...]:
        """Expand into layers with derived channels and spatial sizes, in forward order."""
        out: list[Layer] = []
        size, cin = self.resolution, self.in_channels
        cout = self.width(self.stem.channels)
        nxt = conv_out_size(size, self.stem.stride)
        out.append(Layer("stem", "stem", cin, cout, 3, self.stem.stride, 1, size, nxt))
        size, cin = nxt, cout
        for si, stage in enumerate(self.stages):
            cout = self.width(stage.channels)
            for bi in range(stage.blocks):
                stride = stage.stride if bi == 0 else 1
                nxt = conv_out_size(size, stride)
                prefix = f"s{si}.b{bi}"
                if stage.kind == "ds":
                    out.append(Layer(f"{prefix}.dw", "dw", cin, cin, 3, stride, cin, size, nxt))
                    out.append(Layer(f"{prefix}.pw", "pw", cin, cout, 1, 1, 1, nxt, nxt))
                else:
                    out.append(Layer(f"{prefix}.conv", "conv", cin, cout, 3, stride, 1, size, nxt))
                size, cin = nxt, cout
        out.append(Layer("pool", "pool", cin, cin, size, 1, cin, size, 1))
        out.append(Layer("fc", "fc", cin, self.num_classes, 1, 1, 1, 1, 1))
        return tuple(out)

    # ----- string form ----------------------------------------------------------

    def to_str(self) -> str:
        """The canonical string; :meth:`from_str` inverts it exactly."""
        parts = [
            FAMILY,
            f"a{self.alpha!r}",
            f"r{self.resolution}",
            f"in{self.in_channels}",
            f"cls{self.num_classes}",
            self.channel_rule,
            f"stem{self.stem.channels}s{self.stem.stride}",
        ]
        parts += [f"{s.kind}{s.channels}x{s.blocks}s{s.stride}" for s in self.stages]
        return "_".join(parts)

    def __str__(self) -> str:
        return self.to_str()

    @classmethod
    def from_str(cls, text: str) -> Arch:
        """Parse a canonical string strictly: every token must be present, known and in order."""
        return _parse(text)

    # ----- JSON form --------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the stored fields (nothing derived)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Arch:
        """Rebuild from :meth:`to_dict` output; unknown or missing keys raise :class:`ArchError`."""
        if not isinstance(data, dict):
            raise ArchError("architecture JSON must be an object", value=data)
        fields = {"alpha", "resolution", "stages", "stem", "in_channels", "num_classes", "channel_rule"}
        _check_keys("architecture", data, fields)
        stem = data["stem"]
        if not isinstance(stem, dict):
            raise ArchError("stem must be an object", value=stem)
        _check_keys("stem", stem, {"channels", "stride"})
        if not isinstance(data["stages"], list):
            raise ArchError("stages must be a list", value=data["stages"])
        stages = []
        for i, stage in enumerate(data["stages"]):
            if not isinstance(stage, dict):
                raise ArchError(f"stages[{i}] must be an object", value=stage)
            _check_keys(f"stages[{i}]", stage, {"channels", "blocks", "stride", "kind"})
            stages.append(Stage(**stage))
        rest = {k: v for k, v in data.items() if k not in ("stem", "stages")}
        return cls(stages=tuple(stages), stem=Stem(**stem), **rest)

    def to_json(self) -> str:
        """Deterministic JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Arch:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArchError(f"architecture JSON does not parse: {exc.msg} at line {exc.lineno}", value=text) from None
        except (ValueError, RecursionError) as exc:  # a number over 4300 digits; nesting past the stack
            reason = "is nested too deeply" if isinstance(exc, RecursionError) else f"holds a bad value: {exc}"
            raise ArchError(f"architecture JSON {reason}", value=text[:80]) from None
        return cls.from_dict(data)


def _check_keys(where: str, data: dict[str, Any], expected: set[str]) -> None:
    unknown = sorted(set(data) - expected)
    missing = sorted(expected - set(data))
    if unknown:
        allowed = ", ".join(sorted(expected))
        raise ArchError(f"unknown key {unknown[0]!r} in {where}", value=unknown[0], hint=f"keys: {allowed}")
    if missing:
        raise ArchError(f"missing key {missing[0]!r} in {where}", value=missing[0])


# ----- parser ---------------------------------------------------------------------

_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?"
_HEADER: tuple[tuple[str, str], ...] = (
    ("family", rf"(?P<v>{FAMILY})"),
    ("a<alpha>", rf"a(?P<v>{_NUM})"),
    ("r<resolution>", r"r(?P<v>\d+)"),
    ("in<channels>", r"in(?P<v>\d+)"),
    ("cls<classes>", r"cls(?P<v>\d+)"),
    ("<channel rule>", rf"(?P<v>{'|'.join(CHANNEL_RULES)})"),
    ("stem<channels>s<stride>", r"stem(?P<c>\d+)s(?P<s>\d+)"),
)
_STAGE = re.compile(rf"(?P<k>{'|'.join(BLOCK_KINDS)})(?P<c>\d+)x(?P<n>\d+)s(?P<s>\d+)", re.ASCII)
_STAGE_FORM = f"<{'|'.join(BLOCK_KINDS)}><channels>x<blocks>s<stride>"


def _parse(text: str) -> Arch:
    if not isinstance(text, str):
        raise ArchParseError("not a string", token=repr(text), text=repr(text))
    tokens = text.strip().split("_")
    values: list[re.Match[str]] = []
    for i, (form, pattern) in enumerate(_HEADER):
        if i >= len(tokens) or tokens[i] == "":
            raise ArchParseError(f"missing token {form!r}", token=form, text=text)
        match = re.fullmatch(pattern, tokens[i], re.ASCII)  # ASCII: no other script's digits
        if match is None:
            raise ArchParseError(f"unknown token {tokens[i]!r} where {form!r} was expected", token=tokens[i], text=text)
        values.append(match)
    stage_tokens = tokens[len(_HEADER) :]
    if not stage_tokens:
        raise ArchParseError(f"missing token {_STAGE_FORM!r}", token=_STAGE_FORM, text=text)
    stages = []
    for tok in stage_tokens:
        match = _STAGE.fullmatch(tok)
        if match is None:
            raise ArchParseError(f"unknown token {tok!r} where {_STAGE_FORM!r} was expected", token=tok, text=text)
        stages.append(Stage(int(match["c"]), int(match["n"]), int(match["s"]), match["k"]))
    stem = values[6]
    try:
        return Arch(
            alpha=float(values[1]["v"]),
            resolution=int(values[2]["v"]),
            in_channels=int(values[3]["v"]),
            num_classes=int(values[4]["v"]),
            channel_rule=values[5]["v"],
            stem=Stem(int(stem["c"]), int(stem["s"])),
            stages=tuple(stages),
        )
    except ArchError as exc:
        raise ArchParseError(str(exc), token=str(exc.value), text=text) from None


# ----- the paper's networks ---------------------------------------------------------


def mobilenet_v1(
    alpha: float = 1.0,
    resolution: int = 224,
    *,
    in_channels: int = 3,
    num_classes: int = 1000,
    channel_rule: str = "floor8",
) -> Arch:
    """The paper's MobileNet (Howard et al., 2017, Table 1) at width ``alpha`` and ``resolution``."""
    return Arch(alpha, resolution, PAPER_STAGES, Stem(32, 2), in_channels, num_classes, channel_rule)


def conv_mobilenet(alpha: float = 1.0, resolution: int = 224) -> Arch:
    """The paper's "Conv MobileNet": every depthwise-separable block replaced by a full 3x3 conv."""
    base = mobilenet_v1(alpha, resolution)
    return replace(base, stages=tuple(replace(s, kind="conv") for s in base.stages))


def shallow_mobilenet(alpha: float = 1.0, resolution: int = 224) -> Arch:
    """The paper's "Shallow MobileNet": the five 14x14x512 blocks removed."""
    base = mobilenet_v1(alpha, resolution)
    stages = list(base.stages)
    stages[3] = replace(stages[3], blocks=1)
    return replace(base, stages=tuple(stages))
