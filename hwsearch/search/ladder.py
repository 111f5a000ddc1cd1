"""The fidelity ladder's decisions, as pure functions: whom to promote, what the front is, whom to confirm.

A run explores at a cheap fidelity (a rung) and promotes the most promising networks to
the next, as successive halving does, with Syne Tune's MOASHA ordering for two objectives:
non-dominated rank in (accuracy, latency), then crowding distance, so that a promotion
spans the whole latency range instead of taking only the fastest networks. Before the run
ends, the front at the top rung and the networks within a margin of it are trained again
with more seeds (confirmation). Everything here works on :class:`Standing` tuples; the
records themselves live in the study (:mod:`hwsearch.search.records`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from hwsearch.pareto import pareto, promotion_order


@dataclass(frozen=True)
class Standing:
    """One network at one rung: its accuracy (mean over its seeds there), latency and seed count."""

    arch: str
    accuracy_pct: float
    latency_ms: float
    seeds: int = 1
    accuracy_std_pct: float = 0.0


def _points(standings: Sequence[Standing]) -> list[tuple[float, float]]:
    return [(s.accuracy_pct, s.latency_ms) for s in standings]


def promotions(standings: Sequence[Standing], fraction: float, promoted: Collection[str], *,
               final: bool = False) -> list[str]:  # fmt: skip
    """The networks of one rung that now earn the next, and are not promoted yet (best first).

    As in asynchronous successive halving, the best ``floor(fraction * n)`` of the ``n``
    networks the rung holds so far are promoted; one promoted stays promoted as the rung
    fills up, so no promotion is lost or taken back. Once the rung is ``final`` (nothing more
    will be explored) the count rounds up, so that a short run still reaches the top rung.
    """
    share = fraction * len(standings)
    count = math.ceil(share - 1e-9) if final else math.floor(share + 1e-9)
    best = [standings[i].arch for i in promotion_order(_points(standings))[:count]]
    return [arch for arch in best if arch not in promoted]


def front(standings: Sequence[Standing]) -> list[str]:
    """The non-dominated networks, fastest first, each once."""
    return list(dict.fromkeys(standings[i].arch for i in pareto(_points(standings))))


def near_front(standings: Sequence[Standing], margin_pct: float) -> list[str]:
    """The front and every network it beats by at most ``margin_pct`` accuracy points at no more latency.

    A network this close could change places with a front network once more seeds are in.
    """
    near = []
    for s in standings:
        beaten = any(o.latency_ms <= s.latency_ms and o.accuracy_pct > s.accuracy_pct + margin_pct for o in standings)
        if not beaten:
            near.append(s.arch)
    on_front = front(standings)
    return on_front + [arch for arch in dict.fromkeys(near) if arch not in on_front]


def confirmations(standings: Sequence[Standing], margin_pct: float, seeds: int) -> list[str]:
    """Networks near the top rung's front (:func:`near_front`) that have fewer than ``seeds`` seeds there."""
    by_arch = {s.arch: s for s in standings}
    return [arch for arch in near_front(standings, margin_pct) if by_arch[arch].seeds < seeds]
