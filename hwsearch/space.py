"""Search spaces: YAML files declaring which architectures a search may visit.

A space is validated on load; every problem is reported as a :class:`SpaceError`
naming the file, the key, the value and what is allowed. A space turns a set of
decisions into an :class:`~hwsearch.arch.Arch` through any object with Optuna's
``suggest_categorical`` / ``suggest_int`` methods, so Optuna itself is never
imported here: :class:`RandomSuggester` samples without it and
:meth:`SearchSpace.arch_from_params` rebuilds an arch from recorded decisions.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from hwsearch.arch import (
    MAX_ALPHA,
    MAX_BLOCKS,
    MAX_CHANNELS,
    MAX_CLASSES,
    MAX_IN_CHANNELS,
    MAX_RESOLUTION,
    Arch,
    Stage,
    Stem,
)
from hwsearch.errors import SpaceError
from hwsearch.yamlfile import available_names, named_dirs, parse_model, read_text, resolve_named

SPACE_FOLDER = "search_spaces"
DEFAULT_SPACE = "mobilenet_v1"

T = TypeVar("T")


class Suggester(Protocol):
    """The part of ``optuna.trial.Trial`` a space needs."""

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...

    def suggest_int(self, name: str, low: int, high: int) -> int: ...


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


def _expand_range(value: Any) -> Any:
    """``{min, max[, step]}`` becomes the list of its values; anything else passes through."""
    if not isinstance(value, dict):
        return _as_list(value)
    unknown = set(value) - {"min", "max", "step"}
    if unknown or "min" not in value or "max" not in value:
        raise ValueError("a range needs exactly the keys min, max and optionally step")
    low, high = value["min"], value["max"]
    step = value.get("step", 1)
    numbers = (low, high, step)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers):
        raise ValueError("min, max and step must be finite numbers")
    if step <= 0:
        raise ValueError("step must be > 0")
    if high < low:
        raise ValueError(f"max ({high}) is below min ({low})")
    count = math.floor((high - low) / step + 1e-9) + 1
    if count > 10_000:
        raise ValueError(f"the range has {count} values; at most 10000 are allowed")
    values = [round(low + i * step, 6) for i in range(count)]
    return [int(v) for v in values] if all(isinstance(v, int) for v in (low, step)) else values


def _unique_sorted(values: list[T]) -> tuple[T, ...]:
    if len(set(values)) != len(values):
        raise ValueError("choices must not repeat")
    return tuple(sorted(values))  # type: ignore[type-var]


PositiveInt = Annotated[int, Field(strict=True, ge=1)]
# The space's bounds are the architecture's: a space cannot offer a network Arch would refuse.
Channels = Annotated[int, Field(strict=True, ge=1, le=MAX_CHANNELS)]
Depth = Annotated[int, Field(strict=True, ge=1, le=MAX_BLOCKS)]
Resolution = Annotated[int, Field(strict=True, ge=1, le=MAX_RESOLUTION)]
Stride = Literal[1, 2]
Kind = Literal["ds", "conv"]
DepthChoices = Annotated[tuple[Depth, ...], BeforeValidator(_expand_range), Field(min_length=1)]
ResolutionChoices = Annotated[tuple[Resolution, ...], BeforeValidator(_expand_range), Field(min_length=1)]
StrideChoices = Annotated[tuple[Stride, ...], BeforeValidator(_as_list), Field(min_length=1)]
KindChoices = Annotated[tuple[Kind, ...], BeforeValidator(_as_list), Field(min_length=1)]
Alpha = Annotated[float, Field(gt=0, le=MAX_ALPHA)]
Rho = Annotated[float, Field(gt=0, le=4)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Model):
    """What the network consumes and predicts at deployment."""

    channels: Annotated[int, Field(strict=True, ge=1, le=MAX_IN_CHANNELS)] = 3
    classes: Annotated[int, Field(strict=True, ge=1, le=MAX_CLASSES)] = 1000


class StemSpace(_Model):
    """Choices for the stem convolution."""

    channels: Channels = 32
    stride: StrideChoices = (2,)


class StageSpace(_Model):
    """Choices for one stage: its depth, first-block stride and block kind."""

    channels: Channels
    depth: DepthChoices
    stride: StrideChoices = (1, 2)
    block: KindChoices = ("ds",)


class Bounds(_Model):
    """Inclusive integer bounds."""

    min: PositiveInt = 1
    max: PositiveInt = 1024

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class Rules(_Model):
    """Validity rules every sampled architecture must satisfy."""

    total_stride: Bounds = Bounds(min=1, max=1024)
    min_final_size: PositiveInt = 1


class SearchSpace(_Model):
    """A validated search space; see ``search_spaces/mobilenet_v1.yaml`` for the file form."""

    name: str
    description: str = ""
    source: str = Field(default="<memory>", exclude=True)
    input: InputSpec = InputSpec()
    base_resolution: Resolution = 224
    rho: Annotated[tuple[Rho, ...], BeforeValidator(_expand_range), Field(min_length=1)] | None = None
    resolution: ResolutionChoices | None = None
    alpha: Annotated[tuple[Alpha, ...], BeforeValidator(_expand_range), Field(min_length=1)]
    channel_rule: Literal["floor8", "div8"] = "floor8"
    stem: StemSpace = StemSpace()
    stages: Annotated[tuple[StageSpace, ...], Field(min_length=1, max_length=16)]
    rules: Rules = Rules()

    @model_validator(mode="after")
    def _check(self) -> SearchSpace:
        if (self.rho is None) == (self.resolution is None):
            raise ValueError("give exactly one of 'rho' (with base_resolution) or 'resolution'")
        for values in (self.alpha, self.resolutions, *(s.depth for s in self.stages)):
            _unique_sorted(list(values))
        if max(self.resolutions) > MAX_RESOLUTION:
            raise ValueError(f"a resolution of {max(self.resolutions)} px; at most {MAX_RESOLUTION} are allowed")
        if not any(True for _ in itertools.islice(self._valid_structures(), 1)):
            raise ValueError("no combination of strides and resolutions satisfies the rules")
        return self

    # ----- the decisions ------------------------------------------------------------

    @property
    def resolutions(self) -> tuple[int, ...]:
        """Input resolutions in pixels: ``round(base_resolution * rho)`` or as listed."""
        if self.resolution is not None:
            return tuple(sorted(self.resolution))
        assert self.rho is not None
        return tuple(sorted(round(self.base_resolution * r) for r in self.rho))

    def choices(self) -> dict[str, tuple[Any, ...]]:
        """Every decision with more than one option, in sampling order: ``{name: options}``."""
        dims: dict[str, tuple[Any, ...]] = {
            "alpha": tuple(sorted(self.alpha)),
            "resolution": self.resolutions,
            "stem_stride": self.stem.stride,
        }
        for i, stage in enumerate(self.stages):
            dims[f"s{i}_depth"] = tuple(sorted(stage.depth))
            dims[f"s{i}_stride"] = stage.stride
            dims[f"s{i}_block"] = stage.block
        return {name: opts for name, opts in dims.items() if len(opts) > 1}

    def size(self) -> int:
        """Number of decision combinations (valid or not)."""
        return math.prod(len(opts) for opts in self.choices().values())

    def sample(self, suggester: Suggester) -> Arch:
        """Draw one architecture, asking ``suggester`` for each decision in turn."""
        chosen: dict[str, Any] = {}
        for name, opts in self.choices().items():
            if asked_as_int(name, opts):
                chosen[name] = suggester.suggest_int(name, opts[0], opts[-1])
            else:
                chosen[name] = suggester.suggest_categorical(name, list(opts))
        return self._build(chosen)

    def arch_from_params(self, params: dict[str, Any]) -> Arch:
        """Rebuild the architecture a set of recorded decisions describes."""
        return self.sample(FixedSuggester(params))

    def params_for(self, arch: Arch) -> dict[str, Any]:
        """The decisions that produce ``arch``; raises :class:`SpaceError` if it is not in this space."""
        params = {
            "alpha": arch.alpha,
            "resolution": arch.resolution,
            "stem_stride": arch.stem.stride,
        }
        for i, stage in enumerate(arch.stages):
            params.update({f"s{i}_depth": stage.blocks, f"s{i}_stride": stage.stride, f"s{i}_block": stage.kind})
        params = {k: v for k, v in params.items() if k in self.choices()}
        try:
            rebuilt = self.arch_from_params(params)
        except SpaceError:
            rebuilt = None
        if rebuilt != arch:
            raise SpaceError(self.source, "arch", arch.to_str(), f"an architecture of space {self.name!r}")
        return params

    def grid(self) -> Iterator[Arch]:
        """Every valid architecture of the space, in a fixed order (the space may be huge)."""
        names = list(self.choices())
        for combo in itertools.product(*self.choices().values()):
            arch = self.arch_from_params(dict(zip(names, combo, strict=True)))
            if not self.violations(arch):
                yield arch

    def violations(self, arch: Arch) -> list[str]:
        """Which validity rules ``arch`` breaks; empty when it is valid."""
        found = []
        bounds = self.rules.total_stride
        if not bounds.min <= arch.total_stride <= bounds.max:
            found.append(f"total stride {arch.total_stride} outside [{bounds.min}, {bounds.max}]")
        if arch.final_size < self.rules.min_final_size:
            found.append(f"final feature map {arch.final_size}x{arch.final_size} below {self.rules.min_final_size}")
        return found

    def _build(self, chosen: dict[str, Any]) -> Arch:
        fixed = {name: opts[0] for name, opts in self._all_dims().items()}
        pick = {**fixed, **chosen}
        stages = tuple(
            Stage(stage.channels, pick[f"s{i}_depth"], pick[f"s{i}_stride"], pick[f"s{i}_block"])
            for i, stage in enumerate(self.stages)
        )
        return Arch(
            alpha=pick["alpha"],
            resolution=pick["resolution"],
            stages=stages,
            stem=Stem(self.stem.channels, pick["stem_stride"]),
            in_channels=self.input.channels,
            num_classes=self.input.classes,
            channel_rule=self.channel_rule,
        )

    def _all_dims(self) -> dict[str, tuple[Any, ...]]:
        dims: dict[str, tuple[Any, ...]] = {
            "alpha": self.alpha,
            "resolution": self.resolutions,
            "stem_stride": self.stem.stride,
        }
        for i, stage in enumerate(self.stages):
            dims.update({f"s{i}_depth": stage.depth, f"s{i}_stride": stage.stride, f"s{i}_block": stage.block})
        return dims

    def _valid_structures(self) -> Iterator[tuple[int, int]]:
        strides = [self.stem.stride, *(s.stride for s in self.stages)]
        for combo in itertools.product(*strides):
            total = math.prod(combo)
            if not self.rules.total_stride.min <= total <= self.rules.total_stride.max:
                continue
            for res in self.resolutions:
                if -(-res // total) >= self.rules.min_final_size:
                    yield total, res


class FixedSuggester:
    """Answers each decision from a recorded ``{name: value}`` mapping."""

    def __init__(self, params: dict[str, Any], source: str = "<params>") -> None:
        self.params = params
        self.source = source

    def _get(self, name: str, allowed: Sequence[Any]) -> Any:
        if name not in self.params:
            raise SpaceError(self.source, name, None, f"a value from {list(allowed)}")
        value = self.params[name]
        if value not in allowed:
            raise SpaceError(self.source, name, value, f"one of {list(allowed)}")
        return value

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._get(name, choices)

    def suggest_int(self, name: str, low: int, high: int) -> int:
        return int(self._get(name, range(low, high + 1)))


class RandomSuggester:
    """Uniform random decisions from a seeded :class:`random.Random`, without Optuna."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self.rng.choice(list(choices))

    def suggest_int(self, name: str, low: int, high: int) -> int:
        return self.rng.randint(low, high)


def asked_as_int(name: str, options: Sequence[Any]) -> bool:
    """Whether :meth:`SearchSpace.sample` asks for decision ``name`` as an integer range.

    Depths that form a contiguous range are ordered, so a sampler may treat 3 as nearer
    to 2 than to 6; every other decision is an unordered choice.
    """
    return name.endswith("_depth") and tuple(options) == tuple(range(options[0], options[-1] + 1))


def sample_valid(space: SearchSpace, rng: RandomSuggester, *, tries: int = 1000) -> Arch:
    """Rejection-sample one architecture that satisfies the space's rules."""
    for _ in range(tries):
        arch = space.sample(rng)
        if not space.violations(arch):
            return arch
    raise SpaceError(space.source, "rules", space.rules.model_dump(), f"rules that {tries} random samples can satisfy")


# ----- loading -------------------------------------------------------------------------


def space_dirs() -> list[Path]:
    """Folders searched for a space given by name: ./search_spaces, then the project's."""
    return named_dirs(SPACE_FOLDER)


def available_spaces() -> list[str]:
    """Names of the spaces found in :func:`space_dirs`."""
    return available_names(SPACE_FOLDER)


def resolve_space(name_or_path: str | Path) -> Path:
    """The file for a space name or path; :class:`SpaceError` lists the known names if none matches."""
    return resolve_named(name_or_path, SPACE_FOLDER, SpaceError, "search space")


def load_space(name_or_path: str | Path = DEFAULT_SPACE) -> SearchSpace:
    """Load and validate a search space from a name in :func:`space_dirs` or a YAML path."""
    path = resolve_space(name_or_path)
    return parse_space(read_text(path, SpaceError), source=str(path))


def parse_space(text: str, *, source: str = "<string>") -> SearchSpace:
    """Validate YAML text as a search space."""
    return parse_model(text, SearchSpace, source=source, error=SpaceError, keys="name, alpha, stages")
