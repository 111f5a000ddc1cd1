"""Fidelity levels of the accuracy proxy: how much training each candidate gets.

Costs are wall-clock seconds per candidate on a 2-core x86 machine with the default
Fashion-MNIST data (see ``benchmarks/proxy_fidelity.py`` for how they were measured).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, fields, replace
from typing import Any

from hwsearch.errors import HwsearchError


class BudgetError(HwsearchError, ValueError):
    """An unknown budget name or a bad budget value."""


@dataclass(frozen=True)
class Budget:
    """One fidelity level of proxy training.

    ``shortcuts`` trains the proxy network with identity shortcuts around its shape-preserving
    blocks (:mod:`hwsearch.proxy.shortcuts`): a plain deep stack learns too slowly for a
    seconds-long training to see what its depth is worth. ``translate`` shifts each training
    image by up to that many pixels of the proxy's input, a harder task (see the README's
    "The front's slope").
    """

    name: str
    epochs: int
    train_images: int
    val_images: int = 10_000
    base_resolution: int = 64
    width_scale: float = 0.25
    batch_size: int = 128
    lr: float = 0.2
    weight_decay: float = 5e-5
    label_smoothing: float = 0.0
    translate: int = 0
    detail_resolution: int = 0
    seeds: int = 1
    seed: int = 0
    data_seed: int = 0
    shortcuts: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        if (
            isinstance(self.detail_resolution, bool)
            or not isinstance(self.detail_resolution, int)
            or (self.detail_resolution < 0)
        ):
            raise BudgetError(f"budget {self.name!r}: detail_resolution = {self.detail_resolution!r} is invalid",
                              value=self.detail_resolution, hint="0 (off) or a positive integer")  # fmt: skip
        for name in ("epochs", "train_images", "val_images", "base_resolution", "batch_size", "seeds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BudgetError(f"budget {self.name!r}: {name} = {value!r} is invalid", value=value,
                                  hint="expected a positive integer")  # fmt: skip
        if not isinstance(self.shortcuts, bool):
            raise BudgetError(f"budget {self.name!r}: shortcuts = {self.shortcuts!r} is not True or False",
                              value=self.shortcuts)  # fmt: skip
        if not 0 < self.width_scale <= 4 or self.lr <= 0:
            raise BudgetError(f"budget {self.name!r}: width_scale and lr must be positive", value=self.width_scale)

    def with_overrides(self, **changes: Any) -> Budget:
        """A copy with some fields replaced (unknown names raise :class:`BudgetError`)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise BudgetError(f"unknown budget field {unknown[0]!r}", value=unknown[0], hint=f"fields: {sorted(known)}")
        return replace(self, **changes)


BUDGETS: dict[str, Budget] = {
    "quick": Budget("quick", epochs=3, train_images=4_000, val_images=2_000, base_resolution=32,
                    note="the exploration rung of a run; ranks coarsely; ~2 s a candidate"),
    "standard": Budget("standard", epochs=6, train_images=10_000, base_resolution=32,
                       note="the rung a run's front is confirmed and reported at; ~11 s a candidate"),
    "full": Budget("full", epochs=12, train_images=20_000, base_resolution=32, seeds=2,
                   note="a further rung for a short list; ~8x standard with its 2 seeds (estimated)"),
}  # fmt: skip


def get_budget(spec: str) -> Budget:
    """The budget named by ``spec``: ``NAME`` or ``NAME:field=value,...`` (e.g. ``quick:epochs=1``).

    :class:`BudgetError` lists the valid names, or names the bad override.
    """
    name, _, overrides = spec.partition(":")
    if name not in BUDGETS:
        raise BudgetError(f"unknown budget {name!r}", value=name, hint=f"one of {', '.join(BUDGETS)}")
    changes: dict[str, Any] = {}
    for item in filter(None, overrides.split(",")):
        key, sep, text = item.partition("=")
        if not sep:
            raise BudgetError(f"budget override {item!r} is not FIELD=VALUE", value=item)
        try:
            changes[key.strip()] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            raise BudgetError(f"budget override {item!r} has no literal value", value=item) from None
    if not changes:
        return BUDGETS[name]
    return BUDGETS[name].with_overrides(name=spec, **changes)
