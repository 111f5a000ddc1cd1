"""hwsearch: hardware-aware neural architecture search for MobileNet-V1-style CNNs.

The package root stays light (no torch, optuna or onnxruntime); import
``hwsearch.model``, ``hwsearch.search`` and friends for the heavy parts.
"""

from __future__ import annotations

from hwsearch.arch import Arch, Stage, Stem, mobilenet_v1
from hwsearch.cost import count_cost

__version__ = "0.1.0"
__all__ = ["Arch", "Stage", "Stem", "__version__", "count_cost", "mobilenet_v1"]
