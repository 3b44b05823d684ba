"""Scope strings: ``<resource>:<action>``; ``write`` implies ``read``.

Older documentation names scopes the other way round with underscores (``read:charge_points``):
those are accepted on input as aliases of ``charge-points:read``; output always uses
``resource:action``."""

from __future__ import annotations

import re

SCOPE_SYNTAX = re.compile(r"^[a-z][a-z0-9-]{0,62}:(read|write|verify)$")
ALIAS_SYNTAX = re.compile(r"^(read|write|verify):([a-z][a-z0-9_-]{0,62})$")
#: What an API accepts as a scope: the name, or its older alias (one anchored group: API fuzzers
#: generate poorly from two anchored alternatives).
INPUT_SYNTAX = re.compile(
    r"^(?:[a-z][a-z0-9-]{0,62}:(?:read|write|verify)|(?:read|write|verify):[a-z][a-z0-9_-]{0,62})$"
)

# The portal application's own catalogue: what keys may do with the portal's REST API.
PORTAL_READ = "api-keys:read"
PORTAL_WRITE = "api-keys:write"
PORTAL_VERIFY = "api-keys:verify"


def canonical_scope(text: str) -> str:
    """``read:charge_points`` → ``charge-points:read``; anything else unchanged."""
    match = ALIAS_SYNTAX.fullmatch(text.strip())
    if match is None:
        return text.strip()
    action, resource = match.groups()
    return f"{resource.replace('_', '-')}:{action}"


def expand_scopes(scopes: list[str] | tuple[str, ...]) -> frozenset[str]:
    """Everything a list of scopes grants: each ``x:write`` adds ``x:read``."""
    granted = set(scopes)
    for scope in scopes:
        resource, _, action = scope.partition(":")
        if action == "write":
            granted.add(f"{resource}:read")
    return frozenset(granted)
