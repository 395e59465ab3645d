"""Imports every domain's models so that Base.metadata is complete (Alembic, tests)."""


def import_all_models() -> None:
    import app.backlog.models
    import app.comments.models
    import app.core.events
    import app.core.idempotency
    import app.core.outbox
    import app.plans.models
    import app.requests.models
    import app.sprints.models
    import app.suppliers.models
    import app.sync.models
    import app.teams.models
    import app.users.models  # noqa: F401
