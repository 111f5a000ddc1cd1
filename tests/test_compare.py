from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hwsearch.cli import main
from hwsearch.report.compare import (
    CompareError,
    RunFront,
    comparability_notes,
    compare_table,
    distinct_names,
    run_front,
)
from hwsearch.report.compare_plot import compare_figure
from tests._search_support import world


def front_rows(source="measured", seeds=2, budget="standard", numbers=(3, 1, 7)):
    rows = pd.DataFrame({
        "number": list(numbers), "arch": [f"a{n}" for n in numbers], "baseline": "", "on_front": True,
        "accuracy_pct": [70.0, 60.0, 75.0], "accuracy_std_pct": [0.5, 0.2, 0.4], "seeds": seeds, "budget": budget,
        "latency_ms": [2.0, 1.0, 4.0], "latency_source": source, "latency_error_pct": 0.0 if source == "measured"
        else 37.0, "macs": [2e7, 1e7, 4e7], "params": 1e6,
    })  # fmt: skip
    return pd.concat([rows, rows.assign(number=99, on_front=False, arch="slow", latency_ms=9.0)], ignore_index=True)


def test_a_run_front_is_the_reported_front_fastest_first_and_a_run_without_one_is_refused():
    front = run_front("nano", front_rows(), device="jetson-nano", dataset="fashion-mnist")
    assert list(front.front.number) == [1, 3, 7] and front.budget == "standard"
    with pytest.raises(CompareError) as caught:
        run_front("empty", front_rows().assign(on_front=False), device="d", dataset="x")
    assert caught.value.value == "empty" and "no front" in str(caught.value)
    with pytest.raises(CompareError):
        compare_table([])


def test_run_names_are_the_folder_names_made_distinct_by_their_parents():
    assert distinct_names([Path("/r/nano"), Path("/r/pi")]) == ["nano", "pi"]
    assert distinct_names([Path("/a/run"), Path("/b/run")]) == ["a/run", "b/run"]


def test_the_notes_say_when_budgets_data_or_devices_differ_and_when_a_front_is_not_confirmed():
    nano = RunFront("nano", "jetson-nano", "standard", "fashion-mnist", front_rows("predicted"))
    pi = RunFront("pi", "raspberry-pi-4", "standard", "fashion-mnist", front_rows("predicted"))
    assert comparability_notes([nano, pi]) == [
        "latencies are on different devices (jetson-nano, raspberry-pi-4), each on its own"
    ]
    cheap = RunFront("cheap", "jetson-nano", "quick", "cifar", front_rows("measured", seeds=1, budget="quick"))
    notes = comparability_notes([nano, cheap])
    assert "the runs report at different budgets ('quick', 'standard'): their accuracies are not comparable" in notes
    assert any(note.startswith("the runs score on different data") for note in notes)
    assert "cheap's front has 1 seed each: not confirmed" in notes


def test_the_figure_keeps_predictions_apart_from_measurements_on_a_log_axis():
    measured = RunFront("board", "jetson-nano", "standard", "d", front_rows("measured").iloc[:3])
    predicted = RunFront("nano", "jetson-nano", "quick", "d", front_rows("predicted", budget="quick").iloc[:3])
    fig = compare_figure([measured, predicted], comparability_notes([measured, predicted]))
    (ax,) = fig.get_axes()
    assert ax.get_xscale() == "log" and "different budgets" in ax.get_title(loc="left")
    curves = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    solid = curves[measured.label()]
    dashed = curves[predicted.label()]
    assert solid.get_linestyle() == "-" and dashed.get_linestyle() == "--"
    assert "latency measured" in measured.label() and "latency predicted ±37%" in predicted.label()
    assert all(part in predicted.label() for part in ("nano", "'quick'", "jetson-nano", "2+ seeds each"))
    faces = {tuple(np.round(c.get_facecolor()[0], 2)) for c in ax.collections if len(c.get_offsets()) == 3}
    assert (1.0, 1.0, 1.0, 1.0) in faces and len(faces) == 2  # hollow estimates, filled measurements
    assert {t.get_text() for t in ax.texts} == {"#1", "#3", "#7"}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The same tiny space on two boards (predicted latencies), one reported at its exploration budget, the
    other promoted to the next rung: two devices and two budgets."""
    tmp = tmp_path_factory.mktemp("compare")
    w = world(tmp)
    runs = []
    for device, rungs in (("jetson-nano", "none"), ("raspberry-pi-4", w["rungs"])):
        out = tmp / device
        argv = ["run", "--device", device, "--space", w["space"], "--budget", w["budget"], "--rungs", rungs,
                "--dataset", w["dataset"], "--out", str(out), "--sampler", "random", "--no-baselines", "--trials",
                "3", "--confirm-seeds", "1", "--promote", "0.5"]  # fmt: skip
        assert main(argv) == 0
        runs.append(out)
    return w, runs


def test_compare_writes_one_plot_and_one_table_of_each_runs_own_front(two_runs, tmp_path, capsys):
    w, runs = two_runs
    capsys.readouterr()
    assert main(["compare", *map(str, runs), "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv", keep_default_na=False)
    for run in runs:
        trials = pd.read_csv(run / "trials.csv", keep_default_na=False)
        mine = table[table.run == run.name]
        front = trials[trials.on_front]
        assert sorted(mine.number) == sorted(front.number)  # the run's own front, at the budget it reports at
        assert set(mine.budget) == set(front.budget) and set(mine.latency_source) == {"predicted"}
    assert set(table.device) == {"jetson-nano", "raspberry-pi-4"}
    assert set(table.budget) == {w["budget"], w["rungs"]}
    assert "note: the runs report at different budgets" in printed and "predicted ±" in printed
    with Image.open(tmp_path / "cmp" / "compare.png") as img:
        assert img.format == "PNG" and np.unique(np.asarray(img.convert("L"))).size > 20


def test_compare_of_a_folder_that_holds_no_run_is_one_line(two_runs, tmp_path, capsys):
    _, runs = two_runs
    assert main(["compare", str(runs[0]), str(tmp_path), "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no study database" in err
    assert not (tmp_path / "cmp").exists()
