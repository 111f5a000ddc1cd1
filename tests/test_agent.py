from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from _latency_support import FAST, TINY, running_agent, write_profile

from hwsearch.devices import load_device
from hwsearch.errors import AgentError, ProviderUnavailableError
from hwsearch.export import export_onnx
from hwsearch.latency import DEFAULT_HOST, AgentClient, AgentServer, LatencyCache, measure_arch, measure_onnx
from hwsearch.latency._agent import AUTH_FAILURE_DELAY_S
from hwsearch.latency._protocol import BURSTS
from hwsearch.measurement import MeasureSettings

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "correct-horse-battery-staple"


@pytest.fixture(scope="module")
def tiny_bytes() -> bytes:
    return export_onnx(TINY)


@pytest.fixture
def agent():
    with running_agent(token=TOKEN) as server:
        yield server


def _raw(url: str, *, method: str = "GET", body: bytes | None = None, token: str | None = None) -> tuple[int, dict]:
    """Status and JSON body of one request, without the client's retries or error mapping."""
    headers = {"Content-Type": "application/octet-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_info_reports_runtime_and_providers(agent):
    info = AgentClient(agent.url, TOKEN).info()
    assert "CPUExecutionProvider" in info["providers"]
    assert info["runtime"] == "onnxruntime"
    assert info["runtime_version"]
    assert info["max_bytes"] == agent.max_bytes
    assert info["cpu_count"] >= 1


def test_measure_round_trip_on_a_real_agent(agent, tiny_bytes):
    m = AgentClient(agent.url, TOKEN).measure(tiny_bytes, FAST)
    assert m.source == "measured"
    assert FAST.min_runs <= m.runs <= FAST.max_runs
    assert (m.threads, m.warmup, m.provider) == (1, FAST.warmup_runs, "cpu")
    assert m.median_ms > 0


def test_measure_arch_through_the_agent_and_then_from_cache(tmp_path, tiny_bytes):
    calls = []

    def counting(model: bytes, settings):
        calls.append(len(model))
        return measure_onnx(model, settings)

    device = load_device(write_profile(tmp_path))
    cache = LatencyCache(tmp_path / "c.sqlite")
    with running_agent(token=TOKEN, measure=counting) as server:
        client = AgentClient(server.url, TOKEN)
        first = measure_arch(TINY, device, cache=cache, agent=client)
        second = measure_arch(TINY, device, cache=cache, agent=client)
    assert calls == [len(tiny_bytes)]
    assert first == second
    assert first.device == f"fast-cpu@{server.url}"  # never mixed with this machine's own figures


def test_measure_arch_asks_the_agent_before_exporting(tmp_path, monkeypatch):
    import hwsearch.export

    monkeypatch.setattr(hwsearch.export, "export_onnx", lambda *a, **k: pytest.fail("exported needlessly"))
    board = load_device(write_profile(tmp_path, "gpu-board", kind="remote", provider="cuda"))
    with running_agent(token=TOKEN) as server, pytest.raises(ProviderUnavailableError, match=r"agent at .* cannot run"):
        measure_arch(TINY, board, agent=AgentClient(server.url, TOKEN))


def test_measure_arch_refuses_a_model_over_the_agents_limit_before_sending(tmp_path):
    sent = []
    device = load_device(write_profile(tmp_path))
    with (
        running_agent(token=TOKEN, max_bytes=1000, measure=lambda m, s: sent.append(m)) as server,
        pytest.raises(AgentError, match=r"accepts at most 1000.*--max-bytes"),
    ):
        measure_arch(TINY, device, agent=AgentClient(server.url, TOKEN))
    assert sent == []


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", ""])
def test_requests_without_the_right_token_get_401(agent, tiny_bytes, token):
    assert _raw(agent.url + "/info", token=token)[0] == 401
    status, body = _raw(agent.url + "/measure", method="POST", body=tiny_bytes, token=token)
    assert status == 401
    assert "token" in body["error"]


def test_client_explains_a_refused_token(agent):
    with pytest.raises(AgentError, match=r"token was refused.*HWSEARCH_AGENT_TOKEN"):
        AgentClient(agent.url, "wrong", retries=0).info()
    with pytest.raises(AgentError, match="no token was sent"):
        AgentClient(agent.url, None, retries=0).info()


# 64 MiB overflows the socket buffers: the agent must drain it after refusing, or the
# client sees a broken pipe instead of the 413.
@pytest.mark.parametrize("size", [1001, 64 * 1024 * 1024])
def test_bodies_over_the_limit_get_413(tiny_bytes, size):
    with running_agent(token=TOKEN, max_bytes=1000) as server:
        status, body = _raw(server.url + "/measure", method="POST", body=b"\0" * size, token=TOKEN)
        assert status == 413
        assert "at most 1000" in body["error"]
        with pytest.raises(AgentError, match=r"too large \(413\)"):
            AgentClient(server.url, TOKEN, retries=0).measure(tiny_bytes, FAST)


def test_bytes_that_are_not_onnx_get_400(agent):
    status, body = _raw(agent.url + "/measure", method="POST", body=b"import os; os.system('id')", token=TOKEN)
    assert status == 400
    assert "ONNX" in body["error"]
    with pytest.raises(AgentError, match=r"\(400\).*ONNX"):
        AgentClient(agent.url, TOKEN, retries=0).measure(b"\x80\x04\x95pickle", FAST)


def test_bad_settings_and_unknown_paths_are_refused(agent, tiny_bytes):
    assert _raw(agent.url + "/measure?threads=many", method="POST", body=tiny_bytes, token=TOKEN)[0] == 400
    assert _raw(agent.url + "/nothing", token=TOKEN)[0] == 404
    assert _raw(agent.url + "/measure", token=TOKEN)[0] == 405


def test_agent_binds_to_loopback_by_default():
    server = AgentServer(port=0)
    try:
        assert DEFAULT_HOST == "127.0.0.1"
        assert server.server_address[0] == "127.0.0.1"
        assert server.token is None
    finally:
        server.server_close()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", ""])
def test_agent_refuses_a_non_loopback_address_without_a_token(host):
    with pytest.raises(AgentError, match="without a token"):
        AgentServer(host, 0)


def test_agent_starts_on_all_interfaces_with_a_token():
    server = AgentServer("0.0.0.0", 0, token=TOKEN)
    try:
        assert server.server_address[0] == "0.0.0.0"
    finally:
        server.server_close()


def test_unreachable_agent_is_one_clear_error_naming_the_url():
    url = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(AgentError) as caught:
        AgentClient(url, TOKEN, retries=2, backoff_s=0.05).info()
    message = str(caught.value)
    assert f"cannot reach the agent at {url}" in message
    assert "3 attempts" in message
    assert "\n" not in message
    assert time.monotonic() - started >= 0.15  # backoff 0.05 s, then 0.1 s


def test_client_retries_neither_failures_nor_refusals_and_says_which(tiny_bytes):
    attempts = []

    def failing(model: bytes, settings):
        attempts.append(1)
        raise RuntimeError("the model broke the runtime")

    with running_agent(measure=failing) as server:
        with pytest.raises(AgentError, match=r"failed to measure \(HTTP 500\).*broke the runtime") as info:
            AgentClient(server.url, retries=3, backoff_s=0.01).measure(tiny_bytes, FAST)
        assert "cannot reach" not in str(info.value)
        assert len(attempts) == 1  # a deterministic failure is not sent again
        with pytest.raises(AgentError, match="400"):
            AgentClient(server.url, retries=3, backoff_s=0.01).measure(b"junk", FAST)
        assert len(attempts) == 1  # the 400 was not retried (and never reached the measurement)


def test_a_measurement_longer_than_the_client_timeout_is_sent_once(tiny_bytes):
    attempts = []

    def slow(model: bytes, settings):
        attempts.append(1)
        time.sleep(1.0)
        return measure_onnx(model, settings)

    with running_agent(measure=slow) as server:
        with pytest.raises(AgentError, match=r"did not answer POST /measure within 0.3 s"):
            AgentClient(server.url, retries=3, backoff_s=0.01, timeout_s=0.3).measure(tiny_bytes, FAST)
        time.sleep(1.2)  # let the agent finish what it was given
    assert len(attempts) == 1


def test_concurrent_requests_are_measured_one_at_a_time(tiny_bytes):
    active, peak, lock = [0], [0], threading.Lock()

    def observed(model: bytes, settings):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            time.sleep(0.1)  # long enough for the other requests to arrive meanwhile
            return measure_onnx(model, settings)
        finally:
            with lock:
                active[0] -= 1

    results: list[object] = []
    with running_agent(token=TOKEN, measure=observed) as server:
        client = AgentClient(server.url, TOKEN)
        threads = [threading.Thread(target=lambda: results.append(client.measure(tiny_bytes, FAST))) for _ in range(3)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        elapsed = time.monotonic() - started
    assert len(results) == 3
    assert peak[0] == 1
    assert elapsed >= 0.3


BLOCK_HEAVY = (
    "import sys\n"
    "for name in ('torch', 'onnx', 'pydantic', 'yaml', 'rich', 'optuna', 'pandas'):\n"
    "    sys.modules[name] = None  # importing any of them now fails\n"
)


def test_agent_runs_without_torch_or_onnx(tmp_path, tiny_bytes):
    model = tmp_path / "tiny.onnx"
    model.write_bytes(tiny_bytes)
    code = BLOCK_HEAVY + (
        "import threading\n"
        "from hwsearch.latency import AgentServer\n"
        "from hwsearch.latency import AgentClient\n"
        "from hwsearch.measurement import MeasureSettings\n"
        "server = AgentServer('127.0.0.1', 0, token='t')\n"
        "threading.Thread(target=server.serve_forever, daemon=True).start()\n"
        "settings = MeasureSettings(threads=1, warmup_runs=1, min_runs=3, min_time_s=0)\n"
        "client, model = AgentClient(server.url, 't'), open(sys.argv[1], 'rb').read()\n"
        "client.set_reference(model, 'ref')  # the drift protocol, as on a board\n"
        "m = client.measure(model, settings)\n"
        "print(m.source, m.runs, m.reference.split('@')[0])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )
    assert out.returncode == 0, out.stderr
    keep, _ = BURSTS[MeasureSettings().interleave]
    # min_runs=3 rounds up to whole bursts of the default protocol
    assert out.stdout.split() == ["measured", str(math.ceil(3 / keep) * keep), "ref"]


def test_agent_module_entry_point_refuses_open_address_without_token(monkeypatch):
    monkeypatch.delenv("HWSEARCH_AGENT_TOKEN", raising=False)
    code = BLOCK_HEAVY + "from hwsearch.latency import agent_main\nsys.exit(agent_main(['--host', '0.0.0.0']))\n"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )
    assert out.returncode == 2
    assert out.stderr.startswith("hwsearch agent: error: refusing to listen on '0.0.0.0' without a token")
    assert "Traceback" not in out.stderr


def test_client_from_env_takes_the_token_from_the_environment(monkeypatch):
    with running_agent(token="s3cret") as server:
        monkeypatch.setenv("HWSEARCH_AGENT_TOKEN", "s3cret")
        assert AgentClient.from_env(server.url).info()["agent"] == "hwsearch"  # the token was accepted
        monkeypatch.setenv("HWSEARCH_AGENT_TOKEN", "")
        client = AgentClient.from_env(server.url, retries=0)
        assert client.token is None  # empty means none, as unset does
        with pytest.raises(AgentError, match="no token was sent"):
            client.info()


def test_weak_tokens_are_refused_off_loopback_and_blank_ones_everywhere():
    with pytest.raises(AgentError, match="token of 1 characters"):
        AgentServer("0.0.0.0", 0, token="a")
    with pytest.raises(AgentError, match="spaces at its ends"):
        AgentServer("127.0.0.1", 0, token=" ")
    with running_agent(token="short") as server:  # loopback: only this machine's users reach it
        assert AgentClient(server.url, "short").info()["agent"] == "hwsearch"


def test_the_token_is_checked_before_anything_else_about_a_request(agent):
    host, port = agent.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"POST /measure HTTP/1.1\r\nHost: x\r\n\r\n")  # no Content-Length, no token
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.0 401") or reply.startswith("HTTP/1.1 401"), reply.splitlines()[0]


def test_repeated_wrong_tokens_are_slowed_down(agent):
    started = time.monotonic()
    for _ in range(4):
        assert _raw(agent.url + "/info", token="guess")[0] == 401
    assert time.monotonic() - started >= 4 * AUTH_FAILURE_DELAY_S


def test_a_non_ascii_content_length_gets_a_clear_400(agent):
    host, port = agent.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"POST /measure HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n".encode()
                     + "Content-Length: ６４\r\n\r\n".encode())  # fmt: skip
        reply = b""
        while chunk := sock.recv(4096):  # headers and body may come in separate reads
            reply += chunk
        reply = reply.decode(errors="replace")
    assert " 400 " in reply.splitlines()[0] and "is not a number" in reply


def test_an_upload_is_screened_only_between_timed_runs_never_beside_them(tiny_bytes):
    spans: dict[str, list[tuple[float, float]]] = {"screen": [], "measure": []}

    def timed(kind, seconds, result=None):
        def run(*args):
            began = time.monotonic()
            time.sleep(seconds)
            spans[kind].append((began, time.monotonic()))
            return result(*args) if result else None

        return run

    with running_agent(token=TOKEN, measure=timed("measure", 0.4, measure_onnx)) as server:
        server.screen = timed("screen", 0.3)  # a large model's pure-Python screen
        client = AgentClient(server.url, TOKEN)
        threads = [threading.Thread(target=client.measure, args=(tiny_bytes, FAST)) for _ in range(3)]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join()
    assert len(spans["screen"]) == len(spans["measure"]) == 3
    for s0, s1 in spans["screen"]:
        for m0, m1 in spans["measure"]:
            assert s1 <= m0 or m1 <= s0, (spans["screen"], spans["measure"])  # no overlap
