"""Portal pages for API keys: Settings → API Keys, a key's detail, its actions, and the audit log.

Thin views: check the role, validate a form, call ``keys.services``, render. Each screen is one
template with named partials; an htmx request gets the partial (the table, the dialog), a plain
request the whole page, so everything also works without JavaScript.

Secrets: the create and regenerate responses render the reveal straight from the ``IssuedKey`` the
service returned, with ``Cache-Control: no-store``. Nothing else ever sees the secret: not the
session, not a message, not a redirect URL, not a cache.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import F, Q, QuerySet, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_datetime
from django.utils.timesince import timesince
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from accounts import permissions
from accounts.models import Application, Role
from keys import charts, selectors, services
from keys.actors import Actor
from keys.forms import (
    KEY_SORTS,
    AuditFilterForm,
    KeyCreateForm,
    KeyEditForm,
    KeyFilterForm,
    RegenerateForm,
    creators_of,
)
from keys.models import ApiKey, AuditEvent, KeyUsageDay
from portal.network import client_ip

KEYS_PER_PAGE = 25
EVENTS_PER_PAGE = 50
KEY_EVENTS_SHOWN = 20
CHART_DAYS = 30


# ---- who is asking, and may they ----


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_user(
        request.user, ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")
    )


def _refuse(request: HttpRequest, what: str, message: str, key: ApiKey | None = None) -> PermissionDenied:
    """Every refusal is an audit event (SPEC §6) before it becomes a 403."""
    services.record_denied(actor=_actor(request), what=what, key=key, details={"path": request.path})
    return PermissionDenied(message)


def _require_view(request: HttpRequest, what: str) -> None:
    if not permissions.can_view_keys(request.user):
        raise _refuse(request, what, "Your role cannot see API keys.")


def _require_manage(request: HttpRequest, what: str) -> None:
    _require_view(request, what)
    if not permissions.can_manage_keys(request.user):
        raise _refuse(request, what, "Your role can read API keys but not change them.")


def _visible_key(request: HttpRequest, key_id: str) -> ApiKey:
    try:
        return selectors.get_visible_key(_actor(request), key_id)
    except services.KeyNotFound:
        # Someone else's key is simply not found: no hint that it exists.
        raise Http404("No such API key.") from None


def _manageable_key(request: HttpRequest, key_id: str, what: str) -> ApiKey:
    _require_manage(request, what)
    key = _visible_key(request, key_id)
    if not permissions.can_manage_key(request.user, key):
        raise _refuse(request, what, "Your role cannot change this key.", key=key)
    return key


# ---- rendering: one template per screen, a named partial for htmx ----


def _wants_partial(request: HttpRequest) -> bool:
    # A history restore (Back after hx-push-url, cache miss) needs the whole page.
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def _render(request: HttpRequest, template: str, partial: str, context: dict) -> HttpResponse:
    name = f"{template}#{partial}" if _wants_partial(request) else template
    response = render(request, name, {**context, "is_partial": _wants_partial(request)})
    # The same URL answers a fragment or a page: caches must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


# ---- the list ----


def _search(keys: QuerySet[ApiKey], text: str) -> QuerySet[ApiKey]:
    return keys.filter(Q(name__icontains=text) | Q(client_id__istartswith=text))


def _order(keys: QuerySet[ApiKey], sort: str) -> QuerySet[ApiKey]:
    field = KEY_SORTS[sort.lstrip("-")]
    descending = sort.startswith("-")
    expression = F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True)
    return keys.order_by(expression, "-created_at" if field != "created_at" else "pk")


def _visible_roles(request: HttpRequest) -> list[Role]:
    grants = permissions.key_view_grants(request.user)
    if any(max_role is None for _, max_role in grants):
        return list(Role.at_most(Role.ADVANCED_ADMIN))
    return Role.at_most(max((r for _, r in grants if r is not None), default=0))


def _quota(request: HttpRequest) -> dict:
    organization = request.user.organization
    in_use, limit = services.key_quota(organization)
    return {"in_use": in_use, "limit": limit, "full": limit is not None and in_use >= limit}


def _page(request: HttpRequest, items: QuerySet, per_page: int) -> Page:
    # Paginator counts once; get_page clamps a bad or out-of-range ?page= instead of failing.
    page = Paginator(items, per_page).get_page(request.GET.get("page"))
    page.links = list(page.paginator.get_elided_page_range(page.number, on_each_side=1, on_ends=1))
    return page


PASTED_SECRET_WARNING = (
    "That search looked like a Client Secret, so it was neither searched nor kept. Secrets cannot "
    "be searched (only a digest of each is stored): search by name or Client ID. If it was a real "
    "secret, it may now be in this browser's history; regenerate the key it belongs to."
)


@require_GET
def key_list(request: HttpRequest) -> HttpResponse:
    _require_view(request, "view keys")
    pasted_secret = any(services.looks_like_secret(q) for q in request.GET.getlist("q"))
    if pasted_secret:
        # Only a digest is stored, so a secret cannot be searched for; and it must not be echoed
        # back into the search box, the sort and page links, or the address bar (from where it
        # would travel on in Referer headers): a full page is redirected to the URL without it,
        # an htmx request has its pushed URL replaced.
        request.GET = request.GET.copy()
        del request.GET["q"]
        query = request.GET.urlencode()
        url_without_it = request.path + (f"?{query}" if query else "")
        if not _wants_partial(request):
            messages.warning(request, PASTED_SECRET_WARNING)
            return redirect(url_without_it)
    actor = _actor(request)
    visible = selectors.visible_keys(actor)
    filters = KeyFilterForm(
        request.GET,
        applications=list(Application.objects.filter(organization_id=actor.organization_id)),
        roles=_visible_roles(request),
        accounts=permissions.visible_accounts(request.user),
        creators=creators_of(visible),
    )
    keys = visible.select_related("organization", "application", "account")
    if text := filters.value("q"):
        keys = _search(keys, text)
    if status := filters.value("status"):
        keys = keys.with_status(status)
    for name, lookup in (
        ("application", "application_id"),
        ("role", "role"),
        ("account", "account_id"),
        ("created_by", "created_by_id"),
    ):
        if (value := filters.value(name)) is not None:
            keys = keys.filter(**{lookup: value})
    sort = filters.sort_order
    page = _page(request, _order(keys, sort), KEYS_PER_PAGE)
    context = {
        "filters": filters,
        "page": page,
        "keys": page.object_list,
        "columns": _columns(sort),
        "quota": _quota(request),
        "can_manage": permissions.can_manage_keys(request.user),
        "this_year": timezone.now().year,  # dates of this year are shown without it
        "pasted_secret": pasted_secret,
        "pasted_secret_warning": PASTED_SECRET_WARNING,
    }
    response = _render(request, "keys/key_list.html", "key-table", context)
    if pasted_secret:
        response["HX-Replace-Url"] = url_without_it
    return response


COLUMNS = [
    ("name", "Name", True),
    ("client_id", "Client ID", False),
    ("application", "Application", True),
    ("role", "Role", True),
    ("account", "Account", True),
    ("scopes", "Scopes", False),
    ("status", "Status", False),
    ("created", "Created", True),
    ("last_used", "Last used", True),
    ("expires", "Expires", True),
]


def _columns(sort: str) -> list[dict]:
    """Header cells: a sortable one links to its ascending order, or flips the current one."""
    current, descending = sort.lstrip("-"), sort.startswith("-")
    columns = []
    for field, label, sortable in COLUMNS:
        active = sortable and field == current
        columns.append(
            {
                "field": field,
                "label": label,
                "sortable": sortable,
                "active": active,
                "descending": active and descending,
                "next": (field if descending else f"-{field}") if active else field,
                "aria_sort": ("descending" if descending else "ascending") if active else None,
            }
        )
    return columns


# ---- create ----


def _render_form(request: HttpRequest, form: KeyCreateForm) -> HttpResponse:
    # Errors come back with 200: htmx swaps only successful responses into the dialog.
    context = {"form": form, "cancel_url": reverse("keys:list")}
    return _render(request, "keys/key_form.html", "form-dialog", context)


def _initial_from(data) -> dict:
    """What a re-drawn (not submitted) form keeps of the user's choices."""
    fields = ("application", "role", "account", "name", "suggested_name", "expiry", "expiry_days")
    initial = {k: data.get(k) for k in fields}
    initial["scopes"] = data.getlist("scopes")
    return {k: v for k, v in initial.items() if v not in (None, "")}


def _reveal(request: HttpRequest, issued: services.IssuedKey, *, regenerated: bool) -> HttpResponse:
    key = issued.key
    context = {
        "key": key,
        "secret": issued.secret,
        "regenerated": regenerated,
        "done_url": key.get_absolute_url() if regenerated else reverse("keys:list"),
        "refresh_target": "#key-detail-body" if regenerated else "#key-table",
        # The portal's own keys call this portal's REST API; the others call their application.
        "endpoint": request.build_absolute_uri("/api/v1")
        if key.application.is_portal
        else key.application.endpoint,
    }
    return _render(request, "keys/key_reveal.html", "reveal-dialog", context)


@never_cache
@require_http_methods(["GET", "POST"])
def key_create(request: HttpRequest) -> HttpResponse:
    _require_manage(request, "create key")
    if request.method == "GET":
        return _render_form(request, KeyCreateForm(request.user))
    if request.POST.get("action") == "refresh":
        # Without JavaScript, "Show scopes" re-draws the form for the chosen application.
        return _render_form(request, KeyCreateForm(request.user, initial=_initial_from(request.POST)))
    form = KeyCreateForm(request.user, request.POST)
    if not form.is_valid():
        return _render_form(request, form)
    data = form.cleaned_data
    name = data["name"] or services.suggest_key_name(request.user.organization, data["application"])
    try:
        issued = services.create_key(
            actor=_actor(request),
            application=data["application"],
            account=data["account"],
            role=data["role"],
            name=name,
            scopes=data["scopes"],
            expires_in_days=data["expires_in_days"],
        )
    except services.ServiceError as err:
        form.add_service_error(err)
        return _render_form(request, form)
    return _reveal(request, issued, regenerated=False)


@require_GET
def key_form_scopes(request: HttpRequest) -> HttpResponse:
    """The scope checkboxes for another application or role (htmx swaps them into the form)."""
    _require_manage(request, "create key")
    form = KeyCreateForm(request.user, initial=_initial_from(request.GET))
    context = {"form": form, "name_oob": form.name_replaced}
    response = render(request, "keys/key_form.html#scope-fields", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# ---- detail ----


def _usage(key: ApiKey) -> dict:
    totals = KeyUsageDay.objects.filter(key=key).aggregate(
        total=Sum("total"),
        success=Sum("success"),
        client_errors=Sum("client_errors"),
        denied=Sum("denied"),
        rate_limited=Sum("rate_limited"),
        server_errors=Sum("server_errors"),
    )
    totals = {name: value or 0 for name, value in totals.items()}
    errors = totals["client_errors"] + totals["denied"] + totals["server_errors"]
    total = totals["total"]
    today = timezone.now().date()
    first = today - timedelta(days=CHART_DAYS - 1)
    rows = {
        row.day: row
        for row in KeyUsageDay.objects.filter(key=key, day__gte=first, day__lte=today).order_by("day")
    }
    days = [
        charts.DayUsage(
            day=day,
            total=rows[day].total if day in rows else 0,
            failed=(rows[day].total - rows[day].success) if day in rows else 0,
        )
        for day in (first + timedelta(days=n) for n in range(CHART_DAYS))
    ]
    return {
        **{name: f"{value:,}" for name, value in totals.items()},
        "errors": f"{errors:,}",
        "success_rate": (totals["success"] / total * 100) if total else None,
        "chart": charts.usage_chart(days, title=f"Calls per day for {key.name}, last {CHART_DAYS} days"),
        "chart_summary": charts.summary(days),
        "last_used_ago": _ago(key.last_used_at),
    }


def _ago(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment)} ago"


def _recent_ips(key: ApiKey) -> list[dict]:
    entries = []
    for entry in key.recent_ips or []:
        if isinstance(entry, dict) and entry.get("ip"):
            seen = parse_datetime(str(entry.get("seen") or ""))
            entries.append({"ip": entry["ip"], "seen": seen, "ago": _ago(seen)})
    return entries


def _detail_context(request: HttpRequest, key: ApiKey) -> dict:
    events = key.audit_events.select_related("actor_user").order_by("-occurred_at", "-id")[
        : KEY_EVENTS_SHOWN + 1
    ]
    events = _with_descriptions(events)
    can_manage = permissions.can_manage_key(request.user, key)
    return {
        "key": key,
        "usage": _usage(key),
        "recent_ips": _recent_ips(key),
        "events": events[:KEY_EVENTS_SHOWN],
        "more_events": len(events) > KEY_EVENTS_SHOWN,
        "can_regenerate": can_manage and key.is_active,
        "can_edit": can_manage and key.revoked_at is None,
        "can_revoke": can_manage and key.revoked_at is None,
        "scope_groups": _group_scopes(key.scopes),
    }


def _group_scopes(scopes: list[str]) -> list[tuple[str, list[str]]]:
    groups: dict[str, list[str]] = {}
    for scope in scopes:
        groups.setdefault(scope.split(":", 1)[0], []).append(scope)
    return list(groups.items())


@require_GET
def key_detail(request: HttpRequest, key_id: str) -> HttpResponse:
    _require_view(request, "view key")
    key = _visible_key(request, key_id)
    return _render(request, "keys/key_detail.html", "key-detail-body", _detail_context(request, key))


# ---- edit: rename, or bring the expiry earlier ----


@require_http_methods(["GET", "POST"])
def key_edit(request: HttpRequest, key_id: str) -> HttpResponse:
    key = _manageable_key(request, key_id, "edit key")
    if key.revoked_at is not None:
        raise Http404("A revoked key cannot be changed.")
    form = KeyEditForm(key, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_key(
                actor=_actor(request), key=key, name=form.new_name, expires_at=form.new_expiry
            )
        except services.ServiceError as err:
            form.add_service_error(err)
        else:
            if form.new_name or form.new_expiry:
                messages.success(request, "Saved. What the key may do is unchanged.")
            if _wants_partial(request):
                return HttpResponseClientRedirect(key.get_absolute_url())
            return redirect(key)
    context = {"key": key, "form": form, "cancel_url": key.get_absolute_url()}
    return _render(request, "keys/key_edit.html", "edit-dialog", context)


# ---- regenerate and revoke: a confirmation (dialog or page), then the service ----


@never_cache
@require_http_methods(["GET", "POST"])
def key_regenerate(request: HttpRequest, key_id: str) -> HttpResponse:
    key = _manageable_key(request, key_id, "regenerate key")
    form = RegenerateForm(request.POST if request.method == "POST" else None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.regenerate_key(actor=_actor(request), key=key, grace_period=form.grace)
        except services.ServiceError as err:
            error = err.message
        else:
            return _reveal(request, issued, regenerated=True)
    context = {"key": key, "form": form, "error": error, "cancel_url": key.get_absolute_url()}
    return _render(request, "keys/key_regenerate.html", "regenerate-dialog", context)


@require_http_methods(["GET", "POST"])
def key_revoke(request: HttpRequest, key_id: str) -> HttpResponse:
    key = _manageable_key(request, key_id, "revoke key")
    if request.method == "POST":
        services.revoke_key(actor=_actor(request), key=key)
        messages.success(request, f"“{key.name}” is revoked. Requests with it are refused from now on.")
        if _wants_partial(request):
            return HttpResponseClientRedirect(key.get_absolute_url())
        return redirect(key)
    context = {"key": key, "cancel_url": key.get_absolute_url()}
    return _render(request, "keys/key_revoke.html", "revoke-dialog", context)


# ---- audit log ----


UPDATABLE_FIELDS = ("name", "expires_at")


def _describe(details: dict) -> str:
    """An event's details as one readable line: "scopes: a, b · expires at: never"."""
    parts = []
    for name, value in (details or {}).items():
        label = name.replace("_", " ")
        if name == "grace_period_seconds" and isinstance(value, int):
            label, value = "grace period", _duration(value)
        elif name in UPDATABLE_FIELDS and isinstance(value, list) and len(value) == 2:
            # An update records [before, after].
            before, after = (_describe({name: v}).split(": ", 1)[1] for v in value)
            value = f"{before} → {after}"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "none"
        elif value is None:
            value = "never" if "expires" in name or "until" in name else "—"
        elif isinstance(value, str) and (moment := parse_datetime(value)) is not None:
            if timezone.is_aware(moment):
                moment = moment.astimezone(UTC)
            value = moment.strftime("%b %-d, %Y %H:%M UTC")
        parts.append(f"{label}: {value}")
    return " · ".join(parts)


def _duration(seconds: int) -> str:
    if not seconds:
        return "none"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def _with_descriptions(events) -> list[AuditEvent]:
    events = list(events)
    for event in events:
        event.details_text = _describe(event.details)
    return events


def _filter_events(events: QuerySet[AuditEvent], filters: AuditFilterForm) -> QuerySet[AuditEvent]:
    if action := filters.value("action"):
        events = events.filter(action=action)
    if actor := filters.value("actor"):
        events = events.filter(actor_label__icontains=actor)
    if key := filters.value("key"):
        events = events.filter(Q(key__name__icontains=key) | Q(key__client_id__istartswith=key))
    day_from: date | None = filters.value("date_from")
    day_to: date | None = filters.value("date_to")
    if day_from:
        events = events.filter(occurred_at__date__gte=day_from)
    if day_to:
        events = events.filter(occurred_at__date__lte=day_to)
    return events


@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    if not permissions.can_view_audit_log(request.user):
        raise _refuse(request, "view audit log", "Your role cannot see the audit log.")
    actor = _actor(request)
    filters = AuditFilterForm(request.GET)
    events = _filter_events(selectors.visible_audit_events(actor), filters)
    events = events.select_related("key", "account").order_by("-occurred_at", "-id")
    page = _page(request, events, EVENTS_PER_PAGE)
    shown = _with_descriptions(page.object_list)
    # Which of these keys the user may open: one query for the whole page. An event about a key
    # the user may not see (above an Admin + API user's role) keeps its row but not the key's name,
    # Client ID or details: visible_audit_events() does not narrow by key role.
    key_ids = {e.key_id for e in shown if e.key_id}
    visible = set(selectors.visible_keys(actor).filter(pk__in=key_ids).values_list("pk", flat=True))
    for event in shown:
        event.key_hidden = event.key_id is not None and event.key_id not in visible
        if event.key_hidden:
            event.details_text = ""
    context = {"filters": filters, "page": page, "events": shown}
    return _render(request, "keys/audit_log.html", "audit-table", context)
