"""Checking a presented secret: the hot path of every API request.

Order of work, cheapest first, so that junk costs nothing:

1. shape and CRC32 checksum (``keys.credentials``) — no database, no cache;
2. the HMAC digest under each accepted pepper;
3. this process's cache of verified keys, keyed by digest, trusted for ``KEY_CACHE_TTL_SECONDS``
   (1 s by default). Revocation and regeneration drop the entry in the process that made them, so
   they are immediate there, and at most that TTL late in every other worker;
4. one indexed SELECT (current digest or a grace-period digest, not revoked), through the plain
   ORM: with the cache in front it runs about once per key per second per worker.

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
from django.views.decorators.debug import sensitive_variables

from accounts.models import rate_limit_per_minute
from keys import credentials
from keys.models import ApiKey
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


# The columns the hot path needs, read in one SELECT joined to the key's account, application and
# organization.
_FIELDS = (
    "id",
    "organization_id",
    "application_id",
    "application__slug",
    "account_id",
    "account__path",
    "account__name",
    "role",
    "name",
    "client_id",
    "scopes",
    "created_at",
    "expires_at",
    "last_used_at",
    "rate_limit_override",
    "organization__plan",
    "organization__rate_limit_override",
    "secret_digest",
    "pepper_id",
    "previous_digest",
    "previous_pepper_id",
    "previous_expires_at",
)


def _look_up(digests: list[str]) -> dict | None:
    """The live key whose current or grace-period digest is one of these, as a dict of _FIELDS."""
    rows = (
        ApiKey.objects.filter(
            Q(secret_digest__in=digests) | Q(previous_digest__in=digests), revoked_at__isnull=True
        )
        .order_by()
        .values(*_FIELDS)[:1]
    )
    return next(iter(rows), None)


def snapshot(row: dict, *, via_grace_period: bool) -> VerifiedKey:
    """Freeze a looked-up row for the hot path."""
    expires_at = row["expires_at"]
    valid_until = expires_at
    if via_grace_period and row["previous_expires_at"] is not None:
        valid_until = min(filter(None, [expires_at, row["previous_expires_at"]]))
    scopes = tuple(row["scopes"] or ())
    return VerifiedKey(
        id=row["id"],
        organization_id=row["organization_id"],
        application_id=row["application_id"],
        application_slug=row["application__slug"],
        account_id=row["account_id"],
        account_path=row["account__path"],
        account_name=row["account__name"],
        role=row["role"],
        name=row["name"],
        client_id=row["client_id"],
        scopes=scopes,
        granted=expand_scopes(scopes),
        created_at=row["created_at"],
        expires_at=expires_at,
        last_used_at=row["last_used_at"],
        rate_limit=rate_limit_per_minute(
            row["organization__plan"], row["organization__rate_limit_override"], row["rate_limit_override"]
        ),
        valid_until=valid_until,
        via_grace_period=via_grace_period,
    )


@sensitive_variables("presented")
def verify_secret(presented: credentials.PresentedCredentials) -> VerifiedKey | None:
    """The key this secret (and Client ID, when given) belongs to, if it may be used right now."""
    now = timezone.now()
    # Nearly every key was made under the current pepper: try that digest in the cache first and
    # compute the others only on a miss.
    peppers = credentials.peppers()
    current = credentials.digest(presented.secret, peppers[0])
    cached = verified_keys.get(current)
    if cached is not None:
        return cached if cached.is_current(now) and _client_id_matches(presented, cached) else None
    digests = {current: peppers[0].id}
    for pepper in peppers[1:]:
        digest = credentials.digest(presented.secret, pepper)
        digests[digest] = pepper.id
        cached = verified_keys.get(digest)
        if cached is not None:
            return cached if cached.is_current(now) and _client_id_matches(presented, cached) else None

    row = _look_up(list(digests))
    if row is None:
        return None
    current_digest, previous_digest = row["secret_digest"], row["previous_digest"]
    via_grace = False
    if current_digest in digests and hmac.compare_digest(digests[current_digest], row["pepper_id"]):
        matched = current_digest
    elif (
        previous_digest in digests
        and hmac.compare_digest(digests[previous_digest], row["previous_pepper_id"])
        and row["previous_expires_at"] is not None
    ):
        matched, via_grace = previous_digest, True
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
