"""API token material: random secrets shown once, stored only as SHA-256 hashes."""

import hashlib
import secrets

TOKEN_PREFIX = "bb_"
TOKEN_BYTES = 32


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    # A fast hash is right here: the token has 256 bits of entropy, so nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()
