"""Comments on requests: anyone who may read the request may comment on it."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.comments.models import Comment
from app.core.events import record_event
from app.core.pagination import page_of
from app.users.models import User


async def add_request_comment(
    session: AsyncSession, *, request_id: int, body: str, actor: User
) -> Comment:
    comment = Comment(request_id=request_id, author_id=actor.id, author_name=actor.name, body=body)
    session.add(comment)
    await session.flush()
    record_event(
        session,
        type="request.commented",
        entity="request",
        entity_id=request_id,
        actor_id=actor.id,
        data={"comment_id": comment.id, "body": body},
    )
    return comment


async def list_request_comments(
    session: AsyncSession, *, request_id: int, limit: int, after_id: int | None
) -> tuple[list[Comment], int | None]:
    query = select(Comment).where(Comment.request_id == request_id).order_by(Comment.id)
    if after_id is not None:
        query = query.where(Comment.id > after_id)
    comments, last = page_of(list(await session.scalars(query.limit(limit + 1))), limit)
    return comments, last.id if last else None
