"""The words plots and reports put on a figure: what an accuracy is, where a latency comes from, how sure it is."""

from __future__ import annotations

import math

import pandas as pd

# Budget specs with overrides run long ("standard:epochs=3,train_images=2000,..."); titles keep this many characters.
SHORT_BUDGET_CHARS = 30


def short_budget(spec: str, width: int = SHORT_BUDGET_CHARS) -> str:
    """``spec`` cut to ``width`` characters with an ellipsis; the report's text gives it whole."""
    return spec if len(spec) <= width else spec[: width - 1] + "…"


def proxy_label(dataset: str, budget: str) -> str:
    """An accuracy axis' label: a proxy's score, on which data, at which budget."""
    data = f" on {dataset} validation" if dataset else " (validation split)"
    return f"proxy accuracy (%){data}\nbudget '{short_budget(budget)}'"


def error_range(errors: pd.Series) -> str:
    """``±37%``, or ``±20% to ±40%``, from expected errors in percent; ``""`` when none is recorded."""
    known = errors.dropna()
    if known.empty:
        return ""
    low, high = float(known.min()), float(known.max())
    return f"±{low:.0f}%" if round(low) == round(high) else f"±{low:.0f}% to ±{high:.0f}%"


def expected_error_pct(rows: pd.DataFrame) -> pd.Series:
    """Each row's expected latency error in percent; NaN where the table records none."""
    if "latency_error_pct" not in rows:
        return pd.Series(float("nan"), index=rows.index)
    return rows.latency_error_pct.astype(float)


def source_text(rows: pd.DataFrame) -> str:
    """Where the latencies of ``rows`` come from, each estimate source with its expected error.

    ``predicted ±37%``, ``measured``, ``lut ±12%, measured``: a prediction never reads as a measurement.
    """
    parts = []
    for source in sorted(set(rows.latency_source)):
        if not source:
            continue
        spread = error_range(expected_error_pct(rows)[rows.latency_source == source])
        parts.append(source if source == "measured" or not spread else f"{source} {spread}")
    return ", ".join(parts) or "unknown source"


def latency_label(device: str, rows: pd.DataFrame) -> str:
    """A latency axis' label: device, what one figure times, that the axis is logarithmic, and the source."""
    return f"latency on {device} (ms per image, batch 1, log scale)\nsource: {source_text(rows)}"


def estimated(rows: pd.DataFrame) -> pd.Series:
    """Rows whose latency is an estimate (a lookup table or a predictor), not a measurement."""
    return rows.latency_source != "measured"


def latency_error_ms(rows: pd.DataFrame) -> pd.Series:
    """Each estimate's expected error in ms (0 for a measurement or where none is recorded)."""
    pct = expected_error_pct(rows).where(estimated(rows), 0.0).fillna(0.0)
    return rows.latency_ms.astype(float) * pct / 100.0


def trial_label(number: float) -> str:
    """``#12``: the trial number ``hwsearch export RUN --trial N`` takes."""
    return f"#{int(number)}" if not (isinstance(number, float) and math.isnan(number)) else "#?"


def points_text(value: float) -> str:
    """``1 point``, ``0.5 points``: a distance in accuracy points."""
    return f"{value:g} point" + ("" if value == 1 else "s")


def slope_text(slope: float) -> str:
    """A fit's slope in points per decade of MACs, with no ``-0.0`` for a flat line."""
    text = f"{slope:.1f}"
    return "0.0" if text == "-0.0" else text
