"""Turning tracker HTTP answers and transport failures into `TrackerError`s."""

import time
from email.utils import parsedate_to_datetime

from app.core.http import Response
from app.sync.tracker import TrackerError

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
