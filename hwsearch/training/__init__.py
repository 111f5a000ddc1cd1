"""Training a chosen network beyond the proxy: at its real width, on the user's data, resumable.

The search scores networks with short proxy trainings; :func:`train_network` trains the one
a user picks for real, and :func:`write_trained` leaves it ready to deploy. Names load on
first use, so the CLI reads :class:`TrainSettings`' defaults without importing torch.
"""

from __future__ import annotations

from hwsearch._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "_loop": ("CHECKPOINT", "accuracy_pct", "train_network", "trained_arch", "training_split"),
    "_outputs": ("LOG_FILE", "SUMMARY_FILE", "input_text", "summary_of", "write_trained"),
    "_settings": ("EpochLog", "TrainError", "TrainResult", "TrainSettings"),
})  # fmt: skip
