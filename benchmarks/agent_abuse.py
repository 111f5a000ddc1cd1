"""What a hostile client can do to a real agent: the figures of the hardening issue.

Starts ``python -m hwsearch.latency`` on 127.0.0.1 (a separate process, as on a board) and
prints, for the agent with its model screen and again with ``--allow-any-model`` (the
screen off, the child process's limits the only guard):

* the agent's peak RSS (``VmHWM``) after an ``Expand`` bomb asking for 2 GiB;
* how long a ``Loop`` bomb of 2^62 trips holds the measurement slot;
* how long a legitimate measurement sent meanwhile waits;
* how many idle connections the agent holds while ``/info`` still answers.

    python benchmarks/agent_abuse.py [--max-seconds 5] [--connections 250]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _bombs import expand_bomb, loop_bomb  # the bombs the tests send

from hwsearch.arch import mobilenet_v1
from hwsearch.errors import AgentError
from hwsearch.export import export_onnx
from hwsearch.latency import AgentClient
from hwsearch.measurement import MeasureSettings

TOKEN = "benchmark-token-of-enough-length"
SETTINGS = MeasureSettings(threads=1, warmup_runs=2, min_runs=20, min_time_s=0.2, interleave=0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _attempt(client: AgentClient, model: bytes) -> tuple[float, str]:
    started = time.monotonic()
    try:
        client.measure(model, SETTINGS)
        outcome = "measured"
    except AgentError as exc:
        outcome = str(exc).split(": ", 1)[-1][:90]
    return time.monotonic() - started, outcome


def one_agent(extra: list[str], max_seconds: float, connections: int) -> None:
    port = _free_port()
    agent = subprocess.Popen([sys.executable, "-m", "hwsearch.latency", "--port", str(port), "--token", TOKEN,
                              "--max-seconds", str(max_seconds), *extra], stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    client = AgentClient(url, TOKEN, retries=0, timeout_s=max_seconds + 60)
    try:
        for _ in range(100):
            try:
                client.info()
                break
            except AgentError:
                time.sleep(0.1)
        legit = export_onnx(mobilenet_v1(0.25, 128))
        print(f"  peak RSS at start: {_peak_rss_mib(agent.pid):.0f} MiB")
        seconds, outcome = _attempt(client, expand_bomb())
        print(
            f"  Expand bomb (2 GiB): {outcome} after {seconds:.2f} s; agent peak RSS {_peak_rss_mib(agent.pid):.0f} MiB"
        )
        waited: list[float] = []
        bomb = threading.Thread(target=lambda: waited.append(_attempt(client, loop_bomb())[0]))
        bomb.start()
        time.sleep(0.2)
        seconds, outcome = _attempt(client, legit)
        bomb.join()
        print(f"  Loop bomb (2^62 trips) held the slot {waited[0]:.2f} s; a legitimate measurement sent 0.2 s "
              f"after it: {outcome} after {seconds:.2f} s")  # fmt: skip
        idle = []
        for _ in range(connections):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        started = time.monotonic()
        answered = client.info()["agent"] == "hwsearch"
        print(f"  {len(idle)} idle connections open: /info {'answered' if answered else 'FAILED'} in "
              f"{time.monotonic() - started:.3f} s")  # fmt: skip
        for sock in idle:
            sock.close()
    finally:
        agent.terminate()
        agent.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-seconds", type=float, default=5.0, help="the agent's --max-seconds")
    parser.add_argument("--connections", type=int, default=250, help="idle connections opened")
    args = parser.parse_args()
    print(f"host {os.uname().machine}; agent limits: {args.max_seconds:g} s, memory: default (half of RAM, <= 4 GiB)")
    print("agent with its model screen (the default):")
    one_agent([], args.max_seconds, args.connections)
    print("agent with --allow-any-model (the child process's limits only):")
    one_agent(["--allow-any-model", "--max-memory-mb", "1024"], args.max_seconds, args.connections)


if __name__ == "__main__":
    main()
