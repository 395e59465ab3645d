from datetime import datetime
from typing import Any

from app.core.events import ActorKind
from app.core.schemas import OutputModel


class EventOut(OutputModel):
    id: int
    type: str
    entity: str
    entity_id: int
    actor_id: int | None
    actor_kind: ActorKind
    at: datetime
    data: dict[str, Any]


class FeedPage(OutputModel):
    items: list[EventOut]
    next_cursor: str
