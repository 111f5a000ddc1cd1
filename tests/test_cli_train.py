"""``hwsearch train``: run -> train -> load model.py + weights.pt -> the same outputs as model.onnx."""

from __future__ import annotations

import csv
import json
import stat
import subprocess
import sys
import textwrap

import pytest

import hwsearch.training
from hwsearch.cli import main
from hwsearch.training import CHECKPOINT
from tests._search_support import world

FILES = ("model.py", "weights.pt", "model.onnx", "train_log.csv", "train.json")


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train-run")
    w = world(tmp)
    out = tmp / "run"
    args = ["run", "--device", w["device"], "--space", w["space"], "--budget", w["budget"], "--rungs", w["rungs"],
            "--dataset", w["dataset"], "--out", str(out), "--sampler", "random", "--no-baselines",
            "--trials", "3"]  # fmt: skip
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def trained(searched, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "net"
    assert main(["train", str(searched), "--best", "--epochs", "1", "--resolution", "32", "--batch-size", "16",
                 "--out", str(out)]) == 0  # fmt: skip
    return out


CHECK = textwrap.dedent(
    """\
    import importlib.util, json, sys
    import numpy as np, onnxruntime as ort, torch
    folder = sys.argv[1]
    spec = importlib.util.spec_from_file_location("model", folder + "/model.py")
    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
    net = module.build()
    net.load_state_dict(torch.load(folder + "/weights.pt", weights_only=True))
    net.eval()
    x = torch.randn(2, *module.INPUT_SHAPE[1:], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        mine = net(x).numpy()
    session = ort.InferenceSession(folder + "/model.onnx", providers=["CPUExecutionProvider"])
    theirs = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    print(json.dumps({"shape": list(mine.shape), "diff": float(np.abs(mine - theirs).max()),
                      "spread": float(np.abs(mine).max()), "heads": module.build(num_classes=5)(x).shape[1]}))
    """
)


def test_the_trained_network_runs_the_same_in_pytorch_and_onnx(trained):
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(trained)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["shape"] == [2, 2]  # batch 2 through the dynamic axis; the data set's 2 classes
    assert seen["diff"] <= 1e-4 and seen["spread"] > 1e-3  # equal, and not equal because both are zero
    assert seen["heads"] == 5  # num_classes is honoured


def test_train_writes_every_file_readable_by_others(trained):
    for name in FILES:
        mode = stat.S_IMODE((trained / name).stat().st_mode)
        assert mode & 0o044 == 0o044, (name, oct(mode))
    assert not (trained / CHECKPOINT).exists()
    with (trained / "train_log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1] and 0 <= float(rows[0]["val_accuracy_pct"]) <= 100
    summary = json.loads((trained / "train.json").read_text())
    assert summary["epochs"] == 1 and summary["arch"].startswith("mbv1_") and "_r32_in1_cls2_" in summary["arch"]
    assert "normalised as (pixels / 255 - " in summary["input"] and summary["input"].startswith("1 x 32 x 32")
    source = (trained / "model.py").read_text()
    assert summary["input"] in source and "Weights: trained" in source and "untrained" not in source.split('"""')[1]


def test_training_is_recorded_in_the_study(searched, trained):
    from hwsearch.search import Session

    session = Session.open(searched)
    entries = [t for t in session.trainings() if t["out"] == str(trained.resolve())]
    assert len(entries) == 1 and entries[0]["epochs"] == 1 and "test_accuracy_pct" in entries[0]


def test_an_interrupted_training_resumes(searched, tmp_path, monkeypatch, capsys):
    real = hwsearch.training.train_network

    def stop_after_first_epoch(*args, **kwargs):
        shown = kwargs["on_epoch"]

        def on_epoch(row):
            shown(row)
            raise KeyboardInterrupt

        return real(*args, **{**kwargs, "on_epoch": on_epoch})

    out = tmp_path / "net"
    args = ["train", str(searched), "--best", "--epochs", "2", "--resolution", "16", "--batch-size", "16",
            "--out", str(out)]  # fmt: skip
    monkeypatch.setattr(hwsearch.training, "train_network", stop_after_first_epoch)
    assert main(args) == 130
    assert "--resume" in capsys.readouterr().out and (out / CHECKPOINT).is_file()
    assert main(args) == 2  # an unfinished training is not silently restarted
    assert "--resume" in capsys.readouterr().err
    monkeypatch.setattr(hwsearch.training, "train_network", real)
    assert main([*args, "--resume"]) == 0
    with (out / "train_log.csv").open() as handle:
        assert [int(r["epoch"]) for r in csv.DictReader(handle)] == [1, 2]
    assert main(args) == 2  # a finished one is not overwritten
    assert "already holds a trained network" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--trial", "999"], "no finished trial 999"), (["--best", "--resume"], "no training checkpoint"),
     (["--best", "--dataset", "nope"], "unknown data set 'nope'"),
     (["--best", "--data-dir", "/no/such/dir", "--dataset", "fashion-mnist"], "does not exist")],
)  # fmt: skip
def test_bad_requests_get_one_line(searched, tmp_path, capsys, extra, message):
    assert main(["train", str(searched), *extra, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_the_run_report_shows_the_training(searched, trained):
    assert main(["report", str(searched)]) == 0
    summary = json.loads((trained / "train.json").read_text())
    for page in ("report.md", "report.html"):
        text = (searched / page).read_text()
        assert f"trained: #{summary['trial']} for 1 epochs" in text
        assert f"{summary['test_accuracy_pct']:.2f}% test accuracy" in text and str(trained.resolve()) in text


def test_the_trained_model_is_timed_on_an_agent(trained, tmp_path, capsys, monkeypatch):
    from tests._latency_support import running_agent, write_profile

    monkeypatch.setenv("HWSEARCH_LATENCY_CACHE", str(tmp_path / "cache.sqlite"))
    device = str(write_profile(tmp_path))
    with running_agent() as server:  # a real agent on 127.0.0.1: it runs static shapes only
        assert main(["latency", "--onnx", str(trained / "model.onnx"), "--device", device, "--agent", server.url]) == 0
    out = capsys.readouterr().out
    assert "batch axis fixed at 1" in out and f"measured on agent {server.url}" in out and "source: measured" in out
