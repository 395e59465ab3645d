"""Route dependencies: load a request and judge the caller's role before the body is read."""

from typing import Annotated, Any

from fastapi import Depends

from app.core.db import SessionDep
from app.core.schemas import PathId
from app.requests import service, workflow
from app.requests.models import MarketingRequest
from app.requests.workflow import Action
from app.users.auth import CurrentUser


async def _request(request_id: PathId, session: SessionDep) -> MarketingRequest:
    return await service.get_request(session, request_id=request_id)


Loaded = Annotated[MarketingRequest, Depends(_request)]


def acting(action: Action) -> Any:
    """A dependency: the request (404), if the caller may ever `action` it (403), both before
    the body is read; the state is judged by the action itself (409)."""

    async def load(actor: CurrentUser, request: Loaded) -> MarketingRequest:
        workflow.check_role(request, action, actor)
        return request

    return Depends(load)
