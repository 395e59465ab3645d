"""From a tracker's webhook payload, or an issue pulled through its REST API, to the change it
describes, in one shape for both trackers."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.sync.tracker import MARKER_PREFIX

_END = object()  # what `next` answers when a node's children are all read


@dataclass(frozen=True)
class RemoteComment:
    remote_id: str
    author: str
    body: str
    action: str = "created"  # or "edited", "deleted"


@dataclass(frozen=True)
class RemoteChange:
    remote_key: str
    updated_at: datetime | None
    title: str | None = None
    description: str | None = None
    labels: list[str] | None = None
    status: str | None = None  # in status_map's terms: `open`, `closed`, `label:x`, `In Progress`
    comment: RemoteComment | None = None
    deleted: bool = False


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:  # Jira writes -0800 offsets; Python wants -08:00 before 3.11's fromisoformat fix
        return datetime.fromisoformat(re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", value))
    except ValueError:
        return None


def _epoch_ms(value: Any) -> datetime | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


# What we write around the description: GitHub's hidden marker, Jira's "BB-12 · <link>" line,
# and our sections (Markdown `###`, wiki markup `h3.`, or an ADF heading as plain text).
_JIRA_HEADER = re.compile(r"^[A-Z][A-Z0-9]*-\d+ · \S+$")
_OUR_SECTIONS = re.compile(r"(?:^|\n)(?:### |h3\. )?(?:Acceptance criteria|Impact)(?:\n|$)")


def description_of(body: str | None) -> str | None:
    """The human part of an issue body: our header and our sections stripped."""
    if body is None:
        return None
    lines = body.replace("\r\n", "\n").split("\n")
    if lines and MARKER_PREFIX in lines[0]:
        lines = lines[2:]  # our marker and our key/link line
    elif lines and _JIRA_HEADER.match(lines[0].strip()):
        lines = lines[1:]
    text = _OUR_SECTIONS.split("\n".join(lines), maxsplit=1)[0]
    return text.strip() or None


def _adf_leaf(node: Any) -> str | None:
    """The text of a node that has no children to read (text, a break, not a node); else None."""
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text") or "")
    if node.get("type") == "hardBreak":
        return "\n"
    return None


def _adf_children(node: dict[str, Any]) -> Iterator[Any]:
    content = node.get("content")
    return iter(content if isinstance(content, list) else [])


def adf_text(node: Any) -> str:
    """Atlassian Document Format as plain text: one line per paragraph, heading or list item.
    Walked with a stack of our own, not recursion: a document may nest as deep as it likes."""
    if (leaf := _adf_leaf(node)) is not None:
        return leaf
    frames: list[tuple[dict[str, Any], Iterator[Any], list[str]]] = [
        (node, _adf_children(node), [])
    ]
    while True:
        current, children, parts = frames[-1]
        child: Any = next(children, _END)
        if child is _END:
            frames.pop()
            inline = current.get("type") in ("paragraph", "heading")
            text = "".join(parts) if inline else "\n".join(part for part in parts if part)
            if not frames:
                return text
            frames[-1][2].append(text)
        elif (leaf := _adf_leaf(child)) is not None:
            parts.append(leaf)
        else:
            frames.append((child, _adf_children(child), []))


def github_status(issue: dict[str, Any], status_labels: set[str]) -> str:
    if issue.get("state") == "closed":
        return "closed:not_planned" if issue.get("state_reason") == "not_planned" else "closed"
    names = [label.get("name") for label in issue.get("labels", [])]
    return next((f"label:{n}" for n in names if n in status_labels), "open")


def from_github(
    event: str, payload: dict[str, Any], status_labels: set[str]
) -> RemoteChange | None:
    issue = payload.get("issue") or {}
    key, updated = str(issue.get("number", "")), _time(issue.get("updated_at"))
    if not key:
        return None
    if event == "issue_comment" and payload.get("action") in ("created", "edited", "deleted"):
        comment = payload.get("comment") or {}
        author = f"{(comment.get('user') or {}).get('login', 'someone')} (GitHub)"
        body, action = str(comment.get("body") or ""), str(payload["action"])
        remote = RemoteComment(str(comment.get("id")), author, body, action)
        return RemoteChange(key, _time(comment.get("updated_at")) or updated, comment=remote)
    if event != "issues":
        return None
    if payload.get("action") in ("deleted", "transferred"):
        return RemoteChange(key, updated, deleted=True)
    return from_github_issue(issue, status_labels)


def from_github_issue(issue: dict[str, Any], status_labels: set[str]) -> RemoteChange | None:
    """An issue as GitHub's REST API and its `issues` webhooks show it."""
    key, updated = str(issue.get("number", "")), _time(issue.get("updated_at"))
    if not key:
        return None
    labels = [
        str(label.get("name"))
        for label in issue.get("labels", [])
        if label.get("name") not in status_labels
    ]
    return RemoteChange(
        key,
        updated,
        title=issue.get("title"),
        description=description_of(issue.get("body")),
        labels=labels,
        status=github_status(issue, status_labels),
    )


def from_jira(event: str, payload: dict[str, Any]) -> RemoteChange | None:
    issue = payload.get("issue") or {}
    fields = issue.get("fields") or {}
    # The issue's `updated`, else the time of the event itself (epoch milliseconds).
    updated = _time(fields.get("updated")) or _epoch_ms(payload.get("timestamp"))
    key = str(issue.get("key", ""))
    if not key:
        return None
    actions = {
        "comment_created": "created",
        "comment_updated": "edited",
        "comment_deleted": "deleted",
    }
    if event in actions:
        comment = payload.get("comment") or {}
        author = f"{(comment.get('author') or {}).get('displayName', 'someone')} (Jira)"
        body = str(comment.get("body") or "")
        remote = RemoteComment(str(comment.get("id")), author, body, actions[event])
        return RemoteChange(key, _time(comment.get("updated")) or updated, comment=remote)
    if event == "jira:issue_deleted":
        return RemoteChange(key, updated, deleted=True)
    if event not in ("jira:issue_created", "jira:issue_updated"):
        return None
    return from_jira_issue(issue, updated=updated)


def from_jira_issue(
    issue: dict[str, Any], *, updated: datetime | None = None
) -> RemoteChange | None:
    """An issue as Jira shows it: REST v3 (ADF description) or a webhook (wiki markup)."""
    fields = issue.get("fields") or {}
    key = str(issue.get("key", ""))
    if not key:
        return None
    description = fields.get("description")
    text = adf_text(description) if isinstance(description, dict) else description
    return RemoteChange(
        key,
        updated or _time(fields.get("updated")),
        title=fields.get("summary"),
        description=description_of(text) if isinstance(text, str) else None,
        labels=[str(label) for label in fields.get("labels") or []],
        status=(fields.get("status") or {}).get("name"),
    )
