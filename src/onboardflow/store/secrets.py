"""Encryption at rest of the secret fields of stored configurations (SPEC §10).

A field is secret when ``domain.redaction.is_secret_name`` says so. Its value is stored as
``enc:v1:<Fernet token>`` with a key derived from the service's secret key by HKDF.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from onboardflow.domain.redaction import is_secret_name
from onboardflow.errors import StoreUnavailable

PREFIX = "enc:v1:"


class SecretBox:
    """Seals and opens the secret fields of a JSON-like configuration."""

    def __init__(self, secret_key: str) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"onboardflow", info=b"stored-secrets"
        ).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self.key_id = hashlib.sha256(b"key-id:" + derived).hexdigest()[:16]
        """Names the key (boxes made from the same secret key share it) without revealing it."""

    def seal(self, value: Any) -> Any:
        """A copy with every secret string field encrypted (already sealed values are kept)."""
        return self._walk(value, self._seal_one)

    def open(self, value: Any) -> Any:
        """A copy with every sealed field decrypted."""
        return self._walk(value, self._open_one)

    def _seal_one(self, item: str) -> str:
        if item.startswith(PREFIX):
            return item
        return PREFIX + self._fernet.encrypt(item.encode()).decode()

    def _open_one(self, item: str) -> str:
        if not item.startswith(PREFIX):
            return item
        try:
            return self._fernet.decrypt(item[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise StoreUnavailable("a stored secret cannot be decrypted with this secret key") from exc

    def _walk(self, value: Any, change: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                key: change(item)
                if is_secret_name(str(key)) and isinstance(item, str) and item
                else self._walk(item, change)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self._walk(item, change) for item in value]
        return value
