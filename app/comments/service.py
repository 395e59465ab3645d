"""Comments on requests and items: anyone who may read the parent may comment on it."""

from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.comments.models import Comment
from app.core.events import record_event
from app.core.pagination import page_of, row_limit
from app.users.models import User

Parent = Literal["request", "item"]


async def add_comment(
    session: AsyncSession, *, parent: Parent, parent_id: int, body: str, actor: User
) -> Comment:
    comment = Comment(author_id=actor.id, author_name=actor.name, body=body)
    setattr(comment, f"{parent}_id", parent_id)
    session.add(comment)
    await session.flush()
    record_event(
        session,
        type=f"{parent}.commented",
        entity=parent,
        entity_id=parent_id,
        actor_id=actor.id,
        data={"comment_id": comment.id, "body": body},
    )
    return comment


async def list_comments(
    session: AsyncSession, *, parent: Parent, parent_id: int, limit: int, after_id: int | None
) -> tuple[list[Comment], int | None]:
    column = Comment.request_id if parent == "request" else Comment.item_id
    query = select(Comment).where(column == parent_id).order_by(Comment.id)
    if after_id is not None:
        query = query.where(Comment.id > after_id)
    comments, last = page_of(list(await session.scalars(query.limit(row_limit(limit + 1)))), limit)
    return comments, last.id if last else None
