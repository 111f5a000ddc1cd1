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
    code = main(["reproduce", "--budget", "quick", "--out", str(tmp_path), "--grid-only"])
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
    code = main(["reproduce", "--budget", "quick", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "apt-get install dataset-fashion-mnist" in err and len(err.strip().splitlines()) == 1


def test_the_structural_check_names_the_pairs_the_proxy_orders_wrongly():
    from hwsearch.proxy.reproduce import StructuralCheck, StructuralRow

    def rows(*proxy):
        names = ("Conv MobileNet", "MobileNet 1.0-224", "0.75 MobileNet-224", "Shallow MobileNet")
        imagenet = (71.7, 70.6, 68.4, 65.3)
        # two seeds, 0.1 either side of the mean; the last network's second seed is 1 point higher
        seeds = [(p - 0.1, p + 0.1) for p in proxy[:-1]] + [(proxy[-1] - 0.1, proxy[-1] + 1.0)]
        return tuple(StructuralRow(n, n, p, 0.1, 2, t, s)
                     for n, p, t, s in zip(names, proxy, imagenet, seeds, strict=True))  # fmt: skip

    check = StructuralCheck(rows(91.0, 89.0, 88.5, 88.0), "b")
    assert check.ordered_as_paper and not check.ordered_in_every_seed  # 88.5 + 0.1 < 88.0 + 1.0 in seed 2
    assert StructuralCheck(rows(91.0, 89.0, 88.5, 86.0), "b").ordered_in_every_seed
    wrong = StructuralCheck(rows(91.75, 89.22, 88.61, 89.69), "b")  # the 'full' figures
    assert not wrong.ordered_as_paper and wrong.wrong_pairs() == [("0.75 MobileNet-224", "Shallow MobileNet")]


def test_reproduce_prints_the_structural_check_on_any_data_set(capsys, tmp_path):
    from tests._search_support import TINY_BUDGET, write_stripes

    images = write_stripes(tmp_path / "images")
    code = main(["reproduce", "--budget", TINY_BUDGET, "--dataset", f"imagefolder:{images}", "--out",
                 str(tmp_path / "out")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "proxy orders Conv > MobileNet > 0.75 MobileNet > Shallow as ImageNet does: " in out
    table = pd.read_csv(tmp_path / "out" / "structural.csv")
    assert list(table.name) == ["Conv MobileNet", "MobileNet 1.0-224", "0.75 MobileNet-224", "Shallow MobileNet"]
    assert (table.seeds == 2).all() and list(table.imagenet_top1_pct) == [71.7, 70.6, 68.4, 65.3]
