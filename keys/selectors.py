"""Reads, always narrowed by the access policy: someone else's key is simply not found."""

from __future__ import annotations

import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.http import QueryDict
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts import permissions
from accounts.actors import Actor
from accounts.models import Application, Organization, User
from keys import credentials, state
from keys.errors import ErrorCode, KeyNotFound, ServiceError
from keys.filters import ApiKeyFilterSet
from keys.metering.usage import FIELDS as USAGE_FIELDS
from keys.models import ApiKey, ApiKeyQuerySet, KeyUsageDay
from keys.names import MAX_NAME_LENGTH
from keys.policy import NOTHING, SecurityPolicy, lifetime_filter, network_filter, outside_filter
from paging import (
    COUNT_CAP,
    NEXT,
    PREVIOUS,
    BadCursor,
    Keyset,
    capped_count,
    keyset_page,
    keyset_slice,
    rows_at,
)

# The portal's key list, the quota badge and the keys outside the policy count up to COUNT_CAP and
# then say "more than". The API lists count exactly (``total`` is part of their contract), from an
# index.
#: The longest page the API lists hand out (REST ``limit``, GraphQL ``first``).
MAX_PAGE = 100
#: The deepest ``offset`` the APIs accept; deeper pages are reached with their ``next`` cursor.
MAX_OFFSET = 1_000_000
#: The order of the API lists (newest first), and the one their cursors point into.
KEY_ORDER = Keyset("-created_at", "-id")


def visible_keys(actor: Actor) -> ApiKeyQuerySet:
    return ApiKey.objects.filter(permissions.key_filter(actor))


def listed_keys(actor: Actor, query: QueryDict | dict[str, Any]) -> ApiKeyFilterSet:
    """The keys the actor may see, filtered and sorted as ``query`` (a query string, or the same
    parameters from an API) says, with what a row of a list shows; ``.qs`` is the queryset, ``.form``
    the filter bar."""
    visible = visible_keys(actor)
    return ApiKeyFilterSet(
        query,
        visible.select_related("organization", "application", "account"),
        actor=actor,
        creators=lambda: creators_of(actor.organization_id, visible),
    )


@dataclass(frozen=True, slots=True)
class KeyPage:
    """A page of an API list: its keys, how many keys the list has, and the cursors of the pages
    after and before it (None at either end)."""

    keys: list[ApiKey]
    total: int
    next: str | None
    previous: str | None


def page_of_keys(
    actor: Actor, query: QueryDict | dict[str, Any], *, limit: int, offset: int = 0, cursor: str | None = None
) -> KeyPage:
    """The API lists (REST and GraphQL): newest first, ``limit`` keys from ``offset`` or from where
    ``cursor`` (a ``next`` or ``previous`` of an earlier page) points. A cursor page costs the same
    at any depth and neither skips nor repeats a key created or revoked meanwhile; an offset page
    reads the keys of the skipped rows from an index. ``total`` counts the list from an index."""
    if cursor and offset:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR, "Give either offset or cursor, not both.", field="cursor"
        )
    if not 0 <= offset <= MAX_OFFSET:
        raise ServiceError(ErrorCode.VALIDATION_ERROR, f"offset must be 0 to {MAX_OFFSET:,}.", field="offset")
    keys = listed_keys(actor, query).qs
    total = keys.count()
    if cursor or not offset:
        try:
            # Ids first: the order's index carries what the filters ask (ApiKey.Meta.indexes).
            page = keyset_page(keys, KEY_ORDER, size=limit, cursor=cursor, ids_first=True)
        except BadCursor:
            raise ServiceError(
                ErrorCode.VALIDATION_ERROR, "This cursor is not one this list handed out.", field="cursor"
            ) from None
        return KeyPage(page.rows, total, page.next, page.previous)
    found = rows_at(keys, offset, limit)
    more = offset + len(found) < total
    return KeyPage(
        found,
        total,
        KEY_ORDER.cursor(NEXT, found[-1]) if found and more else None,
        KEY_ORDER.cursor(PREVIOUS, found[0]) if found else None,
    )


@dataclass(frozen=True)
class SecretMatch:
    """The key a secret belongs to, and which of its secrets it is."""

    key: ApiKey
    previous: bool  # the secret kept for a grace period (else the current one)

    def live(self, now: datetime) -> bool:
        return state.secret_live(self.key, now, previous=self.previous)

    @property
    def which(self) -> str:
        return "previous" if self.previous else "current"


@sensitive_variables("secret")
def key_of_secret(keys: QuerySet[ApiKey], secret: str) -> SecretMatch | None:
    """The key among ``keys`` whose current or kept previous secret this is (any status: a revoked
    key keeps its current digest), or None. ``secret`` is well formed (checksum verified): one
    indexed look-up under every accepted pepper, the pepper then held to the one that made it."""
    digests = credentials.digests_of(secret)
    found = (
        keys.filter(Q(secret_digest__in=list(digests)) | Q(previous_digest__in=list(digests)))
        .select_related("organization", "application", "account")
        .first()
    )
    if found is None:
        return None
    if found.secret_digest in digests and hmac.compare_digest(digests[found.secret_digest], found.pepper_id):
        return SecretMatch(found, previous=False)
    previous = found.previous_digest
    if previous in digests and hmac.compare_digest(digests[previous or ""], found.previous_pepper_id):
        return SecretMatch(found, previous=True)
    return None


@dataclass(frozen=True, slots=True)
class KeySlice:
    """A slice of an API list as Relay's connections read it: its keys with a cursor each (the
    cursors of ``next`` and ``previous``: any of them marks its key), and whether there are keys
    after and before the slice. How many keys the whole list has is a query of its own
    (``keys.count()``), made only when asked for."""

    keys: list[ApiKey]
    cursors: list[str]
    has_next: bool
    has_previous: bool


def slice_of_keys(
    keys: QuerySet[ApiKey],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> KeySlice:
    """``first`` keys after the ``after`` cursor, or ``last`` keys before the ``before`` one, of a
    list (``listed_keys(...).qs``), newest first, on the cursors of :func:`page_of_keys`, in one
    query. Without ``first`` or ``last``, the first 50. Seen
    from a slice read forwards, there are keys before it when it starts after a cursor (and the
    other way round), as Relay allows when finding out would cost another query."""
    if first is not None and last is not None:
        raise ServiceError(ErrorCode.VALIDATION_ERROR, "Give first or last, not both.", field="first")
    size = last if last is not None else (50 if first is None else first)
    if not 1 <= size <= MAX_PAGE:
        name = "last" if last is not None else "first"
        raise ServiceError(ErrorCode.VALIDATION_ERROR, f"{name} must be 1 to {MAX_PAGE}.", field=name)
    try:
        # Ids first: the order's index carries what the filters ask (ApiKey.Meta.indexes).
        found = keyset_slice(
            keys, KEY_ORDER, size=size, after=after, before=before, from_end=last is not None, ids_first=True
        )
    except BadCursor:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR, "This cursor is not one this list handed out.", field="after"
        ) from None
    backwards = last is not None
    return KeySlice(
        keys=found.rows,
        cursors=[KEY_ORDER.cursor(NEXT, key) for key in found.rows],
        has_next=found.more if not backwards else before is not None,
        has_previous=found.more if backwards else after is not None,
    )


def get_visible_key(actor: Actor, key_id: str | uuid.UUID) -> ApiKey:
    """The key, or KeyNotFound for a malformed id, another tenant's key or one outside the subtree."""
    try:
        pk = key_id if isinstance(key_id, uuid.UUID) else uuid.UUID(str(key_id))
    except (ValueError, TypeError, AttributeError):
        raise KeyNotFound() from None
    key = (
        visible_keys(actor)
        .select_related(
            "organization",
            "application",
            "account",
            "created_by",
            "revoked_by",
            "secret_seen_by",
            "previous_secret_seen_by",
        )
        .filter(pk=pk)
        .first()
    )
    if key is None:
        raise KeyNotFound()
    return key


@dataclass(frozen=True, slots=True)
class Quota:
    in_use: int | None  # None: more than COUNT_CAP
    limit: int | None  # None: unlimited

    @property
    def full(self) -> bool:
        if self.limit is None:
            return False
        return self.in_use is None or self.in_use >= self.limit

    @property
    def label(self) -> str:
        """ "9 of 10 keys in use", "3 keys in use · no limit", "10,000+ keys in use · no limit": the
        same words as the list's summary, which says when revoked and expired keys (not in use) are
        listed too."""
        count = f"{COUNT_CAP:,}+" if self.in_use is None else str(self.in_use)
        if self.limit is None:
            return f"{count} key{'' if self.in_use == 1 else 's'} in use · no limit"
        return f"{count} of {self.limit} keys in use"


def key_quota(organization: Organization) -> Quota:
    """Keys in use against the plan's limit, counted up to ``COUNT_CAP`` (the service that creates
    keys counts exactly, under a lock)."""
    in_use = ApiKey.objects.filter(organization=organization).in_use()
    return Quota(capped_count(in_use, COUNT_CAP), organization.key_limit)


def outside_policy_counts(actor: Actor, policy: SecurityPolicy) -> dict[str, int]:
    """How many keys the actor may see, still in use, break the policy: ``lifetime`` (never
    expire or live too long), ``networks`` (usable from anywhere) and ``total`` (either). No query
    at all while the policy has no rule that existing keys could break."""
    rules = {"lifetime": lifetime_filter(policy), "networks": network_filter(policy)}
    if all(rule == NOTHING for rule in rules.values()):
        return {"lifetime": 0, "networks": 0, "total": 0}
    keys = visible_keys(actor).in_use()
    counts = keys.aggregate(
        total=Count("pk", filter=outside_filter(policy)),
        **{name: Count("pk", filter=rule) for name, rule in rules.items() if rule != NOTHING},
    )
    return {"lifetime": 0, "networks": 0, **counts}


def outside_policy_count(actor: Actor, policy: SecurityPolicy) -> int | None:
    """How many keys the actor may see, still in use, break the policy, counted up to ``COUNT_CAP``
    (None: more); no query while the policy has no rule that existing keys could break."""
    rule = outside_filter(policy)
    if rule == NOTHING:
        return 0
    return capped_count(visible_keys(actor).in_use().filter(rule), COUNT_CAP)


def suggest_key_name(organization: Organization, application: Application) -> str:
    """A readable default that no live key of the organization uses yet: "InCharge key 3"."""
    base = f"{application.name} key"
    taken = {
        n.lower()
        for n in ApiKey.objects.filter(
            state.NOT_REVOKED, organization=organization, name__istartswith=base
        ).values_list("name", flat=True)
    }
    number = 1
    while f"{base} {number}".lower() in taken:
        number += 1
    return f"{base} {number}"


COPY_SUFFIX = re.compile(r" \((\d+)\)$")


def suggest_copy_name(organization: Organization, name: str) -> str:
    """A free name for a key made like ``name``: "SAP ERP Integration (2)", then "(3)"… (a copy
    of "X (2)" is "X (3)", not "X (2) (2)")."""
    base = COPY_SUFFIX.sub("", name)
    taken = {
        n.lower()
        for n in ApiKey.objects.filter(
            organization=organization, revoked_at__isnull=True, name__istartswith=base
        ).values_list("name", flat=True)
    }
    longest = MAX_NAME_LENGTH
    number = 2
    while True:
        suffix = f" ({number})"
        candidate = base[: longest - len(suffix)].rstrip() + suffix
        if candidate.lower() not in taken:
            return candidate
        number += 1


def creators_of(organization_id: int, keys: QuerySet[ApiKey]) -> list[User]:
    """People who created one of these keys (the list's "Created by" filter), in one query that asks
    each member of the organization (and each platform superuser) whether they created one: a few
    index look-ups per person, however many keys there are."""
    people = User.objects.filter(Q(organization_id=organization_id) | Q(organization__isnull=True))
    return list(people.filter(Exists(keys.filter(created_by=OuterRef("pk")))).order_by("email"))


# ---- usage ----

USAGE_DAYS_DEFAULT = 30
USAGE_DAYS_MAX = 90
USAGE_DAYS_MESSAGE = f"Choose a number of days from 1 to {USAGE_DAYS_MAX}."
# What the key page calls errors: refused or failed calls (4xx and 5xx answers). Rate-limited calls
# (429) are counted apart: they say the key is busy, not that something is wrong.
ERROR_FIELDS = ("client_errors", "denied", "server_errors")


def usage_totals(key: ApiKey) -> dict[str, int]:
    """All-time counts of a key by outcome: total, success, client_errors, denied, rate_limited,
    server_errors, and errors (the three kinds of error together)."""
    totals = KeyUsageDay.objects.filter(key=key).aggregate(**{name: Sum(name) for name in USAGE_FIELDS})
    counts = {name: value or 0 for name, value in totals.items()}
    return {**counts, "errors": sum(counts[name] for name in ERROR_FIELDS)}


@dataclass(frozen=True, slots=True)
class UsageDay:
    """A key's calls on one UTC day; ``errors`` and ``rate_limited`` as in :func:`usage_totals`."""

    day: date
    calls: int
    success: int
    errors: int
    rate_limited: int

    @property
    def failed(self) -> int:
        """Every call that did not succeed: errors and rate-limited calls alike."""
        return self.calls - self.success


def daily_usage(key: ApiKey, days: int) -> list[UsageDay]:
    """The key's counts for each of the last ``days`` UTC days (1 to ``USAGE_DAYS_MAX``), oldest
    first and today last, in one query. A day without calls has no row but is part of the answer,
    with zeros: a chart or an export needs every day, and one place fills them in for all of them.

    ``days`` is checked here again, not only by the forms and schemas in front: it sizes the list."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= USAGE_DAYS_MAX:
        raise ServiceError(ErrorCode.VALIDATION_ERROR, USAGE_DAYS_MESSAGE, field="days")
    today = timezone.now().date()
    first = today - timedelta(days=days - 1)
    columns = ("total", "success", "rate_limited", *ERROR_FIELDS)
    in_range = KeyUsageDay.objects.filter(key=key, day__gte=first, day__lte=today)
    rows = {row["day"]: row for row in in_range.values("day", *columns)}
    no_calls = dict.fromkeys(columns, 0)
    found = []
    for day in (first + timedelta(days=n) for n in range(days)):
        row = rows.get(day, no_calls)
        found.append(
            UsageDay(
                day=day,
                calls=row["total"],
                success=row["success"],
                errors=sum(row[name] for name in ERROR_FIELDS),
                rate_limited=row["rate_limited"],
            )
        )
    return found
