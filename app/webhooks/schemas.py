from datetime import datetime

from pydantic import BaseModel

from app.core.schemas import OutputModel
from app.webhooks.models import Outcome


class Accepted(BaseModel):
    delivery: int
    outcome: Outcome


class Pong(BaseModel):
    """The answer to GitHub's `ping` (sent when a webhook is set up): nothing is stored."""

    ok: bool


class DeliveryOut(OutputModel):
    id: int
    integration_id: int
    delivery_id: str
    event: str
    outcome: Outcome
    note: str | None
    received_at: datetime
    processed_at: datetime | None
