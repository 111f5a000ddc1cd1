from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hwsearch.arch import Arch, Stage, Stem
from hwsearch.data import ImageSet
from hwsearch.proxy.budgets import Budget, BudgetError, get_budget
from hwsearch.proxy.records import ProxyData
from hwsearch.proxy.train import augment, proxy_arch, train_proxy
from hwsearch.proxy.zero_cost import zero_cost_scores

TINY = Budget("tiny", epochs=3, train_images=256, val_images=64, base_resolution=16, width_scale=1.0,
              batch_size=32, lr=0.1)  # fmt: skip


def stripes(n: int, seed: int) -> ImageSet:
    """Class 0 has horizontal stripes, class 1 vertical ones (flip- and shift-invariant), under noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.integers(0, 100, (n, 1, 16, 16))
    for i, label in enumerate(labels):
        phase = rng.integers(0, 4)
        if label == 0:
            images[i, 0, phase::4, :] += 150
        else:
            images[i, 0, :, phase::4] += 150
    return ImageSet(images.astype(np.uint8), labels.astype(np.int64), ("horizontal", "vertical"))


DATA = ProxyData(stripes(256, 0), stripes(64, 1), "stripes")


def tiny_arch(alpha: float = 0.5) -> Arch:
    return Arch(alpha, 224, (Stage(16, 1, 2), Stage(32, 1, 2, "conv")), Stem(8, 1), num_classes=1000)


def test_training_learns_and_loss_falls():
    result = train_proxy(tiny_arch(), DATA, TINY, threads=1)
    assert result.epochs_run == 3 and len(result.epoch_loss) == 3
    assert result.epoch_loss[-1] < result.epoch_loss[0]
    assert result.accuracy_pct > 90
    assert result.proxy_arch.startswith("mbv1_a0.5_r16_in1_cls2_")


def test_training_is_deterministic():
    first = train_proxy(tiny_arch(), DATA, TINY, threads=1)
    second = train_proxy(tiny_arch(), DATA, TINY, threads=1)
    assert first.epoch_loss == second.epoch_loss
    assert first.epoch_accuracy_pct == second.epoch_accuracy_pct
    other = train_proxy(tiny_arch(), DATA, TINY.with_overrides(seed=5), threads=1)
    assert other.epoch_loss != first.epoch_loss


def test_epoch_callback_can_stop_early():
    seen = []

    def stop_after_first(epoch: int, accuracy: float) -> bool:
        seen.append((epoch, accuracy))
        return True

    result = train_proxy(tiny_arch(), DATA, TINY, on_epoch=stop_after_first, threads=1)
    assert result.stopped_early and result.epochs_run == 1
    assert seen == [(1, result.epoch_accuracy_pct[0])]


def test_seeds_are_averaged():
    result = train_proxy(tiny_arch(), DATA, TINY.with_overrides(seeds=2, epochs=1), threads=1)
    assert result.seeds == (0, 1) and len(result.seed_accuracy_pct) == 2
    assert result.accuracy_pct == pytest.approx(sum(result.seed_accuracy_pct) / 2)


def test_proxy_arch_maps_width_resolution_and_head():
    budget = get_budget("standard")
    net = proxy_arch(Arch(1.0, 128, (Stage(64, 1, 1),)), budget, channels=1, classes=10)
    assert net.alpha == budget.width_scale
    assert net.resolution == round(budget.base_resolution * 128 / 224)
    assert (net.in_channels, net.num_classes) == (1, 10)


def test_detail_resolution_reduces_information():
    budget = TINY.with_overrides(detail_resolution=4)
    blurred = train_proxy(tiny_arch(), DATA, budget, threads=1)
    assert blurred.proxy_arch == train_proxy(tiny_arch(), DATA, TINY.with_overrides(epochs=1), threads=1).proxy_arch
    sharp = train_proxy(tiny_arch(), DATA, TINY, threads=1)
    # 4-pixel-period stripes vanish in a 4x4 image: the task becomes a coin toss
    assert blurred.accuracy_pct < 70 < sharp.accuracy_pct


def test_zero_cost_scores_are_finite_deterministic_and_order_width():
    wide = zero_cost_scores(tiny_arch(2.0), DATA, TINY, batch=32)
    again = zero_cost_scores(tiny_arch(2.0), DATA, TINY, batch=32)
    narrow = zero_cost_scores(tiny_arch(0.25), DATA, TINY, batch=32)
    for scores in (wide, narrow):
        assert math.isfinite(scores.synflow) and math.isfinite(scores.naswot)
    assert (wide.synflow, wide.naswot) == (again.synflow, again.naswot)
    assert wide.synflow > narrow.synflow
    assert wide.naswot > narrow.naswot
    assert wide.seconds < 30


def test_budgets():
    assert set(("quick", "standard", "full")) <= set(__import__("hwsearch.proxy", fromlist=["BUDGETS"]).BUDGETS)
    with pytest.raises(BudgetError, match="one of quick, standard, full"):
        get_budget("huge")
    with pytest.raises(BudgetError, match="epochz"):
        TINY.with_overrides(epochz=3)
    with pytest.raises(BudgetError, match="epochs = 0"):
        TINY.with_overrides(epochs=0)


def test_shortcuts_wrap_only_shape_preserving_blocks_and_keep_the_function_shape():
    from hwsearch.model import build_model
    from hwsearch.proxy.shortcuts import Shortcut, add_shortcuts, shape_preserving

    arch = Arch(1.0, 16, (Stage(8, 2, 1), Stage(16, 2, 2, "conv"), Stage(16, 1, 1)), Stem(8, 1), in_channels=1,
                num_classes=3)  # fmt: skip
    # stem; ds8 (8->8, s1) twice; conv16 s2 (8->16), conv16 s1; ds16 s1
    assert shape_preserving(arch) == [False, True, True, False, True, True]
    model = add_shortcuts(build_model(arch, seed=0), arch)
    assert [isinstance(b, Shortcut) for b in model.features] == shape_preserving(arch)
    assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 3)
    # The candidate's cost is the plain network's: shortcuts add no weight.
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in build_model(arch).parameters())
    with pytest.raises(BudgetError, match="shortcuts"):
        TINY.with_overrides(shortcuts=1)
    deep = Arch(0.5, 224, (Stage(16, 3, 1), Stage(32, 1, 2, "conv")), Stem(8, 2), num_classes=1000)
    plain = train_proxy(deep, DATA, TINY, threads=1)
    short = train_proxy(deep, DATA, TINY.with_overrides(shortcuts=True), threads=1)
    assert plain.epoch_loss != short.epoch_loss and plain.proxy_arch == short.proxy_arch


def test_augment_shifts_each_image_on_its_own_without_wrapping():
    # A bright dot in the middle of each dark image: after a shift of up to 2 pixels it is
    # still the image's only bright pixel (edge padding adds dark pixels, never wrapped ones).
    x = torch.zeros(64, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0
    out = augment(x, torch.Generator().manual_seed(0), 2)
    assert out.shape == x.shape
    assert torch.all(out.sum(dim=(1, 2, 3)) == 1.0)
    where = out.flatten(1).argmax(1)
    rows, cols = where // 9, where % 9
    assert rows.min() >= 2 and rows.max() <= 6 and cols.min() >= 2 and cols.max() <= 6
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 10  # not one shift for the batch
    assert torch.equal(augment(x, torch.Generator().manual_seed(0), 0), x)  # the dot is centred: a flip keeps it
