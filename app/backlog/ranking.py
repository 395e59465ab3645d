"""Backlog order as fractional keys: a move writes one row; a rare, bounded rebalance a few.

Each backlog (a team's, or the team-less one) orders its items by `rank`, a base-62 key
compared byte by byte. A new key is generated between the two neighbours of the target
position, so nothing else moves. Repeated inserts at one spot make keys grow; past
`MAX_RANK_LENGTH` the `REBALANCE_WINDOW` items on each side of the spot get evenly spread keys.
"""

from functools import cache
from typing import Any, Literal

from fractional_indexing import generate_key_between, generate_n_keys_between
from sqlalchemy import ColumnElement, Integer, Select, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.backlog.models import BacklogItem
from app.core.db import on_postgresql
from app.core.pagination import row_limit

MAX_RANK_LENGTH = 48
REBALANCE_WINDOW = 16
Position = Literal["top", "bottom"]
BACKLOG_LOCKS = 0x6262  # advisory-lock namespace ("bb") of backlog ranking on PostgreSQL


_HELD = "ranking.backlogs_locked"  # session.info: (transaction, backlogs it has locked)


def backlog_lock(backlog: ColumnElement[int] | InstrumentedAttribute[int]) -> ColumnElement[Any]:
    """`lock_backlog` as a column, to take the lock in a statement that reads the item."""
    return func.pg_advisory_xact_lock(BACKLOG_LOCKS, backlog)


_LOCK = select(backlog_lock(bindparam("backlog", type_=Integer)))


def _locked(session: AsyncSession) -> set[int]:
    """The backlogs whose lock the session's current transaction holds. The innermost one: a
    savepoint rolled back releases the locks taken in it (forgetting some only costs a
    statement)."""
    sync = session.sync_session
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    held = session.info.get(_HELD)
    if held is None or held[0] is not transaction:
        held = session.info[_HELD] = (transaction, set())
    locked: set[int] = held[1]
    return locked


def note_locked(session: AsyncSession, backlog: int) -> None:
    """Record a lock taken by a statement of the caller's (`backlog_lock`)."""
    _locked(session).add(backlog)


async def lock_backlog(session: AsyncSession, backlog: int) -> None:
    """Rank writers of one backlog take turns until they commit (PostgreSQL; SQLite has one
    writer anyway): every writer takes this before it reads the neighbours it ranks between.
    Without it, concurrent appends compute the same key and all but one fail on the unique
    (backlog, rank) index, which stays the arbiter (a 409 there would be a missing lock).
    Once per transaction: a lock already taken is not asked for again."""
    if on_postgresql(session) and backlog not in _locked(session):
        await session.execute(_LOCK, {"backlog": backlog})
        note_locked(session, backlog)


@cache
def _neighbour_query(*, beyond: bool, below: bool, excluding: bool) -> Select[str]:
    """The statement for one kind of neighbour, built once (building it cost as much CPU as
    running it): the first rank of a backlog from one end, or `beyond` a given rank."""
    query = select(BacklogItem.rank).where(BacklogItem.backlog == bindparam("backlog"))
    if excluding:
        query = query.where(BacklogItem.id != bindparam("exclude"))
    if beyond:
        rank = bindparam("rank", type_=BacklogItem.rank.type)
        query = query.where(BacklogItem.rank < rank if below else BacklogItem.rank > rank)
    order = BacklogItem.rank.desc() if below else BacklogItem.rank.asc()
    return query.order_by(order).limit(row_limit(1))


async def _neighbour(
    session: AsyncSession, *, backlog: int, rank: str | None, below: bool, exclude: int | None
) -> str | None:
    """The rank just below (or above) `rank` in a backlog, skipping the item being moved."""
    query = _neighbour_query(beyond=rank is not None, below=below, excluding=exclude is not None)
    found: str | None = await session.scalar(
        query, {"backlog": backlog, "rank": rank, "exclude": exclude}
    )
    return found


async def rank_at(
    session: AsyncSession,
    *,
    backlog: int,
    position: Position | None = None,
    before: BacklogItem | None = None,
    after: BacklogItem | None = None,
    moving: int | None = None,
) -> str:
    """A key for a slot: top, bottom, just before `before` or just after `after`."""
    if before is not None:
        low = await _neighbour(
            session, backlog=backlog, rank=before.rank, below=True, exclude=moving
        )
        high: str | None = before.rank
    elif after is not None:
        low = after.rank
        high = await _neighbour(
            session, backlog=backlog, rank=after.rank, below=False, exclude=moving
        )
    elif position == "top":
        low = None
        high = await _neighbour(session, backlog=backlog, rank=None, below=False, exclude=moving)
    else:
        low = await _neighbour(session, backlog=backlog, rank=None, below=True, exclude=moving)
        high = None
    key: str = generate_key_between(low, high)
    if len(key) > MAX_RANK_LENGTH:
        key = await _rebalance_around(session, backlog=backlog, low=low, high=high, moving=moving)
    return key


async def _rebalance_around(
    session: AsyncSession, *, backlog: int, low: str | None, high: str | None, moving: int | None
) -> str:
    """Respread the keys of up to 2 x REBALANCE_WINDOW items around a crowded gap.

    Returns the key for the gap itself. Items get temporary keys first, so the unique
    (backlog, rank) constraint never sees two items share a key mid-way.
    """
    below = [] if low is None else (await _side(session, backlog, low, moving, below=True))
    above = [] if high is None else (await _side(session, backlog, high, moving, below=False))
    # The outermost rows stay put and bound the window (unless the window reaches an end).
    lower_bound = below.pop(0).rank if len(below) > REBALANCE_WINDOW else None
    upper_bound = above.pop().rank if len(above) > REBALANCE_WINDOW else None
    window = [row.id for row in below] + [None] + [row.id for row in above]
    keys: list[str] = generate_n_keys_between(lower_bound, upper_bound, len(window))
    movers = [item_id for item_id in window if item_id is not None]
    for item_id in movers:
        await _set_rank(session, item_id, f"~rebalancing-{item_id}")
    for item_id, key in zip(window, keys, strict=True):
        if item_id is not None:
            await _set_rank(session, item_id, key)
    return keys[window.index(None)]


async def _side(
    session: AsyncSession, backlog: int, edge: str, moving: int | None, *, below: bool
) -> list[Any]:
    """Up to REBALANCE_WINDOW + 1 rows from `edge` outwards, in rank order."""
    query = select(BacklogItem.id, BacklogItem.rank).where(BacklogItem.backlog == backlog)
    if moving is not None:
        query = query.where(BacklogItem.id != moving)
    if below:
        query = query.where(BacklogItem.rank <= edge).order_by(BacklogItem.rank.desc())
    else:
        query = query.where(BacklogItem.rank >= edge).order_by(BacklogItem.rank.asc())
    rows = list((await session.execute(query.limit(row_limit(REBALANCE_WINDOW + 1)))).all())
    return rows[::-1] if below else rows


async def _set_rank(session: AsyncSession, item_id: int, rank: str) -> None:
    # Core UPDATE without the version bump: a rebalance is not a change anyone made to the item.
    await session.execute(
        update(BacklogItem)
        .where(BacklogItem.id == item_id)
        .values(rank=rank)
        .execution_options(synchronize_session="fetch")
    )
