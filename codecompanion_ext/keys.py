"""Capability keys: what a room link carries instead of a Jupyter login.

Each room has an edit key and a view key. A key is an HMAC of the room id, its
kind and a generation under a server secret kept outside the database, so links
can be shown again to those allowed to see them, while the database holds only
SHA-256 hashes (a copy of it opens nothing). Rotating bumps the generation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Literal

KeyKind = Literal["edit", "view"]
KEY_BYTES = 24  # 192 bits, URL-safe in 32 characters


def load_or_create_secret(path: Path) -> bytes:
    """The server's link secret: created once (owner-only permissions), then reused."""
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_bytes(32)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(secret)
    if len(secret) < 32:
        raise ValueError(f"the link secret in {path} is too short; delete it to make a new one")
    return secret


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def matches(key: str, stored_digest: str | None) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    return stored_digest is not None and hmac.compare_digest(digest(key), stored_digest)


class KeyMaker:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def key(self, room_id: str, kind: KeyKind, generation: int) -> str:
        message = f"{room_id}\x00{kind}\x00{generation}".encode()
        raw = hmac.new(self._secret, message, hashlib.sha256).digest()[:KEY_BYTES]
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    def digests(self, room_id: str, generation: int) -> tuple[str, str]:
        """(edit, view) key hashes for storage."""
        return (
            digest(self.key(room_id, "edit", generation)),
            digest(self.key(room_id, "view", generation)),
        )
