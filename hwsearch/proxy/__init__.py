"""Accuracy proxies: short training on real images, and zero-cost scores."""

from __future__ import annotations

from hwsearch.proxy.budgets import BUDGETS, Budget, get_budget

__all__ = ["BUDGETS", "Budget", "get_budget"]
