"""Every portal URL and API endpoint × every role × another organization: the exact status, and
nothing of the other organization in the body (issue 6, item 1)."""

import pytest

from accounts.models import Role

pytestmark = pytest.mark.django_db

ADV, API, ADM, SUP, VIEW, GLOBEX = (
    "advanced@acme.test",
    "adminapi@acme.test",
    "admin@acme.test",
    "support@acme.test",
    "viewer@acme.test",
    "advanced@globex.test",
)
USERS = [ADV, API, ADM, SUP, VIEW, GLOBEX]


@pytest.fixture
def world(demo, make_key):
    """An Acme key Admin + API may manage, one above it, and a Globex key."""
    return {
        "managed": make_key(
            name="acme-managed-key", role=Role.ADMIN_API, account=demo.north, scopes=["api-keys:read"]
        ),
        "above": make_key(name="acme-advanced-key", role=Role.ADVANCED_ADMIN, scopes=["api-keys:read"]),
        "globex": make_key(
            name="globex-only-key", organization=demo.globex, scopes=["api-keys:read", "api-keys:write"]
        ),
    }


# path template -> expected status per user (GET)
PORTAL_GET = {
    "/settings/api-keys/": dict(zip(USERS, [200, 200, 403, 200, 403, 200], strict=True)),
    "/settings/api-keys/new/": dict(zip(USERS, [200, 200, 403, 403, 403, 200], strict=True)),
    "/settings/api-keys/{managed}/": dict(zip(USERS, [200, 200, 403, 200, 403, 404], strict=True)),
    "/settings/api-keys/{above}/": dict(zip(USERS, [200, 404, 403, 200, 403, 404], strict=True)),
    "/settings/api-keys/{managed}/regenerate/": dict(zip(USERS, [200, 200, 403, 403, 403, 404], strict=True)),
    "/settings/api-keys/{managed}/revoke/": dict(zip(USERS, [200, 200, 403, 403, 403, 404], strict=True)),
    "/settings/api-keys/{above}/revoke/": dict(zip(USERS, [200, 404, 403, 403, 403, 404], strict=True)),
    "/settings/api-keys/{globex}/": dict(zip(USERS, [404, 404, 403, 404, 403, 200], strict=True)),
    "/settings/api-keys/not-a-uuid/": dict(zip(USERS, [404, 404, 403, 404, 403, 404], strict=True)),
    "/settings/audit-log/": dict(zip(USERS, [200, 200, 403, 200, 403, 200], strict=True)),
    "/settings/applications/": dict(zip(USERS, [200, 200, 200, 200, 200, 200], strict=True)),
    "/settings/applications/incharge/": dict(zip(USERS, [200, 200, 200, 200, 200, 404], strict=True)),
    "/admin/": dict(zip(USERS, [302, 302, 302, 302, 302, 302], strict=True)),
    "/admin/keys/apikey/": dict(zip(USERS, [302, 302, 302, 302, 302, 302], strict=True)),
    "/admin/keys/auditevent/": dict(zip(USERS, [302, 302, 302, 302, 302, 302], strict=True)),
}

ACME_MARKERS = ("acme-managed-key", "acme-advanced-key", "Acme North", "InCharge")
GLOBEX_MARKERS = ("globex-only-key",)


def _path(template, world):
    return template.format(**{name: issued.key.pk for name, issued in world.items()})


@pytest.mark.parametrize("template", list(PORTAL_GET))
@pytest.mark.parametrize("email", USERS)
def test_portal_get_matrix(client, demo, world, template, email):
    client.force_login(demo.user(email))
    response = client.get(_path(template, world))
    assert response.status_code == PORTAL_GET[template][email]
    body = response.content.decode()
    foreign = ACME_MARKERS if email == GLOBEX else GLOBEX_MARKERS
    for marker in foreign:
        assert marker not in body, f"{marker!r} leaked to {email} on {template}"
    for issued in world.values():
        assert issued.secret not in body


POST_ACTIONS = {
    "/settings/api-keys/{managed}/regenerate/": dict(zip(USERS, [200, 200, 403, 403, 403, 404], strict=True)),
    "/settings/api-keys/{above}/regenerate/": dict(zip(USERS, [200, 404, 403, 403, 403, 404], strict=True)),
    "/settings/api-keys/{globex}/revoke/": dict(zip(USERS, [404, 404, 403, 403, 403, 302], strict=True)),
}


@pytest.mark.parametrize("template", list(POST_ACTIONS))
@pytest.mark.parametrize("email", USERS)
def test_portal_post_matrix(client, demo, world, template, email):
    client.force_login(demo.user(email))
    response = client.post(_path(template, world), {"grace_period": "0"})
    expected = POST_ACTIONS[template][email]
    assert response.status_code == expected or (expected == 302 and response.status_code in (200, 302))
    if expected in (403, 404):
        from keys.services import verify_key

        # Refused actions change nothing: every secret still works.
        for issued in world.values():
            assert verify_key(presented=issued.secret) is not None


def test_create_post_matrix(client, demo, world):
    for email, expected in zip(USERS, [200, 200, 403, 403, 403, 200], strict=True):
        client.force_login(demo.user(email))
        application = demo.globex_portal if email == GLOBEX else demo.portal
        account = demo.globex_root if email == GLOBEX else demo.acme_root
        response = client.post(
            "/settings/api-keys/new/",
            {
                "application": application.pk,
                "role": Role.SUPPORT,
                "account": account.pk,
                "name": f"made by {email}",
                "scopes": ["api-keys:read"],
                "expiry": "never",
            },
        )
        assert response.status_code == expected, email


def test_globex_cannot_create_on_acme_objects(client, demo, world):
    client.force_login(demo.user(GLOBEX))
    response = client.post(
        "/settings/api-keys/new/",
        {
            "application": demo.incharge.pk,
            "role": Role.SUPPORT,
            "account": demo.acme_root.pk,
            "name": "cross tenant",
            "scopes": ["billing:read"],
            "expiry": "never",
        },
    )
    assert response.status_code in (200, 400)
    from keys.models import ApiKey

    assert not ApiKey.objects.filter(name="cross tenant").exists()


# ---- the API: every endpoint × caller from each organization ----

API_CALLS = [
    ("get", "/api/v1/org/api-keys/{managed}", None),
    ("post", "/api/v1/org/api-keys/{managed}/regenerate", {}),
    ("delete", "/api/v1/org/api-keys/{managed}", None),
]


@pytest.mark.parametrize(("method", "template", "body"), API_CALLS)
def test_api_other_organization_is_not_found(api, world, method, template, body):
    response = api(method, _path(template, world), world["globex"].secret, json=body)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_api_lists_only_the_callers_organization(api, world):
    body = api("get", "/api/v1/org/api-keys?limit=100", world["globex"].secret).content.decode()
    for marker in ACME_MARKERS:
        assert marker not in body
    assert "globex-only-key" in body


def test_api_verify_does_not_reveal_other_organizations_keys(api, make_key, demo, world):
    verifier = make_key(organization=demo.globex, scopes=["api-keys:verify"], role=Role.ADMIN)
    result = api("post", "/api/v1/keys/verify", verifier.secret, json={"key": world["managed"].secret}).json()
    assert result == {"valid": False, "code": "unauthorized", "key": None}


def test_audit_log_of_a_branch_user_shows_only_its_subtree(client, demo, make_user, make_key, world):
    from keys.actors import Actor
    from keys.services import revoke_key

    revoke_key(actor=Actor.system(demo.acme.pk), key=make_key(name="south-key", account=demo.south).key)
    revoke_key(actor=Actor.system(demo.acme.pk), key=make_key(name="north-key", account=demo.north).key)
    make_user("north-admin@acme.test", Role.ADVANCED_ADMIN, demo.north)
    client.force_login(demo.user("north-admin@acme.test"))
    body = client.get("/settings/audit-log/").content.decode()
    assert "north-key" in body and "south-key" not in body


def test_audit_log_hides_events_about_keys_above_the_users_role(client, demo, make_key):
    from keys.actors import Actor
    from keys.selectors import visible_audit_events
    from keys.services import revoke_key

    above = make_key(name="very-secret-advanced-key", role=Role.ADVANCED_ADMIN)
    revoke_key(actor=Actor.system(demo.acme.pk), key=above.key)
    events = visible_audit_events(Actor.for_user(demo.user(API)))
    assert not events.filter(key=above.key).exists()
    assert visible_audit_events(Actor.for_user(demo.user(ADV))).filter(key=above.key).count() == 2
    assert visible_audit_events(Actor.for_user(demo.user(SUP))).filter(key=above.key).count() == 2
    client.force_login(demo.user(API))
    assert "very-secret-advanced-key" not in client.get("/settings/audit-log/").content.decode()
