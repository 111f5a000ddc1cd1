"""The agent's connections are bounded in number and in how long a client may take to send a request."""

from __future__ import annotations

import socket
import time

from _latency_support import running_agent

from hwsearch.latency import AgentClient


def _connect(server) -> socket.socket:
    host, port = server.server_address[:2]
    return socket.create_connection((host, port), timeout=10)


def _get_info(server) -> str:
    with _connect(server) as sock:
        sock.sendall(b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n")
        return sock.recv(256).decode(errors="replace").splitlines()[0]


def test_two_hundred_idle_connections_do_not_lock_clients_out():
    with running_agent() as server:
        idle = [_connect(server) for _ in range(200)]  # each holds a thread, sending nothing
        try:
            assert AgentClient(server.url, retries=0).info()["agent"] == "hwsearch"
        finally:
            for sock in idle:
                sock.close()


def test_connections_beyond_the_limit_get_503_until_the_watchdog_frees_them():
    with running_agent(max_connections=4, header_timeout_s=1.0) as server:
        idle = [_connect(server) for _ in range(4)]
        try:
            time.sleep(0.2)
            assert " 503 " in _get_info(server)  # at once, not after a wait
            time.sleep(1.5)  # the silent ones have been cut off
            assert " 200 " in _get_info(server)
            # The client retries a 503, so it rides out a full agent.
            assert AgentClient(server.url, retries=2, backoff_s=0.05).info()["agent"] == "hwsearch"
        finally:
            for sock in idle:
                sock.close()


def test_a_client_dripping_its_headers_is_cut_off_in_total_not_per_byte():
    with running_agent(header_timeout_s=1.0) as server, _connect(server) as sock:
        started = time.monotonic()
        closed_after = None
        for byte in b"GET /info HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed_after = time.monotonic() - started
                break
            time.sleep(0.1)  # each byte well inside a per-receive timeout
            sock.settimeout(0.001)
            try:
                if sock.recv(1) == b"":
                    closed_after = time.monotonic() - started
                    break
            except (TimeoutError, BlockingIOError):
                pass
            finally:
                sock.settimeout(10)
        assert closed_after is not None and closed_after < 3.0
