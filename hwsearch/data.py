"""Image data sets for proxy training, read from local files only (nothing is downloaded).

Three sources:

- ``fashion-mnist``: the IDX files (``*-ubyte`` or ``*-ubyte.gz``), searched in
  ``--data-dir``, ``$HWSEARCH_DATA``, ``/usr/share/datasets/fashion-mnist`` (Debian's
  ``dataset-fashion-mnist``) and the user cache folder, in that order;
- ``cifar10``: the python-format folder (``data_batch_1..5``, ``test_batch``), read with a
  restricted unpickler that admits only the plain containers and numpy arrays those files hold;
- ``imagefolder:PATH``: one sub-folder per class (or ``train/`` and ``val/`` or ``test/`` holding
  such folders), read with Pillow.

``pairs:SPEC`` derives a harder task from any of them (:func:`pair_images`): two images in one
mosaic, labelled by the pair of their classes.

A missing or malformed data set raises :class:`DatasetError` saying where it looked and how to
get the data. Images are kept as uint8 arrays of shape (N, C, H, W).
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from hwsearch.errors import HwsearchError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
DATASETS = ("fashion-mnist", "cifar10", "imagefolder:PATH", "pairs:SPEC")
PAIRS_MAX_CLASSES = 32  # a pair task has the square of its source's classes
# The pairing of each part is fixed, so that every run on ``pairs:SPEC`` sees the same task.
_PAIR_SEEDS = {"train": 1, "test": 2}
DEFAULT_DATASET = "fashion-mnist"
_HOW_TO_GET = (
    "install it with 'apt-get install dataset-fashion-mnist', pass --data-dir DIR, or use --dataset imagefolder:PATH"
)


class DatasetError(HwsearchError, ValueError):
    """A data set is missing, malformed, or named wrongly."""


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Images (uint8, N x C x H x W) with integer labels.

    ``groups`` (optional, one integer per image) marks images made from the same source
    pixels, such as the two mosaics of a pair (:func:`pair_images`): a validation split keeps
    each group on one side, so that no validation image is seen in training."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        assert self.images.ndim == 4 and self.images.dtype == np.uint8
        assert self.labels.shape == (self.images.shape[0],)
        assert self.groups is None or self.groups.shape == self.labels.shape

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def channels(self) -> int:
        """Channels per image (1 for grey, 3 for colour)."""
        return int(self.images.shape[1])

    def subset(self, index: np.ndarray | slice) -> ImageSet:
        """The images at ``index``."""
        groups = None if self.groups is None else self.groups[index]
        return ImageSet(self.images[index], self.labels[index], self.classes, groups)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A named data set with its train and test parts and where it was read from."""

    name: str
    source: str
    train: ImageSet
    test: ImageSet


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/hwsearch`` or ``~/.cache/hwsearch``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hwsearch"


def search_dirs(name: str, data_dir: str | Path | None = None) -> list[Path]:
    """Folders searched for data set ``name``, in order.

    A ``data_dir`` the user names is the only place looked in: it must exist, and a data set
    missing there is an error rather than a silent fall-back to another copy.
    """
    roots: list[Path] = []
    if data_dir is not None:
        folder = Path(data_dir)
        if not folder.is_dir():
            raise DatasetError(f"--data-dir {folder} does not exist or is not a folder", value=str(folder),
                               hint=f"a folder holding the {name} files (or {name}/ inside it)")  # fmt: skip
        return [folder, folder / name]
    if os.environ.get("HWSEARCH_DATA"):
        roots.append(Path(os.environ["HWSEARCH_DATA"]))
    found: list[Path] = []
    for root in roots:
        found += [root, root / name]
    if name == "fashion-mnist":
        found.append(DEBIAN_FASHION_MNIST)
    found.append(user_cache_dir() / name)
    return list(dict.fromkeys(found))


def load_dataset(spec: str = DEFAULT_DATASET, *, data_dir: str | Path | None = None) -> Dataset:
    """Load a data set by spec: ``fashion-mnist``, ``cifar10``, ``imagefolder:PATH`` or ``pairs:SPEC``."""
    if spec.startswith("pairs:"):
        base = load_dataset(spec.split(":", 1)[1], data_dir=data_dir)
        if len(base.train.classes) > PAIRS_MAX_CLASSES:
            raise DatasetError(f"{spec!r}: {len(base.train.classes)} classes make too many pairs", value=spec,
                               hint=f"a source with at most {PAIRS_MAX_CLASSES} classes")  # fmt: skip
        train, test = pair_images(base.train, _PAIR_SEEDS["train"]), pair_images(base.test, _PAIR_SEEDS["test"])
        return Dataset(f"pairs:{base.name}", base.source, train, test)
    if spec == "fashion-mnist":
        return _load_fashion_mnist(data_dir)
    if spec == "cifar10":
        return _load_cifar10(data_dir)
    if spec.startswith("imagefolder:") and len(spec) > len("imagefolder:"):
        return load_image_folder(Path(spec.split(":", 1)[1]))
    raise DatasetError(f"unknown data set {spec!r}", value=spec, hint=f"one of {', '.join(DATASETS)}")


def pair_images(images: ImageSet, seed: int) -> ImageSet:
    """Each image top-left in a mosaic twice its size, a seeded other image bottom-right, the
    other corners blank; the label is the pair of classes (``first * classes + second``).

    Images are paired in seeded couples, each image the other's partner (with an odd count,
    the last one joins the first couple), and each couple's mosaics form one of the result's
    ``groups``, so a validation split never sees a training mosaic's images. The same images
    make a task with the square of their classes, on which more capacity keeps paying (see the
    README's "The front's slope")."""
    n, channels, height, width = images.images.shape
    if n < 2:
        raise DatasetError(f"pairing needs at least 2 images, got {n}", value=n)
    order = np.random.default_rng(seed).permutation(n)
    couples = n // 2
    other, groups = np.empty(n, np.int64), np.empty(n, np.int64)
    first, second = order[: 2 * couples : 2], order[1 : 2 * couples : 2]
    other[first], other[second] = second, first
    groups[first] = groups[second] = np.arange(couples)
    if n % 2:
        other[order[-1]], groups[order[-1]] = order[0], 0
    mosaic = np.zeros((n, channels, 2 * height, 2 * width), np.uint8)
    mosaic[:, :, :height, :width] = images.images
    mosaic[:, :, height:, width:] = images.images[other]
    count = len(images.classes)
    names = tuple(f"{a} | {b}" for a in images.classes for b in images.classes)
    return ImageSet(mosaic, images.labels.astype(np.int64) * count + images.labels[other], names, groups)


# ----- IDX (Fashion-MNIST) ----------------------------------------------------------------

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into an array."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"cannot read IDX file {path}: {exc}", value=str(path)) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise DatasetError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})", value=str(path))
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetError(f"{path} is truncated or padded: {len(raw)} bytes, header says {expected}", value=str(path))
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem, f"{stem}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _load_fashion_mnist(data_dir: str | Path | None) -> Dataset:
    stems = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    dirs = search_dirs("fashion-mnist", data_dir)
    for folder in dirs:
        files = [_find_file(folder, stem) for stem in stems]
        if all(f is not None for f in files):
            arrays = [read_idx(f) for f in files if f is not None]
            return Dataset("fashion-mnist", str(folder), *_idx_sets(arrays, folder))
    looked = ", ".join(str(d) for d in dirs)
    raise DatasetError(f"Fashion-MNIST not found; looked in {looked}", value="fashion-mnist", hint=_HOW_TO_GET)


def _idx_sets(arrays: Sequence[np.ndarray], folder: Path) -> tuple[ImageSet, ImageSet]:
    out = []
    for images, labels in ((arrays[0], arrays[1]), (arrays[2], arrays[3])):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetError(f"IDX files in {folder} disagree: images {images.shape}, labels {labels.shape}",
                               value=str(folder))  # fmt: skip
        if labels.size and (labels.min() < 0 or labels.max() >= len(FASHION_MNIST_CLASSES)):
            raise DatasetError(f"labels in {folder} fall outside 0-9", value=str(folder))
        out.append(ImageSet(images[:, None].astype(np.uint8), labels.astype(np.int64), FASHION_MNIST_CLASSES))
    return out[0], out[1]


# ----- CIFAR-10 (python format) --------------------------------------------------------------


class _CifarUnpickler(pickle.Unpickler):
    """Admits only what CIFAR-10's python batches contain: numpy arrays in plain containers."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str) -> type:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as handle:
            batch = _CifarUnpickler(io.BufferedReader(handle), encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, KeyError, ValueError, TypeError, EOFError) as exc:
        raise DatasetError(f"{path} is not a CIFAR-10 python batch: {exc}", value=str(path)) from None
    if len(labels) != len(data) or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise DatasetError(f"{path} has {len(data)} images but {len(labels)} labels in range", value=str(path))
    return data, labels


def _load_cifar10(data_dir: str | Path | None) -> Dataset:
    dirs = search_dirs("cifar10", data_dir)
    dirs += [d / "cifar-10-batches-py" for d in dirs]
    for folder in dirs:
        train_files = [folder / f"data_batch_{i}" for i in range(1, 6)]
        if all(f.is_file() for f in train_files) and (folder / "test_batch").is_file():
            parts = [_read_cifar_batch(f) for f in train_files]
            train = ImageSet(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                             CIFAR10_CLASSES)  # fmt: skip
            test = ImageSet(*_read_cifar_batch(folder / "test_batch"), CIFAR10_CLASSES)
            return Dataset("cifar10", str(folder), train, test)
    looked = ", ".join(str(d) for d in dirs)
    raise DatasetError(f"CIFAR-10 (python format) not found; looked in {looked}", value="cifar10",
                       hint="put data_batch_1..5 and test_batch in --data-dir DIR")  # fmt: skip


# ----- ImageFolder ---------------------------------------------------------------------------------


def load_image_folder(root: Path, *, size: int = 64, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Images in ``root/<class>/*`` (or ``root/train`` + ``root/val|test``), resized to ``size`` px.

    Without a separate test folder, a seeded ``test_fraction`` of each class is held out as test.
    """
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist", value=str(root),
                           hint="give imagefolder:PATH with one sub-folder per class")  # fmt: skip
    test_dir = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    if (root / "train").is_dir() and test_dir is not None:
        train = _read_class_folders(root / "train", size, None)
        test = _read_class_folders(test_dir, size, train.classes)
        return Dataset(f"imagefolder:{root}", str(root), train, test)
    every = _read_class_folders(root, size, None)
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(every), dtype=bool)
    for label in range(len(every.classes)):
        members = np.flatnonzero(every.labels == label)
        take = round(len(members) * test_fraction)
        is_test[rng.choice(members, size=take, replace=False)] = True
    return Dataset(f"imagefolder:{root}", str(root), every.subset(~is_test), every.subset(is_test))


def _read_class_folders(root: Path, size: int, classes: tuple[str, ...] | None) -> ImageSet:
    from PIL import Image, UnidentifiedImageError

    names = tuple(sorted(d.name for d in root.iterdir() if d.is_dir()))
    if classes is not None and names != classes:
        raise DatasetError(f"class folders in {root} {list(names)} differ from train's {list(classes)}",
                           value=str(root))  # fmt: skip
    if len(names) < 2:
        raise DatasetError(f"{root} needs at least two class sub-folders, found {len(names)}", value=str(root))
    files = [(p, label) for label, n in enumerate(names) for p in sorted((root / n).iterdir())
             if p.suffix.lower() in IMAGE_SUFFIXES]  # fmt: skip
    if not files:
        raise DatasetError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}", value=str(root))
    images = []
    for path, _ in files:
        try:
            with Image.open(path) as img:
                images.append(np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)))
        except (OSError, UnidentifiedImageError) as exc:
            raise DatasetError(f"cannot read image {path}: {exc}", value=str(path)) from None
    array = np.stack(images).transpose(0, 3, 1, 2).copy()
    if all(np.array_equal(array[:, 0], array[:, c]) for c in (1, 2)):
        array = array[:, :1].copy()  # all grey: keep one channel
    return ImageSet(array, np.array([label for _, label in files], dtype=np.int64), names)


def split_validation(train: ImageSet, count: int, *, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """Hold ``count`` seeded-random training images out as a validation split: (rest, validation).

    With ``train.groups``, whole groups are held out, seeded, until at least ``count`` images are."""
    if not 0 < count < len(train):
        raise DatasetError(f"validation size {count} must be between 1 and {len(train) - 1}", value=count)
    rng = np.random.default_rng(seed)
    if train.groups is None:
        order = rng.permutation(len(train))
        return train.subset(np.sort(order[count:])), train.subset(np.sort(order[:count]))
    names, sizes = np.unique(train.groups, return_counts=True)
    shuffled = rng.permutation(len(names))
    taken = int(np.searchsorted(np.cumsum(sizes[shuffled]), count)) + 1
    if taken >= len(names):
        raise DatasetError(f"validation size {count} leaves no group of images to train on", value=count)
    held = np.isin(train.groups, names[shuffled[:taken]])
    return train.subset(np.flatnonzero(~held)), train.subset(np.flatnonzero(held))
