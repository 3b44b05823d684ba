"""Checking a presented secret: the hot path of every API request.

Order of work, cheapest first, so that junk costs nothing:

1. shape and CRC32 checksum (``keys.credentials``) — no database, no cache;
2. the HMAC digest under each accepted pepper;
3. this process's cache of verified keys, keyed by digest, trusted for ``KEY_CACHE_TTL_SECONDS``
   (1 s by default). Revocation and regeneration drop the entry in the process that made them, so
   they are immediate there, and at most that TTL late in every other worker;
4. one indexed SELECT (current digest or a grace-period digest, not revoked).

Unknown key, wrong secret, expired, revoked and an ended grace period all give the same ``None``:
callers must not tell them apart (no key enumeration).
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from keys import credentials
from keys.scopes import expand_scopes


@dataclass(frozen=True, slots=True)
class VerifiedKey:
    """What a request needs to know about the key that authenticated it; no secret, no digest."""

    id: object
    organization_id: int
    application_id: int
    application_slug: str
    account_id: int
    account_path: str
    account_name: str
    role: int
    name: str
    client_id: str
    scopes: tuple[str, ...]
    granted: frozenset[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    rate_limit: int
    valid_until: datetime | None  # the earlier of expiry and the grace period's end
    via_grace_period: bool

    def has_scope(self, scope: str) -> bool:
        return scope in self.granted

    def is_current(self, now: datetime) -> bool:
        return self.valid_until is None or now < self.valid_until


class VerifiedKeyCache:
    """Per-process, short-lived, keyed by digest (never by secret)."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self._entries: dict[str, tuple[float, VerifiedKey]] = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, digest: str) -> VerifiedKey | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop(digest, None)
            return None
        return entry[1]

    def put(self, digest: str, key: VerifiedKey) -> None:
        ttl = settings.KEY_CACHE_TTL_SECONDS
        if ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + ttl, key)

    def drop_key(self, key_id: object) -> None:
        with self._lock:
            for digest in [d for d, (_, k) in self._entries.items() if k.id == key_id]:
                self._entries.pop(digest, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


verified_keys = VerifiedKeyCache()


def snapshot(key, *, via_grace_period: bool) -> VerifiedKey:
    """Freeze an ApiKey row (with organization, application, account loaded) for the hot path."""
    valid_until = key.expires_at
    if via_grace_period and key.previous_expires_at is not None:
        valid_until = min(filter(None, [key.expires_at, key.previous_expires_at]))
    return VerifiedKey(
        id=key.id,
        organization_id=key.organization_id,
        application_id=key.application_id,
        application_slug=key.application.slug,
        account_id=key.account_id,
        account_path=key.account.path,
        account_name=key.account.name,
        role=key.role,
        name=key.name,
        client_id=key.client_id,
        scopes=tuple(key.scopes),
        granted=expand_scopes(key.scopes),
        created_at=key.created_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        rate_limit=key.rate_limit_per_minute,
        valid_until=valid_until,
        via_grace_period=via_grace_period,
    )


def verify_secret(presented: credentials.PresentedCredentials) -> VerifiedKey | None:
    """The key this secret (and Client ID, when given) belongs to, if it may be used right now."""
    from keys.models import ApiKey

    now = timezone.now()
    digests = credentials.candidate_digests(presented.secret)
    for digest in digests:
        cached = verified_keys.get(digest)
        if cached is not None:
            if cached.is_current(now) and _client_id_matches(presented, cached):
                return cached
            return None

    row = (
        ApiKey.objects.select_related("organization", "application", "account")
        .filter(Q(secret_digest__in=list(digests)) | Q(previous_digest__in=list(digests)))
        .filter(revoked_at__isnull=True)
        .first()
    )
    if row is None:
        return None
    via_grace = False
    if row.secret_digest in digests and hmac.compare_digest(digests[row.secret_digest], row.pepper_id):
        matched = row.secret_digest
    elif (
        row.previous_digest in digests
        and hmac.compare_digest(digests[row.previous_digest], row.previous_pepper_id)
        and row.previous_expires_at is not None
    ):
        matched, via_grace = row.previous_digest, True
    else:
        return None
    key = snapshot(row, via_grace_period=via_grace)
    if not key.is_current(now):
        return None
    verified_keys.put(matched, key)
    if not _client_id_matches(presented, key):
        return None
    return key


def _client_id_matches(presented: credentials.PresentedCredentials, key: VerifiedKey) -> bool:
    if presented.client_id is None:
        return True
    return hmac.compare_digest(presented.client_id, key.client_id)
