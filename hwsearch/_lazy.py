"""Lazy re-exports for a package's ``__init__``: each name is imported from its sub-module on first use.

A package such as :mod:`hwsearch.latency` or :mod:`hwsearch.search` then costs nothing to
import until a name is asked for, so a command that needs one light sub-module (the device
agent, the CLI's option defaults) does not pay for onnxruntime, optuna or numpy fitting code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

EXPORTS_ATTR = "_lazy_exports"
Hooks = tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]


def attach(package: str, providers: Mapping[str, Sequence[str]]) -> Hooks:
    """``(__getattr__, __dir__, __all__)`` for ``package``, whose sub-module ``m`` provides ``providers[m]``."""
    module_of = {name: module for module, names in providers.items() for name in names}
    namespace = importlib.import_module(package).__dict__
    # Which sub-module each name comes from, for tools that follow imports (the import-graph test).
    namespace[EXPORTS_ATTR] = dict(module_of)

    def getattr_(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value  # later look-ups find it without coming here
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *module_of})

    return getattr_, dir_, sorted(module_of)
