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

import dataclasses
import hmac
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connections, router
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import PLAN_LIMITS
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
    # The key object of SPEC §5 as JSON, rendered once per snapshot: GET /api/v1/key serves it
    # without re-validating a schema on every request (see keys.api.own_key).
    json: bytes = b""

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
# organization. Names follow the ORM so that its converters (UUID, JSON, aware datetimes) apply.
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
_COLUMN = {name: i for i, name in enumerate(_FIELDS)}


class _KeyLookup:
    """The verification SELECT, compiled by the ORM once per connection and digest count.

    Building the SQL was most of the cost of a cold verification (the ORM recompiles a queryset on
    every evaluation); the statement itself is a single indexed equality look-up.
    """

    def __init__(self) -> None:
        self._compiled: dict[tuple[str, int], tuple[str, list[int], object, list]] = {}
        self._lock = threading.Lock()

    def _compile(self, alias: str, count: int):
        from keys.models import ApiKey

        markers = [f"digest-marker-{i}" for i in range(count)]
        query = (
            ApiKey.objects.using(alias)
            .filter(Q(secret_digest__in=markers) | Q(previous_digest__in=markers), revoked_at__isnull=True)
            .order_by()
            .values_list(*_FIELDS)[:1]
        )
        compiler = query.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        if sorted(set(params)) != sorted(markers):  # the ORM changed shape: refuse to guess
            raise RuntimeError("unexpected parameters in the key look-up query")
        positions = [markers.index(p) for p in params]
        converters = compiler.get_converters([col[0] for col in compiler.select[: compiler.col_count]])
        return sql, positions, compiler, converters

    def fetch(self, digests: list[str]) -> tuple | None:
        from keys.models import ApiKey

        alias = router.db_for_read(ApiKey)
        compiled = self._compiled.get((alias, len(digests)))
        if compiled is None:
            with self._lock:
                compiled = self._compiled.setdefault(
                    (alias, len(digests)), self._compile(alias, len(digests))
                )
        sql, positions, compiler, converters = compiled
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, [digests[i] for i in positions])
            row = cursor.fetchone()
        if row is None:
            return None
        if converters:
            row = next(iter(compiler.apply_converters([row], converters)))
        return tuple(row)


key_lookup = _KeyLookup()


def snapshot(row: tuple, *, via_grace_period: bool) -> VerifiedKey:
    """Freeze a looked-up row for the hot path."""
    c = _COLUMN
    expires_at = row[c["expires_at"]]
    valid_until = expires_at
    if via_grace_period and row[c["previous_expires_at"]] is not None:
        valid_until = min(filter(None, [expires_at, row[c["previous_expires_at"]]]))
    rate_limit = row[c["rate_limit_override"]]
    if rate_limit is None:
        rate_limit = row[c["organization__rate_limit_override"]]
    if rate_limit is None:
        rate_limit = PLAN_LIMITS[row[c["organization__plan"]]]["rate_limit_per_minute"]
    scopes = tuple(row[c["scopes"]] or ())
    verified = VerifiedKey(
        id=row[c["id"]],
        organization_id=row[c["organization_id"]],
        application_id=row[c["application_id"]],
        application_slug=row[c["application__slug"]],
        account_id=row[c["account_id"]],
        account_path=row[c["account__path"]],
        account_name=row[c["account__name"]],
        role=row[c["role"]],
        name=row[c["name"]],
        client_id=row[c["client_id"]],
        scopes=scopes,
        granted=expand_scopes(scopes),
        created_at=row[c["created_at"]],
        expires_at=expires_at,
        last_used_at=row[c["last_used_at"]],
        rate_limit=int(rate_limit),
        valid_until=valid_until,
        via_grace_period=via_grace_period,
    )
    from keys.api import render_key_json  # the API owns the wire format

    return dataclasses.replace(verified, json=render_key_json(verified))


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

    row = key_lookup.fetch(list(digests))
    if row is None:
        return None
    c = _COLUMN
    current_digest, previous_digest = row[c["secret_digest"]], row[c["previous_digest"]]
    via_grace = False
    if current_digest in digests and hmac.compare_digest(digests[current_digest], row[c["pepper_id"]]):
        matched = current_digest
    elif (
        previous_digest in digests
        and hmac.compare_digest(digests[previous_digest], row[c["previous_pepper_id"]])
        and row[c["previous_expires_at"]] is not None
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
