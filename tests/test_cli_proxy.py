from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hwsearch.cli import main
from hwsearch.data import load_dataset


def test_reproduce_quick_on_real_fashion_mnist(capsys, tmp_path):
    # CI installs Debian's dataset-fashion-mnist, so this runs on the real images there.
    load_dataset("fashion-mnist")
    code = main(["reproduce", "--budget", "quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "R² (proxy accuracy vs log10 MACs)" in out and "Spearman (proxy vs ImageNet top-1)" in out
    table = pd.read_csv(tmp_path / "grid.csv")
    assert len(table) == 16
    assert set(table.alpha) == {1.0, 0.75, 0.5, 0.25} and set(table.resolution) == {224, 192, 160, 128}
    assert table.proxy_accuracy_pct.between(10, 100).all()
    assert table.loc[table.alpha == 1.0, "imagenet_top1_pct"].max() == pytest.approx(70.9)
    # the proxy must rank the widest model above the narrowest at full resolution
    top = table.set_index(["alpha", "resolution"]).proxy_accuracy_pct
    assert top[(1.0, 224)] > top[(0.25, 128)]
    with Image.open(tmp_path / "tradeoff.png") as img:
        assert img.format == "PNG" and img.size[0] > 1000
        assert np.unique(np.asarray(img.convert("L"))).size > 20


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["reproduce", "--budget", "huge"], "'huge'"),
        (["reproduce", "--budget", "quick", "--dataset", "imagefolder:/nonexistent/imgs"], "/nonexistent/imgs"),
        (["reproduce", "--budget", "quick", "--dataset", "svhn"], "'svhn'"),
    ],
)
def test_reproduce_errors(capsys, tmp_path, argv, needle):
    code = main([*argv, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err


def test_missing_fashion_mnist_is_one_line(capsys, tmp_path, monkeypatch):
    from hwsearch import data as data_mod

    monkeypatch.setattr(data_mod, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("HWSEARCH_DATA", raising=False)
    code = main(["reproduce", "--budget", "quick", "--data-dir", str(tmp_path / "d"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "apt-get install dataset-fashion-mnist" in err and len(err.strip().splitlines()) == 1
