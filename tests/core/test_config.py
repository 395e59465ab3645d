import pytest
from pydantic import ValidationError

from app.core.config import Settings
from app.core.urls import async_database_url


@pytest.mark.parametrize(
    ("plain", "expected"),
    [
        ("postgresql://user@host/db", "postgresql+asyncpg://user@host/db"),
        ("postgres://user:pw@host:5433/db", "postgresql+asyncpg://user:pw@host:5433/db"),
        ("postgresql+asyncpg://user@host/db", "postgresql+asyncpg://user@host/db"),
        ("sqlite:///./backlog-bridge.db", "sqlite+aiosqlite:///./backlog-bridge.db"),
        ("sqlite:////data/bb.db", "sqlite+aiosqlite:////data/bb.db"),
    ],
)
def test_plain_urls_get_an_async_driver(plain: str, expected: str) -> None:
    assert async_database_url(plain) == expected


def test_unsupported_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        async_database_url("mysql://root@localhost/db")


def test_settings_read_bb_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BB_DATABASE_URL", "postgresql://u@h/d")
    monkeypatch.setenv("BB_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("BB_TOKEN_TTL_DAYS", "7")
    settings = Settings()
    assert settings.async_database_url == "postgresql+asyncpg://u@h/d"
    assert not settings.is_sqlite
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.token_ttl_days == 7


def test_default_database_is_a_sqlite_file_in_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BB_DATABASE_URL", raising=False)
    settings = Settings()
    assert settings.database_url == "sqlite:///./backlog-bridge.db"
    assert settings.is_sqlite


def test_operations_settings_have_safe_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BB_LOG_FORMAT", "BB_LOG_LEVEL", "BB_WORKER_START_TIMEOUT_S"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.log_format == "auto"
    assert settings.log_level == "INFO"
    assert settings.worker_start_timeout_s == 60  # uvicorn's own 5 s made a restart loop


def test_operations_settings_read_bb_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BB_LOG_FORMAT", "Text")
    monkeypatch.setenv("BB_LOG_LEVEL", "debug")
    monkeypatch.setenv("BB_WORKER_START_TIMEOUT_S", "120")
    settings = Settings()
    assert (settings.log_format, settings.log_level) == ("text", "DEBUG")
    assert settings.worker_start_timeout_s == 120


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BB_LOG_FORMAT", "xml"),
        ("BB_LOG_LEVEL", "loud"),
        ("BB_WORKER_START_TIMEOUT_S", "0"),
        ("BB_DATABASE_URL", "mysql://root@localhost/db"),
        ("BB_DATABASE_URL", "not a url"),
    ],
)
def test_a_bad_operations_setting_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()
