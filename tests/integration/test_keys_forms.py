"""The forms behind the key pages (keys/web/forms.py, and the list's filter form from keys/filters.py)
under bad input: a clear error next to its field, an ignored filter or a 404, never a 500, and
nothing written. Runs on SQLite and PostgreSQL (which refuses NUL in text)."""

from __future__ import annotations

import pytest

from audit.models import AuditAction, AuditEvent
from keys.models import ApiKey
from tests.helpers.portal import HX, field_error, form_data

pytestmark = pytest.mark.django_db

NUL = "\x00"
LONG = "x" * 10_000


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": f"nul{NUL}name"}, "name", "Null characters are not allowed"),
        ({"name": LONG}, "name", "the limit is 128"),
        ({"name": "é" * 129}, "name", "the limit is 128"),
        ({"application": NUL}, "application", "Null characters are not allowed"),
        ({"application": "9" * 400}, "application", "Select a valid choice"),
        ({"account": f"1{NUL}"}, "account", "Null characters are not allowed"),
        ({"role": NUL}, "role", "Select a valid choice"),
        ({"expiry": "custom", "expiry_days": "9" * 500}, "expiry_days", "between 1 and 3650 days"),
        ({"expiry": "custom", "expiry_days": f"3{NUL}"}, "expiry_days", "Enter a whole number"),
        ({"expiry": NUL}, "expiry", "Select a valid choice"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_create_form_bad_values_are_errors_next_to_their_field(demo, login, overrides, field, message, htmx):
    response = login("advanced@acme.test").post(
        "/settings/api-keys/new/", form_data(demo, **overrides), **(HX if htmx else {})
    )
    assert response.status_code == 200
    assert message in field_error(response, field)
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("scopes", [[f"api-keys:read{NUL}"], [LONG], ["api-keys:read"] * 5_000])
def test_create_form_bad_scopes_are_refused(demo, login, scopes):
    response = login("advanced@acme.test").post("/settings/api-keys/new/", form_data(demo, scopes=scopes))
    body = response.content.decode()
    if len(scopes) > 1_000:  # DATA_UPLOAD_MAX_NUMBER_FIELDS: Django's 400 page, before any view
        assert response.status_code == 400 and "Bad request" in body
    else:
        assert response.status_code == 200
        assert 'id="scopes-error"' in body and "Select a valid choice" in body
    assert not ApiKey.objects.exists()


def test_scope_catalogue_fragment_with_a_bad_application(demo, login):
    """An application that is not one of the choices is ignored: the catalogue of the form's first
    application (the portal's) comes back, as for no application at all."""
    client = login("advanced@acme.test")
    response = client.get("/settings/api-keys/new/scopes/", {"application": NUL}, **HX)
    assert response.status_code == 200
    assert response.content == client.get("/settings/api-keys/new/scopes/", **HX).content
    assert 'name="scopes" value="api-keys:read"' in response.content.decode()


@pytest.mark.parametrize("grace", [NUL, LONG, "-1", "604801"])
def test_regenerate_with_a_bad_grace_period_changes_nothing(demo, login, make_key, grace):
    from keys.services import verify_key

    issued = make_key()
    response = login("advanced@acme.test").post(
        f"/settings/api-keys/{issued.key.pk}/regenerate/", {"grace_period": grace}
    )
    assert response.status_code == 200
    assert 'id="grace-error">Select a valid choice' in response.content.decode()  # next to its field
    assert verify_key(presented=issued.secret) is not None
    assert not AuditEvent.objects.filter(action=AuditAction.KEY_REGENERATED).exists()


@pytest.mark.parametrize(
    "query",
    [
        {"q": NUL},
        {"q": LONG},
        {"status": NUL},
        {"application": NUL, "role": "9" * 400, "account": "-1", "created_by": "x"},
        {"sort": NUL},
        {"sort": "-" + LONG},
        {"page": "9" * 30},
        {"page": NUL},
        {"page": "-1"},
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_key_list_with_bad_filters_still_answers(demo, login, make_key, query, htmx):
    make_key(name="still listed")
    response = login("advanced@acme.test").get("/settings/api-keys/", query, **(HX if htmx else {}))
    assert response.status_code == 200
    # A filter value that cannot be valid is ignored, not an error page: the key is still listed.
    assert "still listed" in response.content.decode()


def test_nul_in_a_key_path_is_not_found(demo, login):
    assert login("advanced@acme.test").get("/settings/api-keys/%00/").status_code == 404
