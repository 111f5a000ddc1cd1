"""Each family's cross-validation result, computed once per data set and shipped with the package.

The nested leave-one-configuration-out check of a family (:mod:`hwsearch.latency._crossval`)
takes seconds, too long for every ``hwsearch latency``. Its result (the chosen prior
strength and the mean error at each k) depends only on the family's published
configurations and on the method, so ``hwsearch/reference/predictor_checks.json`` stores
it under a digest of both. When the digest matches, the stored result is used; when a
profile adds published configurations (or the method changes), the check runs again in
the process. ``python benchmarks/predictor_loo.py --write-checks`` rewrites the file, and
a test fails when it is stale.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

from hwsearch.latency._corpus import FAMILIES, ConfigGroup
from hwsearch.latency._crossval import (
    CV_KS,
    HYPER_GRID,
    RECIPE,
    SELECT_KS,
    STRUCTURAL,
    UNTESTED_SETTING_SHARE,
    FamilyCheck,
    choose_hyper,
    nested_rows,
    structural_center,
    summarize,
)
from hwsearch.latency._fitting import CENTER_SD, LEVEL_SD, Hyper

CHECKS_FILE = "predictor_checks.json"
METHOD_VERSION = 2  # bump when the model or the cross-validation changes in a way the digest cannot see


def digest(family: str, groups: Sequence[ConfigGroup]) -> str:
    """A digest of everything a family's check depends on: its configurations and the method's settings."""
    payload = {
        "version": METHOD_VERSION, "family": family, "structural": STRUCTURAL[family], "grid": repr(HYPER_GRID),
        "recipe": RECIPE, "ks": CV_KS, "select": SELECT_KS, "level_sd": LEVEL_SD, "center_sd": CENTER_SD,
        "untested_setting_share": UNTESTED_SETTING_SHARE,
        "groups": [[g.name, g.setting, [[a.to_str(), t] for a, t in zip(g.archs, g.latency_ms, strict=True)]]
                   for g in groups],
    }  # fmt: skip
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def compute_check(family: str, groups: Sequence[ConfigGroup]) -> FamilyCheck:
    """Run the check: the prior strength for the whole family, the nested cross-validated error per ``k``."""
    center = structural_center(family)
    hyper = choose_hyper(groups, center)
    rows = nested_rows(groups, center) if len(groups) >= 2 else []
    mae = {k: s.mae_pct for k in CV_KS if (s := summarize(rows, k)) is not None}
    return FamilyCheck(family, hyper, mae, len(groups))


@lru_cache(maxsize=1)
def shipped_checks() -> dict[str, dict]:
    """The stored checks by family (empty when the file is missing or unreadable: everything is computed)."""
    try:
        text = resources.files("hwsearch.reference").joinpath(CHECKS_FILE).read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _from_json(family: str, entry: dict) -> FamilyCheck:
    hyper = Hyper(**entry["hyper"])
    mae = {int(k): float(v) for k, v in entry["mae_pct"].items()}
    return FamilyCheck(family, hyper, mae, int(entry["configurations"]))


@lru_cache(maxsize=16)
def family_check(family: str, groups: tuple[ConfigGroup, ...]) -> FamilyCheck:
    """``family``'s check on ``groups``: the stored one when the digest matches, else computed now."""
    entry = shipped_checks().get(family)
    if isinstance(entry, dict) and entry.get("digest") == digest(family, groups):
        try:
            return _from_json(family, entry)
        except (KeyError, TypeError, ValueError):
            pass  # a damaged entry: compute instead
    return compute_check(family, groups)


def checks_json(checks: dict[str, tuple[str, FamilyCheck]]) -> str:
    """The file's text for ``{family: (digest, check)}``."""
    data = {
        family: {"digest": d, "hyper": vars(c.hyper), "configurations": c.configurations,
                 "mae_pct": {str(k): round(v, 4) for k, v in sorted(c.mae_pct.items())}}
        for family, (d, c) in sorted(checks.items())
    }  # fmt: skip
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def write_checks(path: Path, groups_of: dict[str, Sequence[ConfigGroup]]) -> Path:
    """Compute every family's check from ``groups_of`` (family -> shaping groups) and write them to ``path``."""
    checks = {f: (digest(f, groups_of[f]), compute_check(f, groups_of[f])) for f in FAMILIES if f in groups_of}
    path.write_text(checks_json(checks), encoding="utf-8")
    return path
