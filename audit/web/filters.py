"""The audit log's filter bar as a FilterSet: action, actor, key, and a date range."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import QuerySet

from audit.models import AuditAction, AuditEvent
from keys.filters import MAX_SEARCH_LENGTH, FilterForm, key_search


class AuditFilterForm(FilterForm):
    filter_names = ("action", "actor", "key", "date_from", "date_to")


def _key(queryset: QuerySet, name: str, value: str) -> QuerySet:
    return queryset.filter(key_search(value.strip(), relation="key")) if value.strip() else queryset


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
        method=_key,
        max_length=MAX_SEARCH_LENGTH,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Key name or Client ID"}),
    )
    date_from = django_filters.DateFilter(
        label="From",
        field_name="occurred_at",
        lookup_expr="date__gte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = django_filters.DateFilter(
        label="To",
        field_name="occurred_at",
        lookup_expr="date__lte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []
        form = AuditFilterForm
