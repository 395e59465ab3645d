from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from app.core.schemas import InputModel, OutputModel, fields_of


class CommentCreate(InputModel):
    body: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


class CommentOut(OutputModel):
    id: int
    author_id: int | None
    author_name: str
    body: str
    created_at: datetime


CommentCreate.read_only = fields_of(CommentOut)
