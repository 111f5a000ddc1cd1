"""Argument types and defaults shared by the command modules."""

from __future__ import annotations

import argparse
import math
from dataclasses import fields
from typing import Any


def field_default(cls: type, name: str) -> Any:
    """The default of dataclass ``cls``'s field ``name``: options take their defaults from the one
    place the library defines them."""
    return next(f.default for f in fields(cls) if f.name == name)


def positive_int(text: str) -> int:
    """An integer of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value
