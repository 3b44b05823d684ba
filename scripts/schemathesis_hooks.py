"""schemathesis hooks for scripts/schemathesis-run (loaded through SCHEMATHESIS_HOOKS).

schemathesis reuses ids it reads from responses, including the calling key's own id (from
``GET /api/v1/key``). Regenerating or revoking that key makes every later request of the run a
401, so most of the run would test nothing but authentication. The hook sends those two calls to
a random (unknown, so 404) id instead; every other key, including the fuzz targets, stays fair game.

Creating a key needs scopes from the application's catalogue, which the OpenAPI document cannot
enumerate (catalogues differ per application). A well-typed scope list is mapped onto the portal's
own scopes so that creation is exercised and not only refused with ``invalid_scope``; schemathesis
re-validates a case after ``before_call``, so a case that becomes valid is judged as valid.
"""

from __future__ import annotations

import os
import uuid

import schemathesis

OWN_KEY_ID = os.environ.get("FUZZ_OWN_KEY_ID", "")
PORTAL_SCOPES = ("api-keys:read", "api-keys:write", "api-keys:verify")


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    method = case.operation.method.upper()
    path = case.operation.path
    parameters = case.path_parameters or {}
    if OWN_KEY_ID and parameters.get("key_id") == OWN_KEY_ID and method in ("POST", "DELETE"):
        case.path_parameters = {**parameters, "key_id": str(uuid.uuid4())}
    body = case.body
    if method == "POST" and path.endswith("/org/api-keys") and isinstance(body, dict):
        scopes = body.get("scopes")
        if isinstance(scopes, list) and scopes and all(isinstance(s, str) for s in scopes):
            body["scopes"] = sorted({PORTAL_SCOPES[len(s) % len(PORTAL_SCOPES)] for s in scopes})
