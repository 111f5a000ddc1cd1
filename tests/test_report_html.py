"""report.html of a real (tiny) run, rendered by headless Chromium: its script runs, sorts, and the page is drawn.

Chromium is Debian's ``chromium``; ``.ci/run`` installs it. Without it the tests skip, except
under CI (``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from hwsearch.cli import main
from tests._search_support import world

TIMEOUT_S = 90


@pytest.fixture(scope="module")
def chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing under CI; .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def reported_run(tmp_path_factory):
    """A 4-trial run on a predicted board, explored at one budget and reported at the next, re-reported by
    ``hwsearch report --within 0.5``."""
    tmp = tmp_path_factory.mktemp("html")
    w = world(tmp)
    out = tmp / "run"
    argv = ["run", "--device", "jetson-nano", "--space", w["space"], "--budget", w["budget"], "--rungs", w["rungs"],
            "--dataset", w["dataset"], "--out", str(out), "--sampler", "random", "--no-baselines", "--trials", "4",
            "--confirm-seeds", "1", "--promote", "0.5"]  # fmt: skip
    assert main(argv) == 0
    assert main(["report", str(out), "--within", "0.5"]) == 0
    return out


def _browse(chromium, tmp_path, *args):
    profile = tmp_path / "profile"
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
               "--enable-logging=stderr", "--v=0", *args]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _column(table: str, key: str) -> list[str]:
    """The data-value of column ``key`` in each body row of ``table``, in the order the DOM holds them."""
    keys = re.findall(r'<th data-key="([a-z_]+)"', table)
    index = keys.index(key)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody>", 1)[1], flags=re.S)
    return [html.unescape(re.findall(r'<td[^>]*data-value="([^"]*)"', row)[index]) for row in rows]


def test_the_report_script_runs_and_sorts_the_trial_table(chromium, reported_run, tmp_path):
    page = reported_run / "report.html"
    done = _browse(chromium, tmp_path, "--dump-dom", f"{page.as_uri()}#sort=-latency_ms")
    dom = done.stdout
    assert 'data-report-script="done"' in dom, "the page's script did not run to its end"
    root = re.search(r"<html[^>]*>", dom).group(0)  # the script marks the root element on a JS error
    assert "data-js-error" not in root and "Uncaught" not in done.stderr, root
    tables = {name: table for table, name in re.findall(r'(<table id="(\w+)" class="sortable".*?</table>)', dom, re.S)}
    assert set(tables) == {"front", "trials"}
    assert all('data-sortable="ready"' in table.split(">", 1)[0] for table in tables.values())
    # '#sort=-latency_ms' in the address sorted the tables, slowest first; the file itself is in trial order.
    static = page.read_text()
    static_trials = static[static.index('<table id="trials"') :]
    assert [int(v) for v in _column(static_trials, "number")] == [0, 1, 2, 3]
    before = [float(v) for v in _column(static_trials, "latency_ms")]
    latencies = [float(v) for v in _column(tables["trials"], "latency_ms")]
    assert before != sorted(before, reverse=True), "the run's trials are already slowest first: sort by another key"
    assert latencies == sorted(before, reverse=True)
    assert re.search(r'aria-sort="descending">latency ms', dom)
    front_numbers = _column(tables["front"], "number")
    for number in front_numbers:
        assert f"hwsearch export {reported_run} --trial {number} --out {reported_run}/export-{number}" in dom
        assert f"hwsearch train {reported_run} --trial {number} --out {reported_run}/train-{number}" in dom
    assert "fastest within 0.5 points of the best" in dom


def test_the_report_page_draws_its_text_and_plots(chromium, reported_run, tmp_path):
    shot = tmp_path / "report.png"
    _browse(chromium, tmp_path, "--hide-scrollbars", "--window-size=1200,2600", f"--screenshot={shot}",
            (reported_run / "report.html").as_uri())  # fmt: skip
    with Image.open(shot) as img:
        assert img.size == (1200, 2600)
        gray = np.asarray(img.convert("L"))
    assert np.unique(gray).size > 64  # text, tables and plots, not a blank or single-colour page
    assert (gray < 200).mean() > 0.02  # a blank page is all white
    # The plots are inlined images: their rows hold colour (the red front, orange and green lines).
    with Image.open(shot) as img:
        rgb = np.asarray(img.convert("RGB")).astype(int)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    assert (spread > 80).sum() > 500
