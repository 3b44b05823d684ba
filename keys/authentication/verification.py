"""Checking a presented secret: the hot path of every API request.

Order of work, cheapest first, so that junk costs nothing:

1. shape and CRC32 checksum (``keys.credentials``) — no database, no cache;
2. the HMAC digest under each accepted pepper;
3. this process's cache of verified keys, keyed by digest, trusted for ``KEY_CACHE_TTL_SECONDS``
   (1 s by default). Revocation and regeneration drop the entry in the process that made them, so
   they are immediate there, and at most that TTL late in every other worker;
4. one indexed SELECT (current digest or a grace-period digest, of a key that may still
   authenticate: ``keys.state.NOT_REVOKED``; an expired key, an ended grace period and a disabled
   key are refused after it by ``keys.state``'s rules, a disabled one counted as such), written once
   per database from the models' documented ``_meta`` API and run on a plain cursor.

Unknown key, wrong secret, expired, disabled, revoked and an ended grace period all give the same
``None``:
callers must not tell them apart (no key enumeration).
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connections, router
from django.db.models import Field, Model
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.debug import sensitive_variables

from accounts.models import rate_limit_per_minute
from keys import credentials, state
from keys.errors import ErrorCode
from keys.metering.requestlog import EXPIRED, WRONG_SECRET
from keys.models import ApiKey
from keys.networks import Network, address_allowed, compile_networks
from keys.scopes import expand_scopes

MAX_REMEMBERED_ADDRESSES = 256


@dataclass(frozen=True, slots=True)
class VerifiedKey:
    """What a request needs to know about the key that authenticated it; no secret, no digest."""

    id: uuid.UUID
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
    exposed: bool = False  # a live secret of it was seen by a member since deactivated
    allowed_ips: tuple[str, ...] = ()  # as stored and shown; empty: anywhere
    description: str = ""
    networks: tuple[Network, ...] = ()  # the same, parsed once
    # Answers already given for client addresses: parsing an address and matching it took 4.7 µs
    # for three networks; an integration calls from a handful of addresses.
    _ip_answers: dict[str | None, bool] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def has_scope(self, scope: str) -> bool:
        return scope in self.granted

    def allows_ip(self, ip: str | None) -> bool:
        """Whether the key may be used from this client address (always, without a list)."""
        if not self.networks:
            return True
        known = self._ip_answers.get(ip)
        if known is None:
            known = address_allowed(self.networks, ip)
            if len(self._ip_answers) < MAX_REMEMBERED_ADDRESSES:
                self._ip_answers[ip] = known
        return known

    def is_current(self, now: datetime) -> bool:
        return state.still_valid(self.valid_until, now)


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


# The key's own columns that the hot path needs (model field names), and what it needs of the
# key's application, account and organization (alias, model, field).
_KEY_FIELDS = (
    "id",
    "organization",
    "application",
    "account",
    "role",
    "name",
    "description",
    "client_id",
    "scopes",
    "created_at",
    "expires_at",
    "last_used_at",
    "rate_limit_override",
    "allowed_ips",
    "exposed_at",
    "previous_exposed_at",
    "secret_digest",
    "pepper_id",
    "previous_digest",
    "previous_pepper_id",
    "previous_expires_at",
    "disabled_at",
    "revoked_at",
)
_RELATED = (
    ("application_slug", "application", "slug"),
    ("account_path", "account", "path"),
    ("account_name", "account", "name"),
    ("organization_plan", "organization", "plan"),
    ("organization_rate_limit_override", "organization", "rate_limit_override"),
)


@lru_cache(maxsize=16)
def _look_up_sql(alias: str, digest_count: int) -> str:
    """One indexed SELECT with its three joins, written once per database and digest count from the
    models' documented ``_meta`` API. The ORM would build the same statement again for every cold
    verification: through ``filter().values()`` a cold request took 1,010 µs in-process, through
    ``raw()`` 470 µs, with this statement on a plain cursor about 350 µs."""
    quote = connections[alias].ops.quote_name
    meta = ApiKey._meta
    table = quote(meta.db_table)  # no alias: the state's predicate, compiled by Django, names it so

    def column(table: str, model: type[Model], name: str) -> str:
        field = model._meta.get_field(name)
        assert isinstance(field, Field) and field.column is not None  # a concrete column
        return f"{table}.{quote(field.column)}"

    def target_of(relation: str) -> type[Model]:
        model = meta.get_field(relation).related_model
        assert isinstance(model, type)  # a foreign key's model
        return model

    selected = [column(table, ApiKey, name) for name in _KEY_FIELDS]
    joins = []
    for relation in ("application", "account", "organization"):
        target = target_of(relation)
        joins.append(
            f"JOIN {quote(target._meta.db_table)} {relation} "
            f"ON {column(relation, target, target._meta.pk.name)} = {column(table, ApiKey, relation)}"
        )
    for alias_name, relation, field in _RELATED:
        target = target_of(relation)
        selected.append(f"{column(relation, target, field)} AS {quote(alias_name)}")
    marks = ", ".join(["%s"] * digest_count)
    return (
        f"SELECT {', '.join(selected)} FROM {table} {' '.join(joins)} "  # noqa: S608
        f"WHERE ({column(table, ApiKey, 'secret_digest')} IN ({marks}) "
        f"OR {column(table, ApiKey, 'previous_digest')} IN ({marks})) "
        f"AND {_may_authenticate_sql(alias)} LIMIT 1"
    )


def _may_authenticate_sql(alias: str) -> str:
    """``keys.state.NOT_REVOKED`` as SQL, compiled by Django's own compiler (it takes no
    parameters: a predicate that did would need them passed beside the digests)."""
    query = ApiKey.objects.filter(state.NOT_REVOKED).query
    sql, params = query.get_compiler(using=alias).compile(query.where)
    if params:
        raise ValueError("The hot path's look-up predicate takes no parameters.")
    return sql


def _uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _moment(value: object) -> datetime | None:
    """A stored UTC time: aware already (PostgreSQL), or naive or text (SQLite)."""
    if value is None or (isinstance(value, datetime) and timezone.is_aware(value)):
        return value
    moment = value if isinstance(value, datetime) else parse_datetime(str(value))
    assert moment is not None  # the column holds times only
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


# How each selected column becomes a Python value, in the order of _KEY_FIELDS then _RELATED: the
# shapes the two databases return (PostgreSQL: UUID and aware datetimes; SQLite: text and naive
# datetimes; JSON as text on both) are turned into what the model fields would give.
_CONVERT = {"id": _uuid, "scopes": _json, "allowed_ips": _json, "created_at": _moment}
_CONVERT |= {"expires_at": _moment, "exposed_at": _moment, "previous_exposed_at": _moment}
_CONVERT |= {"last_used_at": _moment, "previous_expires_at": _moment, "disabled_at": _moment}
_CONVERT |= {"revoked_at": _moment}
_NAMES = tuple(
    f"{name}_id" if name in ("organization", "application", "account") else name for name in _KEY_FIELDS
) + tuple(alias for alias, _, _ in _RELATED)


def _look_up(digests: list[str]) -> SimpleNamespace | None:
    """The key that may still authenticate (``keys.state.NOT_REVOKED``) whose current or
    grace-period digest is one of these, its columns (_NAMES) as attributes, as ``keys.state``
    reads a key (a disabled one too, so that it can be counted as such; it is refused all the same).
    Only identifiers from the models go into the SQL; the digests travel as parameters."""
    alias = router.db_for_read(ApiKey)
    with connections[alias].cursor() as cursor:
        cursor.execute(_look_up_sql(alias, len(digests)), [*digests, *digests])
        row = cursor.fetchone()
    if row is None:
        return None
    return SimpleNamespace(
        **{
            name: _CONVERT[name](value) if name in _CONVERT else value
            for name, value in zip(_NAMES, row, strict=True)
        }
    )


def snapshot(row: SimpleNamespace, *, via_grace_period: bool, now: datetime) -> VerifiedKey:
    """Freeze a looked-up key for the hot path."""
    expires_at = row.expires_at
    scopes = tuple(row.scopes or ())
    allowed_ips = tuple(row.allowed_ips or ())
    return VerifiedKey(
        id=row.id,
        organization_id=row.organization_id,
        application_id=row.application_id,
        application_slug=row.application_slug,
        account_id=row.account_id,
        account_path=row.account_path,
        account_name=row.account_name,
        role=row.role,
        name=row.name,
        description=row.description,
        client_id=row.client_id,
        scopes=scopes,
        granted=expand_scopes(scopes),
        created_at=row.created_at,
        expires_at=expires_at,
        last_used_at=row.last_used_at,
        rate_limit=rate_limit_per_minute(
            row.organization_plan, row.organization_rate_limit_override, row.rate_limit_override
        ),
        valid_until=state.valid_until(expires_at, row.previous_expires_at, via_grace_period=via_grace_period),
        via_grace_period=via_grace_period,
        exposed=state.exposed(row, now),
        allowed_ips=allowed_ips,
        networks=compile_networks(allowed_ips),
    )


@sensitive_variables("presented")
def verify_secret(presented: credentials.PresentedCredentials) -> VerifiedKey | None:
    """The key this secret (and Client ID, when given) belongs to, if it may be used right now."""
    return check_secret(presented)[0]


# Why a secret was refused, for counting only: every refusal gets the same answer.
UNAUTHORIZED = ErrorCode.UNAUTHORIZED.value
DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class NamedKey:
    """The key a refused attempt named, for its request log only (never for the answer): the key
    whose right secret was presented while it is disabled or expired, or the key of a presented
    Client ID whose secret was wrong. ``reason`` is one of ``keys.metering.requestlog.REASONS``."""

    id: uuid.UUID
    reason: str


class Check(NamedTuple):
    key: VerifiedKey | None
    outcome: str  # "ok", DISABLED or UNAUTHORIZED: what /metrics counts
    named: NamedKey | None = None  # a refused attempt's key, when it named one


@sensitive_variables("presented")
def check_secret(presented: credentials.PresentedCredentials) -> Check:
    """``(key, "ok")``, or ``(None, DISABLED)`` for the right secret of a disabled key, or
    ``(None, UNAUTHORIZED)`` for every other refusal (unknown, wrong, expired, revoked); a refusal
    also says which key it named, if any (:class:`NamedKey`)."""
    now = timezone.now()
    # Nearly every key was made under the current pepper: try that digest in the cache first and
    # compute the others only on a miss.
    peppers = credentials.peppers()
    current = credentials.digest(presented.secret, peppers[0])
    cached = verified_keys.get(current)
    if cached is not None:
        return _if_usable(presented, cached, now)
    digests = {current: peppers[0].id}
    for pepper in peppers[1:]:
        digest = credentials.digest(presented.secret, pepper)
        digests[digest] = pepper.id
        cached = verified_keys.get(digest)
        if cached is not None:
            return _if_usable(presented, cached, now)

    row = _look_up(list(digests))
    if row is None:
        return _refused(presented, None)
    current_digest, previous_digest = row.secret_digest, row.previous_digest
    via_grace = False
    if current_digest in digests and hmac.compare_digest(digests[current_digest], row.pepper_id):
        matched = current_digest
    elif (
        previous_digest in digests
        and hmac.compare_digest(digests[previous_digest], row.previous_pepper_id)
        and row.previous_expires_at is not None
    ):
        matched, via_grace = previous_digest, True
    else:
        return _refused(presented, None)
    key = snapshot(row, via_grace_period=via_grace, now=now)
    if not _client_id_matches(presented, key):
        return _refused(presented, None)
    if not key.is_current(now):
        return _refused(presented, NamedKey(key.id, EXPIRED))  # expired, or its grace period is over
    disabled = state.status_at(row, now) == state.KeyStatus.DISABLED
    if disabled:
        return Check(None, DISABLED, NamedKey(key.id, DISABLED))
    verified_keys.put(matched, key)
    return Check(key, "ok")


def _if_usable(presented: credentials.PresentedCredentials, key: VerifiedKey, now: datetime) -> Check:
    if not _client_id_matches(presented, key):
        return _refused(presented, None)
    if key.is_current(now):
        return Check(key, "ok")
    return _refused(presented, NamedKey(key.id, EXPIRED))


def _refused(presented: credentials.PresentedCredentials, named: NamedKey | None) -> Check:
    """A refusal; without a key of the secret's own, the key of the presented Client ID (one
    indexed look-up, on a refused attempt only) is the one it named, with a wrong secret."""
    if named is None and presented.client_id is not None:
        found = list(ApiKey.objects.filter(client_id=presented.client_id).values_list("pk", flat=True)[:1])
        if found:
            named = NamedKey(_uuid(found[0]), WRONG_SECRET)
    return Check(None, UNAUTHORIZED, named)


def _client_id_matches(presented: credentials.PresentedCredentials, key: VerifiedKey) -> bool:
    if presented.client_id is None:
        return True
    return hmac.compare_digest(presented.client_id, key.client_id)
