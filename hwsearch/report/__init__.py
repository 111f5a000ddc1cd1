"""Reports and plots of runs. The only part of hwsearch that imports matplotlib."""

from __future__ import annotations
