"""Secrets kept in the database (a robot's URL with its key, a signing secret), sealed with
Fernet (AES-128-CBC with HMAC-SHA256) under a key derived from FITMON_SECRET_KEY. The API seals
them and never returns them; only the notify process opens them."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr, model_validator

from db.settings import EnvironmentSettings

DEV_SECRET_KEY = "fitmon-development-secret-key"  # noqa: S105 - refused in production


class SecretKeySettings(EnvironmentSettings):
    """FITMON_SECRET_KEY: any string of at least 16 characters (a passphrase or a Fernet key)."""

    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)

    @model_validator(mode="after")
    def _refuse_dev_key_in_production(self) -> SecretKeySettings:
        key = self.secret_key.get_secret_value()
        if self.env == "prod" and key == DEV_SECRET_KEY:
            raise ValueError("FITMON_SECRET_KEY must be set in production")
        if len(key) < 16:
            raise ValueError("FITMON_SECRET_KEY must be at least 16 characters")
        return self


class SealError(Exception):
    """A sealed value that this key cannot open (the key changed, or the value is corrupt)."""


class Sealer:
    def __init__(self, secret_key: SecretStr) -> None:
        digest = hashlib.sha256(secret_key.get_secret_value().encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(sealed)).decode()
        except InvalidToken:
            raise SealError("cannot open a sealed secret: FITMON_SECRET_KEY changed?") from None
