from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from accounts.actors import Actor, client_ip, user_agent
from accounts.timezones import is_time_zone

# Paths that are not portal pages: the JSON API authenticates with keys (never a session), the
# probes answer load balancers, and static files are public.
PUBLIC_PREFIXES = ("/api/", "/healthz", "/readyz", "/static/")


class PortalLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every portal page needs a signed-in user unless its view says otherwise."""

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponseBase],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        if request.path_info.startswith(PUBLIC_PREFIXES):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class ActorMiddleware:
    """``request.actor``: who is acting, built once per request. Requests made with an API key got
    theirs from the key middleware; everyone else is the signed-in member (or nobody)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not hasattr(request, "actor"):
            request.actor = SimpleLazyObject(  # type: ignore[attr-defined]  # the attribute this middleware adds
                lambda: Actor.for_user(request.user, ip=client_ip(request), user_agent=user_agent(request))
            )
        return self.get_response(request)


class MemberTimeZoneMiddleware:
    """Dates on a member's pages are in the member's own time zone (the Password page sets it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        user = getattr(request, "user", None)
        timezone.deactivate()
        if user is not None and user.is_authenticated and is_time_zone(user.time_zone):
            # A zone this machine does not know (stored some other way) is UTC, never a 500.
            timezone.activate(user.time_zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
