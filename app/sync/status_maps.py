"""Local item status <-> remote tracker status, with the documented defaults."""

from typing import Any

from app.backlog.models import ItemStatus
from app.sync.models import TrackerKind

S = ItemStatus
DEFAULTS: dict[TrackerKind, dict[str, dict[str, str]]] = {
    TrackerKind.JIRA: {
        "to_remote": {
            S.NEW: "To Do",
            S.READY: "To Do",
            S.IN_PROGRESS: "In Progress",
            S.IN_REVIEW: "In Progress",
            S.DONE: "Done",
            S.CANCELLED: "Done",
        },
        "from_remote": {"To Do": S.NEW, "In Progress": S.IN_PROGRESS, "Done": S.DONE},
    },
    TrackerKind.GITHUB: {
        "to_remote": {
            S.NEW: "open",
            S.READY: "open",
            S.IN_PROGRESS: "label:status: in progress",
            S.IN_REVIEW: "label:status: in review",
            S.DONE: "closed",
            S.CANCELLED: "closed:not_planned",
        },
        "from_remote": {
            "open": S.IN_PROGRESS,  # a plain reopen
            "closed": S.DONE,
            "closed:not_planned": S.CANCELLED,
            "label:status: in progress": S.IN_PROGRESS,
            "label:status: in review": S.IN_REVIEW,
        },
    },
}


def with_defaults(kind: TrackerKind, given: dict[str, Any] | None) -> dict[str, dict[str, str]]:
    """The defaults, overridden entry by entry by what the integration sets."""
    given = given or {}
    return {
        direction: {
            **{str(k): str(v) for k, v in DEFAULTS[kind][direction].items()},
            **given.get(direction, {}),
        }
        for direction in ("to_remote", "from_remote")
    }


def status_labels(kind: TrackerKind, given: dict[str, Any] | None) -> set[str]:
    """The GitHub labels that stand for a status (`label:<name>`): never an item's labels."""
    to_remote = with_defaults(kind, given)["to_remote"]
    return {v.removeprefix("label:") for v in to_remote.values() if v.startswith("label:")}
