"""The device agent: a small HTTP server on the target board that times ONNX models.

Runs with only onnxruntime, numpy and the standard library (no torch, no onnx, no
pydantic), so a board needs ``pip install onnxruntime numpy`` and
``pip install --no-deps hwsearch``; start it with ``python -m hwsearch.latency``
(or ``hwsearch agent`` where the full package is installed).

Protocol (JSON responses; errors are ``{"error": MESSAGE, "status": CODE}``):

``GET /info``
    device facts, hwsearch and onnxruntime versions, available providers, size limit.
``POST /measure?provider=cpu&threads=0&precision=fp32&warmup_runs=10&min_runs=50&min_time_s=0.5&max_runs=10000``
    body: the raw ONNX bytes (``Content-Type: application/octet-stream``, with
    ``Content-Length``); settings in the query string, each optional (defaults as in
    :class:`MeasureSettings`). Answer: a :class:`Measurement` as JSON. With
    ``interleave=1`` or ``2`` the model is timed beside the drift reference, single runs or
    bursts as :class:`MeasureSettings` says (409 until one is set; ``GET /info`` lists the modes).
``POST /reference?label=NAME``
    body: the ONNX bytes of the drift reference network, screened like a model and kept in
    memory for later interleaved measurements. Answer: ``{"reference": "NAME@SHA"}``;
    ``GET /info`` names the current one.

Security: binds to 127.0.0.1 unless told otherwise, and refuses a non-loopback address
without a token. With a token, every request must carry ``Authorization: Bearer TOKEN``
(compared in constant time) or gets 401. Bodies over ``max_bytes`` get 413 before they
are read; bytes that are not a self-contained ONNX model get 400. The body is only ever
handed to onnxruntime as a model: nothing is unpickled, evaluated or executed.
Measurements, and the screening of uploads, run one at a time under a lock so concurrent
requests do not disturb each other's timings.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import ipaddress
import os
import platform
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hwsearch import __version__
from hwsearch.errors import AgentError, HwsearchError, InvalidModelError, ProviderUnavailableError, SettingsError
from hwsearch.latency._http import HEADER_TIMEOUT_S, MAX_CONNECTIONS, BoundedHandler, BoundedHTTPServer
from hwsearch.latency._isolated import DEFAULT_TIME_S, IsolatedMeasure, ResourceLimitError, default_memory_bytes
from hwsearch.latency._onnx_check import check_cnn_model, check_onnx_bytes
from hwsearch.latency._protocol import INTERLEAVE_MODES
from hwsearch.measurement import Measurement, MeasureSettings, model_identity

TOKEN_ENV = "HWSEARCH_AGENT_TOKEN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
PROTOCOL = 1
MIN_TOKEN_CHARS = 16  # off loopback: a guessable token is no token
_MAKE_TOKEN = "python -c 'import secrets; print(secrets.token_urlsafe(24))'"
AUTH_FAILURE_DELAY_S = 0.25  # every refused token waits this long, one at a time: a few guesses a second

Measure = Callable[[bytes, MeasureSettings], Measurement]


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


class AgentServer(BoundedHTTPServer):
    """The agent's HTTP server; one thread per connection (bounded), one measurement at a time."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        token: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        measure: Measure | None = None,
        allow_any_model: bool = False,
        max_connections: int = MAX_CONNECTIONS,
        header_timeout_s: float = HEADER_TIMEOUT_S,
        max_memory_bytes: int | None = None,
        max_seconds: float = DEFAULT_TIME_S,
    ) -> None:
        if token is not None and not token:
            token = None
        if token is not None and (token != token.strip() or not token.isprintable()):
            raise AgentError("the token has spaces at its ends or unprintable characters; no client could send it",
                             value=token, hint=f"use e.g. {_MAKE_TOKEN}")  # fmt: skip
        if token is None and not is_loopback(host):
            raise AgentError(
                f"refusing to listen on {host!r} without a token",
                value=host,
                hint=f"set --token or ${TOKEN_ENV}, or listen on 127.0.0.1",
            )
        if token is not None and len(token) < MIN_TOKEN_CHARS and not is_loopback(host):
            raise AgentError(
                f"refusing to listen on {host!r} with a token of {len(token)} characters",
                value=host,
                hint=f"use at least {MIN_TOKEN_CHARS}, e.g. {_MAKE_TOKEN}",
            )
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise AgentError(f"port {port!r} is invalid", value=port, hint="a port in 0-65535 (0: any free port)")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise AgentError(f"max_bytes = {max_bytes!r} is invalid", value=max_bytes, hint="a positive integer")
        self.limits = IsolatedMeasure(max_memory_bytes or default_memory_bytes(), max_seconds)
        if measure is None:

            def measure(body: bytes, settings: MeasureSettings) -> Measurement:
                return self.limits(body, settings, self.reference)

        self.token = token
        self.max_bytes = max_bytes
        # The CNN profile bounds what one model can ask of the board; off only when the user says so.
        self.screen = check_onnx_bytes if allow_any_model else check_cnn_model
        self.measure = measure
        self.reference: tuple[bytes, str] | None = None  # the drift reference's bytes and label
        self.measure_lock = threading.Lock()
        self.auth_failure_lock = threading.Lock()
        if ":" in host:
            self.address_family = socket.AF_INET6
        try:
            super().__init__((host, port), AgentHandler, max_connections=max_connections,
                             header_timeout_s=header_timeout_s)  # fmt: skip
        except OSError as exc:
            raise AgentError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", value=f"{host}:{port}") from None

    @property
    def url(self) -> str:
        """The base URL clients use."""
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}"

    def info(self) -> dict[str, Any]:
        """What ``GET /info`` answers."""
        import hwsearch.latency._runtime as runtime

        return {
            "agent": "hwsearch",
            "protocol": PROTOCOL,
            "hwsearch_version": __version__,
            "runtime": runtime.RUNTIME,
            "runtime_version": runtime.runtime_version(),
            "providers": runtime.available_providers(),
            "host": runtime.host_description(),
            "machine": platform.machine(),
            "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(),
            "cpu_count": runtime.resolve_threads(0),
            "max_bytes": self.max_bytes,
            "interleave": True,
            "interleave_modes": list(INTERLEAVE_MODES),
            "max_memory_bytes": self.limits.memory_bytes,
            "max_seconds": self.limits.time_s,
            "reference": reference_identity(*self.reference) if self.reference else None,
        }


def reference_identity(model_bytes: bytes, label: str) -> str:
    """``label@sha256-prefix``, as a measurement names its drift reference."""
    return model_identity(label, hashlib.sha256(model_bytes).hexdigest())


class AgentHandler(BoundedHandler):
    """Routes ``GET /info`` and ``POST /measure``; everything else is an error."""

    server: AgentServer
    server_version = f"hwsearch-agent/{__version__}"

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"hwsearch agent: {self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._request_read()
        path = urlsplit(self.path).path
        if not self._authorised(body_length=0):
            return
        if path == "/info":
            self._send_json(HTTPStatus.OK, self.server.info())
        elif path == "/measure":
            self._send_error(HTTPStatus.METHOD_NOT_ALLOWED, "use POST /measure", headers={"Allow": "POST"})
        else:
            self._send_error(HTTPStatus.NOT_FOUND, f"no endpoint {path}; endpoints: GET /info, POST /measure")

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        # The token first: a client without one learns nothing else about the request it sent.
        if not self._authorised(body_length=self._declared_length()):
            return
        length = self._content_length()
        if length is None:
            return
        if parts.path not in ("/measure", "/reference"):
            self._refuse(HTTPStatus.NOT_FOUND, f"no endpoint POST {parts.path}; use POST /measure or /reference",
                         length)  # fmt: skip
            return
        if length > self.server.max_bytes:
            self._refuse(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the model is {length} bytes; this agent accepts at most {self.server.max_bytes} (--max-bytes)",
                length,
            )
            return
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
        if parts.path == "/reference":
            body = self._read_body(length)
            if body is not None:
                self._set_reference(body, query.get("label", [""])[0][:100])
            return
        try:
            settings = MeasureSettings.from_query(query)
        except SettingsError as exc:
            self._refuse(HTTPStatus.BAD_REQUEST, f"bad settings: {exc}", length)
            return
        body = self._read_body(length)
        if body is None:
            return
        self._measure(body, settings)

    def _set_reference(self, body: bytes, label: str) -> None:
        with self.server.measure_lock:  # screened in turn; never swapped while a measurement uses it
            try:
                self.server.screen(body)
            except InvalidModelError as exc:
                self._send_error(HTTPStatus.BAD_REQUEST, str(exc))
                return
            self.server.reference = (body, label)
        self._send_json(HTTPStatus.OK, {"reference": reference_identity(body, label)})

    def _measure(self, body: bytes, settings: MeasureSettings) -> None:
        try:
            with self.server.measure_lock:
                # Screened in turn, not beside a running measurement: a large model's pure-Python
                # screen would take the CPU the timed runs need.
                self.server.screen(body)
                if settings.interleave and self.server.reference is None:
                    needs = f"interleave={settings.interleave} needs a drift reference: POST /reference first"
                    self._send_error(HTTPStatus.CONFLICT, needs)
                    return
                measurement = self.server.measure(body, settings)
        except (InvalidModelError, ProviderUnavailableError, SettingsError) as exc:
            self._send_error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        except ResourceLimitError as exc:  # the child was stopped; the agent itself is untouched
            self._send_error(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc))
            return
        except HwsearchError as exc:
            self._send_error(HTTPStatus.INTERNAL_SERVER_ERROR, str(exc))
            return
        except Exception as exc:  # one bad request must not take the agent down
            self._send_error(HTTPStatus.INTERNAL_SERVER_ERROR, f"measurement failed: {type(exc).__name__}: {exc}")
            return
        self._send_json(HTTPStatus.OK, measurement.to_dict())

    # ----- helpers -----------------------------------------------------------------

    def _authorised(self, body_length: int) -> bool:
        token = self.server.token
        if token is None:
            return True
        scheme, _, given = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
        with self.server.auth_failure_lock:  # one refused guess at a time, each slowed
            time.sleep(AUTH_FAILURE_DELAY_S)
        self._refuse(
            HTTPStatus.UNAUTHORIZED,
            "missing or wrong token; send 'Authorization: Bearer TOKEN'",
            body_length,
            headers={"WWW-Authenticate": 'Bearer realm="hwsearch-agent"'},
        )
        return False


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    token: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    ready: Callable[[AgentServer], None] | None = None,
    allow_any_model: bool = False,
    max_memory_bytes: int | None = None,
    max_seconds: float = DEFAULT_TIME_S,
) -> int:
    """Run an agent until interrupted; ``ready`` is called once it listens. Returns 0."""
    server = AgentServer(host, port, token=token, max_bytes=max_bytes, allow_any_model=allow_any_model,
                         max_memory_bytes=max_memory_bytes, max_seconds=max_seconds)  # fmt: skip
    with server:
        if ready is not None:
            ready(server)
        else:
            auth = "token required" if server.token else "no token (loopback only)"
            everywhere = " on every interface: use this board's address" if host in ("0.0.0.0", "::", "") else ""
            print(f"hwsearch agent listening on {server.url}{everywhere} ({auth}; max {max_bytes} bytes)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("hwsearch agent: stopped", file=sys.stderr)
    return 0


def add_agent_arguments(parser: argparse.ArgumentParser) -> None:
    """The agent's options, shared by ``hwsearch agent`` and ``python -m hwsearch.latency``."""
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free)")
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"shared secret clients must send (default ${TOKEN_ENV}); required off loopback",
    )
    parser.add_argument(
        "--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help=f"largest model accepted (default {DEFAULT_MAX_BYTES})"
    )
    parser.add_argument(
        "--allow-any-model",
        action="store_true",
        help="time any self-contained ONNX model, not only CNNs within the screened profile (trusted clients only)",
    )
    parser.add_argument(
        "--max-memory-mb",
        type=int,
        default=None,
        help="memory one measurement may use (default: half this machine's, at most 4096)",
    )
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_TIME_S,
                        help=f"time one measurement may take (default {DEFAULT_TIME_S:g})")  # fmt: skip


def serve_parsed(args: argparse.Namespace) -> int:
    """:func:`serve` with the options :func:`add_agent_arguments` parsed (``hwsearch agent`` and
    ``python -m hwsearch.latency`` alike)."""
    memory = None if args.max_memory_mb is None else args.max_memory_mb << 20
    return serve(args.host, args.port, token=args.token, max_bytes=args.max_bytes,
                 allow_any_model=args.allow_any_model, max_memory_bytes=memory,
                 max_seconds=args.max_seconds)  # fmt: skip


def agent_main(argv: Sequence[str] | None = None) -> int:
    """``python -m hwsearch.latency``: the agent without the rest of the CLI's dependencies."""
    parser = argparse.ArgumentParser(prog="hwsearch agent", description="Serve latency measurements on this device.")
    add_agent_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return serve_parsed(args)
    except HwsearchError as exc:
        print(f"hwsearch agent: error: {exc}", file=sys.stderr)
        return 2
