"""Webhook signatures: HMAC-SHA256 of the raw body, compared in constant time."""

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def valid(secret: str, body: bytes, header: str | None) -> bool:
    """`header` is `sha256=<hex>` (GitHub's X-Hub-Signature-256, Jira's X-Hub-Signature)."""
    return header is not None and hmac.compare_digest(sign(secret, body), header.strip())
