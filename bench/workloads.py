"""What the load run sends: request lines for bench/wrk/lines.lua, one list per workload,
built from the database's real ids, cursors and tokens (`load.prepare`)."""

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from app.webhooks.signatures import sign

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = json.dumps(
    json.loads((ROOT / "tests/fixtures/github/webhooks/issues/edited.payload.json").read_bytes()),
    separators=(",", ":"),
)
WEBHOOK_SECRET = "bench-secret"
MIX = {
    "page_first": 30,
    "page_deep": 10,
    "item_get": 25,
    "item_create": 8,
    "item_move": 10,
    "request_submit": 5,
    "sprint_report": 2,
    "webhook": 10,
}
WORDS = [
    "checkout", "campaign", "landing", "page", "newsletter", "consent", "banner", "tracking",
    "export", "report", "dashboard", "login", "payment", "voucher", "search", "filter",
    "catalogue", "translation", "accessibility", "performance", "cache", "retry", "audit",
]  # fmt: skip


@dataclass
class Fixture:
    items: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    deep: list[tuple[str, str, int]] = field(default_factory=list)  # cursor, rank, id
    item_ids: list[int] = field(default_factory=list)
    sprint_ids: list[int] = field(default_factory=list)
    team_ids: list[int] = field(default_factory=list)


def _auth(token: str, json_body: bool = False) -> str:
    headers = [f"Authorization: Bearer {token}"]
    if json_body:
        headers.append("Content-Type: application/json")
    return "|".join(headers)


def request_line(method: str, path: str, headers: str, body: Any = None) -> str:
    text = "" if body is None else body if isinstance(body, str) else json.dumps(body)
    return f"{method}\t{path}\t{headers}\t{text}"


def _text(rnd: random.Random, words: int) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(words)).capitalize()


def workload_lines(
    fixture: Fixture, rnd: random.Random, *, integration_id: int
) -> dict[str, list[str]]:
    """Request lines for each app workload (bench/wrk/lines.lua's format)."""
    admin, it, marketing = (fixture.tokens[r] for r in ("admin", "it", "marketing"))
    page = "/api/v1/items?sprint_id=none&limit=50"
    lines: dict[str, list[str]] = {
        "page_first": [request_line("GET", page, _auth(admin))],
        "page_deep": [
            request_line("GET", f"{page}&cursor={quote(cursor)}", _auth(admin))
            for cursor, _, _ in fixture.deep
        ],
        "item_get": [
            request_line("GET", f"/api/v1/items/{i}", _auth(admin)) for i in fixture.item_ids
        ],
        "item_move": [
            request_line("POST", f"/api/v1/items/{i}/move", _auth(it, True), {"position": "top"})
            for i in fixture.item_ids
        ],
        "sprint_report": [
            request_line("GET", f"/api/v1/sprints/{s}/report", _auth(admin))
            for s in fixture.sprint_ids
        ],
        "webhook": [_webhook_line(integration_id)],
    }
    lines["item_create"] = [
        request_line("POST", "/api/v1/items", _auth(it, True), _item_body(fixture, rnd))
        for _ in range(200)
    ]
    lines["request_submit"] = [
        request_line("POST", "/api/v1/requests", _auth(marketing, True), _request_body(rnd))
        for _ in range(200)
    ]
    mixed = [line for name, weight in MIX.items() for line in _cycle(lines[name], weight * 10)]
    rnd.shuffle(mixed)
    lines["mix"] = mixed
    return lines


def _webhook_line(integration_id: int) -> str:
    """One signed delivery; lines.lua puts a fresh number in for `{seq}` on every request."""
    headers = (
        "Content-Type: application/json",
        "X-GitHub-Event: issues",
        "X-GitHub-Delivery: {seq}",
        f"X-Hub-Signature-256: {sign(WEBHOOK_SECRET, PAYLOAD.encode())}",
    )
    return request_line(
        "POST", f"/api/v1/webhooks/github/{integration_id}", "|".join(headers), PAYLOAD
    )


def _cycle(lines: list[str], count: int) -> list[str]:
    return [lines[i % len(lines)] for i in range(count)]


def _item_body(fixture: Fixture, rnd: random.Random) -> dict[str, Any]:
    return {
        "title": _text(rnd, 6),
        "description": _text(rnd, 60),
        "acceptance_criteria": [_text(rnd, 8) for _ in range(3)],
        "story_points": rnd.choice([1, 2, 3, 5, 8]),
        "business_value": rnd.randint(1, 10),
        "time_criticality": rnd.randint(1, 10),
        "risk_reduction": rnd.randint(1, 10),
        "team_id": rnd.choice(fixture.team_ids),
        "labels": rnd.sample(WORDS, 2),
    }


def _request_body(rnd: random.Random) -> dict[str, Any]:
    return {
        "title": _text(rnd, 6),
        "description": _text(rnd, 80),
        "business_goal": _text(rnd, 20),
        "business_value": rnd.randint(1, 10),
        "time_criticality": rnd.randint(1, 10),
        "department": "E-commerce",
    }
