"""The signing secrets at rest: encrypted with Fernet (AES-128-CBC and HMAC-SHA256, from the
`cryptography` library), since a secret must be usable to sign and so cannot be hashed.

The key: `CDRSTORE_WEBHOOKS_KEY` (a Fernet key: `cdrstore webhooks key` prints a new one); else a key
file made on first use, with mode 0600: beside an SQLite database (`<file>.webhooks-key`), or
`~/.config/cdrstore/webhooks-key` for any other database. Every process that delivers or enables
webhooks for one database must use the same key (docs/configuration.md#webhooks).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Final

from cryptography.fernet import Fernet, InvalidToken

from ..errors import DomainError

WEBHOOKS_KEY_ENV: Final = "CDRSTORE_WEBHOOKS_KEY"
KEY_FILE_SUFFIX: Final = ".webhooks-key"


class SealingError(DomainError):
    """The key is unusable, or does not open a stored secret (a different key was used)."""


def key_file(database_url: str) -> Path:
    """Where the generated key is kept for this database."""
    if database_url.startswith("sqlite:///") and database_url != "sqlite:///:memory:":
        return Path(database_url.removeprefix("sqlite:///") + KEY_FILE_SUFFIX)
    return Path.home() / ".config" / "cdrstore" / "webhooks-key"


def _read_or_make(path: Path) -> bytes:
    """The key in this file, made first if there is none (atomically: concurrent workers all end
    up with the one key that won)."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".webhooks-key-")  # mode 0600
    try:
        os.write(fd, Fernet.generate_key() + b"\n")
        os.fsync(fd)
        os.close(fd)
        with contextlib.suppress(FileExistsError):  # another process made the file first
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return path.read_bytes().strip()


class Sealer:
    """Encrypts and decrypts signing secrets with the configured key."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError:
            raise SealingError(
                f"{WEBHOOKS_KEY_ENV} (or the key file) is not a Fernet key: 32 bytes in url-safe"
                " base64, as `cdrstore webhooks key` prints"
            ) from None

    def __repr__(self) -> str:
        return "Sealer(<key>)"

    @classmethod
    def for_database(cls, database_url: str) -> Sealer:
        given = os.environ.get(WEBHOOKS_KEY_ENV, "").strip()
        return cls(given.encode() if given else _read_or_make(key_file(database_url)))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SealingError(
                f"a webhook secret cannot be decrypted with this key: {WEBHOOKS_KEY_ENV} (or the"
                " key file) is not the key it was sealed with"
            ) from None


def new_key() -> str:
    return Fernet.generate_key().decode()
