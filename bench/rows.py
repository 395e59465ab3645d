"""Realistic rows for the benchmark database, generated without the ORM (1M items in seconds).

Pure functions of a seeded `random.Random`: the same seed and N give the same database.
Rows are tuples in the column order of `REQUEST_COLUMNS` / `ITEM_COLUMNS`, ready for
asyncpg's `copy_records_to_table` (or an `executemany` INSERT on SQLite).
"""

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from fractional_indexing import generate_n_keys_between

from app.backlog.models import STORY_POINTS, ItemStatus, ItemType
from app.requests.models import DataClassification, Impact, RequestStatus
from app.sprints.models import SprintState

T = TypeVar("T")
TEAM_NAMES = ("Checkout", "Growth", "CRM", "Platform", "Apps")
SPRINTS_PER_TEAM = 12  # the last two weeks each: ten closed, one active, one planned
SPRINT_DAYS = 14
SPRINT_SHARE = 0.10  # of all items (at most 1 - TEAMLESS_SHARE: only team items are in sprints)
SPRINT_ITEMS = 40  # at most, whatever N: a real sprint's size does not grow with the backlog
TEAMLESS_SHARE = 0.15
DEPARTMENTS = ("Brand", "E-commerce", "CRM", "Customer Service")
YEAR = timedelta(days=365)

REQUEST_COLUMNS = (
    "id", "title", "description", "business_goal", "kpi", "business_value", "time_criticality",
    "target_date", "budget_minor", "budget_currency", "department", "requester_id", "status",
    "rejection_reason", "submitted_at", "assessment_version", "current_review_id", "created_at",
    "updated_at", "version",
)  # fmt: skip
SPRINT_COLUMNS = (
    "id", "team_id", "name", "goal", "start_date", "end_date", "state", "capacity_points",
    "committed_points", "completed_points", "started_at", "closed_at", "created_at",
    "updated_at", "version",
)  # fmt: skip
ITEM_COLUMNS = (
    "id", "type", "title", "description", "acceptance_criteria", "status", "story_points",
    "business_value", "time_criticality", "risk_reduction", "wsjf", "stability_impact",
    "security_impact", "data_classification", "personal_data", "external_exposure",
    "security_cleared", "request_id", "parent_id", "team_id", "sprint_id", "assignee_id",
    "labels", "backlog", "rank", "target", "created_at", "updated_at", "version",
)  # fmt: skip

VERBS = (
    "Add", "Improve", "Fix", "Migrate", "Redesign", "Automate", "Track", "Localise", "Split",
    "Speed up", "Secure", "Remove", "Replace", "Expose", "Validate", "Archive", "Personalise",
)  # fmt: skip
OBJECTS = (
    "consent banner", "checkout flow", "newsletter sign-up", "loyalty points export",
    "product feed", "campaign landing page", "CRM sync", "order confirmation e-mail",
    "search results", "customer service chat", "returns portal", "A/B test framework",
    "price alert", "gift card balance check", "address autocomplete", "SSO login",
    "marketing dashboard", "UTM tracking", "cookie wall", "recommendation widget",
)  # fmt: skip
CONTEXTS = (
    "on mobile", "for the Belgian shop", "in the app", "for B2B customers", "before Black Friday",
    "for guest users", "in the back office", "for the spring campaign", "behind a feature flag",
    "for screen readers", "in Dutch and French", "for returning customers",
)  # fmt: skip
SENTENCES = (
    "Marketing expects a measurable lift in conversion once this is live.",
    "The current implementation times out under peak load.",
    "Legal asked us to keep an audit trail of every change.",
    "Customer service receives about forty tickets a week about this.",
    "The data is owned by the CRM team and synced nightly.",
    "We need the vendor's API key before we can start.",
    "Design has delivered mock-ups for desktop and mobile.",
    "This touches personal data, so the privacy officer must sign off.",
    "A first version may leave out the edge cases for gift cards.",
    "Performance budget: the page must stay under two seconds on 4G.",
    "The old endpoint stays available for one release for the apps.",
    "Analytics events follow the existing naming convention.",
    "Rollback is a feature flag switch; no data migration is involved.",
    "Depends on the payment provider's new webhook format.",
    "Copy will be provided by the Brand team in both languages.",
)  # fmt: skip
CRITERIA = (
    "Works on the latest two versions of every major browser",
    "Events appear in the analytics dashboard within five minutes",
    "Error states show a helpful message and are logged",
    "Copy is reviewed by Brand",
    "Accessible with keyboard only",
    "No personal data is written to logs",
    "Load test at twice the peak traffic passes",
)  # fmt: skip
LABELS = (
    "checkout", "gdpr", "seo", "crm", "performance", "mobile", "tech-debt", "accessibility",
    "analytics", "payments", "b2b", "campaign", "security", "ux", "api", "search", "email",
    "loyalty", "i18n", "infra",
)  # fmt: skip


@dataclass(frozen=True)
class People:
    marketing: Sequence[int]
    it: Sequence[int]


def compute_wsjf(
    points: int | None, parts: tuple[int | None, int | None, int | None]
) -> float | None:
    """`app.backlog.models.compute_wsjf` on plain values (generate.py checks they agree)."""
    if not points or all(part is None for part in parts):
        return None
    return round(sum(part or 0 for part in parts) / points, 4)


def _maybe(rnd: random.Random, share: float, value: T) -> T | None:
    return value if rnd.random() < share else None


def _score(rnd: random.Random) -> int | None:
    return _maybe(rnd, 0.7, rnd.randint(1, 10))


def _spread(rnd: random.Random, now: datetime) -> tuple[datetime, datetime]:
    """A creation time in the past year and a later last update."""
    created = now - YEAR * rnd.random()
    return created, created + (now - created) * rnd.random()


def description_pool(rnd: random.Random, size: int = 2000) -> list[str]:
    return [" ".join(rnd.sample(SENTENCES, rnd.randint(2, 6))) for _ in range(size)]


def _sprint_state(n: int) -> SprintState:
    if n < SPRINTS_PER_TEAM - 2:
        return SprintState.CLOSED
    return SprintState.ACTIVE if n == SPRINTS_PER_TEAM - 2 else SprintState.PLANNED


def sprint_rows(
    rnd: random.Random, *, teams: Sequence[int], now: datetime
) -> tuple[list[tuple[Any, ...]], dict[int, list[tuple[int, SprintState]]]]:
    """Per team: ten closed two-week sprints, the active one, the next (planned) one."""
    rows: list[tuple[Any, ...]] = []
    by_team: dict[int, list[tuple[int, SprintState]]] = {}
    for team in teams:
        for n in range(SPRINTS_PER_TEAM):
            sprint_id, state = len(rows) + 1, _sprint_state(n)
            start = now.date() + timedelta(days=SPRINT_DAYS * (n - SPRINTS_PER_TEAM + 2) - 3)
            began = datetime.combine(start, datetime.min.time(), now.tzinfo)
            closed = began + timedelta(days=SPRINT_DAYS) if state is SprintState.CLOSED else None
            committed = None if state is SprintState.PLANNED else rnd.randint(30, 60)
            completed = committed - rnd.randint(0, 10) if committed and closed else None
            rows.append((
                sprint_id, team, f"Sprint {n + 1}", "Ship what marketing needs next", start,
                start + timedelta(days=SPRINT_DAYS - 1), state.value, 50, committed, completed,
                None if state is SprintState.PLANNED else began, closed,
                began - timedelta(days=7), closed or began, 1,
            ))  # fmt: skip
            by_team.setdefault(team, []).append((sprint_id, state))
    return rows, by_team


def request_rows(
    rnd: random.Random, *, count: int, people: People, now: datetime
) -> list[tuple[Any, ...]]:
    statuses = list(RequestStatus)
    rows = []
    descriptions = description_pool(rnd, 200)
    for request_id in range(1, count + 1):
        created, updated = _spread(rnd, now)
        status = rnd.choice(statuses)
        submitted = None if status is RequestStatus.DRAFT else created + (updated - created) / 3
        rows.append((
            request_id, f"{rnd.choice(VERBS)} {rnd.choice(OBJECTS)} {rnd.choice(CONTEXTS)}",
            rnd.choice(descriptions), "Grow repeat purchases", "Conversion rate",
            _score(rnd), _score(rnd),
            _maybe(rnd, 0.5, date.today() + timedelta(days=rnd.randint(30, 300))),
            _maybe(rnd, 0.6, rnd.randint(5, 500) * 100_000), "EUR", rnd.choice(DEPARTMENTS),
            rnd.choice(people.marketing), status.value,
            "Out of scope this year" if status is RequestStatus.REJECTED else None,
            submitted, 0, None, created, updated, 1,
        ))  # fmt: skip
    return rows


@dataclass
class Layout:
    """Per item (index = id - 1): its team, type and rank; epics per backlog for parent links."""

    teams: list[int | None]
    types: list[ItemType]
    ranks: list[str]
    epics: dict[int, list[int]]


def layout(rnd: random.Random, n: int, *, team_ids: Sequence[int]) -> Layout:
    """Teams and types first, then ranks: each backlog's keys in a shuffled order of its items."""
    share = (1 - TEAMLESS_SHARE) / len(team_ids)
    teams: list[int | None] = rnd.choices(
        [*team_ids, None], [share] * len(team_ids) + [TEAMLESS_SHARE], k=n
    )
    kinds = [ItemType.STORY, ItemType.TASK, ItemType.BUG, ItemType.SPIKE, ItemType.EPIC]
    types = rnd.choices(kinds, [55, 20, 15, 8, 2], k=n)
    members: dict[int, list[int]] = {}
    epics: dict[int, list[int]] = {}
    for index, team in enumerate(teams):
        members.setdefault(team or 0, []).append(index)
        if types[index] is ItemType.EPIC:
            epics.setdefault(team or 0, []).append(index + 1)
    ranks = [""] * n
    for indexes in members.values():
        rnd.shuffle(indexes)  # rank order is not creation order
        for index, key in zip(
            indexes, generate_n_keys_between(None, None, len(indexes)), strict=True
        ):
            ranks[index] = key
    return Layout(teams, types, ranks, epics)


def _status(rnd: random.Random, sprint: SprintState | None) -> ItemStatus:
    if sprint is SprintState.CLOSED:  # unfinished items were carried over at the close
        return ItemStatus.DONE
    if sprint is SprintState.PLANNED:
        return ItemStatus.READY
    if sprint is SprintState.ACTIVE:
        working = [ItemStatus.READY, ItemStatus.IN_PROGRESS, ItemStatus.IN_REVIEW, ItemStatus.DONE]
        return rnd.choices(working, (20, 35, 15, 30))[0]
    backlog = [ItemStatus.NEW, ItemStatus.READY, ItemStatus.DONE, ItemStatus.CANCELLED,
               ItemStatus.IN_PROGRESS]  # fmt: skip
    return rnd.choices(backlog, (55, 25, 12, 5, 3))[0]


def _impact(rnd: random.Random) -> str | None:
    levels = [level.value for level in Impact]
    return _maybe(rnd, 0.6, rnd.choices(levels, (30, 35, 20, 10, 5))[0])


def item_rows(
    rnd: random.Random,
    *,
    plan: Layout,
    sprints: dict[int, list[tuple[int, SprintState]]],
    people: People,
    request_ids: Sequence[int],
    now: datetime,
    sprint_share: float = SPRINT_SHARE,
    sprint_items: int = SPRINT_ITEMS,
) -> Iterator[tuple[Any, ...]]:
    """One tuple per item, lazily (COPY streams them; 1M tuples at once would be ~1 GB)."""
    descriptions = description_pool(rnd)
    sprint_odds = sprint_share / (1 - TEAMLESS_SHARE)  # only team items are in sprints
    held = {sprint: 0 for team_sprints in sprints.values() for sprint, _ in team_sprints}
    points_choices = STORY_POINTS[1:8]
    classifications = [c.value for c in DataClassification]
    for index, (team, kind, rank) in enumerate(
        zip(plan.teams, plan.types, plan.ranks, strict=True)
    ):
        sprint, state = None, None
        if team is not None and rnd.random() < sprint_odds:
            sprint, state = rnd.choice(sprints[team])
            if held[sprint] >= sprint_items:  # a sprint holds what a team can do in two weeks
                sprint, state = None, None
            else:
                held[sprint] += 1
        status = _status(rnd, state)
        points = _maybe(rnd, 0.75, rnd.choice(points_choices))
        parts = (_score(rnd), _score(rnd), _score(rnd))
        security = _impact(rnd)
        classification = _maybe(rnd, 0.5, rnd.choice(classifications))
        personal, exposed = rnd.random() < 0.15, rnd.random() < 0.1
        review = (
            security in ("high", "critical")
            or classification == "restricted"
            or (personal and exposed)
        )
        epics = plan.epics.get(team or 0, [])
        parent = (
            rnd.choice(epics)
            if epics and kind is not ItemType.EPIC and rnd.random() < 0.3
            else None
        )
        working = status in (ItemStatus.IN_PROGRESS, ItemStatus.IN_REVIEW, ItemStatus.DONE)
        created, updated = _spread(rnd, now)
        yield (
            index + 1, kind.value,
            f"{rnd.choice(VERBS)} {rnd.choice(OBJECTS)} {rnd.choice(CONTEXTS)}",
            rnd.choice(descriptions), json.dumps(rnd.sample(CRITERIA, rnd.randint(0, 4))),
            status.value, points, *parts, compute_wsjf(points, parts), _impact(rnd), security,
            classification, personal, exposed, review and rnd.random() < 0.5,
            _maybe(rnd, 0.3, rnd.choice(request_ids)), parent, team, sprint,
            rnd.choice(people.it) if working or rnd.random() < 0.2 else None,
            json.dumps(rnd.sample(LABELS, rnd.choices((0, 1, 2, 3), (20, 40, 30, 10))[0])),
            team or 0, rank,
            _maybe(rnd, 0.4, f"{now.year + rnd.randint(0, 1)}-Q{rnd.randint(1, 4)}"),
            created, updated, 1,
        )  # fmt: skip


# No id: the events the generator's users and teams made come first, the sequence goes on.
EVENT_COLUMNS = ("type", "entity", "entity_id", "actor_id", "actor_kind", "at", "data")
SPRINT_MEMBER = (0, 5, 6, 20)  # item row positions: id, status, story_points, sprint_id


@dataclass
class SprintMembers:
    """Which items each sprint holds (item id, final status, points), noted while the item
    rows stream past: the sprint history is written from it after the items."""

    held: dict[int, list[tuple[int, str, int | None]]]

    def note(self, items: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        item_id, status, points, sprint = SPRINT_MEMBER
        for row in items:
            if row[sprint] is not None:
                self.held.setdefault(row[sprint], []).append(
                    (row[item_id], row[status], points and row[points])
                )
            yield row


def _event(
    kind: str, entity: str, entity_id: int, at: datetime, data: dict[str, Any]
) -> tuple[Any, ...]:
    return (kind, entity, entity_id, None, "system", at, json.dumps(data))


def sprint_history(
    rnd: random.Random, *, sprints: list[tuple[Any, ...]], members: SprintMembers, now: datetime
) -> Iterator[tuple[Any, ...]]:
    """What the event-sourced sprint report replays: each started sprint's start (its items
    ready), its items going to in progress and to their final status on days of the sprint,
    in time order, and the close of the closed ones (nothing carried over: their items are
    done)."""
    for row in sprints:
        sprint_id, began, closed = row[0], row[10], row[11]
        if began is None:  # planned: no history yet
            continue
        held = members.held.get(sprint_id, [])
        start = {str(i): {"points": p, "status": "ready"} for i, _, p in held}
        committed = sum(p or 0 for _, _, p in held)
        yield _event("sprint.started", "sprint", sprint_id, began,
                     {"items": start, "committed_points": committed})  # fmt: skip
        changes = []
        for item_id, status, _ in held:
            steps = {"ready": [], "in_progress": ["in_progress"]}.get(
                status, ["in_progress", status]
            )
            moments = sorted(began + ((closed or now) - began) * rnd.random() for _ in steps)
            before = "ready"
            for at, step in zip(moments, steps, strict=True):
                changes.append(
                    (at, item_id, {"before": {"status": before}, "after": {"status": step}})
                )
                before = step
        for at, item_id, change in sorted(changes, key=lambda c: (c[0], c[1])):
            yield _event("item.updated", "item", item_id, at, change)
        if closed is not None:
            yield _event("sprint.closed", "sprint", sprint_id, closed,
                         {"carried_over": []})  # fmt: skip
