"""Scope strings: ``<resource>:<action>``; ``write`` implies ``read``."""

from __future__ import annotations

import re

SCOPE_SYNTAX = re.compile(r"^[a-z][a-z0-9-]{0,62}:(read|write|verify)$")

# The portal application's own catalogue: what keys may do with the portal's REST API.
PORTAL_READ = "api-keys:read"
PORTAL_WRITE = "api-keys:write"
PORTAL_VERIFY = "api-keys:verify"


def expand_scopes(scopes: list[str] | tuple[str, ...]) -> frozenset[str]:
    """Everything a list of scopes grants: each ``x:write`` adds ``x:read``."""
    granted = set(scopes)
    for scope in scopes:
        resource, _, action = scope.partition(":")
        if action == "write":
            granted.add(f"{resource}:read")
    return frozenset(granted)
