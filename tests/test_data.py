from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

from hwsearch import data as data_mod
from hwsearch.data import DatasetError, ImageSet, load_dataset, pair_images, read_idx, split_validation


def write_idx(path, array, *, compress):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


def make_fashion(folder, n_train=20, n_test=10, *, compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)), compress=compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, compress=compress)


@pytest.fixture
def no_system_data(monkeypatch, tmp_path):
    monkeypatch.setattr(data_mod, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("HWSEARCH_DATA", raising=False)


@pytest.mark.parametrize("compress", [True, False])
def test_idx_round_trip(tmp_path, compress):
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    write_idx(tmp_path / "x", array, compress=compress)
    assert np.array_equal(read_idx(tmp_path / "x"), array)


def test_idx_rejects_bad_magic_and_truncation(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04" + bytes(10))
    with pytest.raises(DatasetError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "t", np.zeros((4, 4)), compress=False)
    (tmp_path / "t").write_bytes((tmp_path / "t").read_bytes()[:-3])
    with pytest.raises(DatasetError, match="truncated"):
        read_idx(tmp_path / "t")


def test_fashion_mnist_from_data_dir(tmp_path, no_system_data):
    make_fashion(tmp_path / "d" / "fashion-mnist", compress=False)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path / "d")
    assert ds.source == str(tmp_path / "d" / "fashion-mnist")
    assert ds.train.images.shape == (20, 1, 28, 28) and len(ds.test) == 10
    assert ds.train.labels.tolist()[:11] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    assert ds.train.classes[9] == "Ankle boot"


def test_fashion_mnist_from_environment(tmp_path, no_system_data, monkeypatch):
    make_fashion(tmp_path / "env")
    monkeypatch.setenv("HWSEARCH_DATA", str(tmp_path / "env"))
    assert load_dataset().source == str(tmp_path / "env")


def test_missing_fashion_mnist_says_where_and_how(tmp_path, no_system_data):
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion-mnist")
    message = str(info.value)
    assert str(tmp_path / "no-debian") in message
    assert "apt-get install dataset-fashion-mnist" in message and "imagefolder:PATH" in message
    assert "\n" not in message


def test_a_data_dir_is_the_only_place_looked_in(tmp_path, no_system_data):
    make_fashion(tmp_path / "elsewhere", n_train=20)
    with pytest.raises(DatasetError, match=r"--data-dir .*missing does not exist"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError) as info:  # no fall-back to any other copy
        load_dataset("fashion-mnist", data_dir=tmp_path / "empty")
    assert str(tmp_path / "empty") in str(info.value) and str(tmp_path / "no-debian") not in str(info.value)


def test_mismatched_idx_files(tmp_path, no_system_data):
    make_fashion(tmp_path / "m", n_train=20)
    write_idx(tmp_path / "m" / "train-labels-idx1-ubyte.gz", np.zeros(7), compress=True)
    with pytest.raises(DatasetError, match="disagree"):
        load_dataset(data_dir=tmp_path / "m")


def make_cifar(folder):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 9]}
        (folder / name).write_bytes(pickle.dumps(batch))


def test_cifar10_python_format(tmp_path, no_system_data):
    make_cifar(tmp_path / "cifar-10-batches-py")
    ds = load_dataset("cifar10", data_dir=tmp_path)
    assert ds.train.images.shape == (20, 3, 32, 32) and ds.test.images.shape == (4, 3, 32, 32)
    assert ds.test.labels.tolist() == [0, 1, 2, 9] and ds.train.classes[0] == "airplane"


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_cifar_reader_refuses_foreign_pickles(tmp_path, no_system_data, capsys):
    make_cifar(tmp_path / "c")
    (tmp_path / "c" / "test_batch").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": [0]}))
    with pytest.raises(DatasetError, match=r"refusing builtins\.print"):
        load_dataset("cifar10", data_dir=tmp_path / "c")
    assert "must never run" not in capsys.readouterr().out


def test_image_folder_with_held_out_test(tmp_path):
    for label, colour in (("cat", 10), ("dog", 200)):
        (tmp_path / label).mkdir()
        for i in range(5):
            Image.new("RGB", (20 + i, 16), (colour, colour, colour)).save(tmp_path / label / f"{i}.png")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    ds = load_dataset(f"imagefolder:{tmp_path}")
    assert ds.train.classes == ("cat", "dog")
    assert len(ds.train) + len(ds.test) == 10 and len(ds.test) == 2
    assert ds.train.images.shape[1:] == (1, 64, 64)  # grey images keep one channel
    assert set(ds.test.labels.tolist()) == {0, 1}


def test_image_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"imagefolder:{tmp_path / 'nope'}")
    (tmp_path / "only").mkdir()
    with pytest.raises(DatasetError, match="at least two class"):
        load_dataset(f"imagefolder:{tmp_path}")
    with pytest.raises(DatasetError, match="unknown data set"):
        load_dataset("mnist-but-wrong")


def test_validation_split_is_disjoint_and_seeded(tmp_path, no_system_data):
    make_fashion(tmp_path / "f", n_train=50)
    train = load_dataset(data_dir=tmp_path / "f").train
    rest, val = split_validation(train, 10, seed=3)
    rest2, val2 = split_validation(train, 10, seed=3)
    assert len(rest) == 40 and len(val) == 10
    assert np.array_equal(val.images, val2.images) and np.array_equal(rest.labels, rest2.labels)
    seen = {im.tobytes() for im in rest.images}
    assert not any(im.tobytes() in seen for im in val.images)
    with pytest.raises(DatasetError):
        split_validation(train, 50)


def test_pair_images_builds_the_mosaic_and_the_pair_label():
    rng = np.random.default_rng(3)
    images = ImageSet(rng.integers(0, 256, (12, 1, 4, 5), dtype=np.uint8), np.arange(12) % 3, ("a", "b", "c"))
    pairs = pair_images(images, seed=7)
    assert pairs.images.shape == (12, 1, 8, 10) and len(pairs.classes) == 9 and pairs.classes[5] == "b | c"
    assert np.array_equal(pairs.images[:, :, :4, :5], images.images)
    assert not pairs.images[:, :, :4, 5:].any() and not pairs.images[:, :, 4:, :5].any()
    for i in range(12):  # the bottom-right image is one of the set, and the label names both classes
        j = [k for k in range(12) if np.array_equal(images.images[k], pairs.images[i, :, 4:, 5:])]
        assert j and pairs.labels[i] == images.labels[i] * 3 + images.labels[j[0]]
    assert np.array_equal(pair_images(images, seed=7).images, pairs.images)  # seeded: the same task every time
    assert not np.array_equal(pair_images(images, seed=8).images, pairs.images)


def _sources(pairs: ImageSet) -> set[bytes]:
    """The source images inside each mosaic (top-left and bottom-right quarter)."""
    h, w = pairs.images.shape[2] // 2, pairs.images.shape[3] // 2
    return {m[:, :h, :w].tobytes() for m in pairs.images} | {m[:, h:, w:].tobytes() for m in pairs.images}


@pytest.mark.parametrize("n", [12, 13])
def test_pairs_come_in_couples_and_a_validation_split_keeps_them_apart(n):
    rng = np.random.default_rng(4)
    images = ImageSet(rng.integers(0, 256, (n, 1, 4, 5), dtype=np.uint8), np.arange(n) % 3, ("a", "b", "c"))
    pairs = pair_images(images, seed=7)
    partner = [next(k for k in range(n) if np.array_equal(images.images[k], pairs.images[i, :, 4:, 5:]))
               for i in range(n)]  # fmt: skip
    assert all(partner[i] != i for i in range(n))
    # Every image is its partner's partner, but for the one an odd count leaves out.
    assert sum(partner[partner[i]] == i for i in range(n)) == n - n % 2
    assert pairs.groups is not None and len(np.unique(pairs.groups)) == n // 2
    for i in range(n):  # a mosaic shares its group with its partner's mosaic
        assert pairs.groups[i] == pairs.groups[partner[i]]
    for seed in range(5):
        rest, val = split_validation(pairs, 3, seed=seed)
        assert len(val) >= 3 and len(rest) + len(val) == n
        assert not _sources(rest) & _sources(val)  # no validation image is seen in training
        assert rest.groups is not None and not set(rest.groups) & set(val.groups)
    with pytest.raises(DatasetError, match="no group"):
        split_validation(pairs, n - 1)


def test_pairs_of_a_data_set_and_its_errors(tmp_path, no_system_data):
    make_fashion(tmp_path / "d" / "fashion-mnist", compress=False)
    ds = load_dataset("pairs:fashion-mnist", data_dir=tmp_path / "d")
    assert ds.name == "pairs:fashion-mnist" and ds.train.images.shape == (20, 1, 56, 56) and len(ds.test) == 10
    assert len(ds.train.classes) == 100 and ds.train.labels.max() < 100 and ds.train.labels.dtype == np.int64
    with pytest.raises(DatasetError, match="unknown data set 'nothing'") as info:
        load_dataset("pairs:nothing")
    assert info.value.value == "nothing"
    many = tmp_path / "many"
    for c in range(33):
        (many / f"c{c:02d}").mkdir(parents=True)
        for i in range(5):
            Image.new("L", (4, 4), color=i).save(many / f"c{c:02d}" / f"{i}.png")
    with pytest.raises(DatasetError, match="33 classes make too many pairs"):
        load_dataset(f"pairs:imagefolder:{many}")
