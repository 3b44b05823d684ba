"""Reading the portal's pages: htmx requests, the create form's data, field errors, revealed secrets."""

from __future__ import annotations

import re

from accounts.models import Role

HX = {"HTTP_HX_REQUEST": "true"}
SECRET = re.compile(r"sk_(?:live|test)_[0-9A-Za-z]{49}")


def is_full_page(response) -> bool:
    return b"<!doctype html>" in response.content[:200].lower()


def form_data(demo, **overrides) -> dict:
    """A valid create-form submission (an InCharge key on Acme's root account), with overrides;
    a value of None leaves that field out."""
    data = {
        "application": demo.incharge.pk,
        "role": int(Role.ADVANCED_ADMIN),
        "account": demo.acme_root.pk,
        "name": "ERP production",
        "expiry": "never",
        "expiry_days": "",
        "scopes": ["charge-points:read", "billing:write"],
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def field_error(response, field: str) -> str:
    """The error shown next to a form field, or ""."""
    match = re.search(rf'id="id_{field}_error">([^<]*)<', response.content.decode())
    return match.group(1) if match else ""


def secret_in(response) -> str:
    """The Client Secret a page reveals; fails the test if there is none."""
    match = SECRET.search(response.content.decode())
    assert match, "no secret in the response"
    return match.group(0)
