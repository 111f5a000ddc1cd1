"""``python -m hwsearch.latency``: the device agent alone, without the rest of the CLI's dependencies."""

from __future__ import annotations

import sys

from hwsearch.latency._agent import agent_main

sys.exit(agent_main())
