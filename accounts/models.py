"""Tenants, the account tree, users, roles and applications.

Nothing here knows about API keys: the ``keys`` app builds on this one, never the other way round.
"""

from __future__ import annotations

import re
from collections import defaultdict
from enum import StrEnum
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.timezones import DEFAULT_TIME_ZONE


class Role(models.IntegerChoices):
    """Ordered: each role includes every role below it. The numbers leave room between roles."""

    VIEWER = 10, "Viewer"
    SUPPORT = 20, "Support"
    ADMIN = 30, "Admin"
    ADMIN_API = 40, "Admin + API"
    ADVANCED_ADMIN = 50, "Advanced Admin"

    @classmethod
    def at_most(cls, role: int) -> list[Role]:
        """Roles a holder of ``role`` may hand out, highest first."""
        return [r for r in sorted(cls, reverse=True) if r <= role]

    @property
    def api_name(self) -> str:
        """The role as the REST and GraphQL APIs write it: ``advanced_admin``, ``admin_api``, …"""
        return self.name.lower()

    @classmethod
    def api_name_of(cls, value: int) -> str | None:
        """The API name of a stored role number; None for none (0: a user without membership)."""
        return cls(value).api_name if value in cls.values else None

    @classmethod
    def from_name(cls, value: str) -> Role:
        """Accepts ``advanced_admin`` (the API name), ``Advanced Admin``, ``admin+api``, ``50`` and
        the like."""
        text = str(value).strip()
        if text.isdigit() and int(text) in cls.values:
            return cls(int(text))
        wanted = re.sub(r"[^a-z]", "", text.lower().replace("+", "plus"))
        for role in cls:
            names = {
                re.sub(r"[^a-z]", "", role.api_name),
                re.sub(r"[^a-z]", "", role.label.lower().replace("+", "plus")),
                re.sub(r"[^a-z]", "", role.label.lower()),
            }
            if wanted in names:
                return role
        raise ValueError(f"Unknown role {value!r}; choose one of: {', '.join(r.name.lower() for r in cls)}")


class LeakPolicy(models.TextChoices):
    """What happens to a key whose live secret is reported leaked (a secret scanner, an admin)."""

    REVOKE = "revoke", "Revoke the key"
    DISABLE = "disable", "Disable it"
    FLAG = "flag", "Flag it exposed only"


# The roles by their API names, highest first: the one role vocabulary of REST (its OpenAPI enum)
# and GraphQL (its KeyRole enum), generated from Role so that the two cannot drift apart (the
# model's numbers stay out of the APIs). Members computed at import: mypy cannot list them (it
# wants literals).
KeyRole = StrEnum("KeyRole", {role.name: role.api_name for role in sorted(Role, reverse=True)})  # type: ignore[misc]
KeyRole.__doc__ = "The role a key acts with; each includes the ones below it."


class Plan(models.TextChoices):
    PROFESSIONAL = "professional", "Professional"
    ENTERPRISE = "enterprise", "Enterprise"


# key_limit None means unlimited.
PLAN_LIMITS: dict[str, dict[str, int | None]] = {
    Plan.PROFESSIONAL: {"key_limit": 10, "rate_limit_per_minute": 100},
    Plan.ENTERPRISE: {"key_limit": None, "rate_limit_per_minute": 500},
}


def rate_limit_per_minute(
    plan: str, organization_override: int | None, key_override: int | None = None
) -> int:
    """Requests per minute for a key: its own limit, else its organization's, else its plan's."""
    if key_override is not None:
        return key_override
    if organization_override is not None:
        return organization_override
    return int(PLAN_LIMITS[plan]["rate_limit_per_minute"] or 0)


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.PROFESSIONAL)
    key_limit_override = models.PositiveIntegerField(
        null=True, blank=True, help_text="Overrides the plan's key limit when set."
    )
    rate_limit_override = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Overrides the plan's requests per minute per key when set.",
    )
    # The security policy, set by the organization's Advanced Admins on Settings → Security.
    rotation_policy_days = models.PositiveIntegerField(
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="A key's secret is due for rotation once it is older than this.",
    )
    max_key_lifetime_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Every new key must expire within this many days; empty: no limit.",
    )
    require_ip_allowlist = models.BooleanField(
        default=False, help_text="Every new key must be limited to at least one allowed network."
    )
    leak_policy = models.CharField(
        max_length=16,
        choices=LeakPolicy.choices,
        default=LeakPolicy.REVOKE,
        help_text="What happens at once to a key whose live secret is reported leaked.",
    )
    policy_updated_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the rules for keys (rotation, lifetime, networks) last changed.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def key_limit(self) -> int | None:
        if self.key_limit_override is not None:
            return self.key_limit_override
        return PLAN_LIMITS[self.plan]["key_limit"]

    @property
    def rate_limit_per_minute(self) -> int:
        return rate_limit_per_minute(self.plan, self.rate_limit_override)


class Account(models.Model):
    """A node of the organization's account tree.

    ``path`` is a materialized path of primary keys (``"1/4/9/"``) so that "this account and its
    descendants" is one indexed prefix query, whatever the depth.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="accounts")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    name = models.CharField(max_length=200)
    path = models.CharField(max_length=1000, editable=False, db_index=True, default="")

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], condition=models.Q(parent__isnull=True), name="one_root_per_org"
            ),
            models.UniqueConstraint(fields=["organization", "name"], name="account_name_unique_in_org"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def depth(self) -> int:
        return self.path.count("/") - 1

    def clean(self) -> None:
        parent = self.parent
        if parent is not None:
            if parent.organization_id != self.organization_id:
                raise ValidationError({"parent": "The parent account belongs to another organization."})
            if self.pk and parent.path.startswith(self.path):
                raise ValidationError({"parent": "An account cannot be moved below itself."})
        elif self.organization_id:
            roots = Account.objects.filter(organization_id=self.organization_id, parent__isnull=True)
            if roots.exclude(pk=self.pk).exists():
                raise ValidationError({"parent": "The organization already has a root account."})

    def save(self, *args: Any, **kwargs: Any) -> None:
        with transaction.atomic():
            old_path = self.path
            if self.pk is None:
                self.path = ""
                super().save(*args, **kwargs)
                kwargs.pop("force_insert", None)
            prefix = self.parent.path if self.parent is not None else ""
            self.path = f"{prefix}{self.pk}/"
            if old_path and old_path != self.path:
                # Moved: rewrite the paths of every descendant in the same transaction, before this
                # row's own save, whose post_save receivers then see the whole subtree where it is.
                for child in Account.objects.filter(path__startswith=old_path).exclude(pk=self.pk):
                    child.path = self.path + child.path[len(old_path) :]
                    Account.objects.filter(pk=child.pk).update(path=child.path)
            super().save(update_fields=["path", "parent", "name", "organization"])


def normalized_email(value: str) -> str:
    """The one form of an email address: members sign in with it in any case (``Ada@Acme.test`` is
    ``ada@acme.test``), so every count and comparison by email (users are stored in it, the sign-in
    throttle counts failures by it) uses this form, and a change of case is the same person."""
    return str(value).strip().lower()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=normalized_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        # iexact as well: an address written in another case before it was normalized still matches.
        return self.get(email__iexact=normalized_email(username or ""))


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in to the portal with an email address and a password."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
        help_text="The tenant this user works in. Empty only for platform superusers.",
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)
    session_generation = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Raised to end every session of the member at once, however each one began.",
    )
    time_zone = models.CharField(
        max_length=64,
        default=DEFAULT_TIME_ZONE,
        help_text="The IANA time zone the portal shows this member's dates in.",
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        """Django keeps this hash in every session and ends the session when it no longer matches:
        it follows the password (a password change signs out the other sessions) and, here, the
        session generation too, so raising the generation ends every session of the member, even
        one no index knows (the one a password change rotated to, a signed-cookie session).
        Generation 0 gives Django's own hash, so sessions made before the field existed live on."""
        value = (
            self.password if not self.session_generation else f"{self.password}\x00{self.session_generation}"
        )
        key_salt = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"
        return salted_hmac(key_salt, value, secret=secret, algorithm="sha256").hexdigest()

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    def memberships_with_accounts(self) -> list[Membership]:
        """Memberships with their accounts, loaded once per request object."""
        cached = getattr(self, "_memberships_cache", None)
        if cached is None:
            prefetched = getattr(self, "_prefetched_objects_cache", {}).get("memberships")
            if prefetched is not None:  # a list page prefetched them with their accounts
                cached = sorted(prefetched, key=lambda m: m.account.path)
            else:
                cached = list(self.memberships.select_related("account").order_by("account__path"))
            self._memberships_cache = cached
        return cached

    @property
    def highest_membership(self) -> Membership | None:
        """The membership nearest the root: the create form pre-fills its account."""
        memberships = self.memberships_with_accounts()
        if not memberships:
            return None
        return min(memberships, key=lambda m: (m.account.depth, -m.role, m.account.path))

    @property
    def top_role(self) -> int:
        return max((m.role for m in self.memberships_with_accounts()), default=0)


class MemberSession(models.Model):
    """An index of a member's signed-in sessions, so that all of them can be ended at once (on
    deactivation) whatever the session engine: database, cache or both. Written at sign-in,
    removed at sign-out; see ``accounts.sessions``."""

    user = models.ForeignKey("User", on_delete=models.CASCADE, related_name="session_index")
    session_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"], name="member_session_user")]

    def __str__(self) -> str:
        return f"session of {self.user_id} since {self.created_at:%Y-%m-%d %H:%M}"


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.PositiveSmallIntegerField(choices=Role.choices)

    class Meta:
        ordering = ["account__path", "user__email"]
        constraints = [models.UniqueConstraint(fields=["user", "account"], name="one_membership_per_account")]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} on {self.account}"

    def clean(self) -> None:
        if self.user_id and self.account_id and self.user.organization_id != self.account.organization_id:
            raise ValidationError({"account": "The account belongs to another organization than the user."})


class Environment(models.TextChoices):
    LIVE = "live", "Live"
    TEST = "test", "Test"


class Application(models.Model):
    """Something an organization's keys are for, with the catalogue of scopes its keys may carry."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="applications")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=64)
    environment = models.CharField(max_length=8, choices=Environment.choices, default=Environment.LIVE)
    base_url = models.URLField(max_length=300)
    description = models.TextField(blank=True)
    is_portal = models.BooleanField(
        default=False, editable=False, help_text="The portal's own application (api-keys:* scopes)."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-is_portal", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"], name="application_slug_unique_in_org"),
            models.UniqueConstraint(
                fields=["organization"], condition=models.Q(is_portal=True), name="one_portal_app_per_org"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def endpoint(self) -> str:
        # An application's endpoint is base_url + "/api"; the portal's own REST API is versioned under it.
        return self.base_url.rstrip("/") + ("/api/v1" if self.is_portal else "/api")

    def endpoint_at(self, portal_base_url: str) -> str:
        """Its endpoint; the portal's own from where the portal is served now (its stored
        ``base_url`` is only where it was when the application was created)."""
        return f"{portal_base_url.rstrip('/')}/api/v1" if self.is_portal else self.endpoint

    def example_call_url(self, portal_base_url: str, scopes: list[str] | tuple[str, ...] = ()) -> str:
        """An address a key of this application can call as it is: for the portal, its REST API's
        "this key" (``GET /api/v1/key``, which any key may call); for another application, its
        endpoint for the first resource of ``scopes`` (else of its catalogue)."""
        if self.is_portal:
            return f"{self.endpoint_at(portal_base_url)}/key"
        resources = [str(scope).split(":", 1)[0] for scope in scopes]
        resources += [scope.resource for scope in self.scopes.all()]
        return f"{self.endpoint}/{resources[0] if resources else 'status'}"

    def grouped_scopes(self) -> list[tuple[str, list[Scope]]]:
        """The catalogue grouped by resource, in catalogue order, for forms and pages."""
        groups: dict[str, list[Scope]] = defaultdict(list)
        for scope in self.scopes.all():
            groups[scope.resource].append(scope)
        return list(groups.items())


# Words of a resource name people read differently from its identifier.
RESOURCE_WORDS = {"iot": "IoT", "api": "API", "sms": "SMS"}


def resource_words(resource: str) -> str:
    """``work-orders`` → "work orders", ``iot`` → "IoT": a resource as a sentence reads it."""
    return " ".join(RESOURCE_WORDS.get(word, word) for word in resource.split("-"))


def resource_label(resource: str) -> str:
    """``work-orders`` → "Work orders": a resource as a heading."""
    words = resource_words(resource)
    return words[:1].upper() + words[1:]


scope_part = RegexValidator(r"^[a-z][a-z0-9-]{0,62}$", "Lower-case letters, digits and dashes.")


class ScopeAction(models.TextChoices):
    READ = "read", "read"
    WRITE = "write", "write"
    VERIFY = "verify", "verify"


class Scope(models.Model):
    """One entry of an application's catalogue: ``<resource>:<action>``.

    ``min_role`` is the lowest key role that may carry the scope. Write scopes default to Admin, so
    Support and Viewer keys get read scopes only.
    """

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="scopes")
    resource = models.CharField(max_length=63, validators=[scope_part])
    action = models.CharField(max_length=8, choices=ScopeAction.choices)
    description = models.CharField(max_length=200, blank=True)
    min_role = models.PositiveSmallIntegerField(choices=Role.choices, default=Role.VIEWER)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "resource", "action"]
        constraints = [
            models.UniqueConstraint(fields=["application", "resource", "action"], name="scope_unique_in_app")
        ]

    def __str__(self) -> str:
        return f"{self.resource}:{self.action}"

    @property
    def name(self) -> str:
        return str(self)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.action != ScopeAction.READ and self.min_role < Role.ADMIN:
            self.min_role = Role.ADMIN
        super().save(*args, **kwargs)
