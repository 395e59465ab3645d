"""Teams: who delivers, how much a sprint may hold, and how much stability risk."""

from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.errors import Conflict, NotFound, UnprocessableEntity
from app.core.events import diff, record_event
from app.core.pagination import page_of, row_limit
from app.core.schemas import reject_nulls
from app.teams.models import Team, TeamMember
from app.teams.schemas import TeamCreate, TeamUpdate
from app.users.models import Role, User
from app.users.service import ensure_role

FIELDS = ("name", "default_capacity_points", "stability_budget", "timezone")


class TeamNameTaken(Conflict):
    slug, title = "name-taken", "Name already taken"


def _snapshot(team: Team) -> dict[str, Any]:
    return {name: getattr(team, name) for name in FIELDS} | {"members": team.member_ids}


async def get_team(session: AsyncSession, *, team_id: int) -> Team:
    team = await session.get(Team, team_id, populate_existing=True)
    if team is None:
        raise NotFound("team", team_id)
    return team


async def _check_members(session: AsyncSession, user_ids: list[int]) -> list[int]:
    unique = list(dict.fromkeys(user_ids))
    if unique:
        found = set(await session.scalars(select(User.id).where(User.id.in_(unique))))
        if missing := [user_id for user_id in unique if user_id not in found]:
            raise UnprocessableEntity(
                "Some members are not users.",
                errors=[
                    {"loc": ["body", "members"], "msg": f"no user {user_id}"} for user_id in missing
                ],
            )
    return unique


async def _flush_unique(session: AsyncSession, team: Team) -> None:
    """Flush in a savepoint: a name clash undoes (and expunges) only this team."""
    name = team.name
    try:
        async with session.begin_nested():
            session.add(team)
            await session.flush()
    except IntegrityError as exc:
        raise TeamNameTaken(f"A team named {name!r} already exists.") from exc


async def create_team(session: AsyncSession, *, data: TeamCreate, actor: User) -> Team:
    ensure_role(actor, Role.IT, Role.ADMIN)
    members = await _check_members(session, data.members)
    team = Team(**data.model_dump(exclude={"members"}))
    team.members = [TeamMember(user_id=user_id) for user_id in members]
    await _flush_unique(session, team)
    record_event(
        session,
        type="team.created",
        entity="team",
        entity_id=team.id,
        actor_id=actor.id,
        data={"before": {}, "after": _snapshot(team)},
    )
    return team


async def update_team(session: AsyncSession, *, team: Team, data: TeamUpdate, actor: User) -> Team:
    ensure_role(actor, Role.IT, Role.ADMIN)
    changes = data.model_dump(exclude_unset=True)
    reject_nulls(changes, changes)
    before = _snapshot(team)
    if "members" in changes:
        members = await _check_members(session, changes.pop("members"))
        team.members = [TeamMember(user_id=user_id) for user_id in members]
        team.updated_at = utcnow()  # members live in their own table: bump the team's version
    for name, value in changes.items():
        setattr(team, name, value)
    await _flush_unique(session, team)
    if (change := diff(before, _snapshot(team)))["after"]:
        record_event(
            session,
            type="team.updated",
            entity="team",
            entity_id=team.id,
            actor_id=actor.id,
            data=change,
        )
    return team


async def list_teams(
    session: AsyncSession, *, limit: int, after_id: int | None
) -> tuple[list[Team], int | None]:
    query = select(Team).order_by(Team.id).limit(row_limit(limit + 1))
    if after_id is not None:
        query = query.where(Team.id > after_id)
    teams, last = page_of(list(await session.scalars(query)), limit)
    return teams, last.id if last else None


# Built once; `team_id` is its parameter (backlog/service.py adds a column to it).
TEAM_COUNT = select(func.count()).where(Team.id == bindparam("team_id"))


async def team_exists(session: AsyncSession, team_id: int) -> bool:
    return bool(await session.scalar(TEAM_COUNT, {"team_id": team_id}))
