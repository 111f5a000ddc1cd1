from __future__ import annotations

import numpy as np
from matplotlib.collections import PathCollection
from PIL import Image

from hwsearch.report.plots import TradeoffPanel, plot_tradeoff, tradeoff_figure
from hwsearch.stats import log_macs_fit

MACS = [14e6, 41e6, 150e6, 569e6]
ACC = [41.5, 49.8, 63.3, 70.9]


def panel(title="p"):
    return TradeoffPanel(title, MACS, ACC, log_macs_fit(MACS, ACC), labels=["a", "b", "c", "d"])


def test_tradeoff_figure_artists():
    fig = tradeoff_figure([panel("left"), panel("right")], suptitle="t")
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["left", "right"]
    for ax in axes:
        assert ax.get_xscale() == "log"
        points = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert len(points) == 1 and len(points[0].get_offsets()) == 4
        assert len(ax.get_lines()) == 1
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any("R² = " in text and "points/decade" in text for text in legend)
        assert len(ax.texts) == 4  # one label per model


def test_plot_tradeoff_writes_a_png(tmp_path):
    path = plot_tradeoff([panel(), panel()], tmp_path / "sub" / "tradeoff.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        assert img.size == (1320, 506)
        assert np.unique(np.asarray(img.convert("L"))).size > 20  # something was drawn


def ladder_frame():
    """Four networks explored at 'quick'; three promoted to 'standard', two of them confirmed with 2 seeds."""
    import pandas as pd

    rows = [  # number, arch, accuracy at its highest rung, budget, seeds, s.d., on front, explore accuracy, ms, MACs
        (0, "a", 80.0, "standard", 2, 0.4, True, 75.0, 2.0, 100e6),
        (1, "b", 70.0, "standard", 2, 0.2, True, 72.0, 1.0, 20e6),
        (2, "c", 65.0, "standard", 1, 0.0, False, 71.0, 1.5, 40e6),
        (3, "d", 90.0, "quick", 1, 0.0, False, 90.0, 3.0, 300e6),  # cheap score, higher than any confirmed one
    ]  # fmt: skip
    columns = ["number", "arch", "accuracy_pct", "budget", "seeds", "accuracy_std_pct", "on_front",
               "explore_accuracy_pct", "latency_ms", "macs"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    frame["feasible"], frame["baseline"], frame["latency_source"] = True, "", "predicted"
    return frame


def test_the_summary_keeps_each_fidelity_apart():
    from hwsearch.report.summary import summarise

    summary = summarise(ladder_frame(), "quick", reference=(50.0, 4.0))
    assert summary.multi_fidelity and summary.report_budget == "standard"
    assert list(summary.front.arch) == ["b", "a"]  # fastest first
    assert set(summary.at_report.arch) == {"a", "b", "c"}  # 'd' (quick only) is never beside them
    # The dominated area at 'standard', as the union of rectangles to the reference point, in % x ms.
    assert summary.hypervolume == (80 - 50) * (4 - 2) + (70 - 50) * (2 - 1)
    # The exploration front comes from the exploration scores alone; there c (71% at 1.5 ms) loses to b.
    assert list(summary.explore_front.arch) == ["b", "a", "d"]
    assert summary.front_fit is not None and summary.front_fit.slope > 0


def test_the_pareto_figure_draws_the_confirmed_front_with_error_bars_apart_from_exploration():
    from hwsearch.report.run_plots import pareto_figure
    from hwsearch.report.summary import summarise

    fig = pareto_figure(summarise(ladder_frame(), "quick"), "board")
    explore, report = fig.get_axes()
    assert "'quick'" in explore.get_title() and "'standard'" in report.get_title()
    legend = [t.get_text() for t in report.get_legend().get_texts()]
    assert any(text.startswith("confirmed front (2+ seeds each") for text in legend)
    bars = [c for c in report.containers if hasattr(c, "has_yerr") and c.has_yerr]
    assert len(bars) == 1 and len(bars[0].lines[0].get_xdata()) == 2
    explored = next(c for c in explore.collections if isinstance(c, PathCollection))
    assert sorted(explored.get_offsets()[:, 1]) == [71.0, 72.0, 75.0, 90.0]


def test_the_report_lists_the_decisions_the_proxy_cannot_judge(tmp_path):
    from hwsearch.proxy.limits import proxy_limits
    from hwsearch.report.run_report import LIMITS_TITLE, write_run_report

    frame = ladder_frame()
    for column, value in (("state", "complete"), ("params", 1000), ("latency_error_pct", 12.0)):
        frame[column] = value
    limits = proxy_limits("fashion-mnist")
    assert limits and proxy_limits("imagefolder:/x") == ()
    write_run_report(frame, tmp_path, device="board", explore_budget="quick", meta={}, limits=limits)
    report = (tmp_path / "report.md").read_text()
    assert f"## {LIMITS_TITLE}" in report and "Shallow MobileNet" in report
    assert LIMITS_TITLE in (tmp_path / "report.html").read_text()
    write_run_report(frame, tmp_path / "none", device="board", explore_budget="quick", meta={})
    assert LIMITS_TITLE not in (tmp_path / "none" / "report.md").read_text()
