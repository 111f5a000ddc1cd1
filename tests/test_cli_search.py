from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import torch
from PIL import Image

from hwsearch.arch import Arch
from hwsearch.cli import main
from hwsearch.cost import count_cost
from tests._search_support import completed_in, world


def run_args(w, out, *extra):
    return ["run", "--device", w["device"], "--space", w["space"], "--budget", w["budget"], "--rungs", w["rungs"],
            "--dataset", w["dataset"], "--out", str(out), "--sampler", "random", "--no-baselines", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    w = world(tmp)
    out = tmp / "run"
    assert main(run_args(w, out, "--trials", "4")) == 0
    return w, out


def test_run_writes_every_output(finished_run):
    _, out = finished_run
    for name in ("study.db", "trials.csv", "pareto_latency.png", "tradeoff_macs.png", "hypervolume.png",
                 "report.md", "report.html"):  # fmt: skip
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "trials.csv")
    assert len(table) == 4 and set(table.latency_source) == {"measured"}
    assert table.feasible.all() and table.accuracy_pct.between(0, 100).all()
    for row in table.itertuples():
        assert count_cost(Arch.from_str(row.arch)).macs == row.macs
    report = (out / "report.md").read_text()
    assert "## Pareto front" in report and "source on" in report and "hypervolume" in report.lower()
    assert "data:image/png;base64," in (out / "report.html").read_text()
    with Image.open(out / "pareto_latency.png") as img:
        assert img.format == "PNG" and np.unique(np.asarray(img.convert("L"))).size > 20


def test_report_regenerates_outputs(finished_run, capsys):
    _, out = finished_run
    (out / "pareto_latency.png").unlink()
    before = pd.read_csv(out / "trials.csv")
    assert main(["report", str(out)]) == 0
    assert (out / "pareto_latency.png").is_file()
    pd.testing.assert_frame_equal(pd.read_csv(out / "trials.csv"), before)


def test_resume_keeps_every_finished_trial(tmp_path, capsys):
    w = world(tmp_path)
    out = tmp_path / "run"
    assert main(run_args(w, out, "--trials", "2")) == 0
    first = pd.read_csv(out / "trials.csv")
    assert main(run_args(w, out, "--trials", "2")) == 2  # exists: needs --resume
    assert "--resume" in capsys.readouterr().err
    assert main(["run", "--resume", "--out", str(out), "--trials", "4"]) == 0
    after = pd.read_csv(out / "trials.csv")
    assert len(after) == 4
    # What each trial found is kept; the ladder's columns (its highest rung, the front) may move with more trials.
    ladder = ["accuracy_pct", "budget", "seeds", "accuracy_std_pct", "on_front"]
    pd.testing.assert_frame_equal(after.iloc[:2].drop(columns=ladder).reset_index(drop=True),
                                  first.drop(columns=ladder))  # fmt: skip


def test_a_timeout_before_confirmation_says_so_and_resume_confirms(tmp_path, capsys):
    w = world(tmp_path)
    out = tmp_path / "run"
    # A 60 ms timeout: the first exploration starts, nothing after it does.
    assert main(run_args(w, out, "--trials", "2", "--timeout", "0.001")) == 0
    printed = capsys.readouterr().out
    assert "stopped before its front was confirmed" in printed and f"'{w['budget']}'" in printed
    assert f"hwsearch run --resume --out {out}" in printed.replace("\n", "")
    assert main(["run", "--resume", "--out", str(out)]) == 0
    assert "before its front was confirmed" not in capsys.readouterr().out
    front = pd.read_csv(out / "trials.csv").query("on_front")
    assert set(front.budget) == {w["rungs"]} and front.seeds.min() >= 2


def test_a_run_on_the_pairs_task_of_its_images(tmp_path):
    w = world(tmp_path)
    w["dataset"] = f"pairs:{w['dataset']}"
    out = tmp_path / "run"
    assert main(run_args(w, out, "--trials", "2", "--rungs", "none")) == 0
    table = pd.read_csv(out / "trials.csv")
    assert len(table) == 2 and table.accuracy_pct.between(0, 100).all()
    assert w["dataset"] in (out / "report.md").read_text()


def test_export_round_trip_in_a_fresh_interpreter(finished_run, tmp_path, capsys):
    _, out = finished_run
    assert main(["export", str(out), "--best", "--out", str(tmp_path / "exp")]) == 0
    exp = tmp_path / "exp"
    arch = Arch.from_json((exp / "arch.json").read_text())
    scores = json.loads((exp / "scores.json").read_text())
    table = pd.read_csv(out / "trials.csv")
    reported = table[table.budget == table[table.on_front].budget.iloc[0]]  # never a cheaper score beside it
    assert scores["accuracy_pct"] == pytest.approx(reported.accuracy_pct.max())
    assert scores["budget"] == reported.budget.iloc[0] and scores["seeds"] >= 2
    source = (exp / "model.py").read_text()
    assert "hwsearch" not in source.split('"""', 2)[2].replace("exported by hwsearch", "")  # no hwsearch import
    assert arch.to_str() in source and "measured" in source
    check = (
        "import importlib.util, torch\n"
        f"spec = importlib.util.spec_from_file_location('m', {str(exp / 'model.py')!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "net = m.build().eval()\n"
        "print(sum(p.numel() for n, p in net.named_parameters() if '.bn.' not in n))\n"
        "print(tuple(net(torch.zeros(m.INPUT_SHAPE)).shape))\n"
        f"net.load_state_dict(torch.load({str(exp / 'weights.pt')!r}, weights_only=True))\n"
        "x = torch.linspace(-1, 1, 2 * m.INPUT_SHAPE[1] * m.INPUT_SHAPE[2] ** 2).reshape(2, *m.INPUT_SHAPE[1:])\n"
        f"torch.save({{'x': x, 'y': net(x).detach()}}, {str(tmp_path / 'io.pt')!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    params, shape = done.stdout.split("\n")[:2]
    assert int(params) == count_cost(arch).params
    assert shape == f"(1, {arch.num_classes})"
    session = ort.InferenceSession(str(exp / "model.onnx"), providers=["CPUExecutionProvider"])
    # model.py with weights.pt is model.onnx: the same untrained weights, at batch 2
    pair = torch.load(tmp_path / "io.pt", weights_only=True)
    onnx_out = session.run(None, {"input": pair["x"].numpy()})[0]
    assert onnx_out.shape == (2, arch.num_classes) and np.abs(pair["y"].numpy()).max() > 0
    np.testing.assert_allclose(onnx_out, pair["y"].numpy(), atol=1e-4, rtol=0)


def test_export_by_latency_and_trial(finished_run, tmp_path, capsys):
    _, out = finished_run
    table = pd.read_csv(out / "trials.csv")
    table = table[table.budget == table[table.on_front].budget.iloc[0]]
    limit = float(table.latency_ms.median())
    assert main(["export", str(out), "--max-latency-ms", str(limit), "--out", str(tmp_path / "a")]) == 0
    chosen = json.loads((tmp_path / "a" / "scores.json").read_text())
    assert chosen["latency_ms"] <= limit
    assert chosen["accuracy_pct"] == pytest.approx(table[table.latency_ms <= limit].accuracy_pct.max())
    assert main(["export", str(out), "--trial", "1", "--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "scores.json").read_text())["trial"] == 1


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", "--trials", "0"], "--trials: 0"),
        (["run", "--timeout", "-5"], "--timeout: -5"),
        (["run", "--latency-budget-ms", "0"], "--latency-budget-ms: 0"),
        (["run", "--device", "no-such-board"], "'no-such-board'"),
        (["run", "--sampler", "cmaes", "--device", "local-cpu"], "'cmaes'"),
        (["run", "--promotion", "soon", "--device", "local-cpu"], "--promotion 'soon' is unknown (one of end, async)"),
        (["run", "--resume"], "--resume"),
        (["report", "/nonexistent/run"], "/nonexistent/run"),
        (["export", "/nonexistent/run", "--best"], "/nonexistent/run"),
    ],
)
def test_bad_options_are_one_line(capsys, tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written for a refused command


def test_export_of_unknown_trial(finished_run, capsys):
    _, out = finished_run
    assert main(["export", str(out), "--trial", "999"]) == 2
    assert "no finished trial 999" in capsys.readouterr().err


def test_run_on_a_board_without_an_agent_uses_labelled_predictions(tmp_path, capsys):
    w = world(tmp_path)
    out = tmp_path / "nano"
    argv = ["run", "--device", "jetson-nano", "--space", w["space"], "--budget", w["budget"], "--rungs", w["rungs"],
            "--dataset", w["dataset"], "--out", str(out), "--trials", "3", "--no-baselines"]  # fmt: skip
    assert main(argv) == 0
    table = pd.read_csv(out / "trials.csv")
    assert set(table.latency_source) == {"predicted"}
    printed = capsys.readouterr().out
    assert "(predicted ±" in printed  # every estimate says its cross-validated expected error
    assert table.latency_error_pct.gt(0).all()
    report = (out / "report.md").read_text()
    assert "latency source on jetson-nano: **predicted**" in report and "not measurements" in report


def test_ctrl_c_saves_and_resume_finishes(tmp_path):
    import os
    import signal
    import time

    w = world(tmp_path)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "hwsearch", *run_args(w, out, "--trials", "40")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and done < 3:
        time.sleep(1.0)
        done = completed_in(out / "study.db")
    assert done >= 3, "the run did not get going"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "hwsearch run --resume --out" in stdout and "Traceback" not in stderr
    saved = pd.read_csv(out / "trials.csv")
    kept = saved[saved.state == "complete"]
    assert len(kept) >= 3
    wanted = len(kept) + 3  # tiny trials are quick: more may have finished before the signal landed
    assert main(["run", "--resume", "--out", str(out), "--trials", str(wanted)]) == 0
    final = pd.read_csv(out / "trials.csv")
    complete = final[final.state == "complete"]
    assert len(complete) == wanted
    assert set(kept.number) <= set(complete.number)
    merged = kept.merge(complete, on="number", suffixes=("_before", "_after"))
    assert (merged.explore_accuracy_pct_before == merged.explore_accuracy_pct_after).all()


@pytest.mark.parametrize("name", ["trials.csv", "pareto_latency.png", "report.html"])
def test_a_full_disk_while_reporting_names_the_file(finished_run, tmp_path, capsys, name):
    _, run = finished_run
    copy = tmp_path / "run"
    copy.mkdir()
    shutil.copy(run / "study.db", copy / "study.db")
    (copy / name).symlink_to("/dev/full")
    assert main(["report", str(copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no space left on the device" in err and name in err


def test_a_full_disk_is_one_clear_line(finished_run, tmp_path, capsys):
    """Writing to /dev/full fails with ENOSPC, exactly as a full disk does."""
    _, run = finished_run
    out = tmp_path / "export"
    out.mkdir()
    (out / "model.py").symlink_to("/dev/full")
    assert main(["export", str(run), "--best", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no space left on the device" in err and "model.py" in err
    assert "Traceback" not in err


def test_macs_budget_takes_counts_with_a_unit_as_its_help_says(capsys):
    from hwsearch.cli.search_cmds import macs_count

    assert macs_count("300M") == 300e6 and macs_count("1.5g") == 1.5e9 and macs_count("450K") == 450e3
    assert macs_count("300000000") == macs_count("3e8") == 300e6
    assert main(["run", "--macs-budget", "300 MACs"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'300 MACs' is not a MAC count" in err and "300M" in err
    assert main(["run", "--macs-budget=-5M"]) == 2
    assert "not a positive number" in capsys.readouterr().err


def test_an_alias_bomb_stored_in_a_study_is_one_line_for_report_and_resume(finished_run, tmp_path, capsys):
    import optuna

    from hwsearch.search.runner import SPACE_ATTR
    from tests.test_cli_errors import ALIAS_BOMB

    _, run = finished_run
    copy = tmp_path / "run"
    copy.mkdir()
    shutil.copy(run / "study.db", copy / "study.db")
    study = optuna.load_study(study_name="hwsearch", storage=f"sqlite:///{copy / 'study.db'}")
    study.set_user_attr(SPACE_ATTR, ALIAS_BOMB)  # what a hostile writer to a shared database could leave
    for argv in (["report", str(copy)], ["run", "--resume", "--out", str(copy)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "aliases" in err and "Traceback" not in err, err
