"""API keys and their usage counters.

How secrets are stored, and why:

* A key has a public **Client ID** (``ck_live_…``) and a **Client Secret** (``sk_live_…``): 256 random
  bits in base62 followed by a CRC32 checksum, so a mistyped or truncated secret is refused before
  any look-up and a leaked one is found by a regular expression (see ``keys.credentials``).
* The secret is shown once and never stored. We keep ``HMAC-SHA256(pepper, secret)``, the pepper
  coming from the environment (``KEY_PEPPERS``), never from the database, so a stolen database dump
  alone verifies nothing. A 256-bit random secret cannot be brute-forced, so a slow hash (Argon2)
  would add cost to every API request and no safety; the HMAC makes the look-up a single indexed
  equality.
* ``pepper_id`` records which pepper made the digest, so peppers can be rotated: new digests use
  the first pepper, old ones keep working while their pepper is still listed.
* During a regeneration grace period the old digest lives on in ``previous_digest`` until
  ``previous_expires_at``; revocation clears it.

What a key may do (application, account, role, scopes) is fixed at creation: there is no service
that widens a key. An update may only rename it, bring its expiry earlier or narrow its allowed
networks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import OuterRef
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, Application, Organization, Role, User, rate_limit_per_minute
from keys import state
from keys.names import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH, fingerprint
from keys.state import EXPOSED_CANDIDATES, KeyStatus

__all__ = ["EXPOSED_CANDIDATES", "ApiKey", "ApiKeyQuerySet", "KeyFlag", "KeyStatus", "KeyUsageDay"]


class KeyFlag(models.TextChoices):
    """Derived flags the portal shows and filters on."""

    EXPIRING_SOON = "expiring_soon", "Expiring soon"
    ROTATION_DUE = "rotation_due", "Rotation due"
    IDLE = "idle", "Idle"
    OUTSIDE_POLICY = "outside_policy", "Outside the security policy"
    EXPOSED = "exposed", "Exposed (seen by a deactivated member, or reported leaked)"


EXPIRING_SOON = timedelta(days=7)
#: The longest address of a place a leaked secret was found that is kept.
MAX_SOURCE_URL_LENGTH = 2000
IDLE_AFTER = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class SecretState:
    """One secret of a key and whether it is accepted now, in words: ``text``, then the moment
    ``until`` and ``after`` when there is one ("Still works until" Dec 5, 2026 10:00 ".")."""

    label: str
    works: bool
    text: str
    until: datetime | None = None
    after: str = "."


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def with_status(self, status: str, now: datetime | None = None) -> ApiKeyQuerySet:
        """The keys whose ``ApiKey.status_at`` is ``status`` (``keys.state``); any other value
        narrows nothing."""
        if status not in KeyStatus.values:
            return self
        return self.filter(state.status_q(status, now or timezone.now()))

    def with_flag(self, flag: str, rotation_policy_days: int, now: datetime | None = None) -> ApiKeyQuerySet:
        """Active keys with a derived flag, by the same rules as the properties of ``ApiKey``:
        ``expiring_soon``, ``rotation_due`` (secret older than the organization's rotation period)
        or ``idle``."""
        now = now or timezone.now()
        active = self.with_status(KeyStatus.ACTIVE, now)
        if flag == KeyFlag.EXPIRING_SOON:
            return active.filter(expires_at__lt=now + EXPIRING_SOON)
        if flag == KeyFlag.ROTATION_DUE:
            due = now - timedelta(days=rotation_policy_days)
            return active.filter(
                models.Q(regenerated_at__isnull=True, created_at__lt=due) | models.Q(regenerated_at__lt=due)
            )
        if flag == KeyFlag.IDLE:
            unused = now - IDLE_AFTER
            return active.filter(
                models.Q(last_used_at__isnull=True, created_at__lt=unused) | models.Q(last_used_at__lt=unused)
            )
        raise ValueError(f"Unknown flag {flag!r}")

    def seen_by(self, member: User | int | OuterRef, now: datetime | None = None) -> ApiKeyQuerySet:
        """Keys in use with a live secret that ``member`` (a user, its id or an ``OuterRef``) saw:
        the current one, or the previous one while its grace period lasts."""
        now = now or timezone.now()
        return self.in_use(now).filter(
            models.Q(secret_seen_by=member)
            | (models.Q(previous_secret_seen_by=member) & state.grace_active_q(now))
        )

    def exposed(self, now: datetime | None = None) -> ApiKeyQuerySet:
        """Keys with a live secret that a deactivated member has seen (see ``ApiKey.exposed``)."""
        return self.filter(state.exposed_q(now or timezone.now()))

    def in_use(self, now: datetime | None = None) -> ApiKeyQuerySet:
        """Keys that count against the plan's key limit: neither revoked nor expired (a disabled
        key still counts: it can be enabled again)."""
        return self.filter(state.in_use_q(now or timezone.now()))


class NameFingerprintField(models.CharField):
    """``keys.names.fingerprint`` of the row's ``name``, computed whenever the row is written
    (``save()`` and ``bulk_create()`` alike), so no code path can store a name without it. A
    ``save(update_fields=...)`` that changes the name lists this field too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        assert isinstance(model_instance, ApiKey)  # the one model with this field
        value = fingerprint(model_instance.name)
        setattr(model_instance, self.attname, value)
        return value


class CopiedField(models.CharField):
    """A copy of a column of a row the key points at (``source``: ``"application.name"``), so that
    the key lists can sort by it through an index of the keys table (a sort on the joined table
    sorts every key). Written whenever the key row is written (``save()`` and ``bulk_create()``
    alike: a key's application and account are fixed at creation), and rewritten for every key of an
    application or account subtree when that row changes (``keys.services.refresh_copies``, on each
    save of an ``Application`` or ``Account``)."""

    def __init__(self, *args: Any, source: str = "", **kwargs: Any) -> None:
        self.source = source
        kwargs.setdefault("editable", False)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        relation, column = self.source.split(".")
        value = getattr(getattr(model_instance, relation), column)
        setattr(model_instance, self.attname, value)
        return value


#: What the key lists filter on: every list index carries it (``list_index``).
LISTS_FILTER_ON = (
    *("created_at", "id", "application", "account", "role", "created_by"),
    *("revoked_at", "expires_at", "disabled_at", "last_used_at", "regenerated_at"),
    *("secret_seen_by", "previous_secret_seen_by", "previous_expires_at"),
)
#: The index of each sort of the key lists (``keys.filters.order_keys``), after the organization.
LIST_INDEXES: dict[str, tuple[str, ...]] = {
    "key_list_created": ("-created_at", "-id"),
    "key_list_name": ("name", "-created_at", "-id"),
    "key_list_last_used": ("last_used_at", "-created_at", "-id"),
    "key_list_expires": ("expires_at", "-created_at", "-id"),
    "key_list_role": ("role", "-created_at", "-id"),
    "key_list_role_desc": ("-role", "-created_at", "-id"),
    "key_list_application": ("application_name", "-created_at", "-id"),
    "key_list_application_desc": ("-application_name", "-created_at", "-id"),
    "key_list_account": ("account_path", "-created_at", "-id"),
    "key_list_account_desc": ("-account_path", "-created_at", "-id"),
}


def list_index(name: str, *fields: str) -> models.Index:
    """An index of the key lists: the organization, the sort's ``fields``, carrying the rest of
    ``LISTS_FILTER_ON``."""
    keys = {f.lstrip("-") for f in fields}
    include = [c for c in LISTS_FILTER_ON if c not in keys]
    return models.Index(fields=["organization", *fields], include=include, name=name)


class ApiKey(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Not indexed alone: every index of the lists below starts with it.
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="api_keys", db_index=False
    )
    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="api_keys")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="api_keys")
    role = models.PositiveSmallIntegerField(choices=Role.choices)
    # What the lists sort by for "Application" and "Account" (see CopiedField).
    application_name = CopiedField(max_length=120, source="application.name")
    account_path = CopiedField(max_length=1000, source="account.path")
    name = models.CharField(max_length=MAX_NAME_LENGTH)
    # The name as people read it (keys.names): unique among the organization's live keys.
    name_fingerprint = NameFingerprintField(default="")
    description = models.TextField(
        blank=True,
        default="",
        max_length=MAX_DESCRIPTION_LENGTH,
        help_text="Who runs the integration, where its secret lives: optional, shown on the key's page.",
    )
    scopes = models.JSONField(default=list, help_text="Scope strings, fixed at creation.")

    client_id = models.CharField(max_length=64, unique=True, editable=False)
    secret_digest = models.CharField(max_length=64, unique=True, editable=False)
    pepper_id = models.CharField(max_length=16, editable=False)
    previous_digest = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    previous_pepper_id = models.CharField(max_length=16, blank=True, default="", editable=False)
    previous_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    allowed_ips = models.JSONField(
        default=list,
        blank=True,
        help_text="Networks the key may be used from (addresses or CIDR ranges); empty: anywhere.",
    )

    rate_limit_override = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests per minute for this key; empty uses the plan's."
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by_key = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    regenerated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Who saw the reveal of the current secret (and of the grace-period one): whoever created or
    # last regenerated the key. A key made by another key or by a command names that instead.
    secret_seen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="seen_secrets",
        editable=False,
        db_index=False,  # key_seen_by starts with it
    )
    secret_seen_by_label = models.CharField(max_length=200, blank=True, default="", editable=False)
    # The key through which the current secret (and the grace-period one) was seen: the key that
    # created or last regenerated this one. Whoever saw that key's secret could have done it, so
    # this key is exposed whenever that one is (``keys.lineage``).
    secret_seen_through = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    previous_secret_seen_through = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    previous_secret_seen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="seen_previous_secrets",
        editable=False,
    )
    # Exposed: a member who saw the secret has been deactivated, or the secret was reported leaked.
    # Cleared by regenerating (the old secret, if kept for a grace period, stays exposed until it
    # stops) or revoking.
    exposed_at = models.DateTimeField(null=True, blank=True, editable=False)
    exposed_reason = models.CharField(max_length=300, blank=True, default="", editable=False)
    # Where the secret was found, when it was reported leaked (``keys.leaks``); empty otherwise.
    exposed_source_url = models.CharField(
        max_length=MAX_SOURCE_URL_LENGTH, blank=True, default="", editable=False
    )
    previous_exposed_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Paused since then; enabling brings the same secret back.",
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_by_label = models.CharField(max_length=200, blank=True, default="", editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    recent_ips = models.JSONField(
        default=list,
        blank=True,
        editable=False,
        help_text='[{"ip": "...", "seen": "ISO time"}], newest first',
    )
    expiry_notice_sent_for = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="The expiry that notify_expiring_keys announced."
    )
    rotation_notice_sent_for = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="The secret (by its issue time) whose rotation notify_expiring_keys announced.",
    )
    policy_notice_sent_for = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="The policy change (by its time) after which notify_expiring_keys announced this key.",
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name_fingerprint"],
                condition=state.NOT_REVOKED,
                name="key_name_fingerprint_unique_among_live_keys",
            ),
        ]
        # One index per sort of the key lists (and per direction where ties would otherwise come
        # out oldest first), each starting with the organization and carrying every column the
        # lists filter on: any filter under any sort, at any depth, is a walk of one index that
        # never reads the table (PostgreSQL; SQLite ignores ``include``). PostgreSQL also gets the
        # descending "empty last" orders and a trigram index for name search: see
        # ``keys.migrations.0009_indexes_for_large_lists`` and ``0014_indexes_for_every_filter_and_sort``.
        indexes = [
            *(list_index(name, *fields) for name, fields in LIST_INDEXES.items()),
            # The keys whose secret each member saw (Members counts them per member on every view),
            # carrying what says whether the actor may see the key and whether it is in use.
            models.Index(
                fields=["secret_seen_by"],
                include=["organization", "account", "role", "revoked_at", "expires_at"],
                name="key_seen_by",
            ),
            # The few exposed keys (the banner on API Keys and Members counts them on every view).
            models.Index(fields=["organization"], condition=EXPOSED_CANDIDATES, name="key_org_exposed"),
            # The few disabled keys, newest first: the API lists' count and pages of status=disabled
            # (a walk of every key's index entry otherwise: 113 ms at 100,000 keys, 9 ms with it).
            models.Index(
                fields=["organization", "-created_at", "-id"],
                include=["expires_at"],
                condition=state.DISABLED_CANDIDATES,
                name="key_org_disabled",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    # ---- derived state (``keys.state``) ----
    def status_at(self, now: datetime) -> KeyStatus:
        return state.status_at(self, now)

    @property
    def status(self) -> KeyStatus:
        return self.status_at(timezone.now())

    def secret_states_at(self, now: datetime) -> list[SecretState]:
        """What is true of each secret of the key, by the same precedence as ``status_at``: the
        current one, and the previous one while its grace period runs. Disabling pauses both;
        enabling before the grace period ends brings the previous one back until then."""
        status = self.status_at(now)
        if status == KeyStatus.REVOKED:
            return [SecretState("Every secret", False, "Refused for good: the key is revoked.")]
        if status == KeyStatus.EXPIRED:
            return [SecretState("Every secret", False, "Refused: the key expired on", self.expires_at)]
        in_grace = self.previous_digest is not None and (
            self.previous_expires_at is not None and self.previous_expires_at > now
        )
        if status == KeyStatus.DISABLED:
            states = [
                SecretState(
                    "Current secret",
                    False,
                    "Refused while the key is disabled; works again once it is enabled.",
                )
            ]
            if in_grace:
                states.append(
                    SecretState(
                        "Previous secret",
                        False,
                        "Refused while the key is disabled; if the key is enabled before",
                        self.previous_expires_at,
                        ", it works again until then.",
                    )
                )
            return states
        states = [SecretState("Current secret", True, "Works.")]
        if in_grace:
            states.append(SecretState("Previous secret", True, "Still works until", self.previous_expires_at))
        return states

    @property
    def secret_states(self) -> list[SecretState]:
        return self.secret_states_at(timezone.now())

    @property
    def previous_secret_works(self) -> bool:
        """The previous secret is accepted now: in its grace period, and the key active."""
        return any(state.works and state.label == "Previous secret" for state in self.secret_states)

    @property
    def is_active(self) -> bool:
        return self.status == KeyStatus.ACTIVE

    @property
    def expiring_soon(self) -> bool:
        now = timezone.now()
        return self.status_at(now) == KeyStatus.ACTIVE and (
            self.expires_at is not None and self.expires_at - now < EXPIRING_SOON
        )

    @property
    def secret_issued_at(self) -> datetime:
        """When the current secret was issued: at creation or at the last regeneration."""
        return self.regenerated_at or self.created_at

    @property
    def rotation_due(self) -> bool:
        days = self.organization.rotation_policy_days
        return self.is_active and timezone.now() - self.secret_issued_at > timedelta(days=days)

    @property
    def idle(self) -> bool:
        seen = self.last_used_at or self.created_at
        return self.is_active and timezone.now() - seen > IDLE_AFTER

    @property
    def grace_active(self) -> bool:
        return state.grace_active(self, timezone.now())

    @property
    def exposed(self) -> bool:
        """A live secret of this key was seen by a member who has since been deactivated, or was
        reported leaked: the current one, or the previous one while its grace period lasts."""
        return state.exposed(self, timezone.now())

    @property
    def exposure(self) -> dict[str, Any] | None:
        """Why and since when the key is exposed, and where its secret was found when it was
        reported leaked; None when it is not exposed. Every surface shows this one answer."""
        since = state.exposed_since(self, timezone.now())
        if since is None:
            return None
        return {"reason": self.exposed_reason, "source_url": self.exposed_source_url or None, "at": since}

    def allows(self, action: state.Action) -> bool:
        """Whether the key's status allows ``action`` now."""
        return state.allows(self.status, action)

    @property
    def rate_limit_per_minute(self) -> int:
        organization = self.organization
        return rate_limit_per_minute(
            organization.plan, organization.rate_limit_override, self.rate_limit_override
        )

    def get_absolute_url(self) -> str:
        return reverse("keys:detail", args=[self.pk])


class KeyUsageDay(models.Model):
    """Calls of one key on one UTC day, written in batches from the per-process buffer."""

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="usage_days")
    day = models.DateField()
    total = models.PositiveBigIntegerField(default=0)
    success = models.PositiveBigIntegerField(default=0)
    client_errors = models.PositiveBigIntegerField(default=0)
    denied = models.PositiveBigIntegerField(default=0)
    rate_limited = models.PositiveBigIntegerField(default=0)
    server_errors = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["key", "day"]
        constraints = [models.UniqueConstraint(fields=["key", "day"], name="one_usage_row_per_key_day")]

    def __str__(self) -> str:
        return f"{self.key_id} {self.day}: {self.total}"


class RequestLogEntry(models.Model):
    """One request made with a key, or one refused attempt that named a key (by its Client ID, or
    by the right secret of a disabled or expired key). Never a secret, a header value, a body or a
    query string value. Written in batches by the request log buffer (``keys.metering.requestlog``).

    On PostgreSQL the table is partitioned by UTC day on ``time`` (the migration writes it; the
    buffer's writer creates each day's partition ahead) and old days leave by dropping a partition;
    on SQLite it is a plain table whose old rows leave by a range delete on the ``time`` index. The
    key is a plain column, not a foreign key: a log outlives nothing and must never slow a key's
    deletion."""

    id = models.BigAutoField(primary_key=True)
    time = models.DateTimeField()
    key_id = models.UUIDField()
    method = models.CharField(max_length=8)
    route = models.CharField(max_length=200, blank=True, default="")
    path = models.CharField(max_length=500)
    status = models.PositiveSmallIntegerField()
    status_class = models.PositiveSmallIntegerField()  # status // 100: the filter's 2xx … 5xx, indexed
    error_code = models.CharField(max_length=40, blank=True, default="")
    # Why a request was refused, when the code alone does not say: one of keys.metering.requestlog's
    # REASONS, with the scope, network or limit it is about in ``detail``.
    reason = models.CharField(max_length=20, blank=True, default="")
    detail = models.CharField(max_length=200, blank=True, default="")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    duration_us = models.PositiveIntegerField()
    request_id = models.CharField(max_length=128)
    surface = models.CharField(max_length=8)  # rest or graphql
    operation = models.CharField(max_length=100, blank=True, default="")  # GraphQL's operation name
    operation_type = models.CharField(max_length=12, blank=True, default="")  # query or mutation

    class Meta:
        indexes = [
            # A key's page of requests, newest first (and the usage card's last 24 hours).
            models.Index(fields=["key_id", "-time", "-id"], name="request_log_key_time"),
            # The same, by status class (2xx … 5xx).
            models.Index(fields=["key_id", "status_class", "-time", "-id"], name="request_log_key_class"),
            # The same, by error code.
            models.Index(
                fields=["key_id", "error_code", "-time", "-id"],
                name="request_log_key_code",
                condition=~models.Q(error_code=""),
            ),
            # Retention on SQLite: rows older than REQUEST_LOG_DAYS leave by a range delete.
            models.Index(fields=["time"], name="request_log_time"),
        ]

    @property
    def duration_ms(self) -> float:
        return self.duration_us / 1000

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.method} {self.path} {self.status}"
