"""Request dependencies shared by the integration routes (app/sync) and the delivery routes
(app/webhooks): the integration in the path, 404 if missing, then the caller's role."""

from typing import Annotated

from fastapi import Depends

from app.core.db import SessionDep
from app.core.schemas import PathId
from app.sync import service
from app.sync.models import Integration
from app.users.auth import CurrentUser
from app.users.models import Role
from app.users.service import ensure_role

# The role table: security reads everything (never a credential: those are write-only).
READERS = (Role.IT, Role.ADMIN, Role.SECURITY)


async def _managed(actor: CurrentUser, integration_id: PathId, session: SessionDep) -> Integration:
    """Integrations are IT's to manage: 404 for a missing one, 403 for other roles."""
    integration = await service.get_integration(session, integration_id=integration_id)
    ensure_role(actor, Role.IT, Role.ADMIN)
    return integration


async def _readable(actor: CurrentUser, integration_id: PathId, session: SessionDep) -> Integration:
    integration = await service.get_integration(session, integration_id=integration_id)
    ensure_role(actor, *READERS)
    return integration


ManagedIntegration = Annotated[Integration, Depends(_managed)]
ReadableIntegration = Annotated[Integration, Depends(_readable)]
