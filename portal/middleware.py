from __future__ import annotations

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject

from accounts.actors import Actor, client_ip, user_agent

# Paths that are not portal pages: the JSON API authenticates with keys (never a session), the
# probes answer load balancers, and static files are public.
PUBLIC_PREFIXES = ("/api/", "/healthz", "/readyz", "/static/")


class PortalLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every portal page needs a signed-in user unless its view says otherwise."""

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if request.path_info.startswith(PUBLIC_PREFIXES):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp, without its work on the paths it leaves alone.

    django-csp builds the policy and the report-only policy for every response and only then looks
    at EXCLUDE_URL_PREFIXES and at a view's ``_csp_exempt``; on the JSON API and the probes that cost
    about 40 µs a request (a quarter of /healthz, measured in-process) for a header it never writes.
    Same headers, same paths; the excluded paths get no nonce either."""

    def __init__(self, get_response) -> None:
        super().__init__(get_response)
        self.excluded = tuple(settings.CONTENT_SECURITY_POLICY.get("EXCLUDE_URL_PREFIXES", ()))

    def process_request(self, request: HttpRequest) -> None:
        # No nonce either where no policy is written: those paths answer JSON, never a template.
        if not (self.excluded and request.path_info.startswith(self.excluded)):
            super().process_request(request)

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if getattr(response, "_csp_exempt", False) or (
            self.excluded and request.path_info.startswith(self.excluded)
        ):
            return response
        return super().process_response(request, response)


class ActorMiddleware:
    """``request.actor``: who is acting, built once per request. Requests made with an API key got
    theirs from the key middleware; everyone else is the signed-in member (or nobody)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if not hasattr(request, "actor"):
            request.actor = SimpleLazyObject(
                lambda: Actor.for_user(request.user, ip=client_ip(request), user_agent=user_agent(request))
            )
        return self.get_response(request)
