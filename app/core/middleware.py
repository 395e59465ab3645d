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
from app.core.pagination import cursor_key, use_cursor_key
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


class _Response:
    """One request's answer on its way out: every answer gets the request id and the security
    headers, and the body the route left unread is settled before the answer starts."""

    def __init__(
        self, send: Send, body: BoundedBody, *, request_id: str, authenticated: bool
    ) -> None:
        self._send, self._body = send, body
        self.request_id, self.authenticated = request_id, authenticated
        self.status, self.started, self.finished = 500, False, False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status, self.started = message["status"], True
            headers = MutableHeaders(scope=message)
            if not await self._body.drain():
                headers["Connection"] = "close"
            headers["X-Request-ID"] = self.request_id
            headers.update(SECURITY_HEADERS)
            if self.authenticated:  # what one caller may see is no cache's to keep
                headers["Cache-Control"] = "no-store"
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            self.finished = True
        await self._send(message)


class RequestIdMiddleware:
    """Echo a sane `X-Request-ID` or make one; bound the body; answer what escaped the
    routes; log method, path, status and duration."""

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
        if (box := getattr(scope["app"].state, "secret_box", None)) is not None:
            # Cursors are signed with the app's key, so every replica reads every other's;
            # set here once for the page lane and every route alike.
            use_cursor_key(cursor_key(box))
        started = time.perf_counter()
        body = BoundedBody(receive, _body_limit(scope), headers)
        response = _Response(
            send, body, request_id=request_id, authenticated=b"authorization" in headers
        )
        try:
            await self._answer(scope, body, response)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            seconds = time.perf_counter() - started
            metrics.observe(scope["method"], route, response.status, seconds)
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": response.status,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )

    async def _answer(self, scope: Scope, body: BoundedBody, response: _Response) -> None:
        try:
            if body.declared_too_large:
                await _refuse(body.limit, response.send)
                return
            await self.app(scope, body.receive, response.send)
        except BodyTooLarge:  # read outside a route's error handling (e.g. by a middleware)
            if response.started:
                raise  # a response is under way; only closing the connection can end it
            await _refuse(body.limit, response.send)
        except Exception as exc:
            # Answered here rather than by Starlette's outermost handler, which re-raises to
            # the server after its 500 and so makes uvicorn drop a keep-alive connection.
            if response.finished:
                access_log.error("error after the response was sent", exc_info=exc)
            elif response.started:
                raise  # a half-sent response can only be ended by closing the connection
            else:
                answer = answer_outside_routes(Request(scope), exc)
                await answer(scope, body.receive, response.send)
