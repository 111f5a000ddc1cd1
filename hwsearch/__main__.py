"""``python -m hwsearch``."""

from __future__ import annotations

from hwsearch.cli import main_entry

main_entry()
