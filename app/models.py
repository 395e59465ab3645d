"""Imports every domain's models so that Base.metadata is complete (Alembic, tests)."""

import importlib

MODEL_MODULES = (
    "app.users.models",
    "app.core.events",
    "app.core.idempotency",
    "app.core.outbox",
    "app.core.ratelimit",
    "app.requests.models",
    "app.comments.models",
    "app.backlog.models",
    "app.teams.models",
    "app.sprints.models",
    "app.plans.models",
    "app.suppliers.models",
    "app.sync.models",
    "app.webhooks.models",
)


def import_all_models() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)
