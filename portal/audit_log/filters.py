"""The audit log's filter bar as a FilterSet: action, actor, key, and a date range."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import django_filters
from django import forms
from django.db import connection
from django.db.models import BooleanField, F, Func, QuerySet, Value
from django.http import QueryDict
from django.utils import timezone

from accounts.actors import Actor
from audit.models import AuditAction, AuditEvent
from keys.filters import MAX_SEARCH_LENGTH, FilterForm, key_search
from keys.selectors import visible_keys

#: A key filter matching at most this many keys is asked as a list of their ids; one matching more
#: is asked as a subquery. A list is answered either through the (key, time) index (a few keys) or
#: by walking the time index and checking each event's key against the list (PostgreSQL hashes a
#: long list): 7 ms for page 20 of the events of 5,000 keys out of 100,000, where the subquery had
#: PostgreSQL look up the key of every event it passed (320 ms).
KEY_IDS_AT_MOST = 10_000


#: From this many ids on, PostgreSQL gets them as one array parameter (``AnyOf``).
ONE_PARAMETER_FROM = 100


class AnyOf(Func):
    """``column = ANY(%s)``, the values one array parameter (PostgreSQL). Hand-written: Django's
    ``__in`` writes a placeholder per value, and the driver then parses a query of 200 kB for
    5,000 ids, three times a page: 150 ms of a worker's CPU, where the database needs 20."""

    template = "%(expressions)s)"
    arg_joiner = " = ANY("
    output_field = BooleanField()


class AuditFilterForm(FilterForm):
    filter_names = ("action", "actor", "key", "date_from", "date_to")


def _midnight(day: date) -> datetime:
    """The start of ``day`` in the member's time zone (the one the log's times are shown in)."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


class AuditEventFilterSet(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(
        label="Action", choices=AuditAction.choices, empty_label="Any action"
    )
    actor = django_filters.CharFilter(
        label="Actor",
        field_name="actor_label",
        lookup_expr="icontains",
        max_length=MAX_SEARCH_LENGTH,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Email or key name"}),
    )
    key = django_filters.CharFilter(
        label="Key",
        method="filter_key",
        max_length=MAX_SEARCH_LENGTH,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Key name or Client ID"}),
    )
    # Days in the member's time zone, compared as a range of the timestamp itself (an index can
    # seek to it), not as the date of every event.
    date_from = django_filters.DateFilter(
        label="From", method="filter_from", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = django_filters.DateFilter(
        label="To", method="filter_to", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []
        form = AuditFilterForm

    def __init__(
        self, data: QueryDict | dict[str, Any] | None, queryset: QuerySet[AuditEvent], *, actor: Actor
    ) -> None:
        super().__init__(data, queryset)
        self.viewer = actor  # not "actor": that name is the filter's

    def filter_key(self, queryset: QuerySet[AuditEvent], name: str, value: str) -> QuerySet[AuditEvent]:
        """Events about the keys the actor may see whose name or Client ID matches: the keys are
        looked up first (a trigram or Client ID index), then their events (the key's own index),
        rather than every event of the organization tested against the keys."""
        text = value.strip()
        if not text:
            return queryset
        matching = visible_keys(self.viewer).filter(key_search(text))
        # In no order: the trigram and Client ID indexes find them (the keys' default order walks
        # every key, newest first, reading each one's name).
        ids = list(matching.order_by().values_list("pk", flat=True)[: KEY_IDS_AT_MOST + 1])
        if len(ids) > KEY_IDS_AT_MOST:
            return queryset.filter(key__in=matching.values("pk"))
        if connection.vendor == "postgresql" and len(ids) > ONE_PARAMETER_FROM:
            return queryset.filter(AnyOf(F("key_id"), Value(ids)))
        return queryset.filter(key_id__in=ids)

    def filter_from(self, queryset: QuerySet[AuditEvent], name: str, value: date) -> QuerySet[AuditEvent]:
        return queryset.filter(occurred_at__gte=_midnight(value))

    def filter_to(self, queryset: QuerySet[AuditEvent], name: str, value: date) -> QuerySet[AuditEvent]:
        try:
            return queryset.filter(occurred_at__lt=_midnight(value + timedelta(days=1)))
        except OverflowError:  # the last day there is: every event is before its end
            return queryset
