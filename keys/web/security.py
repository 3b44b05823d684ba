"""Settings → Security: the organization's security policy for its keys.

Advanced Admins of the whole organization change it; Admin + API and Support read it; everyone
else gets a 403. The page also says how many existing keys the policy leaves behind, with a link
to them in the key list (a policy change never touches existing keys).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts import permissions
from accounts.actors import MemberRequest
from accounts.models import LeakPolicy
from keys import policy, selectors
from keys.errors import ServiceError
from keys.models import KeyFlag
from keys.web.forms import SecurityPolicyForm
from pages import refuse


@require_http_methods(["GET", "POST"])
def security_policy(request: MemberRequest) -> HttpResponse:
    actor = request.actor
    if not permissions.can_view_security_policy(actor):
        raise refuse(request, "view security policy", "Your role cannot see the security policy.")
    may_edit = permissions.may_edit_security_policy(actor)
    current = policy.SecurityPolicy.of_organization(actor.organization_id)
    if request.method == "POST":
        if not may_edit:
            raise refuse(
                request,
                "change security policy",
                "Only an Advanced Admin of the whole organization may change its security policy.",
            )
        form = SecurityPolicyForm(current, request.POST)
        if form.is_valid():
            try:
                changes = policy.update_policy(actor=actor, **form.cleaned_data)
            except ServiceError as err:
                form.add_service_error(err)
            else:
                _say_what_changed(request, changes)
                return redirect("keys:security")
    else:
        form = SecurityPolicyForm(current, read_only=not may_edit)
    outside = selectors.outside_policy_counts(actor, current)
    context = {
        "form": form,
        "leak_policy_label": LeakPolicy(current.leak_policy).label,
        "may_edit": may_edit,
        "policy": current,
        "outside": outside,
        "outside_url": f"{reverse('keys:list')}?flag={KeyFlag.OUTSIDE_POLICY}",
        "rotation_due_url": f"{reverse('keys:list')}?flag={KeyFlag.ROTATION_DUE}",
        "rotation_due": selectors.visible_keys(actor)
        .with_flag(KeyFlag.ROTATION_DUE, current.rotation_policy_days)
        .count(),
    }
    return render(request, "keys/security.html", context)


def _say_what_changed(request: MemberRequest, changes: dict) -> None:
    if not changes:
        messages.info(request, "Nothing changed.")
        return
    now = policy.SecurityPolicy.of_organization(request.actor.organization_id)
    outside = selectors.outside_policy_counts(request.actor, now)["total"]
    if not set(changes) & set(policy.SecurityPolicy.KEY_RULES):
        messages.success(request, f"Saved. {_leak_policy_sentence(now.leak_policy)}")
        return
    text = "Saved. The policy applies to every key created from now on."
    if outside:
        text += (
            f" {outside} existing key{'s are' if outside != 1 else ' is'} outside it: "
            f"{'they keep' if outside != 1 else 'it keeps'} working until replaced, and "
            "the next reminder run tells their managers."
        )
    messages.success(request, text)


def _leak_policy_sentence(leak_policy: str) -> str:
    return {
        LeakPolicy.REVOKE: "A key whose live secret is reported leaked is revoked at once.",
        LeakPolicy.DISABLE: "A key whose live secret is reported leaked is disabled at once.",
        LeakPolicy.FLAG: "A key whose live secret is reported leaked is flagged exposed and keeps working.",
    }[LeakPolicy(leak_policy)]
