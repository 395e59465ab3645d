import pytest

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
