"""Where hwsearch writes by default, relative to the working directory."""

from __future__ import annotations

from pathlib import Path

# Run folders, the latency cache and reproductions go here unless an option says otherwise.
RESULTS_DIR = Path("results")
