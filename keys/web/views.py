"""Portal pages for API keys: Settings → API Keys, a key's detail and its actions.

Thin views: check the role, validate a form, call ``keys.services``, render. Each screen is one
template with named partials; an htmx request gets the partial (the table, the dialog), a plain
request the whole page, so everything also works without JavaScript.

Secrets: the create and regenerate responses render the reveal straight from the ``IssuedKey`` the
service returned, with ``Cache-Control: no-store``. Nothing else ever sees the secret: not the
session, not a message, not a redirect URL, not a cache.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify
from django.utils.timesince import timesince
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from accounts import permissions
from accounts.actors import MemberRequest
from accounts.catalogue import portal_base_url
from accounts.models import Organization
from keys import credentials, offboarding, request_log, selectors, services, state
from keys.errors import KeyNotFound, ServiceError
from keys.models import ApiKey
from keys.policy import SecurityPolicy, breaches
from keys.web import charts
from keys.web.forms import (
    FindBySecretForm,
    KeyCreateForm,
    KeyEditForm,
    RegenerateForm,
    RequestFilterForm,
    UsageExportForm,
)
from pages import paginate, refuse, render_screen, wants_partial

KEYS_PER_PAGE = 25
KEY_EVENTS_SHOWN = 20
CHART_DAYS = 30


# ---- may they ----


def _require_view(request: MemberRequest, what: str) -> None:
    if not permissions.can_view_keys(request.actor):
        raise refuse(request, what, f"Your role cannot see API keys. {permissions.keys_access_note()}")


def _require_manage(request: MemberRequest, what: str) -> None:
    _require_view(request, what)
    if not permissions.can_manage_keys(request.actor):
        raise refuse(request, what, "Your role can read API keys but not change them.")


def _visible_key(request: MemberRequest, key_id: str) -> ApiKey:
    try:
        return selectors.get_visible_key(request.actor, key_id)
    except KeyNotFound:
        # Someone else's key is simply not found: no hint that it exists.
        raise Http404("No such API key.") from None


def _manageable_key(request: MemberRequest, key_id: str, what: str) -> ApiKey:
    _require_manage(request, what)
    key = _visible_key(request, key_id)
    if not permissions.may_manage_key(request.actor, key):
        raise refuse(request, what, "Your role cannot change this key.", key=key)
    return key


def _back_to_key(request: MemberRequest, key: ApiKey) -> HttpResponse:
    """After an action: the key's page (htmx follows a redirect header, a plain form a 302)."""
    if wants_partial(request):
        return HttpResponseClientRedirect(key.get_absolute_url())
    return redirect(key)


# ---- the list ----


def _organization(request: MemberRequest) -> Organization:
    organization = request.user.organization
    assert organization is not None  # the views ask can_view_keys first: only members pass
    return organization


def _quota(request: MemberRequest) -> selectors.Quota:
    return selectors.key_quota(_organization(request))


PASTED_SECRET_WARNING = (
    "That search looked like a Client Secret, so it was neither searched nor kept. The search finds "
    "names and Client IDs; to see which key a secret belongs to, paste it into “Find the key of a "
    "secret” instead. If it was a real secret, it may now be in this browser's history: regenerate "
    "that key."
)


@require_GET
def key_list(request: MemberRequest) -> HttpResponse:
    _require_view(request, "view keys")
    pasted_secret = any(credentials.contains_secret(q) for q in request.GET.getlist("q"))
    if pasted_secret:
        # Only a digest is stored, so a secret cannot be searched for; and it must not be echoed
        # back into the search box, the sort and page links, or the address bar (from where it
        # would travel on in Referer headers): a full page is redirected to the URL without it,
        # an htmx request has its pushed URL replaced.
        without_secret = request.GET.copy()
        del without_secret["q"]
        request.GET = without_secret  # type: ignore[assignment]  # a mutable copy, without the secret
        query = request.GET.urlencode()
        url_without_it = request.path + (f"?{query}" if query else "")
        if not wants_partial(request):
            messages.warning(request, PASTED_SECRET_WARNING)
            return redirect(url_without_it)
    actor = request.actor
    filters = selectors.listed_keys(actor, request.GET)
    if not wants_partial(request):
        for name in filters.form.errors:
            # Ignored, as every invalid filter is, and said so. The value is not echoed back (Django's
            # messages for a choice quote it): it may be long, or a secret pasted in the wrong place.
            messages.warning(request, f"The {name} filter was ignored: its value is not one it takes.")
    sort = filters.form.sort_order
    # Ids first: every sort's index carries what the filters ask (ApiKey.Meta.indexes).
    page = paginate(request, filters.qs, KEYS_PER_PAGE, cap=selectors.COUNT_CAP, ids_first=True)
    quota = _quota(request)
    context = {
        "filters": filters.form,
        "page": page,
        "keys": page.object_list,
        "columns": _columns(sort),
        "quota": quota,
        "can_manage": permissions.can_manage_keys(actor),
        # Asked before the form is filled, of the rule create_key applies (None: one more fits), with
        # the badge's count: one count for both (None when over the badge's cap: the rule counts).
        "key_limit_refusal": (
            services.key_limit_refusal(_organization(request), in_use=quota.in_use)
            if permissions.can_manage_keys(actor)
            else None
        ),
        "this_year": str(timezone.localtime().year),  # dates of this year are shown without it
        "pasted_secret": pasted_secret,
        "pasted_secret_warning": PASTED_SECRET_WARNING,
        "find_form": FindBySecretForm(),
        "find_open": pasted_secret,
    }
    if not wants_partial(request):  # the banners are outside the table that htmx swaps
        policy = SecurityPolicy.of(_organization(request))
        outside = selectors.outside_policy_count(actor, policy)
        context["outside_policy"] = selectors.COUNT_CAP if outside is None else outside
        context["outside_policy_label"] = f"{selectors.COUNT_CAP:,}+" if outside is None else str(outside)
        context["exposed"] = offboarding.exposed_count(actor)
        seen_by = filters.form.value("seen_by")
        if seen_by is not None:
            context["seen_by_member"] = offboarding.visible_members(actor).filter(pk=seen_by).first()
    response = render_screen(request, "keys/key_list.html", "key-table", context)
    if pasted_secret:
        response["HX-Replace-Url"] = url_without_it
    return response


# ---- the key of a secret ----


@never_cache  # the request carried a secret: nothing about its answer is kept
@require_http_methods(["GET", "POST"])
def key_find(request: MemberRequest) -> HttpResponse:
    """ "Find the key of a secret": a POST (a secret never travels in a URL) answered with the key
    and its actions, or the reason none was found; the form comes back empty either way. A GET
    shows the form alone (the page a browser without JavaScript lands on)."""
    _require_view(request, "find key by secret")
    context: dict[str, Any] = {"find_open": True}
    form = FindBySecretForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            match = services.look_up_key(actor=request.actor, secret=form.cleaned_data["secret"])
        except KeyNotFound as err:
            context["not_found"] = err.message
        except ServiceError as err:
            form.add_service_error(err)
        else:
            # Read again as the key's page reads it, so the answer shows the same badges and actions.
            key = _visible_key(request, str(match.key.pk))
            context |= {"found": key, "found_previous": match.previous, **_key_actions(request, key)}
    if form.is_bound and not form.errors:
        form = FindBySecretForm()  # answered: an empty field for the next secret
    context["find_form"] = form
    return render_screen(request, "keys/key_find.html", "find-secret", context)


# (field, label, sortable, folds): the Client ID is under the name; the columns that fold go into
# the name's cell when the window is too narrow for all of them (and into the card on a phone).
COLUMNS = [
    ("name", "Name", True, False),
    ("application", "Application", True, False),
    ("role", "Role", True, True),
    ("account", "Account", True, True),
    ("scopes", "Scopes", False, False),
    ("status", "Status", False, False),
    ("created", "Created", True, True),
    ("last_used", "Last used", True, True),
    ("expires", "Expires", True, False),
]


def _columns(sort: str) -> list[dict]:
    """Header cells: a sortable one links to its ascending order, or flips the current one."""
    current, descending = sort.lstrip("-"), sort.startswith("-")
    columns = []
    for field, label, sortable, folds in COLUMNS:
        active = sortable and field == current
        columns.append(
            {
                "field": field,
                "label": label,
                "sortable": sortable,
                "folds": folds,
                "active": active,
                "descending": active and descending,
                "next": (field if descending else f"-{field}") if active else field,
                "aria_sort": ("descending" if descending else "ascending") if active else None,
            }
        )
    return columns


# ---- create ----


def _render_form(request: MemberRequest, form: KeyCreateForm, *, like: ApiKey | None = None) -> HttpResponse:
    # Errors come back with 200: htmx swaps only successful responses into the dialog.
    cancel_url = like.get_absolute_url() if like is not None else reverse("keys:list")
    context = {"form": form, "cancel_url": cancel_url, "like": like}
    return render_screen(request, "keys/key_form.html", "form-dialog", context)


def _initial_like(request: MemberRequest, key: ApiKey) -> dict:
    """ "Create a key like this one": the form filled with what the key may do, and a free name like
    its own ("SAP ERP Integration (2)"). It is only a starting point: the new key is created by the
    same service with the same checks, and may be narrower."""
    return {
        "application": key.application_id,
        "role": key.role,
        "account": key.account_id,
        "scopes": list(key.scopes),
        "allowed_ips": list(key.allowed_ips),
        "name": selectors.suggest_copy_name(_organization(request), key.name),
    }


def _initial_from(data: QueryDict) -> dict[str, Any]:
    """What a re-drawn (not submitted) form keeps of the user's choices."""
    fields = (
        *("application", "role", "account", "name", "suggested_name"),
        *("expiry", "expiry_days", "allowed_ips"),
    )
    initial: dict[str, Any] = {k: data.get(k) for k in fields}
    initial["scopes"] = data.getlist("scopes")
    return {k: v for k, v in initial.items() if v not in (None, "")}


def _reveal(request: MemberRequest, issued: services.IssuedKey, *, regenerated: bool) -> HttpResponse:
    key = issued.key
    context = {
        "key": key,
        "secret": issued.secret,
        "regenerated": regenerated,
        "done_url": key.get_absolute_url() if regenerated else reverse("keys:list"),
        "refresh_target": "#key-detail-body" if regenerated else "#key-table",
        # The portal's own keys call this portal's REST API; the others call their application.
        "endpoint": key.application.endpoint_at(portal_base_url(request)),
        # A call that works as it is, the secret in it (for the portal's keys: GET /api/v1/key).
        "example_url": key.application.example_call_url(portal_base_url(request), key.scopes),
    }
    return render_screen(request, "keys/key_reveal.html", "reveal-dialog", context)


@never_cache
@require_http_methods(["GET", "POST"])
def key_create(request: MemberRequest) -> HttpResponse:
    _require_manage(request, "create key")
    if request.method == "GET":
        if like_id := request.GET.get("like"):
            like = _visible_key(request, like_id)
            return _render_form(
                request, KeyCreateForm(request.actor, initial=_initial_like(request, like)), like=like
            )
        return _render_form(request, KeyCreateForm(request.actor))
    if request.POST.get("action") == "refresh":
        # Without JavaScript, "Show scopes" re-draws the form for the chosen application.
        return _render_form(request, KeyCreateForm(request.actor, initial=_initial_from(request.POST)))
    form = KeyCreateForm(request.actor, request.POST)
    if not form.is_valid():
        return _render_form(request, form)
    data = form.cleaned_data
    name = data["name"] or selectors.suggest_key_name(_organization(request), data["application"])
    try:
        issued = services.create_key(
            actor=request.actor,
            application=data["application"],
            account=data["account"],
            role=data["role"],
            name=name,
            scopes=data["scopes"],
            expires_in_days=data["expires_in_days"],
            allowed_ips=data["allowed_ips"],
        )
    except ServiceError as err:
        form.add_service_error(err)
        return _render_form(request, form)
    return _reveal(request, issued, regenerated=False)


@require_GET
def key_form_scopes(request: MemberRequest) -> HttpResponse:
    """The scope checkboxes for another application or role (htmx swaps them into the form)."""
    _require_manage(request, "create key")
    form = KeyCreateForm(request.actor, initial=_initial_from(request.GET))
    context = {"form": form, "name_oob": form.name_replaced}
    response = render(request, "keys/key_form.html#scope-fields", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# ---- detail ----


def _usage(key: ApiKey) -> dict:
    totals = selectors.usage_totals(key)
    total = totals["total"]
    days = selectors.daily_usage(key, CHART_DAYS)
    return {
        **{name: f"{value:,}" for name, value in totals.items()},
        "success_rate": (totals["success"] / total * 100) if total else None,
        "chart": charts.usage_chart(days, title=f"Calls per day for {key.name}, last {CHART_DAYS} days"),
        "chart_narrow": charts.usage_chart(
            days, title=f"Calls per day for {key.name}, last {CHART_DAYS} days", narrow=True
        ),
        "chart_summary": charts.summary(days),
        "last_used_ago": _ago(key.last_used_at),
        # The last 24 hours from the request log: durations and the busiest routes, one query at
        # most once a minute (the shared cache keeps it meanwhile).
        "recent": request_log.cached_recent_stats(key) if settings.REQUEST_LOG else None,
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


def _key_actions(request: MemberRequest, key: ApiKey) -> dict[str, bool]:
    """Which actions the key's page (and a look-up's answer) offers: what the actor may do to the
    key, in what its status allows now."""
    can_manage = permissions.may_manage_key(request.actor, key)
    allowed = state.allowed_actions(key, timezone.now()) if can_manage else frozenset()
    return {
        "can_regenerate": state.Action.REGENERATE in allowed,
        "can_edit": state.Action.EDIT in allowed,
        "can_revoke": state.Action.REVOKE in allowed,
        "can_disable": state.Action.DISABLE in allowed,
        "can_enable": state.Action.ENABLE in allowed,
    }


def _detail_context(request: MemberRequest, key: ApiKey) -> dict:
    events = list(key.audit_events.order_by("-occurred_at", "-id")[: KEY_EVENTS_SHOWN + 1])
    now = timezone.now()
    return {
        "key": key,
        "usage": _usage(key),
        "request_log_days": settings.REQUEST_LOG_DAYS,
        "recent_ips": _recent_ips(key),
        "events": events[:KEY_EVENTS_SHOWN],
        "more_events": len(events) > KEY_EVENTS_SHOWN,
        **_key_actions(request, key),
        # Any key may be the model of a new one (a rotation starts so), at the plan's limit too:
        # the form then says why it cannot be created.
        "can_create_like": permissions.can_manage_keys(request.actor),
        "key_limit_refusal": (
            services.key_limit_refusal(key.organization)
            if permissions.can_manage_keys(request.actor)
            else None
        ),
        "scope_groups": _group_scopes(key.scopes),
        "policy_breaches": (
            breaches(SecurityPolicy.of(key.organization), key) if state.in_use(key, now) else []
        ),
    }


def _group_scopes(scopes: list[str]) -> list[tuple[str, list[str]]]:
    groups: dict[str, list[str]] = {}
    for scope in scopes:
        groups.setdefault(scope.split(":", 1)[0], []).append(scope)
    return list(groups.items())


@require_GET
def key_detail(request: MemberRequest, key_id: str) -> HttpResponse:
    _require_view(request, "view key")
    key = _visible_key(request, key_id)
    return render_screen(request, "keys/key_detail.html", "key-detail-body", _detail_context(request, key))


# ---- the Requests tab ----


@require_GET
def key_requests(request: MemberRequest, key_id: str) -> HttpResponse:
    """The key's request log, newest first, by cursor; a wrong filter is a 400 with its error beside
    it."""
    _require_view(request, "view key requests")
    key = _visible_key(request, key_id)
    form = RequestFilterForm(request.GET or None)
    status = 200
    page = None
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        data = form.cleaned_data if form.is_bound else {}
        filters = request_log.RequestFilters(**{name: data.get(name) or None for name in form.fields})
        try:
            page = request_log.page_of_requests(
                key, filters, cursor=request.GET.get("cursor") or None, last=request.GET.get("page") == "last"
            )
        except ServiceError as err:
            form.add_error(None, err.message)
            status = 400
    rows = [{"entry": entry, "why": request_log.why(entry)} for entry in page.rows] if page else []
    context = {
        "key": key,
        "filters": form,
        "page": page,
        "rows": rows,
        "log_search_url": settings.REQUEST_LOG_SEARCH_URL,
        "log_days": settings.REQUEST_LOG_DAYS,
        "log_on": settings.REQUEST_LOG,
    }
    response = render_screen(request, "keys/key_requests.html", "requests-table", context)
    response.status_code = status
    return response


# ---- usage as CSV ----

USAGE_CSV_HEADER = ("date", "calls", "errors", "rate_limited")


@never_cache
@require_GET
def key_usage_csv(request: MemberRequest, key_id: str) -> HttpResponse:
    """The key's daily counts as a CSV file, for whoever may see the key's page.

    A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, so the
    file holds nothing a person typed: its cells are dates and numbers only, and the key's name
    appears only in the file name, as a slug."""
    _require_view(request, "export key usage")
    key = _visible_key(request, key_id)
    form = UsageExportForm(request.GET)
    if not form.is_valid():
        message = form.errors["days"][0]
        return render(request, "400.html", {"message": message}, status=400)
    days = selectors.daily_usage(key, form.cleaned_data["days"])
    name = slugify(key.name) or "api-key"
    filename = f"{name}-usage-{days[0].day:%Y-%m-%d}-{days[-1].day:%Y-%m-%d}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(USAGE_CSV_HEADER)
    writer.writerows((f"{d.day:%Y-%m-%d}", d.calls, d.errors, d.rate_limited) for d in days)
    return response


# ---- the list as CSV ----

KEYS_CSV_HEADER = (
    *("name", "description", "client_id", "application", "account", "role", "scopes", "status"),
    *("created_at", "last_used_at", "expires_at", "allowed_ips"),
)
KEYS_CSV_MAX = selectors.COUNT_CAP
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """Text a person typed (a name, a description), defused: a spreadsheet runs a cell that starts
    with one of FORMULA_START as a formula, so such a cell starts with an apostrophe instead."""
    return f"'{text}" if text.startswith(FORMULA_START) else text


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if moment else ""


class _Echo:
    def write(self, value: str) -> str:
        return value


@never_cache
@require_GET
def key_list_csv(request: MemberRequest) -> StreamingHttpResponse:
    """The keys the list shows, with its filters and its order, as a CSV file (at most
    ``KEYS_CSV_MAX``), streamed: times in UTC, ISO 8601."""
    _require_view(request, "export keys")
    filters = selectors.listed_keys(request.actor, request.GET)
    keys = filters.qs[:KEYS_CSV_MAX]
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(KEYS_CSV_HEADER)
        for key in keys.iterator(chunk_size=500):
            yield writer.writerow(
                (
                    _cell(key.name),
                    _cell(key.description),
                    key.client_id,
                    key.application.slug,
                    _cell(key.account.name),
                    key.get_role_display(),
                    " ".join(key.scopes),
                    key.status,
                    _utc(key.created_at),
                    _utc(key.last_used_at),
                    _utc(key.expires_at),
                    " ".join(key.allowed_ips),
                )
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="api-keys-{timezone.now():%Y-%m-%d}.csv"'
    return response


# ---- edit: rename, or bring the expiry earlier ----


@require_http_methods(["GET", "POST"])
def key_edit(request: MemberRequest, key_id: str) -> HttpResponse:
    key = _manageable_key(request, key_id, "edit key")
    if not key.allows(state.Action.EDIT):
        raise Http404("A revoked key cannot be changed.")
    form = KeyEditForm(key, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_key(
                actor=request.actor,
                key=key,
                name=form.new_name,
                expires_at=form.new_expiry,
                allowed_ips=form.new_allowed_ips,
                description=form.new_description,
            )
        except ServiceError as err:
            form.add_service_error(err)
        else:
            changed = (form.new_name, form.new_expiry, form.new_description, form.new_allowed_ips)
            if any(value is not None for value in changed):
                messages.success(request, "Saved. What the key may do is unchanged.")
            return _back_to_key(request, key)
    context = {"key": key, "form": form, "cancel_url": key.get_absolute_url()}
    return render_screen(request, "keys/key_edit.html", "edit-dialog", context)


# ---- regenerate and revoke: a confirmation (dialog or page), then the service ----


@never_cache
@require_http_methods(["GET", "POST"])
def key_regenerate(request: MemberRequest, key_id: str) -> HttpResponse:
    key = _manageable_key(request, key_id, "regenerate key")
    form = RegenerateForm(request.POST if request.method == "POST" else None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.regenerate_key(actor=request.actor, key=key, grace_period=form.grace)
        except ServiceError as err:
            error = err.message
        else:
            return _reveal(request, issued, regenerated=True)
    context = {"key": key, "form": form, "error": error, "cancel_url": key.get_absolute_url()}
    return render_screen(request, "keys/key_regenerate.html", "regenerate-dialog", context)


@require_http_methods(["GET", "POST"])
def key_revoke(request: MemberRequest, key_id: str) -> HttpResponse:
    key = _manageable_key(request, key_id, "revoke key")
    if request.method == "POST":
        services.revoke_key(actor=request.actor, key=key)
        messages.success(request, f"“{key.name}” is revoked. Requests with it are refused from now on.")
        return _back_to_key(request, key)
    context = {"key": key, "cancel_url": key.get_absolute_url()}
    return render_screen(request, "keys/key_revoke.html", "revoke-dialog", context)


# ---- disable and enable: a confirmation (dialog or page), then the service ----


@require_http_methods(["GET", "POST"])
def key_set_disabled(request: MemberRequest, key_id: str, *, disabled: bool) -> HttpResponse:
    verb = "disable" if disabled else "enable"
    key = _manageable_key(request, key_id, f"{verb} key")
    error = None
    if request.method == "POST":
        try:
            change = services.disable_key if disabled else services.enable_key
            change(actor=request.actor, key=key)
        except ServiceError as err:
            error = err.message
        else:
            messages.success(
                request,
                f"“{key.name}” is disabled: requests with it are refused until it is enabled."
                if disabled
                else f"“{key.name}” is enabled: its secret works again.",
            )
            return _back_to_key(request, key)
    context = {
        "key": key,
        "disabling": disabled,
        "verb": verb.capitalize(),
        "error": error,
        "cancel_url": key.get_absolute_url(),
    }
    return render_screen(request, "keys/key_disable.html", "disable-dialog", context)
