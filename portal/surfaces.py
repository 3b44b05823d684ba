"""Two middleware stacks in one project: a lean one for the APIs and the probes, the full one for the
portal.

A request to ``/api/``, ``/healthz``, ``/readyz`` or ``/metrics`` comes with an API key or with
nothing at all. Sessions, CSRF, sign-in, messages, htmx, login throttling and clickjacking headers
do nothing for it, yet in one stack they run on every call (about 70 µs of a 250 µs ``/healthz``).
:class:`SurfaceRouter`, near the top of ``MIDDLEWARE``, sends those requests through the middleware
of ``API_MIDDLEWARE`` instead (security headers, the Content Security Policy of the few HTML pages,
the key middleware, JSON error bodies) and every other request on down the portal's stack.

Being middleware, it routes alike however the project is served: gunicorn, ``runserver``, the test
client, ``live_server``. The one API route that can use a portal session, GraphQL without a key,
loads the session, the signed-in user and the CSRF check itself, on that route only
(``keys.api.graphql.view.with_member_session``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponseBase
from django.utils.module_loading import import_string

API_PREFIX = "/api/"
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


def is_api_path(path: str) -> bool:
    """Whether a request to this path goes through the lean stack."""
    return path.startswith(API_PREFIX) or path in PROBES


class LeanHandler(BaseHandler):
    """Django's request handling (URL resolving, view, exception and template-response middleware,
    the error views) around the middleware of ``settings.API_MIDDLEWARE``.

    ``BaseHandler.load_middleware`` reads ``settings.MIDDLEWARE`` only; this is its synchronous half
    for another list: the lean stack runs under WSGI, and an ASGI server adapts the router around it.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        if is_async:
            raise ImproperlyConfigured("The lean API stack is synchronous; the router adapts it.")
        self._view_middleware: list[Callable[..., HttpResponseBase | None]] = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]  # not in the stubs
        for path in reversed(settings.API_MIDDLEWARE):
            middleware = import_string(path)
            if not getattr(middleware, "sync_capable", True):
                raise ImproperlyConfigured(f"{path} cannot run synchronously, as the lean stack does.")
            try:
                instance = middleware(handler)
            except MiddlewareNotUsed:
                continue
            if instance is None:
                raise ImproperlyConfigured(f"Middleware factory {path} returned None.")
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler


class SurfaceRouter:
    """API and probe requests through the lean stack; the rest on through ``MIDDLEWARE``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        lean = LeanHandler()
        lean.load_middleware()
        # Synchronous: load_middleware refuses an async stack.
        self.lean = cast(Callable[[HttpRequest], HttpResponseBase], lean._middleware_chain)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = request.path_info
        if path.startswith(API_PREFIX) or path in PROBES:
            return self.lean(request)
        return self.get_response(request)
