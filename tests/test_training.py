"""hwsearch.training: real training of a chosen network, its checkpoint and resume, and its files."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from hwsearch.arch import Arch
from hwsearch.data import load_dataset
from hwsearch.model import build_model
from hwsearch.proxy.budgets import get_budget
from hwsearch.training import CHECKPOINT, TrainError, TrainSettings, train_network, trained_arch, training_split
from tests._search_support import write_stripes

ARCH = Arch.from_str("mbv1_a0.25_r224_in3_cls1000_floor8_stem16s2_ds32x1s2_ds64x1s2")
FAST = TrainSettings(epochs=2, batch_size=16, resolution=32)


@pytest.fixture(scope="module")
def stripes(tmp_path_factory):
    root = write_stripes(tmp_path_factory.mktemp("stripes"), per_class=60)
    dataset = load_dataset(f"imagefolder:{root}")
    return dataset, training_split(dataset, get_budget("quick"))


class Stop(Exception):
    pass


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    left, right = a.state_dict(), b.state_dict()
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


def test_training_split_keeps_the_search_validation_images_out(stripes):
    dataset, data = stripes
    assert len(data.train) + len(data.val) == len(dataset.train)
    train_rows = {row.tobytes() for row in data.train.images}
    assert not any(row.tobytes() in train_rows for row in data.val.images)


def test_trained_arch_keeps_widths_and_takes_the_data_set_shape(stripes):
    _, data = stripes
    net = trained_arch(ARCH, data, FAST)
    assert (net.in_channels, net.num_classes, net.resolution) == (1, 2, 32)
    assert net.stages == ARCH.stages and net.alpha == ARCH.alpha
    assert trained_arch(ARCH, data, TrainSettings()).resolution == ARCH.resolution


def test_it_learns_the_task(stripes):
    dataset, data = stripes
    result, _ = train_network(ARCH, data, dataset.test, replace(FAST, epochs=8, translate=0))
    assert result.test_accuracy_pct >= 80.0  # two classes: chance is 50%
    assert [row.epoch for row in result.log] == list(range(1, 9))
    assert result.log[-1].train_loss < result.log[0].train_loss
    assert result.test_images == len(dataset.test) and result.train_images == len(data.train)


@pytest.mark.parametrize("stop_at", ["epoch", "step"])
def test_a_resumed_training_is_the_uninterrupted_one(stripes, tmp_path, stop_at):
    dataset, data = stripes
    settings = replace(FAST, checkpoint_s=0.0)  # a checkpoint after every step too
    straight, straight_model = train_network(ARCH, data, dataset.test, settings)
    checkpoint = tmp_path / CHECKPOINT
    calls = {"n": 0}

    def stop_step(done: int, total: int) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # mid-way through the first epoch (4 steps each)
            raise Stop

    def stop_epoch(row) -> None:
        raise Stop

    hooks = {"on_step": stop_step} if stop_at == "step" else {"on_epoch": stop_epoch}
    with pytest.raises(Stop):
        train_network(ARCH, data, dataset.test, settings, checkpoint=checkpoint, **hooks)
    assert checkpoint.is_file()
    resumed, resumed_model = train_network(ARCH, data, dataset.test, settings, checkpoint=checkpoint)
    assert resumed.resumed_from_epoch == (1 if stop_at == "epoch" else 0)
    assert _same_weights(straight_model, resumed_model)
    assert [r.val_accuracy_pct for r in resumed.log] == [r.val_accuracy_pct for r in straight.log]
    assert resumed.test_accuracy_pct == straight.test_accuracy_pct


def test_a_checkpoint_of_another_training_is_refused(stripes, tmp_path):
    dataset, data = stripes
    checkpoint = tmp_path / CHECKPOINT
    train_network(ARCH, data, dataset.test, replace(FAST, epochs=1), checkpoint=checkpoint)
    with pytest.raises(TrainError, match="differs in epochs"):
        train_network(ARCH, data, dataset.test, FAST, checkpoint=checkpoint)
    checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(TrainError, match="cannot read the checkpoint"):
        train_network(ARCH, data, dataset.test, FAST, checkpoint=checkpoint)


def test_the_checkpoint_holds_no_code(stripes, tmp_path):
    dataset, data = stripes
    checkpoint = tmp_path / CHECKPOINT
    train_network(ARCH, data, dataset.test, replace(FAST, epochs=1), checkpoint=checkpoint)
    # weights_only refuses any pickled object beyond tensors and plain containers
    payload = torch.load(checkpoint, weights_only=True)
    model = build_model(trained_arch(ARCH, data, FAST))
    model.load_state_dict(payload["model"])


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"batch_size": True}, {"resolution": 4}, {"lr": -1.0},
                                 {"label_smoothing": 1.0}])  # fmt: skip
def test_bad_settings_name_the_value(bad):
    with pytest.raises(TrainError) as caught:
        TrainSettings(**bad)
    ((name, value),) = bad.items()
    assert caught.value.value is value and name in str(caught.value)
