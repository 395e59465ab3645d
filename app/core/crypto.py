"""Secrets at rest: Fernet with key rotation (`BB_SECRET_KEY`: first key encrypts, all decrypt)."""

import base64
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.config import Settings

KEY_FILE = "secret.key"


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        self._first_key = base64.urlsafe_b64decode(keys[0])
        self._derived: dict[str, bytes] = {}

    def derived_key(self, purpose: str) -> bytes:
        """A 32-byte key for `purpose` (e.g. signing cursors) from the first key, by HKDF: what
        it signs tells nothing about the key that seals secrets. Computed once per purpose."""
        if purpose not in self._derived:
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
            self._derived[purpose] = hkdf.derive(self._first_key)
        return self._derived[purpose]

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def seal_json(self, value: Any) -> str:
        return self.seal(json.dumps(value, separators=(",", ":")))

    def open_json(self, sealed: str) -> Any:
        return json.loads(self.open(sealed))

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "the secret was sealed with a key that is no longer configured"
            ) from exc


def secret_box(settings: Settings) -> SecretBox:
    """From `BB_SECRET_KEY`; on SQLite without one, a key generated next to the database file."""
    if settings.secret_key is not None:
        keys = [k.strip() for k in settings.secret_key.get_secret_value().split(",") if k.strip()]
        return SecretBox(keys)
    if not settings.is_sqlite:
        raise RuntimeError("BB_SECRET_KEY is required on PostgreSQL (comma-separated Fernet keys)")
    return SecretBox([_local_key(settings.data_dir / KEY_FILE)])


def _local_key(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    key = Fernet.generate_key().decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(key)
    return key
