"""Schemathesis fuzzes every operation of the committed OpenAPI document, in process.

Every operation is called with generated valid and invalid input (positive and negative
generation): with a valid token of each role where it takes one, unsigned and signed where it
is a webhook. Every answer must be no 5xx, documented (status, content type, body schema),
and every error `application/problem+json` with `type`, `title` and `status`.

`BB_FUZZ_EXAMPLES` (default 100) is the number of generated examples per operation, shared
out over the roles; `BB_FUZZ_PHASES` (default `examples,fuzzing`) adds schemathesis' other
phases, e.g. `examples,coverage,fuzzing` for its boundary-value cases (several minutes);
`BB_FUZZ_BACKENDS` (default `sqlite,postgresql`) and `BB_FUZZ_SCENARIOS` (stateful, default 25
per role).
Generation is derandomized: the same spec and code give the same cases on every run.
"""

import hashlib
import math
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pytest
import schemathesis
from schemathesis import Case, CheckContext, HookContext, Response
from schemathesis.checks import not_a_server_error
from schemathesis.config import HealthCheck
from schemathesis.core import NOT_SET
from schemathesis.generation.stateful.state_machine import APIStateMachine
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)

from app.users.models import Role
from tests.fuzzing import (
    FuzzDatabase,
    FuzzTarget,
    client_for,
    deliver,
    fuzz_database,
    fuzz_target,
    json_bytes,
    rolled_back,
)

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
EXAMPLES = int(os.environ.get("BB_FUZZ_EXAMPLES", "100"))
PHASES = os.environ.get("BB_FUZZ_PHASES", "examples,fuzzing").split(",")
# Both databases by default: PostgreSQL's side has paths of its own (the fast lane: token
# checks, the backlog page, webhook intake) that only it runs.
BACKENDS = os.environ.get("BB_FUZZ_BACKENDS", "sqlite,postgresql").split(",")
PER_ROLE = math.ceil(EXAMPLES / len(Role))
WEBHOOKS = r"^/api/v1/webhooks/"
UNAUTHENTICATED = r"^/(healthz|readyz|metrics|api/v1/webhooks/.*)$"
MAX_ID = 2**31 - 1  # ids out of range stay so: invalid input must stay invalid
SEEDED_IDS = 8  # most demo tables fill ids 1..8 or more; the rest (integrations, links) fewer


def _config(examples: int) -> schemathesis.Config:
    config = schemathesis.Config(seed=20261127)
    project = config.projects.default
    # In process every call takes milliseconds; 10 s (the default) was passed twice in full
    # runs on a busy machine, by calls that pass alone. A real hang still fails, at 30 s.
    project.update(request_timeout=30)
    project.generation.update(max_examples=examples, deterministic=True, database="none")
    project.phases.update(phases=PHASES)
    project.suppress_health_check = [HealthCheck.too_slow, HealthCheck.filter_too_much]
    return config


def _load(examples: int) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_path(SPEC_PATH, config=_config(examples))

    @schema.hook
    def flatmap_path_parameters(
        context: HookContext, path_parameters: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        """Half the ids name seeded rows: a random id is almost never found."""
        return st.sampled_from([path_parameters, _seeded_ids(path_parameters)])

    return schema


def _seeded_ids(path_parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(path_parameters, dict):  # e.g. no path parameters at all
        return path_parameters
    return {
        name: 1 + value % SEEDED_IDS if type(value) is int and 0 < value <= MAX_ID else value
        for name, value in path_parameters.items()
    }


secured = _load(PER_ROLE).exclude(path_regex=UNAUTHENTICATED)
public = _load(EXAMPLES).include(path_regex=UNAUTHENTICATED)
webhooks = _load(EXAMPLES).include(path_regex=WEBHOOKS)


def problem_json(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """Every 4xx and 5xx is RFC 9457 problem+json with its own status in the body."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type == "application/problem+json", content_type
    body = response.json()
    assert isinstance(body, dict), body
    assert {"type", "title", "status"} <= body.keys(), body
    assert body["status"] == response.status_code, body
    assert str(body["type"]).startswith("/problems/"), body
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    problem_json,
]


@pytest.fixture(scope="module", params=BACKENDS)
async def fuzz_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FuzzDatabase]:
    async with fuzz_database(request.param, tmp_path_factory.mktemp("fuzz")) as database:
        yield database


@pytest.fixture(scope="module")
def target(fuzz_db: FuzzDatabase) -> Iterator[FuzzTarget]:
    with fuzz_target(fuzz_db) as target:
        yield target


@pytest.mark.parametrize("role", list(Role), ids=str)
@secured.parametrize()
def test_fuzz_with_each_role(case: Case[Any], target: FuzzTarget, role: Role) -> None:
    case.call_and_validate(app=target.app, headers=target.headers[role], checks=CHECKS)


@public.parametrize()
def test_fuzz_without_token(case: Case[Any], target: FuzzTarget) -> None:
    case.call_and_validate(app=target.app, checks=CHECKS)


@webhooks.parametrize()
def test_fuzz_signed_webhooks(case: Case[Any], target: FuzzTarget) -> None:
    """Correctly signed deliveries of whatever body and headers: stored or refused, never 5xx."""
    body = b"" if case.body is NOT_SET else json_bytes(case.body)
    headers = {k: str(v) for k, v in (case.headers or {}).items()}
    path = case.formatted_path
    with client_for(target.app) as client:
        response = deliver(
            client, path, body, delivery=hashlib.sha256(body).hexdigest(), headers=headers
        )
    case.validate_response(response, checks=CHECKS)


STATEFUL_SCENARIOS = int(os.environ.get("BB_FUZZ_SCENARIOS", "25"))


def _stateful() -> type[APIStateMachine]:
    config = _config(STATEFUL_SCENARIOS)
    config.projects.default.phases.update(phases=["stateful"])
    # Sequences need the real token on every step (the stateless tests also fuzz the header).
    config.projects.default.generation.update(with_security_parameters=False)
    schema = schemathesis.openapi.from_path(SPEC_PATH, config=config)
    return schema.exclude(path_regex=UNAUTHENTICATED).as_state_machine()


StatefulBase = _stateful()


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_stateful_workflows_with_each_role(target: FuzzTarget, role: Role) -> None:
    """Sequences that feed one response's ids into the next call (links inferred by schemathesis
    from the schemas: POST /items → GET/PATCH /items/{item_id} and so on); besides the checks
    above, what was created must be found and what was deleted must be gone."""

    class Workflow(StatefulBase):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            self.scenario = rolled_back(target.app)
            self.scenario.__enter__()

        def teardown(self) -> None:
            self.scenario.__exit__(None, None, None)

        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            return {"app": target.app, "headers": target.headers[role]}

        def validate_response(
            self,
            response: Response,
            case: Case[Any],
            additional_checks: list[Any] | None = None,
            **kwargs: Any,
        ) -> None:
            checks = [*CHECKS, use_after_free, ensure_resource_availability]
            case.validate_response(response, checks=checks, transport_kwargs=kwargs)

    Workflow.run(
        settings=hypothesis.settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=10,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
