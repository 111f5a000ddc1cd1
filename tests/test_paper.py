from __future__ import annotations

import pytest

from hwsearch.paper import Figure, paper_figures

FIGURES = paper_figures()


@pytest.mark.parametrize(
    "fig",
    [f for f in FIGURES if "first layer" not in f.item or "Params" in f.unit],
    ids=lambda f: f"{f.table}-{f.item}-{f.unit}",
)
def test_every_published_figure_agrees(fig):
    assert fig.agrees, f"{fig.paper} vs {fig.ours}"


def test_all_tables_are_covered():
    tables = {f.table for f in FIGURES}
    assert tables == {"Table 2", "Table 3", "Table 4", "Table 5", "Table 6", "Table 7", "Table 9", "TF-slim"}
    assert len(FIGURES) == 40


def test_first_layer_share_is_the_papers_own_gap():
    # Table 2's four Mult-Add shares sum to 99.29%; the missing 0.71 points are the stem's.
    shares = [f for f in FIGURES if f.table == "Table 2" and f.unit == "% Mult-Adds"]
    stem = next(f for f in shares if "first layer" in f.item)
    missing = 100.0 - sum(f.paper_value for f in shares)
    assert not stem.agrees and stem.note
    assert stem.ours == pytest.approx(stem.paper_value + missing, abs=0.02)
    assert stem.ours == pytest.approx(3 * 3 * 3 * 32 * 112 * 112 / 568_740_352 * 100)


def test_agreement_rule():
    assert Figure("t", "i", "u", "2.6", 2.569).agrees  # equal at printed precision
    assert Figure("t", "i", "u", "569", 568.74).agrees  # within 0.5%
    assert not Figure("t", "i", "u", "76", 76.52).agrees
    assert Figure("t", "i", "u", "100", 101.0).diff_pct == pytest.approx(1.0)
