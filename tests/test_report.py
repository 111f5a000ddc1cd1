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
