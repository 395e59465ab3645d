"""The backlog page through the fast lane (PostgreSQL): one round trip, JSON without a model.

The page users open most, the backlog (`sprint_id=none`, perhaps one team's) or a sprint's
items in rank order, cost through the ORM about 4 ms of CPU, most of it in SQLAlchemy and in
validating 50 `ItemOut`s built from valid rows. Here one statement checks the caller's token
(and counts the call), reads the page with its epic roll-ups and tracker links, and returns the
columns in `ItemOut`'s order, so that orjson writes them out as Pydantic would; the fields that
are not columns are computed in SQL from the same rules. `tests/backlog/test_page_lane.py`
holds this path and the ORM's (`service.list_items`) to the same bytes.
"""

from dataclasses import dataclass
from functools import cache
from operator import itemgetter
from typing import Any

import asyncpg
import orjson

from app.backlog.models import REVIEW_CLASSIFICATION, REVIEW_IMPACTS, BacklogItem
from app.backlog.schemas import ItemOut
from app.backlog.service import SORTS
from app.core.fastlane import FastLane
from app.core.pagination import Keyset
from app.users import lane as lane_auth

_KEYSET = Keyset.parse("rank", SORTS, tie_breaker=BacklogItem.id)
_IMPACTS = ", ".join(f"'{impact}'" for impact in REVIEW_IMPACTS)
_LINK_FIELDS = ("id", "integration_id", "remote_key", "url", "sync_state", "last_synced_at")
# `ItemOut`'s fields in its order; those that are not plain columns are computed here.
_COMPUTED = {
    "key": "'BB-' || i.id",
    "security_review_required": (
        f"coalesce(i.security_impact IN ({_IMPACTS}) "
        f"OR i.data_classification = '{REVIEW_CLASSIFICATION}' "
        "OR (i.personal_data AND i.external_exposure), false)"
    ),
    "rollup_points": (
        "CASE WHEN i.type = 'epic' THEN (SELECT coalesce(sum(c.story_points), 0) "
        "FROM backlog_items AS c WHERE c.parent_id = i.id) END"
    ),
    "links": (
        f"ARRAY(SELECT ROW({', '.join(f'l.{field}' for field in _LINK_FIELDS)}) "
        "FROM item_links AS l WHERE l.item_id = i.id ORDER BY l.id)"
    ),
}
_FIELDS = tuple(ItemOut.model_fields)
_SELECTED = ", ".join(_COMPUTED.get(name, f"i.{name}") for name in _FIELDS)
_ID, _RANK, _LINKS = (_FIELDS.index(name) for name in ("id", "rank", "links"))


def check_cursor(cursor: str | None) -> None:
    """Raise `InvalidCursor` for a cursor `read` would refuse."""
    if cursor is not None:
        _KEYSET.decode(cursor)


@cache
def _sql(*, counted: bool, in_sprint: bool, of_team: bool, after: bool, rows: int) -> str:
    """The page query for one shape of filters, behind the caller's check: no row for a bad
    token, else the page's rows, in no particular order (or one row of nulls: an empty page),
    each ending in the caller's rate-limit count.

    The row count is written into the text, not passed: with `LIMIT $n` PostgreSQL's generic
    plan expects a tenth of the table, so it planned every call afresh (0.4 ms, a third of
    the statement). The rows are sorted by the caller: a sort here cost more than in Python."""
    first = 4 + counted  # $1.. are the viewer's, then the filters
    placeholders = (f"${n}" for n in range(first, first + 4))
    where = [f"i.sprint_id = {next(placeholders)}" if in_sprint else "i.sprint_id IS NULL"]
    if of_team:
        where.append(f"i.team_id = {next(placeholders)}")
    if after:  # keyset: the rows after the cursor's (rank, id)
        where.append(f"(i.rank, i.id) > ({next(placeholders)}, {next(placeholders)})")
    return f"""{lane_auth.viewer_sql(counted=counted)}
        SELECT p.*, {lane_auth.hits_sql(counted=counted)} AS hits
        FROM viewer LEFT JOIN (
            SELECT {_SELECTED} FROM backlog_items AS i
            WHERE {" AND ".join(where)}
            ORDER BY i.rank, i.id
            LIMIT {rows:d}
        ) AS p ON true"""


@dataclass(frozen=True)
class Answer:
    body: bytes  # `Page[ItemOut]` as JSON
    next_cursor: str | None
    hits: int | None  # the caller's count in its rate-limit window (None: not counted)


async def read(
    lane: FastLane,
    *,
    secret: str,
    window_start: int | None,
    filters: dict[str, Any],
    limit: int,
    cursor: str | None,
) -> Answer | None:
    """The page for the caller with this token (None: not a valid token), in one round trip
    that also touches the token and counts the call (`app/users/lane.py`)."""
    sprint_id, team_id = filters.get("sprint_id"), filters.get("team_id")
    args = lane_auth.viewer_args(secret=secret, window_start=window_start)
    args += [sprint_id] if sprint_id is not None else []
    args += [team_id] if team_id is not None else []
    if cursor is not None:
        args += _KEYSET.decode(cursor)
    shape = {"in_sprint": sprint_id is not None, "of_team": team_id is not None}
    sql = _sql(counted=window_start is not None, after=cursor is not None, rows=limit + 1, **shape)
    rows = await lane.fetch(sql, *args)
    if not rows:
        return None
    hits = rows[0]["hits"]
    if rows[0][_ID] is None:  # the outer join's row of nulls: an empty page
        rows = []
    rows.sort(key=itemgetter(_RANK, _ID))  # str order is code point order: "C" order of UTF-8
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _KEYSET.encode_position(rows[-1][_RANK], rows[-1][_ID])
    page = {"items": [_item(row) for row in rows], "next_cursor": next_cursor}
    return Answer(orjson.dumps(page, option=orjson.OPT_UTC_Z), next_cursor, hits)


def _item(row: asyncpg.Record) -> dict[str, Any]:
    item = dict(zip(_FIELDS, row, strict=False))  # the row ends in `hits`, not an item field
    if links := row[_LINKS]:
        item["links"] = [dict(zip(_LINK_FIELDS, link, strict=True)) for link in links]
    return item
