"""Filtering and sorting key lists, written once as a django-filter FilterSet: the portal's API Keys
list, the REST list (and the GraphQL list) read the same query string the same way.

Unknown or invalid values are ignored (a bookmarked URL with a stale filter still shows a list);
the REST API validates its parameters before they reach here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import django_filters
from django import forms
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Substr
from django.db.models.lookups import Exact
from django.http import QueryDict

from accounts import permissions
from accounts.actors import Actor
from accounts.models import Account, Application, Membership, Role, User
from keys.models import ApiKey, ApiKeyQuerySet, KeyFlag
from keys.policy import SecurityPolicy, outside_filter
from keys.state import KeyStatus
from paging import INTEGER_RANGE

CLIENT_ID_START = "ck_"
MAX_SEARCH_LENGTH = 200

# ?sort= values and the field each one orders by.
KEY_SORTS = {
    "name": "name",
    "application": "application_name",
    "role": "role",
    "account": "account_path",
    "created": "created_at",
    "last_used": "last_used_at",
    "expires": "expires_at",
}
DEFAULT_KEY_SORT = "-created"


def key_search(text: str, *, relation: str = "") -> Q:
    """Keys whose name or description contains ``text`` in any case, or whose Client ID is ``text``
    or starts with it, case and all (Client IDs are random base62: "ck_live_Ab" and "ck_live_aB" are
    different). Only text that starts like a Client ID is compared with Client IDs, so "c" searches
    names and descriptions only.
    ``relation`` reaches the key from another model, e.g. ``"key"`` for audit events."""
    prefix = f"{relation}__" if relation else ""
    found = Q(**{f"{prefix}name__icontains": text}) | Q(**{f"{prefix}description__icontains": text})
    if text.startswith(CLIENT_ID_START):
        # LIKE narrows (and is case-insensitive on SQLite); the comparison of the prefix is exact.
        found |= Q(**{f"{prefix}client_id__startswith": text}) & Q(
            Exact(Substr(f"{prefix}client_id", 1, len(text)), Value(text))
        )
    return found


def _nullable(field: str) -> bool:
    return "__" not in field and ApiKey._meta.get_field(field).null


def order_keys(keys: QuerySet[ApiKey], sort: str) -> QuerySet[ApiKey]:
    """``sort`` is a KEY_SORTS name, "-" in front for descending; empty values sort last. Ties go to
    the newest key, then the id: a total order, so pages neither skip nor repeat a key.

    Each order matches an index (see ``ApiKey.Meta.indexes``): "empty last" is asked only of the
    columns that can be empty, as a column that cannot be null has no NULLs to place and an
    index on it would otherwise not match."""
    field = KEY_SORTS[sort.lstrip("-")]
    descending = sort.startswith("-")
    nulls = {"nulls_last": True} if _nullable(field) else {}
    expression = F(field).desc(**nulls) if descending else F(field).asc(**nulls)
    if field == "created_at":
        return keys.order_by(expression, "-id" if descending else "id")
    return keys.order_by(expression, "-created_at", "-id")


class FilterForm(forms.Form):
    """The form of a filter bar: its own ids (a page may hold a form with fields of the same names),
    and the questions the template asks."""

    filter_names: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "filter-%s")
        super().__init__(*args, **kwargs)

    def value(self, name: str) -> Any:
        """The cleaned value, or None for a missing or invalid one."""
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        return self.cleaned_data.get(name) or None

    @property
    def is_filtered(self) -> bool:
        return any(self.value(n) for n in self.filter_names)


class KeyFilterForm(FilterForm):
    filter_names = (
        *("q", "search", "status", "flag", "exposed", "seen_by"),
        *("application", "role", "account", "created_by"),
    )

    @property
    def sort_order(self) -> str:
        wanted = self.value("sort") or DEFAULT_KEY_SORT
        return wanted if wanted.lstrip("-") in KEY_SORTS else DEFAULT_KEY_SORT


class IdFilter(django_filters.Filter):
    """A row's id: a whole number from 1 to the largest an integer column holds (``"1.5"``,
    ``"true"`` or a 30-digit number are invalid, so ignored like any invalid filter)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", INTEGER_RANGE[-1])
        super().__init__(*args, **kwargs)


def _search(queryset: QuerySet, name: str, value: str) -> QuerySet:
    return queryset.filter(key_search(value.strip())) if value.strip() else queryset


class ApiKeyFilterSet(django_filters.FilterSet):
    """``search`` (``q`` in the portal's address bar is the same filter), ``status``, ``flag``
    (expiring soon, rotation due, idle, outside the security policy), ``application``, ``role``,
    ``account`` and ``created_by`` (ids), and ``sort``."""

    q = django_filters.CharFilter(
        label="Search",
        method=_search,
        max_length=MAX_SEARCH_LENGTH,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name, description or Client ID"}),
    )
    search = django_filters.CharFilter(method=_search, max_length=MAX_SEARCH_LENGTH)
    status = django_filters.ChoiceFilter(
        label="Status", choices=KeyStatus.choices, empty_label="Any status", method="filter_status"
    )
    flag = django_filters.ChoiceFilter(
        label="Flag", choices=KeyFlag.choices, empty_label="Any flag", method="filter_flag"
    )
    application = django_filters.TypedChoiceFilter(
        label="Application", field_name="application_id", coerce=int, empty_value=None
    )
    role = django_filters.TypedChoiceFilter(label="Role", coerce=int, empty_value=None)
    account = django_filters.TypedChoiceFilter(
        label="Account", field_name="account_id", coerce=int, empty_value=None
    )
    created_by = django_filters.TypedChoiceFilter(
        label="Created by", field_name="created_by_id", coerce=int, empty_value=None
    )
    exposed = django_filters.BooleanFilter(method="filter_exposed", widget=forms.HiddenInput)
    # The keys with a live secret this member saw (Settings → Members links here). An id, so no
    # larger than any id column holds: a value past it would overflow in the database driver.
    seen_by = IdFilter(method="filter_seen_by", widget=forms.HiddenInput)
    # Applied after the filters, by filter_queryset: the default order needs no parameter.
    sort = django_filters.CharFilter(method=lambda queryset, name, value: queryset, widget=forms.HiddenInput)

    class Meta:
        model = ApiKey
        fields: list[str] = []
        form = KeyFilterForm

    def __init__(
        self,
        data: QueryDict | dict[str, Any] | None,
        queryset: QuerySet[ApiKey],
        *,
        actor: Actor,
        creators: Callable[[], list[User]] = list,
    ) -> None:
        super().__init__(data, queryset)
        self.organization_id = actor.organization_id
        # Callables: the choices are read (one query each) only when the form is drawn or the
        # parameter is given, never for a REST call that does not use them; and only once, however
        # often the form asks for them.
        choices = {
            "application": lambda: (
                [("", "Any application")]
                + [(a.pk, a.name) for a in Application.objects.filter(organization_id=actor.organization_id)]
            ),
            "role": lambda: (
                [("", "Any role")] + [(int(r), r.label) for r in permissions.visible_key_roles(actor)]
            ),
            "account": lambda: (
                [("", "Any account")] + [(a.pk, indented(a)) for a in permissions.visible_accounts(actor)]
            ),
            "created_by": lambda: [("", "Anyone")] + [(u.pk, u.email) for u in creators()],
        }
        for name, callable_choices in choices.items():
            self.filters[name].extra["choices"] = once(callable_choices)

    @property
    def form(self) -> KeyFilterForm:
        return cast(KeyFilterForm, super().form)

    def filter_status(self, queryset: ApiKeyQuerySet, name: str, value: str) -> ApiKeyQuerySet:
        return queryset.with_status(value)

    def filter_exposed(self, queryset: ApiKeyQuerySet, name: str, value: bool | None) -> ApiKeyQuerySet:
        if value is None:
            return queryset
        exposed = queryset.exposed()
        return exposed if value else queryset.exclude(pk__in=exposed.values("pk"))

    def filter_seen_by(self, queryset: ApiKeyQuerySet, name: str, value: int) -> ApiKeyQuerySet:
        return queryset.seen_by(value)

    def filter_flag(self, queryset: ApiKeyQuerySet, name: str, value: str) -> ApiKeyQuerySet:
        if value == KeyFlag.EXPOSED:
            return queryset.exposed()
        policy = SecurityPolicy.of_organization(self.organization_id)
        if value == KeyFlag.OUTSIDE_POLICY:
            return queryset.in_use().filter(outside_filter(policy))
        return queryset.with_flag(value, policy.rotation_policy_days)

    def filter_queryset(self, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        return order_keys(super().filter_queryset(queryset), self.form.sort_order)


def once(compute: Callable[[], list]) -> Callable[[], list]:
    """``compute``, run at most once: a form asks for its choices when it validates and again when
    it draws them."""
    found: list[list] = []

    def choices() -> list:
        if not found:
            found.append(compute())
        return found[0]

    return choices


def indented(account: Account) -> str:
    """An account's name indented by its depth in the tree, for choice lists."""
    return "\u2003" * account.depth + account.name


class MemberFilterForm(FilterForm):
    filter_names = ("q", "role", "account", "status")


class MemberFilterSet(django_filters.FilterSet):
    """Settings → Members: ``q`` (email or name), ``role`` and ``account`` (a membership with it),
    ``status`` (active or deactivated)."""

    q = django_filters.CharFilter(
        label="Search",
        method="filter_q",
        max_length=MAX_SEARCH_LENGTH,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Email or name"}),
    )
    role = django_filters.TypedChoiceFilter(
        label="Role",
        choices=[("", "Any role"), *Role.choices],
        coerce=int,
        empty_value=None,
        method="filter_role",
    )
    account = django_filters.TypedChoiceFilter(
        label="Account", coerce=int, empty_value=None, method="filter_account"
    )
    status = django_filters.ChoiceFilter(
        label="Status",
        choices=[("active", "Active"), ("inactive", "Deactivated")],
        empty_label="Any status",
        method="filter_status",
    )

    class Meta:
        model = User
        fields: list[str] = []
        form = MemberFilterForm

    def __init__(
        self, data: QueryDict | dict[str, Any] | None, queryset: QuerySet[User], *, actor: Actor
    ) -> None:
        super().__init__(data, queryset)
        self.filters["account"].extra["choices"] = lambda: (
            [("", "Any account")]
            + [(a.pk, indented(a)) for a in Account.objects.filter(organization_id=actor.organization_id)]
        )

    def filter_q(self, queryset: QuerySet[User], name: str, value: str) -> QuerySet[User]:
        text = value.strip()
        return queryset.filter(Q(email__icontains=text) | Q(full_name__icontains=text)) if text else queryset

    def filter_role(self, queryset: QuerySet[User], name: str, value: int) -> QuerySet[User]:
        return queryset.filter(Exists(Membership.objects.filter(user=OuterRef("pk"), role=value)))

    def filter_account(self, queryset: QuerySet[User], name: str, value: int) -> QuerySet[User]:
        return queryset.filter(Exists(Membership.objects.filter(user=OuterRef("pk"), account_id=value)))

    def filter_status(self, queryset: QuerySet[User], name: str, value: str) -> QuerySet[User]:
        return queryset.filter(is_active=value == "active")

    def filter_queryset(self, queryset: QuerySet[User]) -> QuerySet[User]:
        return super().filter_queryset(queryset).order_by("-is_active", "email")
