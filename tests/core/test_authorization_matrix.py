"""Every route x every role x (own | another user's) resource, from the app's route table.

`RULES` says, per route, which roles may call it on their own object and on another user's;
a route without a rule fails `test_every_route_has_a_rule` (and its matrix case). Each case
builds real objects, calls the route with a valid body as a fresh user of each role, and
checks: allowed roles succeed; other roles get a 403 problem (404 where the app hides that
the object exists) and nothing changed (every change writes an event, so no new event).
Missing resources are `test_route_table.py`'s; field-level rules are at the bottom.
"""

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.events import Event
from app.core.http import AsyncClient
from app.core.outbox import JobState, SyncJob
from app.core.security import hash_token
from app.plans.models import Plan, PlanStatus
from app.requests import actions
from app.requests.models import ReviewDecision
from app.requests.schemas import SecurityReviewIn
from app.sync import ssrf
from app.users.models import Role, User
from tests.builders import (
    LOW_RISK_ASSESSMENT,
    make_item,
    make_ready_item,
    make_request,
    make_sprint,
    make_supplier,
    make_team,
    make_user,
)
from tests.core.test_errors import assert_problem
from tests.core.test_route_table import PUBLIC, ROUTES, SIGNED

M, IT, S, A = Role.MARKETING, Role.IT, Role.SECURITY, Role.ADMIN
EVERYONE = frozenset(Role)
IT_ADMIN = frozenset({IT, A})
IT_ADMIN_SECURITY = frozenset({IT, A, S})
ADMIN = frozenset({A})
NOBODY: frozenset[Role] = frozenset()
HOOK_SECRET = "matrix-hook-secret"
GITHUB_ISSUE = Path("tests/fixtures/github/webhooks/issues/opened.payload.json").read_bytes()


@pytest.fixture(autouse=True)
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssrf, "resolve", lambda host: ["140.82.112.6"])


@dataclass
class Ctx:
    session: AsyncSession
    api: AsyncClient
    caller: User
    own: bool  # the object is the caller's (their request, plan, token, user record)
    admin: dict[str, str]  # headers of a setup admin, to build objects through the API

    async def owner(self, role: Role = M) -> User:
        return self.caller if self.own else (await make_user(self.session, role=role))[0]

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = await self.api.post(f"/api/v1{path}", json=body, headers=self.admin)
        assert resp.status_code in (200, 201, 202), resp.text
        return resp.json()


Call = tuple[str, dict[str, Any] | None]  # the path under /api/v1, and the JSON body
Build = Callable[[Ctx], Awaitable[Call]]


@dataclass(frozen=True)
class Rule:
    build: Build
    own: frozenset[Role]  # who may, on their own object (or on any, when not owner-scoped)
    other: frozenset[Role] | None = None  # who may on another user's; None: not owner-scoped
    hidden: bool = False  # the refusal is 404: another user's object is not ours to see


# --- builders: each returns the call to make (objects built fresh for every caller) --------


def fixed(path: str, body: dict[str, Any] | None = None) -> Build:
    """A call without an object; a body `name` is made unique (names are)."""

    async def build(ctx: Ctx) -> Call:
        if body and "name" in body:
            return path, body | {"name": f"{body['name']}-{ctx.caller.id}"}
        return path, body

    return build


def on_request(status: str, suffix: str = "", body: dict[str, Any] | None = None) -> Build:
    async def build(ctx: Ctx) -> Call:
        requester = await ctx.owner() if ctx.caller.role is not S else None
        requester = requester or (await make_user(ctx.session, role=M))[0]  # security owns none
        request = await make_request(ctx.session, requester=requester, status=status)
        return f"/requests/{request.id}{suffix}", body

    return build


def on_item(suffix: str = "", body: dict[str, Any] | None = None, **fields: Any) -> Build:
    async def build(ctx: Ctx) -> Call:
        item = await make_item(ctx.session, **fields)
        return f"/items/{item.id}{suffix}", body

    return build


def on_team(suffix: str = "", body: dict[str, Any] | None = None) -> Build:
    async def build(ctx: Ctx) -> Call:
        return f"/teams/{(await make_team(ctx.session)).id}{suffix}", body

    return build


def on_sprint(suffix: str = "", body: dict[str, Any] | None = None, state: str = "") -> Build:
    async def build(ctx: Ctx) -> Call:
        sprint = await make_sprint(ctx.session, team=await make_team(ctx.session))
        if state:
            await ctx.post(f"/sprints/{sprint.id}/start")
        return f"/sprints/{sprint.id}{suffix}", body

    return build


async def _sprint_items(ctx: Ctx) -> Call:
    team = await make_team(ctx.session)
    sprint = await make_sprint(ctx.session, team=team)
    item = await make_ready_item(ctx.session, team=team)
    return f"/sprints/{sprint.id}/items", {"item_ids": [item.id]}


async def _sprint_item_removal(ctx: Ctx) -> Call:
    path, body = await _sprint_items(ctx)
    await ctx.post(path, body)
    assert body is not None
    return f"{path}/{body['item_ids'][0]}", None


def on_plan(suffix: str = "", body: dict[str, Any] | None = None, status: str = "") -> Build:
    async def build(ctx: Ctx) -> Call:
        marketing, _ = await make_user(ctx.session, role=M)
        it, _ = await make_user(ctx.session, role=IT)
        if ctx.own and ctx.caller.role is IT:
            it = ctx.caller
        elif ctx.own and ctx.caller.role in (M, A):  # an admin may own either side
            marketing = ctx.caller
        plan = await ctx.post("/plans", PLAN | _owner_ids([marketing, it]))
        if status:
            row = await ctx.session.get(Plan, plan["id"])
            assert row is not None
            row.status = PlanStatus(status)
            await ctx.session.flush()
        return f"/plans/{plan['id']}{suffix}", body

    return build


def _owner_ids(owners: list[User]) -> dict[str, int]:
    return {"marketing_owner_id": owners[0].id, "it_owner_id": owners[1].id}


PLAN: dict[str, Any] = {
    "title": "Loyalty 2027",
    "objective": "Grow repeat purchases.",
    "kpis": [{"name": "repeat purchase rate", "target": "+10", "unit": "%"}],
    "horizon": {"from": "2027-Q1", "to": "2027-Q2"},
}


async def _new_sprint(ctx: Ctx) -> Call:
    return "/sprints", SPRINT | {"team_id": (await make_team(ctx.session)).id}


async def _new_plan(ctx: Ctx) -> Call:
    marketing, _ = await make_user(ctx.session, role=M)
    it, _ = await make_user(ctx.session, role=IT)
    return "/plans", PLAN | _owner_ids([marketing, it])


def on_supplier(body: dict[str, Any]) -> Build:
    async def build(ctx: Ctx) -> Call:
        return f"/suppliers/{(await make_supplier(ctx.session)).id}", body

    return build


GITHUB = {
    "kind": "github",
    "name": "webshop",
    "repository": "acme/webshop",
    "auth": {"token": "ghp_matrix_secret"},
    "webhook_secret": HOOK_SECRET,
}


def on_integration(suffix: str = "", body: dict[str, Any] | None = None) -> Build:
    async def build(ctx: Ctx) -> Call:
        return f"/integrations/{(await ctx.post('/integrations', GITHUB))['id']}{suffix}", body

    return build


async def _linked(ctx: Ctx) -> tuple[int, int, int]:
    """An integration, an item linked to it, and the link's id."""
    integration = (await ctx.post("/integrations", GITHUB))["id"]
    item = await make_item(ctx.session)
    link = await ctx.post(f"/items/{item.id}/links", {"integration_id": integration})
    return integration, item.id, link["id"]


async def _new_link(ctx: Ctx) -> Call:
    integration = (await ctx.post("/integrations", GITHUB))["id"]
    item = await make_item(ctx.session)
    return f"/items/{item.id}/links", {"integration_id": integration, "remote_key": str(item.id)}


async def _link_removal(ctx: Ctx) -> Call:
    _, item, link = await _linked(ctx)
    return f"/items/{item}/links/{link}", None


async def _job_retry(ctx: Ctx) -> Call:
    integration, item, _ = await _linked(ctx)
    job = await ctx.session.scalar(select(SyncJob).where(SyncJob.item_id == item))
    assert job is not None
    job.state, job.last_error = JobState.FAILED, "GitHub answered 502"
    await ctx.session.flush()
    return f"/integrations/{integration}/jobs/{job.id}/retry", None


async def _delivery_replay(ctx: Ctx) -> Call:
    integration = (await ctx.post("/integrations", GITHUB))["id"]
    body = GITHUB_ISSUE
    signature = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    resp = await ctx.api.post(
        f"/api/v1/webhooks/github/{integration}",
        content=body,
        headers={
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": f"d-{ctx.caller.id}",
            "X-Hub-Signature-256": f"sha256={signature}",
        },
    )
    assert resp.status_code == 202, resp.text
    return f"/integrations/{integration}/deliveries/{resp.json()['delivery']}/replay", None


def on_user(suffix: str = "", body: dict[str, Any] | None = None) -> Build:
    async def build(ctx: Ctx) -> Call:
        return f"/users/{(await ctx.owner()).id}{suffix}", body

    return build


async def _token(ctx: Ctx) -> Call:
    owner = await ctx.owner()
    tokens = await ctx.api.get(f"/api/v1/users/{owner.id}/tokens", headers=ctx.admin)
    return f"/tokens/{tokens.json()[0]['id']}", None


# --- the table ------------------------------------------------------------------------------

ITEM = {"title": "Checkout banner", "type": "story"}
REQUEST = {"title": "Loyalty landing page", "business_value": 6, "time_criticality": 4}
REASON = {"reason": "Needs a business case."}
COMMENT = {"body": "Looks good."}
REVIEW = {"decision": "approved", "notes": "Pen test done."}
SUPPLIER = {"name": "Acme Hosting"}
SPRINT = {"name": "S1", "start_date": "2026-12-01", "end_date": "2026-12-14"}

RULES: dict[tuple[str, str], Rule] = {
    # users and tokens: admins, and everyone for themselves; others' tokens are invisible
    ("GET", "/api/v1/me"): Rule(fixed("/me"), EVERYONE),
    ("GET", "/api/v1/users"): Rule(fixed("/users"), frozenset({S, A})),
    ("POST", "/api/v1/users"): Rule(fixed("/users", {"name": "new-user", "role": "it"}), ADMIN),
    ("GET", "/api/v1/users/{user_id}"): Rule(on_user(), EVERYONE, frozenset({S, A})),
    ("PATCH", "/api/v1/users/{user_id}"): Rule(
        on_user("", {"email": "x@example.com"}), ADMIN, ADMIN
    ),
    ("GET", "/api/v1/users/{user_id}/tokens"): Rule(on_user("/tokens"), EVERYONE, ADMIN),
    ("POST", "/api/v1/users/{user_id}/tokens"): Rule(on_user("/tokens"), EVERYONE, ADMIN),
    ("DELETE", "/api/v1/tokens/{token_id}"): Rule(_token, EVERYONE, ADMIN, hidden=True),
    # marketing requests: everyone reads and comments; requesters edit, submit and withdraw
    # their own; IT assesses and decides (never on a request of its own); security reviews
    ("GET", "/api/v1/requests"): Rule(fixed("/requests"), EVERYONE),
    ("POST", "/api/v1/requests"): Rule(fixed("/requests", REQUEST), frozenset({M, IT, A})),
    ("GET", "/api/v1/requests/{request_id}"): Rule(on_request("submitted"), EVERYONE),
    ("PATCH", "/api/v1/requests/{request_id}"): Rule(
        on_request("draft", "", {"title": "Sharper title"}), frozenset({M, IT, A}), ADMIN
    ),
    ("POST", "/api/v1/requests/{request_id}/submit"): Rule(
        on_request("draft", "/submit"), frozenset({M, IT, A}), ADMIN
    ),
    ("POST", "/api/v1/requests/{request_id}/withdraw"): Rule(
        on_request("submitted", "/withdraw"), frozenset({M, IT, A}), ADMIN
    ),
    ("POST", "/api/v1/requests/{request_id}/return"): Rule(
        on_request("submitted", "/return", REASON), IT_ADMIN
    ),
    ("PUT", "/api/v1/requests/{request_id}/assessment"): Rule(
        on_request("submitted", "/assessment", LOW_RISK_ASSESSMENT), IT_ADMIN
    ),
    ("POST", "/api/v1/requests/{request_id}/approve"): Rule(
        on_request("in_assessment", "/approve"), NOBODY, IT_ADMIN
    ),
    ("POST", "/api/v1/requests/{request_id}/reject"): Rule(
        on_request("submitted", "/reject", REASON), IT_ADMIN
    ),
    ("POST", "/api/v1/requests/{request_id}/security-review"): Rule(
        on_request("security_review", "/security-review", REVIEW), frozenset({S})
    ),
    ("POST", "/api/v1/requests/{request_id}/convert"): Rule(
        on_request("approved", "/convert"), IT_ADMIN
    ),
    ("GET", "/api/v1/requests/{request_id}/history"): Rule(
        on_request("submitted", "/history"), EVERYONE
    ),
    ("GET", "/api/v1/requests/{request_id}/comments"): Rule(
        on_request("submitted", "/comments"), EVERYONE
    ),
    ("POST", "/api/v1/requests/{request_id}/comments"): Rule(
        on_request("submitted", "/comments", COMMENT), EVERYONE
    ),
    # backlog items: everyone reads and comments; IT plans; security edits impacts and clears
    ("GET", "/api/v1/items"): Rule(fixed("/items"), EVERYONE),
    ("POST", "/api/v1/items"): Rule(fixed("/items", ITEM), IT_ADMIN),
    ("GET", "/api/v1/items/{item_id}"): Rule(on_item(), EVERYONE),
    ("PATCH", "/api/v1/items/{item_id}"): Rule(on_item("", {"title": "Renamed"}), IT_ADMIN),
    ("DELETE", "/api/v1/items/{item_id}"): Rule(on_item(), IT_ADMIN),
    ("POST", "/api/v1/items/{item_id}/move"): Rule(on_item("/move", {"position": "top"}), IT_ADMIN),
    ("POST", "/api/v1/items/{item_id}/security-clearance"): Rule(
        on_item("/security-clearance", {"notes": "ok"}, security_impact="high"), frozenset({S})
    ),
    ("GET", "/api/v1/items/{item_id}/history"): Rule(on_item("/history"), EVERYONE),
    ("GET", "/api/v1/items/{item_id}/comments"): Rule(on_item("/comments"), EVERYONE),
    ("POST", "/api/v1/items/{item_id}/comments"): Rule(on_item("/comments", COMMENT), EVERYONE),
    ("GET", "/api/v1/items/{item_id}/links"): Rule(on_item("/links"), EVERYONE),
    ("POST", "/api/v1/items/{item_id}/links"): Rule(_new_link, IT_ADMIN),
    ("DELETE", "/api/v1/items/{item_id}/links/{link_id}"): Rule(_link_removal, IT_ADMIN),
    # teams and sprints: everyone reads; IT manages
    ("GET", "/api/v1/teams"): Rule(fixed("/teams"), EVERYONE),
    ("POST", "/api/v1/teams"): Rule(
        fixed("/teams", {"name": "Checkout", "default_capacity_points": 20}), IT_ADMIN
    ),
    ("GET", "/api/v1/teams/{team_id}"): Rule(on_team(), EVERYONE),
    ("PATCH", "/api/v1/teams/{team_id}"): Rule(on_team("", {"stability_budget": 2}), IT_ADMIN),
    ("GET", "/api/v1/teams/{team_id}/velocity"): Rule(on_team("/velocity"), EVERYONE),
    ("GET", "/api/v1/sprints"): Rule(fixed("/sprints"), EVERYONE),
    ("POST", "/api/v1/sprints"): Rule(_new_sprint, IT_ADMIN),
    ("GET", "/api/v1/sprints/{sprint_id}"): Rule(on_sprint(), EVERYONE),
    ("PATCH", "/api/v1/sprints/{sprint_id}"): Rule(on_sprint("", {"goal": "Ship it"}), IT_ADMIN),
    ("POST", "/api/v1/sprints/{sprint_id}/items"): Rule(_sprint_items, IT_ADMIN),
    ("DELETE", "/api/v1/sprints/{sprint_id}/items/{item_id}"): Rule(_sprint_item_removal, IT_ADMIN),
    ("POST", "/api/v1/sprints/{sprint_id}/start"): Rule(on_sprint("/start"), IT_ADMIN),
    ("POST", "/api/v1/sprints/{sprint_id}/close"): Rule(
        on_sprint("/close", {"carry_over": "backlog"}, state="active"), IT_ADMIN
    ),
    ("GET", "/api/v1/sprints/{sprint_id}/report"): Rule(on_sprint("/report"), EVERYONE),
    # business plans: marketing and IT write them together; owners agree; IT runs them
    ("GET", "/api/v1/plans"): Rule(fixed("/plans"), EVERYONE),
    ("POST", "/api/v1/plans"): Rule(_new_plan, frozenset({M, IT, A})),
    ("GET", "/api/v1/plans/{plan_id}"): Rule(on_plan(), EVERYONE),
    ("PATCH", "/api/v1/plans/{plan_id}"): Rule(
        on_plan("", {"title": "Loyalty 2027+"}), frozenset({M, IT, A}), IT_ADMIN
    ),
    ("POST", "/api/v1/plans/{plan_id}/agree"): Rule(
        on_plan("/agree"), frozenset({M, IT, A}), NOBODY
    ),
    ("POST", "/api/v1/plans/{plan_id}/activate"): Rule(
        on_plan("/activate", status="agreed"), IT_ADMIN
    ),
    ("POST", "/api/v1/plans/{plan_id}/close"): Rule(on_plan("/close"), IT_ADMIN),
    ("GET", "/api/v1/plans/{plan_id}/report"): Rule(on_plan("/report"), EVERYONE),
    # suppliers: IT keeps the directory, security assesses (field level below)
    ("GET", "/api/v1/suppliers"): Rule(fixed("/suppliers"), EVERYONE),
    ("POST", "/api/v1/suppliers"): Rule(fixed("/suppliers", SUPPLIER), IT_ADMIN),
    ("GET", "/api/v1/suppliers/{supplier_id}"): Rule(on_supplier({}), EVERYONE),
    ("PATCH", "/api/v1/suppliers/{supplier_id}"): Rule(
        on_supplier({"contact": "ops@acme.example"}), IT_ADMIN
    ),
    # integrations: IT's to manage; security reads them (the role table: security reads everything)
    ("GET", "/api/v1/integrations"): Rule(fixed("/integrations"), IT_ADMIN_SECURITY),
    ("POST", "/api/v1/integrations"): Rule(fixed("/integrations", GITHUB), IT_ADMIN),
    ("GET", "/api/v1/integrations/{integration_id}"): Rule(on_integration(), IT_ADMIN_SECURITY),
    ("PATCH", "/api/v1/integrations/{integration_id}"): Rule(
        on_integration("", {"enabled": False}), IT_ADMIN
    ),
    ("POST", "/api/v1/integrations/{integration_id}/test"): Rule(on_integration("/test"), IT_ADMIN),
    ("GET", "/api/v1/integrations/{integration_id}/jobs"): Rule(
        on_integration("/jobs"), IT_ADMIN_SECURITY
    ),
    ("POST", "/api/v1/integrations/{integration_id}/import"): Rule(
        on_integration("/import"), IT_ADMIN
    ),
    ("POST", "/api/v1/integrations/{integration_id}/jobs/{job_id}/retry"): Rule(
        _job_retry, IT_ADMIN
    ),
    ("GET", "/api/v1/integrations/{integration_id}/deliveries"): Rule(
        on_integration("/deliveries"), IT_ADMIN_SECURITY
    ),
    ("POST", "/api/v1/integrations/{integration_id}/deliveries/{delivery_id}/replay"): Rule(
        _delivery_replay, IT_ADMIN
    ),
    # change feed, roadmap and reports: everyone (the feed filters per reader, tested below)
    ("GET", "/api/v1/events"): Rule(fixed("/events"), EVERYONE),
    ("GET", "/api/v1/roadmap"): Rule(fixed("/roadmap"), EVERYONE),
    ("GET", "/api/v1/reports/lead-time"): Rule(fixed("/reports/lead-time"), EVERYONE),
    ("GET", "/api/v1/reports/budget"): Rule(fixed("/reports/budget"), EVERYONE),
    ("GET", "/api/v1/reports/impact"): Rule(fixed("/reports/impact"), EVERYONE),
}


def _authenticated(method: str, path: str) -> bool:
    return path not in PUBLIC and not SIGNED.match(path)


AUTHENTICATED = [(m, p) for m, p in ROUTES if _authenticated(m, p)]


def _scopes(method: str, path: str) -> tuple[str, ...]:
    rule = RULES.get((method, path))
    return ("own", "other") if rule and rule.other is not None else ("any",)


CASES = [(m, p, scope) for m, p in AUTHENTICATED for scope in _scopes(m, p)]


def test_every_route_has_a_rule() -> None:
    assert [route for route in AUTHENTICATED if route not in RULES] == []
    assert [route for route in RULES if route not in AUTHENTICATED] == []  # none stale


async def _events(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Event)) or 0)


def _refused(resp: Any, rule: Rule) -> bool:
    if resp.status_code != (404 if rule.hidden else 403):
        return False
    slug = resp.json()["type"].rsplit("/", 1)[-1]
    return resp.headers["content-type"] == "application/problem+json" and slug in (
        "forbidden",
        "field-forbidden",
        "not-found",
    )


@pytest.mark.parametrize(
    ("method", "path", "scope"), CASES, ids=[f"{m} {p} {s}" for m, p, s in CASES]
)
async def test_route_x_role(
    api: AsyncClient, session: AsyncSession, method: str, path: str, scope: str
) -> None:
    rule = RULES.get((method, path))
    assert rule is not None, f"{method} {path} has no rule in RULES: say who may call it"
    allowed = rule.other if scope == "other" and rule.other is not None else rule.own
    _, admin = await make_user(session, role=A)
    wrong = []
    shared: Call | None = None  # a read of no one's object: one build serves every role
    for role in Role:
        caller, headers = await make_user(session, role=role)
        ctx = Ctx(session, api, caller, own=scope == "own", admin=admin)
        url, body = shared or await rule.build(ctx)
        if method == "GET" and scope == "any":
            shared = (url, body)
        before = await _events(session)
        resp = await api.request(method, f"/api/v1{url}", json=body, headers=headers)
        if role in allowed:
            ok = 200 <= resp.status_code < 300
        else:
            ok = _refused(resp, rule) and await _events(session) == before
        if not ok:
            wrong.append((role.value, resp.status_code, resp.text[:160]))
    assert wrong == [], f"{method} {path} ({scope}): allowed {sorted(allowed)}"


# --- field level (OWASP API3): what a role may not write, and what it may not read ---------

RISK_NOTES = str(LOW_RISK_ASSESSMENT["risk_notes"])
MITIGATION = str(LOW_RISK_ASSESSMENT["mitigation"])
REVIEW_NOTES = "Pen test found stored XSS in the preview."


async def _reviewed_request(session: AsyncSession) -> int:
    """A request with an assessment (risk notes, mitigation) and a security review's notes."""
    requester, _ = await make_user(session, role=M)
    request = await make_request(session, requester=requester, status="security_review")
    security, _ = await make_user(session, role=S)
    review = SecurityReviewIn(decision=ReviewDecision.CHANGES_REQUESTED, notes=REVIEW_NOTES)
    await actions.record_security_review(session, request=request, data=review, actor=security)
    return request.id


async def test_notes_are_null_for_marketing_everywhere(
    api: AsyncClient, session: AsyncSession
) -> None:
    request_id = await _reviewed_request(session)
    for role in Role:
        _, headers = await make_user(session, role=role)
        one = (await api.get(f"/api/v1/requests/{request_id}", headers=headers)).json()
        notes = (
            one["assessment"]["risk_notes"],
            one["assessment"]["mitigation"],
            one["security_review"]["notes"],
        )
        if role is M:
            assert notes == (None, None, None)
            for path in ("/requests", f"/requests/{request_id}/history", "/events?limit=200"):
                text = (await api.get(f"/api/v1{path}", headers=headers)).text
                assert _notes_in(text) == [], path
        else:
            assert notes == (RISK_NOTES, MITIGATION, REVIEW_NOTES), role
            history = await api.get(f"/api/v1/requests/{request_id}/history", headers=headers)
            assert _notes_in(history.text) != [], role  # so marketing's absence means something


def _notes_in(text: str) -> list[str]:
    return [note for note in (RISK_NOTES, MITIGATION, REVIEW_NOTES) if note in text]


@pytest.mark.parametrize(
    "body",
    [
        {"status": "approved"},
        {"risk_notes": "none"},
        {"security_impact": "low"},
        {"assessment": {"security_impact": "low"}},
        {"requester_id": 1},
    ],
    ids=str,
)
async def test_marketing_sets_no_it_or_workflow_field_on_its_own_draft(
    api: AsyncClient, session: AsyncSession, body: dict[str, Any]
) -> None:
    requester, headers = await make_user(session, role=M)
    request = await make_request(session, requester=requester)
    resp = await api.patch(f"/api/v1/requests/{request.id}", json=body, headers=headers)
    assert_problem(resp, 403, "field-forbidden")
    resp = await api.post("/api/v1/requests", json=REQUEST | body, headers=headers)
    assert_problem(resp, 403, "field-forbidden")


async def test_security_cleared_changes_only_through_its_endpoint(
    api: AsyncClient, session: AsyncSession
) -> None:
    item = await make_item(session, security_impact="high")
    for role in Role:
        _, headers = await make_user(session, role=role)
        patch = await api.patch(
            f"/api/v1/items/{item.id}", json={"security_cleared": True}, headers=headers
        )
        create = await api.post("/api/v1/items", json=ITEM | {"security_cleared": True},
                                headers=headers)  # fmt: skip
        for resp in (patch, create):
            assert resp.status_code == 403, (role, resp.text)
    await session.refresh(item)
    assert item.security_cleared is False


async def test_only_security_lowers_an_item_impact(api: AsyncClient, session: AsyncSession) -> None:
    for role in Role:
        item = await make_item(session, security_impact="high", stability_impact="high")
        _, headers = await make_user(session, role=role)
        resp = await api.patch(
            f"/api/v1/items/{item.id}", json={"security_impact": "low"}, headers=headers
        )
        if role is S:
            assert resp.status_code == 200, resp.text
        else:
            slug = "forbidden" if role is M else "field-forbidden"
            assert_problem(resp, 403, slug)


async def test_only_security_assesses_suppliers(api: AsyncClient, session: AsyncSession) -> None:
    assessment = {"security_assessment": "approved", "valid_until": "2030-01-01"}
    for role in Role:
        supplier = await make_supplier(session)
        _, headers = await make_user(session, role=role)
        resp = await api.patch(f"/api/v1/suppliers/{supplier.id}", json=assessment, headers=headers)
        if role is S:
            assert resp.json()["security_assessment"] == "approved"
            continue
        assert_problem(resp, 403, "forbidden" if role is M else "field-forbidden")
        if role in IT_ADMIN:
            created = await api.post(
                "/api/v1/suppliers", json={"name": f"new-{role}"} | assessment, headers=headers
            )
            assert_problem(created, 403, "field-forbidden")


async def test_supplier_notes_are_null_for_marketing(
    api: AsyncClient, session: AsyncSession
) -> None:
    supplier = await make_supplier(session, notes="Failed the 2026 ISO audit.")
    for role in Role:
        _, headers = await make_user(session, role=role)
        one = (await api.get(f"/api/v1/suppliers/{supplier.id}", headers=headers)).json()
        page = (await api.get("/api/v1/suppliers?limit=200", headers=headers)).json()["items"]
        listed = next(s for s in page if s["id"] == supplier.id)
        expected = None if role is M else "Failed the 2026 ISO audit."
        assert (one["notes"], listed["notes"]) == (expected, expected), role


async def test_tokens_of_others_are_invisible_and_secrets_never_shown(
    api: AsyncClient, session: AsyncSession
) -> None:
    owner, owner_headers = await make_user(session, role=M)
    secret = owner_headers["Authorization"].removeprefix("Bearer ")
    issued = await api.post(f"/api/v1/users/{owner.id}/tokens", json={}, headers=owner_headers)
    assert issued.status_code == 201
    second_secret = issued.json()["token"]
    for role in Role:
        _, headers = await make_user(session, role=role)
        listing = await api.get(f"/api/v1/users/{owner.id}/tokens", headers=headers)
        if role is A:
            assert listing.status_code == 200
            assert len(listing.json()) == 2
        else:
            assert_problem(listing, 403, "forbidden")
        for path in (f"/users/{owner.id}", "/events?limit=200", "/me"):
            text = (await api.get(f"/api/v1{path}", headers=headers)).text
            assert not _leaked(text, secret, second_secret), (role, path)
    own = (await api.get(f"/api/v1/users/{owner.id}/tokens", headers=owner_headers)).text
    assert not _leaked(own, secret, second_secret)


def _leaked(text: str, *secrets: str) -> list[str]:
    """Which of the secrets, or their stored hashes, appear in the text."""
    return [s for secret in secrets for s in (secret, hash_token(secret)) if s in text]


async def test_integration_credentials_are_never_returned(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, admin = await make_user(session, role=A)
    created = await api.post("/api/v1/integrations", json=GITHUB, headers=admin)
    url = f"/api/v1/integrations/{created.json()['id']}"
    patched = await api.patch(url, json={"auth": {"token": "ghp_rotated"}}, headers=admin)
    texts = [created.text, patched.text]
    for role in IT_ADMIN:
        _, headers = await make_user(session, role=role)
        for path in (url, "/api/v1/integrations", "/api/v1/events?limit=200"):
            texts.append((await api.get(path, headers=headers)).text)
    for text in texts:
        for secret in ("ghp_matrix_secret", "ghp_rotated", HOOK_SECRET):
            assert secret not in text


async def test_an_idempotency_key_never_replays_another_users_response(
    api: AsyncClient, session: AsyncSession
) -> None:
    """Keys are per user: the same key and body from someone else creates their own."""
    _, first = await make_user(session, role=M)
    _, second = await make_user(session, role=M)
    key = {"Idempotency-Key": "same-key"}
    one = await api.post("/api/v1/requests", json=REQUEST, headers=first | key)
    two = await api.post("/api/v1/requests", json=REQUEST, headers=second | key)
    assert (one.status_code, two.status_code) == (201, 201)
    assert one.json()["id"] != two.json()["id"]
    assert "Idempotent-Replayed" not in two.headers
