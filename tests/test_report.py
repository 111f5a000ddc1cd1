from __future__ import annotations

import numpy as np
import pytest
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


def test_the_knee_is_the_point_farthest_above_the_chord_on_log_latency():
    from hwsearch.report.choices import knee_index

    # On log10(latency) the points sit at x = 0, 0.5, 1 and, scaled, y = 0, 0.9, 1: the middle one is
    # 0.4 / sqrt(2) above the chord from (0, 0) to (1, 1); the order of the input does not matter.
    assert knee_index([0.0, 9.0, 10.0], [1.0, 10.0, 100.0]) == 1
    assert knee_index([10.0, 0.0, 9.0], [100.0, 1.0, 10.0]) == 2
    # Farthest, not first: at x = 1/3 and 2/3 the heights are (0.5 - 1/3) and (0.9 - 2/3) of the chord's normal.
    assert knee_index([0.0, 5.0, 9.0, 10.0], [1.0, 10.0, 100.0, 1000.0]) == 2
    # A straight line on these axes, or too few points, has no knee.
    assert knee_index([0.0, 1.0, 2.0], [1.0, 10.0, 100.0]) is None
    assert knee_index([1.0, 2.0], [1.0, 2.0]) is None


def test_the_fastest_network_within_x_points_of_the_best():
    from hwsearch.report.choices import fastest_within_index

    accuracy, latency = [60.0, 69.2, 69.5, 70.0], [1.0, 2.0, 1.9, 5.0]
    assert fastest_within_index(accuracy, latency, 1.0) == 2  # 69.5 at 1.9 ms: fastest of those >= 69.0
    assert fastest_within_index(accuracy, latency, 0.0) == 3  # only the best itself
    assert fastest_within_index(accuracy, latency, 10.0) == 0
    assert fastest_within_index([], [], 1.0) is None


@pytest.mark.parametrize("call", ["within", "latency", "length"])
def test_a_bad_pick_request_is_a_specific_error_carrying_the_value(call):
    from hwsearch.report.choices import ChoiceError, fastest_within_index, knee_index

    with pytest.raises(ChoiceError) as caught:
        if call == "within":
            fastest_within_index([1.0], [1.0], -0.5)
        elif call == "latency":
            knee_index([1.0, 2.0, 3.0], [1.0, 0.0, 3.0])
        else:
            knee_index([1.0], [1.0, 2.0])
    assert caught.value.value == {"within": -0.5, "latency": 0.0, "length": (1, 2)}[call]


def grid_frame(scores=lambda top1: top1 - 30.0):
    """The paper's 16 MobileNets and four searched networks explored at 'quick'; the 0.5 and 1.0 models and
    the searched ones promoted to 'standard' with 2 seeds. ``scores`` maps ImageNet top-1 to the proxy's score."""
    import pandas as pd

    from hwsearch.paper import paper_grid

    rows = []
    for i, model in enumerate(paper_grid()):
        promoted = model.alpha in (0.5, 1.0)
        macs = float(model.mmacs_listed) * 1e6
        rows.append({"number": i, "arch": f"grid{i}", "baseline": f"{model.alpha:g}-{model.resolution}",
                     "accuracy_pct": scores(model.top1) + (5.0 if promoted else 0.0), "explore_accuracy_pct":
                     scores(model.top1), "budget": "standard" if promoted else "quick", "seeds": 2 if promoted else 1,
                     "accuracy_std_pct": 0.3 if promoted else 0.0, "latency_ms": macs / 1e8, "macs": macs})  # fmt: skip
    for j, (accuracy, ms) in enumerate([(20.0, 0.05), (50.0, 0.12), (55.0, 0.3), (45.0, 0.8)]):
        rows.append({"number": 16 + j, "arch": f"s{j}", "baseline": "", "accuracy_pct": accuracy,
                     "explore_accuracy_pct": accuracy - 5, "budget": "standard", "seeds": 2, "accuracy_std_pct": 0.4,
                     "latency_ms": ms, "macs": ms * 1e8})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["feasible"], frame["latency_source"], frame["latency_error_pct"] = True, "predicted", 37.0
    frame["state"], frame["params"] = "complete", 1e6
    standard = frame[frame.budget == "standard"]
    best = standard.sort_values("latency_ms").accuracy_pct.cummax()
    frame["on_front"] = frame.index.isin(best[best.diff().fillna(1) > 0].index)
    return frame


def test_the_summary_knows_the_proxys_rank_correlation_with_imagenet_on_the_paper_grid():
    from hwsearch.report.summary import summarise

    same = summarise(grid_frame(), "quick")
    assert same.explore_grid.models == 16 and same.explore_grid.spearman == pytest.approx(1.0)
    assert same.report_grid.models == 8 and same.report_grid.budget == "standard"
    reversed_ = summarise(grid_frame(lambda top1: 100.0 - top1), "quick")
    assert reversed_.explore_grid.spearman == pytest.approx(-1.0)
    assert "Spearman -1.00 (16 MobileNets at 'quick')" in reversed_.explore_grid.text()
    few = summarise(ladder_frame(), "quick")  # no baseline at all
    assert few.explore_grid is None and few.report_grid is None


def _inside(ax, xs, ys):
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    return all(x0 < x < x1 for x in xs) and all(y0 < y < y1 for y in ys)


def test_the_pareto_figure_is_on_a_log_axis_numbers_the_front_and_clips_nothing():
    from matplotlib.container import ErrorbarContainer

    from hwsearch.report.run_plots import pareto_figure
    from hwsearch.report.summary import summarise

    summary = summarise(grid_frame(), "quick")
    fig = pareto_figure(summary, "board", "fashion-mnist")
    fig.canvas.draw()
    explore, report = fig.get_axes()
    front = summary.front
    assert explore.get_xscale() == report.get_xscale() == "log"
    assert "Spearman +1.00" in explore.get_title() and "Spearman" in report.get_title()
    assert {t.get_text() for t in report.texts} == {f"#{n}" for n in front.number}
    assert "proxy accuracy (%) on fashion-mnist validation" in report.get_ylabel()
    assert "'standard'" in report.get_ylabel() and "predicted ±37%" in report.get_xlabel()
    bars = [c for c in report.containers if isinstance(c, ErrorbarContainer)]
    xerr = next(c for c in bars if c.has_xerr)
    left, right = (segment[:, 0] for segment in np.transpose(xerr.lines[2][0].get_segments(), (1, 0, 2)))
    assert np.allclose(right - front.latency_ms, front.latency_ms * 0.37)  # the expected error, in ms
    # Every point and the ends of its error bars lie inside the axes: nothing is clipped.
    assert _inside(report, [*left, *right], front.accuracy_pct)
    assert _inside(explore, summary.feasible.latency_ms, summary.feasible.explore_accuracy_pct)
    # The legend sits below the axes, over no point.
    legend = report.get_legend().get_window_extent()
    assert legend.y1 < report.get_window_extent().y0
    labels = [t.get_text() for t in report.get_legend().get_texts()]
    assert f"knee of the front: #{int(summary.knee.number)}" in labels
    assert f"fastest within 1 point of the best: #{int(summary.within.number)}" in labels


def test_the_tradeoff_figure_marks_the_baselines_and_draws_the_papers_imagenet_line():
    from hwsearch.paper import paper_grid
    from hwsearch.report.run_tradeoff import run_tradeoff_figure
    from hwsearch.report.summary import summarise

    fig = run_tradeoff_figure(summarise(grid_frame(), "quick"), "fashion-mnist")
    axes = sorted(fig.get_axes(), key=lambda ax: ax.get_position().x0)  # each panel, then its twin
    mains = [ax for ax in axes if "proxy accuracy" in ax.get_ylabel()]
    twins = [ax for ax in axes if ax not in mains]
    explore, report = mains
    for ax, twin, baselines in zip(mains, twins, (16, 8), strict=True):
        squares = [c for c in ax.collections if "paper's MobileNets" in c.get_label()]
        assert len(squares) == 1 and len(squares[0].get_offsets()) == baselines
        assert "ImageNet top-1" in twin.get_ylabel()
        paper = next(c for c in twin.collections if "ImageNet" in c.get_label())
        assert sorted(paper.get_offsets()[:, 1]) == sorted(m.top1 for m in paper_grid())
        assert ax.get_xscale() == "log" and "searched candidates" not in ax.get_title()
    assert "explored at 'quick'" in explore.get_title() and "'standard'" in report.get_title()


def test_the_report_suggests_networks_with_commands_and_draws_the_hypervolume_instead_of_listing_it(tmp_path):
    from hwsearch.report.run_report import write_run_report

    frame = grid_frame()
    write_run_report(frame, tmp_path / "run", device="board", explore_budget="quick", meta={}, within_pct=2.0)
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Suggested networks" in report and "knee of the front: #" in report
    assert "fastest within 2 points of the best" in report
    run = tmp_path / "run"
    for number in frame[frame.on_front].number:
        assert f"hwsearch export {run} --trial {number} --out {run / f'export-{number}'}" in report
        assert f"hwsearch train {run} --trial {number} --out {run / f'train-{number}'}" in report
    assert "Spearman +1.00 (16 MobileNets at 'quick')" in report
    assert "![hypervolume](hypervolume.png)" in report and "95% of the final value" in report
    assert not any(line.count(", ") > 10 for line in report.splitlines())  # no list of raw numbers
