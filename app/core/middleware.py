"""Pure ASGI middleware: request id and one access log line per request."""

import json
import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import metrics
from app.core.request_context import set_request_id

access_log = logging.getLogger("app.access")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
MAX_BODY_BYTES = 1 * 1024 * 1024  # API bodies
MAX_WEBHOOK_BODY_BYTES = 25 * 1024 * 1024  # tracker deliveries can be large


def _too_large(scope: Scope, headers: dict[bytes, bytes]) -> int | None:
    """The limit a declared body exceeds, if any (checked before reading a byte of it)."""
    declared = headers.get(b"content-length", b"")
    if not declared.isdigit():
        return None
    webhook = scope["path"].startswith("/api/v1/webhooks/")
    limit = MAX_WEBHOOK_BODY_BYTES if webhook else MAX_BODY_BYTES
    return limit if int(declared) > limit else None


async def _refuse(limit: int, send: Send) -> None:
    body = json.dumps(
        {
            "type": "/problems/payload-too-large",
            "title": "Payload too large",
            "status": 413,
            "detail": f"The body may be at most {limit} bytes.",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Echo a sane `X-Request-ID` or make one; log method, path, status and duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        set_request_id(request_id)
        started = time.perf_counter()
        status = 500
        authenticated = b"authorization" in headers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = MutableHeaders(scope=message)
                response_headers["X-Request-ID"] = request_id
                response_headers.update(SECURITY_HEADERS)
                if authenticated:  # what one caller may see is no cache's to keep
                    response_headers["Cache-Control"] = "no-store"
            await send(message)

        try:
            if too_large := _too_large(scope, headers):
                await _refuse(too_large, send_with_id)
                return
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics.observe(scope["method"], route, status, time.perf_counter() - started)
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
