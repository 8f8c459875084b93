"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key from settings or a 0600 file."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from inventory.settings import Settings


class SecretBoxError(Exception):
    pass


class SecretBox:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise SecretBoxError("YUNHENG_SECRET_KEY is not a valid Fernet key") from exc
        self._key = key

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        if settings.secret_key:
            return cls(settings.secret_key.encode())
        return cls(load_or_create_key(settings.secret_key_file))

    def encrypt_json(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value, sort_keys=True).encode()).decode()

    def mac(self, purpose: str, message: str) -> str:
        """An HMAC-SHA256 of `message` under a key derived from this box's key for `purpose`
        (e.g. CSRF tokens): one secret to keep, and a MAC for one purpose is no use for another."""
        subkey = hmac.new(self._key, b"yunheng:" + purpose.encode(), hashlib.sha256).digest()
        return hmac.new(subkey, message.encode(), hashlib.sha256).hexdigest()

    def decrypt_json(self, token: str) -> dict[str, Any]:
        try:
            data = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise SecretBoxError("stored secret cannot be decrypted with the current key") from exc
        if not isinstance(data, dict):
            raise SecretBoxError("stored secret is not a JSON object")
        return data


def load_or_create_key(path: Path) -> bytes:
    """Read the key file, or create it with mode 0600 (atomically, so two starts agree)."""
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    return key
