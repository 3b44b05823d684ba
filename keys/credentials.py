"""The format of Client IDs and Client Secrets, and how secrets are digested.

Client Secret: ``sk_<env>_`` + 43 base62 characters (256 random bits from :mod:`secrets`) + 6 base62
characters of CRC32 over everything before them. Example shape::

    sk_live_3fK9…(43)…Qz1a9B

Client ID: ``ck_<env>_`` + 24 base62 characters (random, public, shown in lists).

The checksum lets us refuse a mistyped, truncated or extended secret without touching the database
or the cache, and the fixed shape lets secret scanners find leaked secrets with
:data:`SECRET_SCAN_PATTERN`: the one pattern this project uses wherever it looks for a secret
(parsing, refusing one in a key name or a search, scrubbing logs and error reports).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SECRET_RANDOM_LENGTH = 43  # 62**43 > 2**256
CHECKSUM_LENGTH = 6  # 62**6 > 2**32
CLIENT_ID_RANDOM_LENGTH = 24
ENVIRONMENTS = ("live", "test")

#: For secret scanners (GitHub, GitLab, trufflehog): finds a leaked Client Secret in any text. No
#: word boundary in front: a secret URL-encoded after a space or a colon ("Bearer%20sk_live_…",
#: "%3Ask_live_…") has a letter or digit right before it and must still be found.
SECRET_SCAN_PATTERN = r"sk_(?:live|test)_[0-9A-Za-z]{49}\b"
SECRET_RE = re.compile(SECRET_SCAN_PATTERN)
SECRET_LENGTH = len("sk_live_") + SECRET_RANDOM_LENGTH + CHECKSUM_LENGTH
CLIENT_ID_PATTERN = re.compile(r"ck_(live|test)_[0-9A-Za-z]{24}")


def _base62(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 62)
        chars.append(BASE62[rest])
    if number:
        raise ValueError("number does not fit")
    return "".join(reversed(chars))


def _checksum(payload: str) -> str:
    return _base62(zlib.crc32(payload.encode("ascii")), CHECKSUM_LENGTH)


def new_secret(environment: str) -> str:
    if environment not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {environment!r}")
    payload = f"sk_{environment}_" + _base62(secrets.randbits(256), SECRET_RANDOM_LENGTH)
    return payload + _checksum(payload)


def new_client_id(environment: str) -> str:
    if environment not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {environment!r}")
    return f"ck_{environment}_" + "".join(secrets.choice(BASE62) for _ in range(CLIENT_ID_RANDOM_LENGTH))


def is_well_formed_secret(text: str) -> bool:
    """Shape and checksum only: no database, no cache. Never raises."""
    if not isinstance(text, str) or len(text) != SECRET_LENGTH or SECRET_RE.fullmatch(text) is None:
        return False
    return hmac.compare_digest(_checksum(text[:-CHECKSUM_LENGTH]), text[-CHECKSUM_LENGTH:])


def contains_secret(text: str) -> bool:
    """Whether ``text`` holds something shaped like a Client Secret (checksum or not)."""
    return "sk_" in text and SECRET_RE.search(text) is not None


def is_well_formed_client_id(text: str) -> bool:
    return isinstance(text, str) and len(text) == 32 and CLIENT_ID_PATTERN.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class PresentedCredentials:
    secret: str
    client_id: str | None = None

    def __repr__(self) -> str:  # never print the secret, even in a traceback
        return f"PresentedCredentials(client_id={self.client_id!r}, secret='***')"


@sensitive_variables("value", "secret", "client_id")
def parse_presented(value: str) -> PresentedCredentials | None:
    """``<secret>`` or ``<client_id>:<secret>``; None when malformed or the checksum fails."""
    if not isinstance(value, str) or len(value) > 200:
        return None
    client_id: str | None
    client_id, sep, secret = value.strip().rpartition(":")
    if not sep:
        client_id = None
    elif not is_well_formed_client_id(client_id):
        return None
    if not is_well_formed_secret(secret):
        return None
    if client_id is not None and client_id.split("_")[1] != secret.split("_")[1]:
        return None
    return PresentedCredentials(secret=secret, client_id=client_id)


# ---- digests ----


@dataclass(frozen=True, slots=True)
class Pepper:
    id: str
    value: bytes


@lru_cache(maxsize=8)
def _peppers(configured: tuple[str, ...]) -> tuple[Pepper, ...]:
    peppers = []
    for text in configured:
        value = text.encode()
        # The id names the pepper without revealing it: an HMAC of a constant under the pepper.
        pepper_id = hmac.new(value, b"api-key-portal pepper id", hashlib.sha256).hexdigest()[:12]
        peppers.append(Pepper(id=pepper_id, value=value))
    return tuple(peppers)


def peppers() -> tuple[Pepper, ...]:
    """All accepted peppers, the current one first."""
    return _peppers(tuple(settings.KEY_PEPPERS))


def current_pepper() -> Pepper:
    return peppers()[0]


def digest(secret: str, pepper: Pepper) -> str:
    return hmac.new(pepper.value, secret.encode("ascii"), hashlib.sha256).hexdigest()


@sensitive_variables("secret")
def digests_of(secret: str) -> dict[str, str]:
    """The secret's digest under every accepted pepper, each with its pepper's id: what finds the key
    of a secret outside the hot path (which computes the others only on a cache miss)."""
    return {digest(secret, pepper): pepper.id for pepper in peppers()}
