"""The one module that imports the HTTP client library.

httpx has had no release since 0.28.1 and a drop-in fork exists: switching is this import.
"""

from httpx import (
    ASGITransport,
    AsyncClient,
    HTTPError,
    MockTransport,
    Request,
    Response,
    Timeout,
    TimeoutException,
)

__all__ = [
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


def tracker_client(*, timeout_s: float = 10.0) -> AsyncClient:
    """The client for talking to trackers: bounded time, our user agent, no redirects followed
    (a redirect could lead past the SSRF check to an internal address)."""
    return AsyncClient(
        timeout=Timeout(timeout_s),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )
