"""Service settings, read once from `BB_*` environment variables."""

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, Request
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.core.urls import async_database_url, is_sqlite_url

DEFAULT_DATABASE_URL = "sqlite:///./backlog-bridge.db"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BB_", env_nested_delimiter="__", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    secret_key: SecretStr | None = None
    tracker_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    token_ttl_days: int = Field(default=90, ge=1, le=3650)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # auto: human-readable lines when stderr is a terminal, JSON lines otherwise.
    log_format: Literal["auto", "json", "text"] = "auto"
    db_pool_size: int = Field(default=10, ge=1)
    run_worker: bool = False
    public_url: str = "http://localhost:8000"
    tracker_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # How often the worker polls each tracker for changes a webhook may have missed (0: never).
    reconcile_interval_s: float = Field(default=300.0, ge=0)
    # "<requests>/<seconds>" per token, or "<requests>" per minute; "0" switches it off.
    rate_limit: str = Field(default="600/60", pattern=r"^[0-9]{1,9}(/[1-9][0-9]{0,5})?$")
    # `serve --workers N`: how long a worker process may take to start answering its
    # supervisor before it is replaced (importing alone can take seconds on a busy host).
    worker_start_timeout_s: int = Field(default=60, ge=1, le=3600)

    _split_lists = field_validator("cors_origins", "tracker_allowed_hosts", mode="before")(
        _split_csv
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        try:
            async_database_url(url)  # refuses what we cannot open now, not at first use
        except ArgumentError as exc:
            raise ValueError("not a database URL (e.g. postgresql://user@host/db)") from exc
        return url

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("tracker_allowed_hosts")
    @classmethod
    def _lower_hosts(cls, hosts: list[str]) -> list[str]:
        return [host.lower() for host in hosts]

    @property
    def rate_limit_policy(self) -> tuple[int, int]:
        """(requests, window in seconds) per token; 0 requests means no limit."""
        count, _, window = self.rate_limit.partition("/")
        return int(count), int(window or 60)

    @cached_property
    def async_database_url(self) -> str:
        return async_database_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite_url(self.database_url)

    @property
    def data_dir(self) -> Path:
        """The folder of the SQLite file (where a generated secret key lives); else the cwd."""
        database = make_url(self.database_url).database if self.is_sqlite else None
        if database and database != ":memory:":
            return Path(database).resolve().parent
        return Path.cwd()


async def get_settings(request: Request) -> Settings:  # async: sync ones run in a thread
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
