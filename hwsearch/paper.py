"""The MobileNet V1 paper's published figures, side by side with this package's counts.

Source: Howard et al., 2017, "MobileNets: Efficient Convolutional Neural Networks for
Mobile Vision Applications", arXiv:1704.04861, Tables 2-7 and 9; the body totals come
from the TF-slim reference implementation (tensorflow/models, research/slim/nets/
mobilenet_v1.py, docstring). A figure *agrees* when our count is within 0.5% of it,
or equals it at the precision the paper prints (``2.6`` M parameters for 2.569 M).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

from hwsearch.arch import Arch, Layer, conv_mobilenet, mobilenet_v1, shallow_mobilenet
from hwsearch.cost import count_cost, layer_cost

TOLERANCE = 0.005
SOURCE = "Howard et al. 2017 (arXiv:1704.04861); TF-slim mobilenet_v1.py"

# The paper prints Table 2's shares summing to 99.29%; the stem row is the one that
# disagrees with its own Table 1 (3*3*3*32*112*112 = 10.84M of 568.7M = 1.91%).
_STEM_NOTE = "paper's shares sum to 99.29%; 3x3x3x32 at 112x112 is 10.84M of 568.7M = 1.91%"


@dataclass(frozen=True)
class Figure:
    """One published figure and our count of the same quantity."""

    table: str
    item: str
    unit: str
    paper: str
    ours: float
    note: str = ""

    @property
    def paper_value(self) -> float:
        """The published figure as a number."""
        return float(self.paper)

    @property
    def diff_pct(self) -> float:
        """Relative difference of our count from the paper's, in percent."""
        return (self.ours - self.paper_value) / self.paper_value * 100.0

    @property
    def agrees(self) -> bool:
        """Within 0.5%, or equal at the paper's printed precision."""
        decimals = len(self.paper.split(".")[1]) if "." in self.paper else 0
        printed = abs(self.ours - self.paper_value) <= 0.5 * 10.0**-decimals + 1e-12
        return abs(self.diff_pct) <= TOLERANCE * 100 or printed


def _share_figures() -> list[Figure]:
    cost = count_cost(mobilenet_v1())
    kinds = cost.by_kind()
    rows = [
        ("Conv 1x1", "pw", "94.86", "74.59"),
        ("Conv DW 3x3", "dw", "3.06", "1.06"),
        ("Conv 3x3 (first layer)", "stem", "1.19", "0.02"),
        ("Fully connected", "fc", "0.18", "24.33"),
    ]
    out = []
    for item, kind, macs_share, params_share in rows:
        macs, params = kinds[kind]
        note = _STEM_NOTE if kind == "stem" else ""
        out.append(Figure("Table 2", item, "% Mult-Adds", macs_share, macs / cost.macs * 100, note))
        out.append(Figure("Table 2", item, "% Params", params_share, params / cost.params * 100))
    return out


def _layer(kind: str, channels: int, size: int) -> Layer:
    groups = channels if kind == "dw" else 1
    kernel = 1 if kind == "pw" else 3
    return Layer(kind, kind, channels, channels, kernel, 1, groups, size, size)


def _table3_figures() -> list[Figure]:
    def separable(channels: int, size: int) -> tuple[int, int]:
        rows = [layer_cost(_layer("dw", channels, size)), layer_cost(_layer("pw", channels, size))]
        return sum(r.macs for r in rows), sum(r.params for r in rows)

    full = layer_cost(_layer("conv", 512, 14))
    cases = [
        ("standard 3x3 convolution", (full.macs, full.params), "462", "2.36"),
        ("depthwise separable", separable(512, 14), "52.3", "0.27"),
        ("alpha = 0.75", separable(384, 14), "29.6", "0.15"),
        ("rho = 0.714", separable(384, round(14 * 0.714)), "15.1", "0.15"),
    ]
    out = []
    for item, (macs, params), paper_macs, paper_params in cases:
        out.append(Figure("Table 3", item, "M Mult-Adds", paper_macs, macs / 1e6))
        out.append(Figure("Table 3", item, "M Params", paper_params, params / 1e6))
    return out


def _model_figures() -> list[Figure]:
    models: list[tuple[str, str, Arch, str, str]] = [
        ("Table 4", "Conv MobileNet", conv_mobilenet(), "4866", "29.3"),
        ("Table 4", "MobileNet (1.0, 224)", mobilenet_v1(), "569", "4.2"),
        ("Table 5", "0.75 MobileNet-224", mobilenet_v1(0.75), "325", "2.6"),
        ("Table 5", "Shallow MobileNet", shallow_mobilenet(), "307", "2.9"),
        ("Table 6", "0.5 MobileNet-224", mobilenet_v1(0.5), "149", "1.3"),
        ("Table 6", "0.25 MobileNet-224", mobilenet_v1(0.25), "41", "0.5"),
        ("Table 7", "1.0 MobileNet-192", mobilenet_v1(1.0, 192), "418", "4.2"),
        ("Table 7", "1.0 MobileNet-160", mobilenet_v1(1.0, 160), "290", "4.2"),
        ("Table 7", "1.0 MobileNet-128", mobilenet_v1(1.0, 128), "186", "4.2"),
    ]
    out = []
    for table, item, arch, paper_macs, paper_params in models:
        cost = count_cost(arch)
        out.append(Figure(table, item, "M Mult-Adds", paper_macs, cost.macs / 1e6))
        out.append(Figure(table, item, "M Params", paper_params, cost.params / 1e6))
    # Table 9 prints 76M for 0.50 MobileNet-160: the body without the FC layer (76.01M);
    # with the 512x1000 FC it is 76.52M, which TF-slim's table lists as 77.
    small = count_cost(mobilenet_v1(0.5, 160))
    body = small.macs - small.by_kind()["fc"][0]
    out.append(
        Figure(
            "Table 9", "0.50 MobileNet-160 (body)", "M Mult-Adds", "76", body / 1e6, f"with FC: {small.macs / 1e6:.2f}M"
        )
    )
    out.append(Figure("Table 9", "0.50 MobileNet-160", "M Params", "1.32", small.params / 1e6))
    return out


def _slim_figures() -> list[Figure]:
    out = []
    for alpha, res, macs, params in ((1.0, 224, "567716352", "3185088"), (0.75, 128, "106002432", "1800144")):
        cost = count_cost(mobilenet_v1(alpha, res))
        fc_macs, fc_params = cost.by_kind()["fc"]
        item = f"{alpha} MobileNet-{res} body"
        out.append(Figure("TF-slim", item, "Mult-Adds", macs, cost.macs - fc_macs))
        out.append(Figure("TF-slim", item, "Params", params, cost.params - fc_params))
    return out


def paper_figures() -> list[Figure]:
    """Every figure of the paper's Tables 2-7 and 9 and the TF-slim body totals, with our counts."""
    return _share_figures() + _table3_figures() + _model_figures() + _slim_figures()


@dataclass(frozen=True)
class GridModel:
    """One of the paper's 16 alpha x resolution models with its published ImageNet figures."""

    alpha: float
    resolution: int
    mmacs_listed: float
    top1: float
    top5: float

    @property
    def arch(self) -> Arch:
        """The model as an architecture."""
        return mobilenet_v1(self.alpha, self.resolution)


GRID_SOURCE = "tensorflow/models research/slim/nets/mobilenet_v1.md (2018_02_22 checkpoints)"


def paper_grid() -> list[GridModel]:
    """The 16 models of the paper's alpha x resolution grid (float checkpoints), from the package's copy."""
    text = resources.files("hwsearch.reference").joinpath("mobilenet_v1_grid.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return [
        GridModel(float(r["alpha"]), int(r["resolution"]), float(r["mmacs_listed"]), float(r["top1_float"]),
                  float(r["top5_float"]))
        for r in rows
    ]  # fmt: skip


@dataclass(frozen=True)
class StructuralModel:
    """A network of the paper's Tables 4 and 5, which compare structures rather than widths or resolutions."""

    name: str
    arch: Arch
    top1: float


STRUCTURAL_SOURCE = "Howard et al. 2017, arXiv:1704.04861, Table 4 (Conv vs MobileNet) and Table 5 (narrow vs shallow)"


def structural_models() -> list[StructuralModel]:
    """Conv MobileNet, MobileNet, 0.75 MobileNet and Shallow MobileNet, in the paper's ImageNet order."""
    return [
        StructuralModel("Conv MobileNet", conv_mobilenet(), 71.7),
        StructuralModel("MobileNet 1.0-224", mobilenet_v1(), 70.6),
        StructuralModel("0.75 MobileNet-224", mobilenet_v1(0.75), 68.4),
        StructuralModel("Shallow MobileNet", shallow_mobilenet(), 65.3),
    ]
