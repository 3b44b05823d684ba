"""The Content Security Policy of the API's two HTML pages, the REST docs (``/api/v1/docs``) and the
GraphiQL explorer (``GET /api/graphql``).

The API's middleware stack (``portal.surfaces``) has no CSP middleware: every other answer under
``/api/`` is JSON, which a browser executes nothing of. These two pages get the portal's policy from
django-csp's own middleware, as a decorator: a nonce for their templates, then the header, with the
view's ``csp_update`` applied.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware
from django.utils.decorators import decorator_from_middleware

with_content_security_policy = decorator_from_middleware(CSPMiddleware)
