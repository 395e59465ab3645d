"""Pure ASGI middleware: request id, body limits and one access log line per request."""

import json
import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import metrics
from app.core.errors import answer_outside_routes
from app.core.request_context import set_request_id

access_log = logging.getLogger("app.access")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
MAX_BODY_BYTES = 1 * 1024 * 1024  # API bodies
MAX_WEBHOOK_BODY_BYTES = 25 * 1024 * 1024  # tracker deliveries can be large


def _body_limit(scope: Scope) -> int:
    webhook = scope["path"].startswith("/api/v1/webhooks/")
    return MAX_WEBHOOK_BODY_BYTES if webhook else MAX_BODY_BYTES


def _declared_too_large(headers: dict[bytes, bytes], limit: int) -> bool:
    """A declared body over the limit is refused before a byte of it is read."""
    declared = headers.get(b"content-length", b"")
    return declared.isdigit() and int(declared) > limit


class BodyTooLarge(HTTPException):
    """Raised by `receive` the moment a streamed body passes its limit. An HTTPException, so
    FastAPI's body parsing lets it through to the problem+json handler unchanged."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"The body may be at most {limit} bytes.",
            # The rest of the body is never read: the connection cannot carry another request.
            headers={"Connection": "close"},
        )


class BoundedBody:
    """The request's `receive`, counting body bytes as they arrive, with or without
    Content-Length (chunked), and refusing to read once they pass `limit`: memory per request
    stays bounded and no route, authenticated or not, ever sees a byte past it."""

    def __init__(self, receive: Receive, limit: int, headers: dict[bytes, bytes]) -> None:
        self._receive, self.limit, self.received = receive, limit, 0
        declared = headers.get(b"content-length", b"0")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        self.complete = not chunked and declared in (b"", b"0")  # no body to wait for
        self.declared_too_large = _declared_too_large(headers, limit)

    async def receive(self) -> Message:
        if self.declared_too_large or self.received > self.limit:
            raise BodyTooLarge(self.limit)  # not a byte more
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise BodyTooLarge(self.limit)
            self.complete = not message.get("more_body", False)
        elif message["type"] == "http.disconnect":
            self.complete = True
        return message

    async def drain(self) -> bool:
        """Read what the route left unread (it answered without it), up to the limit: True
        when the whole body was taken, so the connection can carry the client's next
        request; False when it passed the limit, and the connection must close instead of
        the server reading and discarding the rest for as long as the client sends."""
        try:
            while not self.complete:
                await self.receive()
        except BodyTooLarge:
            return False
        return True


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
                (b"connection", b"close"),
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
        response_started = response_finished = False
        authenticated = b"authorization" in headers

        body = BoundedBody(receive, _body_limit(scope), headers)

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started, response_finished
            if message["type"] == "http.response.body" and not message.get("more_body"):
                response_finished = True
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                response_headers = MutableHeaders(scope=message)
                if not await body.drain():
                    response_headers["Connection"] = "close"
                response_headers["X-Request-ID"] = request_id
                response_headers.update(SECURITY_HEADERS)
                if authenticated:  # what one caller may see is no cache's to keep
                    response_headers["Cache-Control"] = "no-store"
            await send(message)

        limit = body.limit
        try:
            if body.declared_too_large:
                await _refuse(limit, send_with_id)
                return
            await self.app(scope, body.receive, send_with_id)
        except BodyTooLarge:  # read outside a route's error handling (e.g. by a middleware)
            if response_started:
                raise  # a response is under way; only closing the connection can end it
            await _refuse(limit, send_with_id)
        except Exception as exc:
            # Answered here rather than by Starlette's outermost handler, which re-raises to
            # the server after its 500 and so makes uvicorn drop a keep-alive connection.
            if response_finished:
                access_log.error("error after the response was sent", exc_info=exc)
            elif response_started:
                raise  # a half-sent response can only be ended by closing the connection
            else:
                await answer_outside_routes(Request(scope), exc)(scope, receive, send_with_id)
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
