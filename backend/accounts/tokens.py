"""Token generation and hashing (the token itself is shown once and never stored)."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "dst_"


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(30)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
