from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_GET, require_POST

from accounts.actors import MemberRequest
from accounts.catalogue import portal_base_url
from accounts.forms import EmailAuthenticationForm, TimeZoneForm
from accounts.models import Application
from accounts.permissions import can_view_applications, can_view_keys, keys_access_note


def _demo_sign_in() -> dict:
    """In development only, the login page names the demo users' password (the one seed_demo
    gives them); a production page never does, whatever DEMO_PASSWORD holds."""
    return {"demo_password": settings.DEMO_PASSWORD} if settings.DEBUG else {}


@method_decorator(login_not_required, name="dispatch")
class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **_demo_sign_in()}


class LogoutView(auth_views.LogoutView):
    http_method_names = ["post", "options"]


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("password_change_done")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.setdefault("time_zone_form", TimeZoneForm(instance=self.request.user))
        return context


@require_POST
def time_zone_change(request: MemberRequest) -> HttpResponse:
    """The member's time zone, on the Password page beside the password."""
    form = TimeZoneForm(request.POST, instance=request.user)
    if not form.is_valid():
        context = {"form": PasswordChangeForm(request.user), "time_zone_form": form}
        return render(request, PasswordChangeView.template_name, context, status=400)
    form.save()
    messages.success(request, f"Dates are now shown in {form.cleaned_data['time_zone']}.")
    return redirect("password_change")


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "accounts/password_change_done.html"


def login_locked_out(
    request: HttpRequest, credentials: dict[str, Any] | None = None, *args: Any, **kwargs: Any
) -> HttpResponse:
    """Shown by django-axes instead of checking the password once the limit is reached."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    form = EmailAuthenticationForm(request, data=request.POST or None)
    form.is_valid()  # bind the submitted email back into the form
    form.errors.clear()
    form.add_error(
        None,
        f"Too many failed sign-in attempts. Sign-in is locked for {minutes} minutes for this account "
        "and this network address; try again later or ask an administrator.",
    )
    context = {"form": form, "locked_out": True, **_demo_sign_in()}
    return render(request, "accounts/login.html", context, status=429)


@require_GET
def home(request: MemberRequest) -> HttpResponse:
    if can_view_keys(request.actor):
        return redirect("keys:list")
    if can_view_applications(request.actor):
        return redirect("applications")
    if request.user.is_superuser:
        return redirect("admin:index")
    raise PermissionDenied("Your account has no role in any organization yet.")


def _organization_applications(request: MemberRequest) -> QuerySet[Application]:
    if not can_view_applications(request.actor):
        raise PermissionDenied("Only members of an organization can see its applications.")
    return Application.objects.filter(organization_id=request.actor.organization_id)


@require_GET
def application_list(request: MemberRequest) -> HttpResponse:
    applications = list(_organization_applications(request).prefetch_related("scopes"))
    base = portal_base_url(request)
    for application in applications:
        application.live_endpoint = application.endpoint_at(base)  # type: ignore[attr-defined]  # for the template
    context: dict[str, Any] = {"applications": applications}
    if not can_view_keys(request.actor):
        context["keys_access_note"] = keys_access_note()
    return render(request, "accounts/application_list.html", context)


@require_GET
def application_detail(request: MemberRequest, slug: str) -> HttpResponse:
    application = get_object_or_404(_organization_applications(request).prefetch_related("scopes"), slug=slug)
    base = portal_base_url(request)
    context = {
        "application": application,
        "endpoint": application.endpoint_at(base),
        "api_base": f"{base}/api/v1",
        "graphql_url": f"{base}/api/graphql",
        "example_url": application.example_call_url(base),
    }
    return render(request, "accounts/application_detail.html", context)
