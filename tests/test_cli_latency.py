from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from _latency_support import TINY, one_error_line, running_agent, write_profile

from hwsearch.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    path = tmp_path / "latency.sqlite"
    monkeypatch.setenv("HWSEARCH_LATENCY_CACHE", str(path))
    monkeypatch.delenv("HWSEARCH_AGENT_TOKEN", raising=False)
    return path


@pytest.fixture
def fast(tmp_path) -> str:
    return str(write_profile(tmp_path))


def test_latency_on_local_cpu_prints_a_measurement_then_uses_the_cache(capsys, cache_in_tmp):
    assert main(["latency", "--alpha", "0.25", "--resolution", "64", "--device", "local-cpu"]) == 0
    out = capsys.readouterr().out
    assert "mbv1_a0.25_r64_" in out
    assert "MACs: 3.6M" in out
    assert "source: measured" in out
    assert "cached: no" in out
    assert "median" in out
    assert "provider cpu" in out
    assert cache_in_tmp.exists()

    assert main(["latency", "--alpha", "0.25", "--resolution", "64", "--device", "local-cpu"]) == 0
    assert "cached: yes" in capsys.readouterr().out


def test_remeasure_ignores_the_cache(capsys, fast):
    args = ["latency", TINY.to_str(), "--device", fast]
    assert main(args) == 0
    assert main([*args, "--remeasure"]) == 0
    out = capsys.readouterr().out
    assert out.count("cached: no") == 2


def test_explicit_cache_path(capsys, fast, tmp_path):
    other = tmp_path / "elsewhere" / "c.sqlite"
    assert main(["latency", TINY.to_str(), "--device", fast, "--cache", str(other)]) == 0
    assert other.exists()
    assert str(other) in capsys.readouterr().out


def test_unknown_device_is_one_line_and_exit_2(capsys):
    assert main(["latency", "--alpha", "0.25", "--resolution", "64", "--device", "jetson-nowhere"]) == 2
    line = one_error_line(capsys)
    assert "'jetson-nowhere'" in line
    assert "local-cpu" in line


def test_local_cuda_without_gpu_says_it_cannot(capsys):
    assert main(["latency", TINY.to_str(), "--device", "local-cuda"]) == 2
    assert "onnxruntime-gpu" in one_error_line(capsys)


def test_remote_profile_without_agent_asks_for_one(capsys, tmp_path):
    board = write_profile(tmp_path, "board", kind="remote")
    assert main(["latency", TINY.to_str(), "--device", str(board)]) == 2
    assert "--agent URL" in one_error_line(capsys)


def test_latency_through_an_agent(capsys, fast, monkeypatch):
    monkeypatch.setenv("HWSEARCH_AGENT_TOKEN", "tok")
    with running_agent(token="tok") as server:
        assert main(["latency", TINY.to_str(), "--device", fast, "--agent", server.url]) == 0
    out = capsys.readouterr().out
    assert f"measured on agent {server.url}" in out
    assert "source: measured" in out


def test_unreachable_agent_names_the_url(capsys, fast, monkeypatch):
    monkeypatch.setattr("hwsearch.latency._client.DEFAULT_BACKOFF_S", 0.01)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    assert main(["latency", TINY.to_str(), "--device", fast, "--agent", url]) == 2
    assert f"cannot reach the agent at {url}" in one_error_line(capsys)


def test_agent_command_refuses_open_address_without_token(capsys):
    assert main(["agent", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "without a token" in one_error_line(capsys)


def test_agent_command_serves_without_importing_torch():
    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # any import of torch now fails\n"
        "from hwsearch.cli import main\n"
        "sys.exit(main(['agent', '--port', '0', '--token', 'tok']))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        line = proc.stdout.readline()
        assert "hwsearch agent listening on http://127.0.0.1:" in line, proc.stderr.read() if proc.poll() else line
        url = line.split()[4]
        request = urllib.request.Request(url + "/info", headers={"Authorization": "Bearer tok"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=30) as response:
            assert "CPUExecutionProvider" in json.loads(response.read())["providers"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()


def test_an_onnx_file_is_timed_as_it_is_here_and_on_an_agent(capsys, fast, tmp_path, monkeypatch, cache_in_tmp):
    from hwsearch.export import export_onnx

    model = tmp_path / "model.onnx"
    model.write_bytes(export_onnx(TINY))
    assert main(["latency", "--onnx", str(model), "--device", fast]) == 0
    here = capsys.readouterr().out
    assert "measured on this machine" in here and "not cached" in here and "median" in here
    assert not cache_in_tmp.exists()  # any file may be timed, so none is cached under an arch key
    monkeypatch.setenv("HWSEARCH_AGENT_TOKEN", "tok")
    with running_agent(token="tok") as server:
        assert main(["latency", "--onnx", str(model), "--device", fast, "--agent", server.url]) == 0
    assert f"measured on agent {server.url}" in capsys.readouterr().out


def test_onnx_file_and_architecture_together_are_refused(capsys, fast, tmp_path):
    assert main(["latency", TINY.to_str(), "--onnx", str(tmp_path / "m.onnx"), "--device", fast]) == 2
    assert "not both" in one_error_line(capsys)
