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


def test_summary_front_lists_a_revisited_architecture_once():
    import pandas as pd

    from hwsearch.report.summary import summarise

    rows = [  # trial 2 revisits trial 0's architecture, with the same scores
        (0, "a", 80.0, 2.0, 10), (1, "b", 70.0, 1.0, 5), (2, "a", 80.0, 2.0, 10), (3, "c", 60.0, 3.0, 20),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["number", "arch", "accuracy_pct", "latency_ms", "macs"])
    frame["feasible"], frame["baseline"], frame["latency_source"] = True, "", "predicted"
    summary = summarise(frame, reference=(50.0, 4.0))
    assert sorted(summary.front.number) == [0, 1]
    # The dominated area is the union of rectangles to the reference point, in % x ms.
    assert summary.hypervolume == (80 - 50) * (4 - 2) + (70 - 50) * (2 - 1)
