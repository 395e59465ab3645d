"""Database URLs as operators write them, turned into the async driver form the service uses."""

from sqlalchemy.engine import make_url

_ASYNC_DRIVERS = {"postgresql": "asyncpg", "postgres": "asyncpg", "sqlite": "aiosqlite"}


def async_database_url(url: str) -> str:
    """`postgresql://u@h/db` -> `postgresql+asyncpg://u@h/db`; explicit drivers are kept."""
    parsed = make_url(url)
    backend, _, driver = parsed.drivername.partition("+")
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}")
    if backend == "postgres":
        backend = "postgresql"
    if not driver:
        driver = _ASYNC_DRIVERS[backend]
    return parsed.set(drivername=f"{backend}+{driver}").render_as_string(hide_password=False)


def is_sqlite_url(url: str) -> bool:
    return make_url(url).drivername.startswith("sqlite")
