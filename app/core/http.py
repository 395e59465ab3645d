"""The one module that imports the HTTP client library.

httpx has had no release since 0.28.1 and a drop-in fork exists: switching is this import.
"""

from httpx import ASGITransport, AsyncClient, MockTransport, Request, Response, Timeout

__all__ = ["ASGITransport", "AsyncClient", "MockTransport", "Request", "Response", "Timeout"]
