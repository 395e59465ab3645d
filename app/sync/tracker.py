"""What the worker needs from a tracker, whatever the tracker: a Protocol and plain data; and
what anything a tracker sends must pass first (issue keys, JSON depth, control characters)."""

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

import orjson

MARKER_PREFIX = "backlog-bridge:"
# Deeper JSON is refused: nothing a tracker sends nests this far, and readers that recurse
# (the stdlib's json, ADF walkers) must never meet a document that exhausts their stack.
MAX_JSON_DEPTH = 256
# [0-9], not \d: a str pattern's \d also matches other scripts' digits ("\u0663").
GITHUB_ISSUE_NUMBER = re.compile(r"[1-9][0-9]{0,9}")
JIRA_ISSUE_ID = re.compile(r"[1-9][0-9]{0,17}")
# C0 controls but tab, line feed and carriage return: PostgreSQL refuses NUL in text.
_CONTROL = dict.fromkeys(c for c in range(32) if chr(c) not in "\t\n\r")
_SURROGATE = re.compile("[\ud800-\udfff]")  # lone halves no database can encode
_ESCAPE = re.compile(r"\\[ubf]")


@dataclass(frozen=True)
class ItemSnapshot:
    """What is pushed: never notes or internal comments; impacts only when allowed."""

    key: str
    title: str
    description: str | None
    acceptance_criteria: list[str]
    status: str
    labels: list[str]
    link_back: str
    impacts: dict[str, str] = field(default_factory=dict)

    @property
    def marker(self) -> str:
        """Hidden in every issue we create, so a create whose outcome is unknown can be found."""
        return f"{MARKER_PREFIX}{self.key}"


@dataclass(frozen=True)
class RemoteIssue:
    key: str  # always a string: "MKT-12", or "12" on GitHub
    url: str


@dataclass(frozen=True)
class IssuePage:
    """Remote issues as the tracker's REST API returns them, oldest change first, and where
    the next page starts (None: this was the last)."""

    issues: list[dict[str, Any]]
    next_cursor: str | None


class TrackerError(Exception):
    """A failed call. `permanent`: retrying cannot help (a 4xx other than 408/409/429).
    `outcome_unknown`: the request may have taken effect (timeout, reset, 5xx after sending).
    `retry_after`: seconds the tracker asked us to wait."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        outcome_unknown: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.outcome_unknown = outcome_unknown
        self.retry_after = retry_after


class Tracker(Protocol):
    async def create_issue(self, item: ItemSnapshot) -> RemoteIssue: ...

    async def update_issue(self, remote_key: str, item: ItemSnapshot) -> RemoteIssue: ...

    async def find_by_marker(self, item: ItemSnapshot) -> RemoteIssue | None: ...

    async def list_issues(
        self, *, since: datetime | None, cursor: str | None, open_only: bool = False
    ) -> IssuePage: ...

    async def get_issue(self, remote_key: str) -> tuple[str, dict[str, Any]]:
        """One issue of the repository or project: its key as the tracker names it (a Jira
        id's issue answers its key), and the issue as the tracker's REST API shows it."""
        ...


def github_key_ok(key: str) -> bool:
    """A GitHub issue number: 1 to 10 ASCII digits, no leading zero."""
    return GITHUB_ISSUE_NUMBER.fullmatch(key) is not None


def jira_key_ok(key: str, project_key: str) -> bool:
    """An issue of this Jira project (`MKT-12`), or a numeric issue id (checked against the
    project when the worker first reads it)."""
    if JIRA_ISSUE_ID.fullmatch(key):
        return True
    project, _, number = key.rpartition("-")
    return bool(project_key) and project == project_key and bool(JIRA_ISSUE_ID.fullmatch(number))


def segment(value: str) -> str:
    """One URL path segment: quoted whole, and never `.` or `..` (which quoting keeps, and
    which a URL's reader resolves into a step up the path)."""
    if value in ("", ".", ".."):
        raise TrackerError(f"{value!r} cannot be a URL path segment", permanent=True)
    return quote(value, safe="")


class JsonTooDeep(ValueError):
    pass


def decode_json(data: bytes | str) -> Any:
    """JSON as a tracker sends it, at most `MAX_JSON_DEPTH` deep; ValueError otherwise.
    orjson first (a quarter of json's CPU); what it refuses goes to json (NaN, lone surrogate
    escapes, a leading BOM). UTF-8 only, as RFC 8259 asks between systems."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        try:
            value = json.loads(text)
        except RecursionError as exc:  # deeper than the interpreter's stack allows
            raise JsonTooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from exc
    if _may_be_deep(data) and _too_deep(value):
        raise JsonTooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _may_be_deep(data: bytes | str) -> bool:
    """Fewer opening brackets than the limit cannot nest past it (a count runs in C; the
    walk it saves is most of a delivery's decoding time)."""
    if isinstance(data, str):
        return data.count("[") + data.count("{") > MAX_JSON_DEPTH
    return data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH


def decode_clean(text: str) -> Any:
    """`decode_json`, then `clean_json` if the text can hold a control character at all: in
    valid JSON only an escape writes one (\\uXXXX, \\b, \\f), and most documents have none."""
    value = decode_json(text)
    return clean_json(value) if _ESCAPE.search(text) else value


def _too_deep(value: Any) -> bool:
    """Whether containers nest deeper than the limit; iterative, so any depth is safe."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                if depth >= MAX_JSON_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False


def clean_text(value: str) -> str:
    """Text from a tracker as we store it: C0 controls but tab, LF and CR removed, lone
    surrogates replaced (U+FFFD)."""
    value = value.translate(_CONTROL)
    return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value


def clean_json(value: Any) -> Any:
    """Every string of a decoded document (keys included) through `clean_text`; iterative."""
    stack: list[tuple[Any, Any]] = []
    root = _cleaned(value, stack)
    while stack:
        source, target = stack.pop()
        if isinstance(source, dict):
            for key, child in source.items():
                target[clean_text(key)] = _cleaned(child, stack)
        else:
            target.extend(_cleaned(child, stack) for child in source)
    return root


def _cleaned(value: Any, stack: list[tuple[Any, Any]]) -> Any:
    """A scalar cleaned, or an empty container queued on `stack` to be filled."""
    if isinstance(value, str):
        return clean_text(value)
    if not isinstance(value, dict | list):
        return value
    copy: Any = {} if isinstance(value, dict) else []
    stack.append((value, copy))
    return copy


def error_text(exc: BaseException, *, prefix: str) -> str:
    """What went wrong, for a record a person reads (a job's or a delivery's): the kind and
    the first line of the message (a database error's own, not its SQL), bounded."""
    cause = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    kind, message = (
        ("database error", cause) if isinstance(cause, BaseException) else (type(exc).__name__, exc)
    )
    first = (str(message).strip().splitlines() or [""])[0]
    return clean_text(f"{prefix}: {kind}: {first}")[:1000]
