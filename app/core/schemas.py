"""Base classes for request bodies (strict) and responses (read from ORM objects)."""

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from app.core.errors import FieldForbidden, UnprocessableEntity

T = TypeVar("T")

_DIGITS = re.compile(r"[0-9]+")


def _ascii_digits(value: object) -> object:
    # Pydantic reads " 1", "+1", "-1", "1.0" and "1_000" from a string as integers: a number
    # in a query or path is written with the digits 0-9 only, as every client writes it.
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be written with the digits 0-9 only")
    return value


ASCII_DIGITS = BeforeValidator(_ascii_digits)
"""For every `int` query or path parameter: `Annotated[int, Query(...), ASCII_DIGITS]`."""

# Ids are 32-bit integers in PostgreSQL: anything larger can name nothing, so it is a 422
# at the edge rather than an overflow deep in the driver.
MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID), ASCII_DIGITS]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID), ASCII_DIGITS]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class InputModel(BaseModel):
    """Request bodies: unknown fields are a 422, never silently dropped; fields the resource
    has but a client may not write (`read_only`) are a 403 `field-forbidden`; no NULs."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    read_only: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _refuse_read_only_and_nul(cls, data: Any) -> Any:
        if isinstance(data, dict):
            forbidden = cls.read_only - cls.model_fields.keys()
            if named := sorted(forbidden & data.keys()):
                raise FieldForbidden(
                    f"These fields are not written here: {', '.join(named)}.", fields=named
                )
        if _has_nul(data):
            raise ValueError("text may not contain NUL (\\u0000) characters")
        return data


def fields_of(*models: type[BaseModel], extra: Iterable[str] = ()) -> frozenset[str]:
    """The field names of output models: what a resource shows is what clients may not send
    unless the input model declares it."""
    return frozenset(name for model in models for name in model.model_fields) | set(extra)


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


def contains_pattern(text: str) -> str:
    """A LIKE pattern (escape `\\`) matching `text` anywhere; wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _as_utc(moment: datetime) -> datetime:
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the moment is out of range") from exc


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]  # naive means UTC
