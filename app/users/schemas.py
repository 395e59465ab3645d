from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from app.core.schemas import InputModel, OutputModel, fields_of
from app.users.models import Role

UserName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\s].*$")]
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class UserCreate(InputModel):
    name: UserName
    role: Role
    email: Email | None = None


class UserUpdate(InputModel):
    name: UserName | None = None
    role: Role | None = None
    email: Email | None = None
    active: bool | None = None


class UserOut(OutputModel):
    id: int
    name: str
    email: str | None
    role: Role
    active: bool
    created_at: datetime
    updated_at: datetime
    version: int


class TokenCreate(InputModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] = "api"
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(OutputModel):
    id: int
    user_id: int
    name: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret itself; shown only in this response.")


UserCreate.read_only = UserUpdate.read_only = fields_of(UserOut)
TokenCreate.read_only = fields_of(TokenCreated)
