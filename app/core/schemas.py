"""Base classes for request bodies (strict) and responses (read from ORM objects)."""

from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from app.core.errors import UnprocessableEntity

T = TypeVar("T")


class InputModel(BaseModel):
    """Request bodies: unknown fields are a 422, never silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def reject_nulls(changes: dict[str, Any], fields: Iterable[str]) -> None:
    """PATCH: `null` for a field that cannot be empty is a 422, not a silent no-op."""
    if nulls := sorted(name for name in fields if name in changes and changes[name] is None):
        raise UnprocessableEntity(
            f"{', '.join(nulls)} cannot be null.",
            errors=[{"loc": ["body", name], "msg": "may not be null"} for name in nulls],
        )
