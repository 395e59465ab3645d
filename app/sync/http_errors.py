"""Turning tracker HTTP answers and transport failures into `TrackerError`s, and reading a
success's body only in the shape we expect."""

import time
from email.utils import parsedate_to_datetime
from typing import TypeVar

from pydantic import TypeAdapter, ValidationError

from app.core.http import Response
from app.sync.tracker import JsonTooDeep, TrackerError, decode_json

T = TypeVar("T")

RETRYABLE_4XX = (408, 409, 429)


def retry_after(response: Response) -> float | None:
    """Seconds to wait: `Retry-After` (seconds or a date), or GitHub's `x-ratelimit-reset`."""
    header = response.headers.get("retry-after")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(header).timestamp() - time.time())
            except (TypeError, ValueError):
                return None
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = response.headers.get("x-ratelimit-reset")
        if reset and reset.isdigit():
            return max(0.0, int(reset) - time.time())
    return None


def raise_for(response: Response, *, sent_write: bool) -> None:
    """Nothing for a success; else a `TrackerError` that says whether to retry."""
    status = response.status_code
    if status < 400:
        return
    wait = retry_after(response)
    rate_limited = status == 429 or (status == 403 and wait is not None)
    permanent = 400 <= status < 500 and status not in RETRYABLE_4XX and not rate_limited
    raise TrackerError(
        f"the tracker answered {status}",
        permanent=permanent,
        outcome_unknown=sent_write and status >= 500,
        retry_after=wait,
    )


def read_answer(response: Response, shape: TypeAdapter[T], *, tracker: str, sent_write: bool) -> T:
    """A success's body as `shape`, else a `TrackerError` saying what was wrong with it: a
    malformed answer is retried with backoff like any failure, and after a write it leaves
    the outcome unknown (a create that answered `{}` may well have made the issue)."""
    try:
        value = decode_json(response.content)
    except JsonTooDeep as exc:
        raise malformed(response, tracker, str(exc), sent_write=sent_write) from exc
    except ValueError as exc:  # UnicodeDecodeError included
        raise malformed(response, tracker, "not JSON", sent_write=sent_write) from exc
    return check_answer(value, shape, response=response, tracker=tracker, sent_write=sent_write)


def check_answer(
    value: object, shape: TypeAdapter[T], *, response: Response, tracker: str, sent_write: bool
) -> T:
    """A decoded answer (or a part of one) as `shape`, else the `malformed` error."""
    try:
        return shape.validate_python(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        reason = f"{where}: {first['msg']}"
        raise malformed(response, tracker, reason, sent_write=sent_write) from None


def malformed(response: Response, tracker: str, reason: str, *, sent_write: bool) -> TrackerError:
    return TrackerError(
        f"{tracker} answered {response.request.method} with a malformed body: {reason}",
        outcome_unknown=sent_write,
    )
