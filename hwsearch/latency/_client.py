"""Client of a device agent (:mod:`hwsearch.latency._agent`), standard library only.

Connection failures, timeouts and 5xx answers are retried with exponential backoff;
4xx answers are not (asking again would get the same refusal). Every failure becomes
one :class:`AgentError` line naming the agent's URL. Proxies from the environment are
ignored: an agent is on the local network or behind an SSH tunnel.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from http import HTTPStatus
from http.client import HTTPException
from typing import Any
from urllib.parse import urlencode, urlsplit

from hwsearch.errors import AgentError, HwsearchError
from hwsearch.latency._agent import TOKEN_ENV
from hwsearch.measurement import Measurement, MeasureSettings

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_S = 0.5


class AgentClient:
    """Talks to the agent at ``url`` (e.g. ``http://192.168.1.20:8765``).

    ``timeout_s`` bounds each attempt (a measurement of a large model on a small board
    can take a while); ``retries`` extra attempts follow a failure, the n-th after
    ``backoff_s * 2**(n-1)`` seconds (default :data:`DEFAULT_BACKOFF_S`).
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        backoff_s: float | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AgentError(f"agent URL {url!r} is invalid", value=url, hint="e.g. http://192.168.1.20:8765")
        if parts.query or parts.fragment:
            raise AgentError(f"agent URL {url!r} must not have a query or fragment", value=url)
        self.url = url.rstrip("/")
        self.token = token or None
        self.timeout_s = timeout_s
        self.retries = max(0, retries)
        self.backoff_s = DEFAULT_BACKOFF_S if backoff_s is None else backoff_s
        # An empty ProxyHandler: never send the token or the model through an environment proxy.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @classmethod
    def from_env(cls, url: str, **options: Any) -> AgentClient:
        """A client for ``url`` whose token is ``$HWSEARCH_AGENT_TOKEN`` (none if unset or empty)."""
        return cls(url, os.environ.get(TOKEN_ENV), **options)

    def info(self) -> dict[str, Any]:
        """The agent's ``GET /info``: device facts, onnxruntime version, providers."""
        answer = self._request("GET", "/info")
        if not isinstance(answer, dict):
            raise AgentError(f"agent at {self.url} answered /info with {type(answer).__name__}", value=self.url)
        return answer

    def set_reference(self, model_bytes: bytes, label: str) -> str:
        """Send the drift reference network; returns the identity the agent names it by."""
        answer = self._request("POST", "/reference", body=bytes(model_bytes), query={"label": label})
        if not isinstance(answer, dict) or not isinstance(answer.get("reference"), str):
            raise AgentError(f"agent at {self.url} answered /reference with {answer!r}", value=self.url)
        return answer["reference"]

    def measure(self, model_bytes: bytes, settings: MeasureSettings) -> Measurement:
        """Have the agent time ``model_bytes`` with ``settings``; returns its :class:`Measurement`."""
        answer = self._request("POST", "/measure", body=bytes(model_bytes), query=settings.to_query())
        try:
            measurement = Measurement.from_dict(answer)
        except HwsearchError as exc:
            raise AgentError(f"agent at {self.url} sent an unreadable measurement: {exc}", value=self.url) from None
        if not measurement.is_measured:
            raise AgentError(
                f"agent at {self.url} sent a {measurement.source!r} latency, not a measured one", value=self.url
            )
        return measurement

    def _request(
        self, method: str, path: str, *, body: bytes | None = None, query: dict[str, str] | None = None
    ) -> Any:
        url = self.url + path + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            headers["Content-Type"] = "application/octet-stream"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            request = urllib.request.Request(url, data=body, headers=headers, method=method)
            try:
                with self._opener.open(request, timeout=self.timeout_s) as response:
                    return self._decode(response.read())
            except urllib.error.HTTPError as exc:
                message = _error_message(exc)
                if exc.code != HTTPStatus.SERVICE_UNAVAILABLE:  # the one answer a retry can change
                    raise self._refusal(exc.code, message) from None
                last = f"HTTP {exc.code}: {message}"
            except (urllib.error.URLError, HTTPException, OSError) as exc:
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                if isinstance(reason, (TimeoutError, socket.timeout)):
                    # The agent may still be measuring: sending again would only queue the same work.
                    raise AgentError(
                        f"the agent at {self.url} did not answer {method} {path} within {self.timeout_s:g} s",
                        value=self.url,
                        hint="a large model on a small board can take longer: raise the client's timeout",
                    ) from None
                last = str(reason) or repr(exc)
        tries = self.retries + 1
        raise AgentError(
            f"cannot reach the agent at {self.url} ({last}; {tries} attempt{'s' if tries > 1 else ''})",
            value=self.url,
            hint="is the agent running there, and is the address right?",
        )

    def _decode(self, data: bytes) -> Any:
        try:
            return json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise AgentError(f"agent at {self.url} sent a reply that is not JSON", value=self.url) from None

    def _refusal(self, code: int, message: str) -> AgentError:
        if code == HTTPStatus.UNAUTHORIZED:
            what = "no token was sent" if not self.token else "the token was refused"
            return AgentError(
                f"agent at {self.url}: {what} (401)", value=self.url, hint=f"set ${TOKEN_ENV} to the agent's token"
            )
        if code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
            return AgentError(f"agent at {self.url} refused the model as too large (413): {message}", value=self.url)
        if code == HTTPStatus.BAD_REQUEST:
            return AgentError(f"agent at {self.url} refused the request (400): {message}", value=self.url)
        if code >= HTTPStatus.INTERNAL_SERVER_ERROR:
            return AgentError(f"the agent at {self.url} failed to measure (HTTP {code}): {message}", value=self.url)
        return AgentError(f"agent at {self.url} answered HTTP {code}: {message}", value=self.url)


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(exc.read() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return str(exc.reason)
    return str(payload.get("error", exc.reason)) if isinstance(payload, dict) else str(exc.reason)
