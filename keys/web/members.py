"""Settings → Members: who works in the organization, how many live secrets each has seen, and
offboarding (deactivate, reactivate). Advanced Admins act, Support reads, everyone else gets a 403.
The rules are in ``keys.offboarding``; these views ask it and draw its answers."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from accounts import permissions
from accounts.actors import MemberRequest
from accounts.models import User
from keys import offboarding
from keys.errors import ServiceError
from keys.filters import MemberFilterSet
from pages import paginate, refuse, render_screen, wants_partial

MEMBERS_PER_PAGE = 50


def _require_view(request: MemberRequest, what: str) -> None:
    if not permissions.can_view_members(request.actor):
        raise refuse(request, what, "Your role cannot see the organization's members.")


@require_GET
def member_list(request: MemberRequest) -> HttpResponse:
    _require_view(request, "view members")
    actor = request.actor
    listed = offboarding.members_with_seen_counts(actor).prefetch_related("memberships__account")
    filters = MemberFilterSet(request.GET, listed, actor=actor)
    page = paginate(request, filters.qs, MEMBERS_PER_PAGE)
    context = {
        "filters": filters.form,
        "page": page,
        "members": page.object_list,
        "can_manage": permissions.can_manage_members(actor),
        "keys_url": reverse("keys:list"),
    }
    if not wants_partial(request):  # the banner is outside the table that htmx swaps
        context["exposed"] = offboarding.exposed_count(actor)
    return render_screen(request, "keys/members.html", "member-table", context)


def _back_to_members(request: MemberRequest) -> HttpResponse:
    url = reverse("keys:members")
    return HttpResponseClientRedirect(url) if wants_partial(request) else redirect(url)


@require_http_methods(["GET", "POST"])
def member_set_active(request: MemberRequest, member_id: str, *, active: bool) -> HttpResponse:
    """The Deactivate / Reactivate confirmation (a dialog, or a page without JavaScript), then the
    service."""
    verb = "reactivate" if active else "deactivate"
    _require_view(request, f"{verb} member")
    actor = request.actor
    if not permissions.can_manage_members(actor):
        raise refuse(
            request, f"{verb} member", "Only an Advanced Admin may deactivate or reactivate members."
        )
    try:
        member: User = offboarding.get_visible_member(actor, member_id)
    except ServiceError as err:
        raise refuse(request, f"{verb} member", err.message) from None
    error = permissions.member_refusal(actor, member)
    if request.method == "POST" and error is None:
        try:
            if active:
                offboarding.reactivate_member(actor=actor, member=member)
            else:
                done = offboarding.deactivate_member(actor=actor, member=member)
        except ServiceError as err:
            error = err.message
        else:
            messages.success(request, _done_message(member, active, None if active else done))
            return _back_to_members(request)
    context = {
        "member": member,
        "activating": active,
        "verb": verb.capitalize(),
        "error": error,
        "seen": offboarding.keys_exposed_by(actor, member),
        "cancel_url": reverse("keys:members"),
    }
    return render_screen(request, "keys/member_action.html", "member-dialog", context)


def _done_message(member: User, active: bool, done: offboarding.Deactivation | None) -> str:
    if active:
        return f"{member.email} can sign in again. Keys flagged exposed stay so until regenerated."
    count = len(done.exposed) if done else 0
    text = f"{member.email} is deactivated and signed out everywhere."
    if count:
        text += (
            f" {count} key{'s' if count != 1 else ''} with a secret they saw "
            f"{'are' if count != 1 else 'is'} flagged exposed: regenerate "
            f"{'them' if count != 1 else 'it'} to replace what they knew."
        )
    return text
