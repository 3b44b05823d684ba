from __future__ import annotations

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest

# Paths that are not portal pages: the JSON API authenticates with keys (never a session), the
# probes answer load balancers, and static files are public.
PUBLIC_PREFIXES = ("/api/", "/healthz", "/readyz", "/static/")


class PortalLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every portal page needs a signed-in user unless its view says otherwise."""

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if request.path_info.startswith(PUBLIC_PREFIXES):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
