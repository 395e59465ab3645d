"""The one module that imports the HTTP client library.

httpx has had no release since 0.28.1 and a drop-in fork exists: switching is this import.
"""

import asyncio
import socket
from collections.abc import Callable, Iterable
from typing import Any

from httpcore import AsyncConnectionPool, AsyncNetworkBackend, AsyncNetworkStream, ConnectError
from httpcore._backends.auto import AutoBackend
from httpx import (
    URL,
    ASGITransport,
    AsyncClient,
    AsyncHTTPTransport,
    HTTPError,
    MockTransport,
    Request,
    Response,
    Timeout,
    TimeoutException,
)

__all__ = [
    "URL",
    "ASGITransport",
    "AsyncClient",
    "HTTPError",
    "MockTransport",
    "Request",
    "Response",
    "Timeout",
    "TimeoutException",
]


USER_AGENT = "backlog-bridge/0.1 (+https://github.com/backlog-bridge)"


PeerCheck = Callable[[str, str], None]  # (host as written, address) -> raise to refuse


class _CheckedBackend(AsyncNetworkBackend):
    """Resolves each connection's host itself, lets `check` judge every address, and connects
    to an address it passed: a DNS answer that changes after validation (rebinding) cannot
    steer a request to an internal address."""

    def __init__(self, check: PeerCheck) -> None:
        self.check, self.inner = check, AutoBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncNetworkStream:
        infos = await asyncio.to_thread(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        try:
            for address in addresses:
                self.check(host, address)
        except ValueError as exc:  # the check refused this peer
            raise ConnectError(str(exc)) from exc
        return await self.inner.connect_tcp(
            addresses[0],
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> AsyncNetworkStream:
        raise ConnectError("unix sockets are not for trackers")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def tracker_client(*, timeout_s: float = 10.0, check_peer: PeerCheck | None = None) -> AsyncClient:
    """The client for talking to trackers: bounded time, our user agent, no redirects followed
    (a redirect could lead past the SSRF check), and every connection's peer checked again."""
    transport = AsyncHTTPTransport()
    if check_peer is not None:
        transport._pool = AsyncConnectionPool(network_backend=_CheckedBackend(check_peer))
    return AsyncClient(
        transport=transport,
        timeout=Timeout(timeout_s),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )
