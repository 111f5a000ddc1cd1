"""HTTP plumbing for the device agent: a threaded server whose connections are bounded in number
and in the time a client may take to send its request. Standard library only.

A client that opens connections and sends nothing, or one byte every few seconds, would
otherwise hold a thread each for ever (a socket timeout is per receive, not per request).
Here every connection holds one of ``max_connections`` slots (beyond them: an immediate 503,
the answer a client may retry), and a watchdog closes a connection whose request headers
have not arrived within ``header_timeout_s``, or whose body is slower than
``BODY_MIN_BYTES_PER_S`` on top of that.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_CONNECTIONS = 256
HEADER_TIMEOUT_S = 10.0
BODY_MIN_BYTES_PER_S = 256 * 1024  # a 64 MB model may take 4 minutes, a slow drip may not
# A client that stops sending must not hold a handler thread for ever.
SOCKET_TIMEOUT_S = 60.0
# After refusing a request, read (and drop) what the client is still sending for at most
# this long, so that it receives the refusal instead of a connection reset.
_LINGER_S = 2.0
_LINGER_BYTES = 256 * 1024 * 1024
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n" \
        b"Content-Length: 59\r\n\r\n" b'{"error": "too many connections; retry later", "status": 503}'  # fmt: skip


class BoundedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` of them at once."""

    daemon_threads = True
    request_queue_size = 128  # the listen backlog: socketserver's 5 would stall a burst of connections

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *,
                 max_connections: int = MAX_CONNECTIONS,
                 header_timeout_s: float = HEADER_TIMEOUT_S) -> None:  # fmt: skip
        self.slots = threading.BoundedSemaphore(max_connections)
        self.header_timeout_s = header_timeout_s
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class BoundedHandler(BaseHTTPRequestHandler):
    """JSON answers, bounded reads and a watchdog on the time a request takes to arrive."""

    server: BoundedHTTPServer
    timeout = SOCKET_TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        self._watchdog: threading.Timer | None = None
        self._arm(self.server.header_timeout_s)

    def finish(self) -> None:
        self._disarm()
        super().finish()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._watchdog = threading.Timer(seconds, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _disarm(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _expire(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)  # the blocked read returns; the thread ends

    def _request_read(self) -> None:
        """The request has fully arrived: what follows (a measurement) is not the client's to stall."""
        self._disarm()

    def _declared_length(self) -> int:
        """Content-Length as sent, only to drain a refused body (0 when it is not a plain number)."""
        text = self.headers.get("Content-Length", "").strip()
        return int(text) if text.isascii() and text.isdigit() else 0

    def _content_length(self) -> int | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._refuse(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not accepted; send Content-Length", 0)
            return None
        text = self.headers.get("Content-Length")
        if text is None:
            self._refuse(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required", 0)
            return None
        if not (text.strip().isascii() and text.strip().isdigit()):
            self._refuse(HTTPStatus.BAD_REQUEST, f"Content-Length {text!r} is not a number", 0)
            return None
        return int(text)

    def _read_body(self, length: int) -> bytes | None:
        self._arm(self.server.header_timeout_s + length / BODY_MIN_BYTES_PER_S)
        chunks, remaining = [], length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                self._send_error(HTTPStatus.BAD_REQUEST, f"the body ended after {length - remaining} of {length} bytes")
                return None
            chunks.append(chunk)
            remaining -= len(chunk)
        self._request_read()
        return b"".join(chunks)

    def _send_json(self, status: HTTPStatus, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._disarm()
        data = json.dumps(payload, sort_keys=True).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True

    def _send_error(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> None:
        self._send_json(status, {"error": message, "status": int(status)}, headers)

    def _refuse(
        self, status: HTTPStatus, message: str, body_length: int, headers: dict[str, str] | None = None
    ) -> None:
        """Answer without reading the body, then drain what the client still sends (bounded)."""
        self._send_error(status, message, headers)
        if body_length <= 0:
            return
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(_LINGER_S)
            deadline, drained = time.monotonic() + _LINGER_S, 0
            while drained < min(body_length, _LINGER_BYTES) and time.monotonic() < deadline:
                chunk = self.connection.recv(1 << 16)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass  # the client went away; nothing more to tell it
