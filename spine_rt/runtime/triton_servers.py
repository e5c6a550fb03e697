"""``TritonServerPool``: one or several Triton Inference Servers, requests spread over them.

::

    pool = TritonServerPool("10.0.0.5:8001,10.0.0.6:8001")        # gRPC (default)
    pool = TritonServerPool(["localhost:8000"], protocol="http", timeout_s=30)
    result = pool.call(lambda client, url: client.infer("stage2_fold0", inputs), "stage2_fold0")

Every call goes to the live server with the fewest requests in flight from
this process (least outstanding requests; ties go to the server used least
recently, so one caller alternates between servers). A call that fails
because the server cannot be reached, times out or fails inside is retried
on the next live server; the failed server is marked dead for the rest of the
pool's life and reported once on the ``spine_rt.triton`` logger (a WARNING:
on stderr when the application configured no logging) and in
:attr:`TritonServerPool.dead`. When no server is left the call raises
:class:`EnvironmentProblem` naming every server and why it failed. A request
that the server rejects as malformed (``INVALID_ARGUMENT``, HTTP 400) is an
:class:`InputError`, not retried.

tritonclient is imported when the pool connects (:meth:`TritonServerPool.connect`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from spine_rt.dependencies import require
from spine_rt.errors import EnvironmentProblem, InputError

LOG = logging.getLogger("spine_rt.triton")

PROTOCOLS = ("grpc", "http")
#: seconds a network call may take before it counts as a failure of that server
DEFAULT_TIMEOUT_S = 120.0
#: the hint in every "no server" message
SERVE_HINT = "start one with: spine-rt triton-serve REPO (or NVIDIA's Triton container), then pass --server HOST:PORT"
TRITON_HINT = "pip install 'spine-rt[serve]'"

T = TypeVar("T")


def parse_servers(servers: str | Sequence[str]) -> tuple[str, ...]:
    """``"a:8001,b:8001"`` or ``["a:8001", "b:8001"]`` -> ``("a:8001", "b:8001")``.

    Raises:
        InputError: no server, a server without ``HOST:PORT``, a port that is
            not a number from 1 to 65535, or a server named twice.
    """
    items = servers.split(",") if isinstance(servers, str) else list(servers)
    urls = tuple(str(item).strip() for item in items if str(item).strip())
    if not urls:
        raise InputError("no Triton server given; pass --server HOST:PORT[,HOST:PORT...]")
    for url in urls:
        host, _, port = url.rpartition(":")
        if "://" in url:
            raise InputError(f"Triton server {url!r}: write HOST:PORT without a scheme (the protocol is --protocol)")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise InputError(f"Triton server {url!r} is not HOST:PORT (e.g. 127.0.0.1:8001)")
    if len(set(urls)) != len(urls):
        raise InputError(f"Triton server named twice in {', '.join(urls)}")
    return urls


@dataclass
class _Endpoint:
    url: str
    client: Any = None
    outstanding: int = 0
    last_started: float = 0.0
    calls: int = 0
    dead: str | None = None


@dataclass(frozen=True)
class ServerFailure:
    """One server given up on: its URL, when (``time.monotonic``) and why."""

    url: str
    reason: str
    at: float = field(default_factory=time.monotonic)


class TritonServerPool:
    """Clients for one or several Triton servers; thread-safe.

    Args:
        servers: ``"HOST:PORT[,HOST:PORT...]"`` or a sequence of ``HOST:PORT``
            (the gRPC port, 8001 by default in Triton; the HTTP port, 8000, with ``protocol="http"``).
        protocol: ``"grpc"`` (default) or ``"http"``; both send tensors as binary data.
        timeout_s: seconds one network call may take (default :data:`DEFAULT_TIMEOUT_S`).
        shared_memory: let runners pass tensors to servers on this machine through
            system shared memory (default ``True``); servers elsewhere get binary data.

    Raises:
        InputError: a malformed server list, protocol or timeout.
    """

    def __init__(self, servers: str | Sequence[str], protocol: str | None = None,
                 timeout_s: float | None = None, shared_memory: bool = True) -> None:
        self.urls = parse_servers(servers)
        self.protocol = "grpc" if protocol is None else protocol
        if self.protocol not in PROTOCOLS:
            raise InputError(f"unknown Triton protocol {self.protocol!r}; valid: {', '.join(PROTOCOLS)}")
        timeout = DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise InputError(f"the Triton timeout must be a positive number of seconds, got {timeout_s!r}")
        self.timeout_s = float(timeout)
        self.shared_memory = bool(shared_memory)
        self._endpoints = [_Endpoint(url) for url in self.urls]
        self._lock = threading.Lock()
        self._module: Any = None
        self.dead: list[ServerFailure] = []

    # ----------------------------------------------------------------- connecting
    @property
    def module(self) -> Any:
        """``tritonclient.grpc`` or ``tritonclient.http`` (imported on first use)."""
        if self._module is None:
            self._module = require(f"tritonclient.{self.protocol}", "the triton backend")
        return self._module

    def connect(self) -> None:
        """Create the clients (no network traffic yet); does nothing when connected.

        Raises:
            EnvironmentProblem: tritonclient is not installed (with the install hint).
        """
        module = self.module
        with self._lock:
            for endpoint in self._endpoints:
                if endpoint.client is None:
                    if self.protocol == "grpc":
                        endpoint.client = module.InferenceServerClient(endpoint.url)
                    else:
                        endpoint.client = module.InferenceServerClient(
                            endpoint.url, concurrency=8, connection_timeout=self.timeout_s,
                            network_timeout=self.timeout_s)

    def check_ready(self, model_names: Sequence[str]) -> None:
        """Check that every server is live and ready and serves every model in ``model_names``.

        Raises:
            EnvironmentProblem: one line naming the first server that cannot be
                reached, is not ready, or lacks a model (with what to do).
        """
        self.connect()
        for endpoint in self._endpoints:
            where = f"Triton server {endpoint.url} ({self.protocol})"
            try:
                ready = endpoint.client.is_server_ready()
            except Exception as exc:
                raise EnvironmentProblem(f"{where} is not reachable ({_first_line(exc)}); {SERVE_HINT}") from None
            if not ready:
                raise EnvironmentProblem(f"{where} is up but not ready (still loading or stopping); "
                                         "wait for it or check its log")
            for name in model_names:
                try:
                    model_ready = endpoint.client.is_model_ready(name)
                except Exception as exc:
                    raise EnvironmentProblem(f"{where}: cannot ask for model {name!r} ({_first_line(exc)})") from None
                if not model_ready:
                    raise EnvironmentProblem(
                        f"{where} does not serve a ready model {name!r}; write the repository with "
                        "spine-rt triton-repo PKG --out REPO (and the same --model-name-prefix) and serve it")

    def close(self) -> None:
        """Close every client; the pool can connect again afterwards."""
        with self._lock:
            for endpoint in self._endpoints:
                if endpoint.client is not None:
                    try:
                        endpoint.client.close()
                    except Exception:  # closing a client of a dead server may fail; nothing to release then
                        pass
                    endpoint.client = None

    # ----------------------------------------------------------------- calls
    def first_client(self) -> tuple[str, Any]:
        """``(url, client)`` of the first live server (for metadata requests)."""
        self.connect()
        with self._lock:
            for endpoint in self._endpoints:
                if endpoint.dead is None:
                    return endpoint.url, endpoint.client
        raise self._none_left("no Triton server is left")

    def call(self, request: Callable[[Any, str], T], what: str) -> T:
        """Run ``request(client, url)`` on the least busy live server, moving to the next one on failure.

        Args:
            request: sends one request with the given client (of the server ``url``) and returns its result.
            what: what the request is (a model name), for messages.

        Raises:
            InputError: the server rejected the request as malformed.
            EnvironmentProblem: every server failed (names each and why).
        """
        self.connect()
        while True:
            endpoint = self._acquire()
            if endpoint is None:
                raise self._none_left(f"no Triton server could run {what}")
            try:
                result = request(endpoint.client, endpoint.url)
            except Exception as exc:
                self._release(endpoint)
                if _is_rejection(exc):
                    raise InputError(f"Triton server {endpoint.url} rejected the request for {what}: "
                                     f"{_first_line(exc)}") from None
                self._mark_dead(endpoint, f"{what}: {_first_line(exc)}")
                continue
            self._release(endpoint)
            return result

    def describe(self) -> dict[str, Any]:
        """Servers, protocol, calls per server and the dead ones, for reports."""
        with self._lock:
            return {
                "servers": list(self.urls),
                "protocol": self.protocol,
                "calls": {e.url: e.calls for e in self._endpoints},
                "dead": {failure.url: failure.reason for failure in self.dead},
            }

    # ----------------------------------------------------------------- internals
    def _acquire(self) -> _Endpoint | None:
        with self._lock:
            live = [e for e in self._endpoints if e.dead is None]
            if not live:
                return None
            chosen = min(live, key=lambda e: (e.outstanding, e.last_started))
            chosen.outstanding += 1
            chosen.calls += 1
            chosen.last_started = time.monotonic()
            return chosen

    def _release(self, endpoint: _Endpoint) -> None:
        with self._lock:
            endpoint.outstanding -= 1

    def _mark_dead(self, endpoint: _Endpoint, reason: str) -> None:
        with self._lock:
            if endpoint.dead is not None:
                return
            endpoint.dead = reason
            self.dead.append(ServerFailure(endpoint.url, reason))
            left = [e.url for e in self._endpoints if e.dead is None]
        moving = f"moving its work to {', '.join(left)}" if left else "no server is left"
        LOG.warning("Triton server %s failed and is no longer used (%s); %s", endpoint.url, reason, moving)

    def _none_left(self, headline: str) -> EnvironmentProblem:
        reasons = "; ".join(f"{failure.url}: {failure.reason}" for failure in self.dead) or "none reachable"
        return EnvironmentProblem(f"{headline} ({reasons}); {SERVE_HINT}")


def is_local(url: str) -> bool:
    """True when ``HOST:PORT`` names this machine (loopback), where shared memory can carry the tensors."""
    host = url.rpartition(":")[0].strip("[]").lower()
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def _is_rejection(exc: BaseException) -> bool:
    """True when the server answered that the request itself is malformed (not a server failure)."""
    status = getattr(exc, "status", None)
    code = status() if callable(status) else status
    return str(code) in ("StatusCode.INVALID_ARGUMENT", "400")


def _first_line(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    text = (message() if callable(message) else None) or str(exc)
    text = str(text).strip()
    return text.splitlines()[0] if text else type(exc).__name__
