"""Property: whatever cursor and however spelled numbers reach a list route, the answer is no
5xx but the rule's: `400 invalid-cursor` for a cursor the service did not issue or one altered,
`422` for a number not written [0-9], `401` first without a token. Every cursor-paginated GET
of the route table is tried (and the backlog page with `sprint_id`, the fast lane's on
PostgreSQL), on both databases. `BB_PROPERTY_EXAMPLES` sets the examples per database."""

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import AsyncClient
from app.core.pagination import cursor_key, encode_cursor, use_cursor_key
from app.main import create_app
from app.sync.models import Integration, TrackerKind
from app.users.models import Role
from tests.builders import make_item, make_request, make_user
from tests.conftest import LoginAs

EXAMPLES = int(os.environ.get("BB_PROPERTY_EXAMPLES", "300"))
_SPEC = create_app().openapi()


@dataclass(frozen=True)
class ListRoute:
    path: str
    cursor: str  # the name of its cursor parameter
    numbers: tuple[str, ...]  # its integer query parameters
    fixed: tuple[tuple[str, str], ...] = ()


def _list_routes() -> list[ListRoute]:
    routes = []
    for path, item in _SPEC["paths"].items():
        params = item.get("get", {}).get("parameters", [])
        names = {p["name"] for p in params if p["in"] == "query"}
        cursor = next((name for name in ("cursor", "after") if name in names), None)
        if cursor is not None:
            ints = [p["name"] for p in params if p["in"] == "query" and "integer" in str(p)]
            routes.append(ListRoute(path, cursor, tuple(ints)))
    page = ListRoute("/api/v1/items", "cursor", ("sprint_id", "team_id", "limit"))
    backlog = ListRoute("/api/v1/items", "cursor", ("team_id", "limit"), (("sprint_id", "none"),))
    return [*sorted(routes, key=lambda r: r.path), page, backlog]


LIST_ROUTES = _list_routes()
_DIGITS = re.compile(r"[0-9]+")
# Zeros of other scripts' digits (Arabic-Indic, Devanagari, fullwidth, mathematical bold...)
_ZEROS = ["\u0660", "\u06f0", "\u0966", "\u09e6", "\uff10", "\U0001d7ce", "\u0e50"]
_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _respelled(number: int, how: str) -> str:
    text = str(number)
    if how in _ZEROS:
        return "".join(chr(ord(how) + int(d)) for d in text)
    spellings = {
        "ascii": text,
        "superscript": text.translate(_SUPERSCRIPTS),
        "plus": f"+{text}",
        "minus": f"-{text}",
        "space": f" {text}",
        "trailing space": f"{text} ",
        "float": f"{text}.0",
        "underscore": f"{text[0]}_{text[1:] or '0'}",
    }
    return spellings[how]


ODD_SPELLINGS = st.sampled_from(
    [*_ZEROS, "superscript", "plus", "minus", "space", "trailing space", "float", "underscore"]
)
# Numbers in [0-9] but at most one (of up to four: path id and query numbers) spelled oddly
NUMBERS = st.tuples(
    st.lists(st.integers(1, 200), min_size=4, max_size=4),
    st.one_of(st.none(), st.none(), st.tuples(st.integers(0, 3), ODD_SPELLINGS)),
).map(lambda drawn: [
    (n, drawn[1][1] if drawn[1] is not None and i == drawn[1][0] else "ascii")
    for i, n in enumerate(drawn[0])
])  # fmt: skip
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
ODD_TEXT = st.sampled_from(
    ["a\x00", "\ud800", "a\udfff", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-23:59",
     "2026-01-01T00:00:00", "2026-13-01", "", "\u0663"]
)  # fmt: skip
INTS = st.integers() | st.sampled_from([0, -1, 2**31, 2**63, 2**64, -(2**63) - 1])
VALUES = st.recursive(
    st.none() | st.booleans() | INTS | st.floats() | TEXT | ODD_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
SORT_NAMES = st.sampled_from(["rank", "wsjf", "created_at", "updated_at", "title", "id"]) | TEXT
ANY_POSITION = st.fixed_dictionaries(
    {},
    optional={"s": SORT_NAMES, "v": VALUES, "i": INTS | VALUES, "id": INTS | VALUES, "t": INTS},
)
IDS = st.integers(0, 2**31 - 1)
MOMENTS = st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat)
# Positions like those the service issues (by id; items by rank; requests by creation; the
# feed), so that signed ones are also pages, and altered ones were nearly right
LIKE_ISSUED = st.one_of(
    st.fixed_dictionaries({"id": IDS}),
    st.fixed_dictionaries(
        {"s": st.just("rank"), "v": st.text("0123456789az", max_size=6), "i": IDS}
    ),
    st.fixed_dictionaries({"s": st.just("created_at"), "v": MOMENTS | ODD_TEXT, "i": IDS}),
    st.fixed_dictionaries({"t": st.integers(0, 2**40), "i": st.integers(0, 2**40)}),
)
POSITIONS = LIKE_ISSUED | ANY_POSITION


@dataclass(frozen=True)
class DrawnCursor:
    kind: str  # "signed": a position signed with the app's key; "altered": one changed; "text"
    position: dict[str, Any]
    text: str  # the cursor for "text"; what "grow" inserts for "altered"
    how: str  # for "altered": flip a character, cut the end, grow, or drop the signature
    at: int


CURSORS = st.builds(
    DrawnCursor,
    kind=st.sampled_from(["signed", "altered", "text"]),
    position=POSITIONS,
    text=TEXT | st.text(st.sampled_from("AZaz09-_.="), max_size=80),
    how=st.sampled_from(["flip", "cut", "grow", "untag"]),
    at=st.integers(0, 10**6),
)


def _cursor(drawn: DrawnCursor) -> str:
    """The cursor to send (signed with the key in use, the app's)."""
    if drawn.kind == "text":
        return drawn.text
    signed = encode_cursor(drawn.position)
    if drawn.kind == "signed":
        return signed
    at = drawn.at % len(signed)
    if drawn.how == "flip":
        return signed[:at] + ("B" if signed[at] == "A" else "A") + signed[at + 1 :]
    if drawn.how == "cut":
        return signed[:at]
    if drawn.how == "grow":
        return signed[:at] + (drawn.text or "A") + signed[at:]
    return signed.split(".")[0]  # as cursors were before they were signed


@pytest.fixture
async def admin(login_as: LoginAs) -> dict[str, str]:
    return await login_as(Role.ADMIN)


@pytest.fixture
async def path_ids(session: AsyncSession) -> dict[str, int]:
    """Resources for the list routes with an id in their path (their 404 is not the subject
    here: the cursor and the numbers are)."""
    requester, _ = await make_user(session, role=Role.MARKETING)
    integration = Integration(
        kind=TrackerKind.GITHUB, name="repo", base_url="https://api.github.com",
        repository="acme/web",
    )  # fmt: skip
    session.add(integration)
    await session.flush()
    return {
        "request_id": (await make_request(session, requester=requester)).id,
        "item_id": (await make_item(session)).id,
        "integration_id": integration.id,
    }


def _url(
    route: ListRoute, path_ids: dict[str, int], numbers: list[tuple[int, str]], cursor: str
) -> tuple[str, list[str]]:
    """The route's URL with the cursor, its path ids and integer query parameters spelled as
    drawn; and those spellings."""
    path, query = route.path, dict(route.fixed)
    slots, spelled = iter(numbers), []
    for name, real in path_ids.items():
        if f"{{{name}}}" in path:
            spelled.append(_respelled(real, next(slots)[1]))
            path = path.replace(f"{{{name}}}", spelled[-1])
    for name in route.numbers:
        query[name] = _respelled(*next(slots))
        spelled.append(query[name])
    query[route.cursor] = cursor
    return str(httpx.URL(path, params=query)), spelled


def _allowed(
    drawn: DrawnCursor, cursor: str, token: bool, spelled: list[str]
) -> set[tuple[int, str]]:
    """The answers the rules allow: (status, problem slug), slug "" for a 200."""
    if "\x00" in cursor:
        return {(400, "bad-request")}  # refused before any route runs, as NUL anywhere
    if not token:
        return {(401, "unauthorized")}
    if not all(_DIGITS.fullmatch(number) for number in spelled):
        return {(422, "validation-error")}
    if drawn.kind == "signed":  # the service's signature: its values are checked by type
        return {(400, "invalid-cursor"), (200, "")}
    return {(400, "invalid-cursor")}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.sampled_from(LIST_ROUTES),
    drawn=CURSORS,
    numbers=NUMBERS,
    token=st.sampled_from([True, True, True, False]),
)
async def test_list_routes_answer_altered_cursors_and_odd_numbers_by_the_rules(
    api: AsyncClient,
    app: FastAPI,
    admin: dict[str, str],
    path_ids: dict[str, int],
    route: ListRoute,
    drawn: DrawnCursor,
    numbers: list[tuple[int, str]],
    token: bool,
) -> None:
    use_cursor_key(cursor_key(app.state.secret_box))  # sign as the app does
    cursor = _cursor(drawn)
    url, spelled = _url(route, path_ids, numbers, cursor)
    resp = await api.get(url, headers=admin if token else {})
    assert resp.status_code < 500, (url, resp.text)
    slug = resp.json()["type"].removeprefix("/problems/") if resp.status_code >= 400 else ""
    event(f"{drawn.kind} cursor: {resp.status_code} {slug}")  # --hypothesis-show-statistics
    assert (resp.status_code, slug) in _allowed(drawn, cursor, token, spelled), (url, resp.text)
