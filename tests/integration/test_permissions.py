"""accounts/permissions.py through every door: each portal URL and API endpoint, asked by every role
and by another organization, gives the exact status, and nothing of the other organization is in
the body."""

import re
import uuid

import pytest
from django.db import transaction

from accounts.actors import Actor
from accounts.models import Account, Application, Role
from audit.models import AuditAction, AuditEvent
from keys import credentials
from keys.metering import usage
from keys.models import ApiKey
from keys.services import create_key, verify_key
from tests.helpers import demo as demo_data
from tests.helpers.portal import field_error, secret_in

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
    "/settings/api-keys/{managed}/edit/": dict(zip(USERS, [200, 200, 403, 403, 403, 404], strict=True)),
    "/settings/api-keys/{above}/edit/": dict(zip(USERS, [200, 404, 403, 403, 403, 404], strict=True)),
    "/settings/api-keys/{managed}/revoke/": dict(zip(USERS, [200, 200, 403, 403, 403, 404], strict=True)),
    "/settings/api-keys/{above}/revoke/": dict(zip(USERS, [200, 404, 403, 403, 403, 404], strict=True)),
    "/settings/api-keys/{globex}/": dict(zip(USERS, [404, 404, 403, 404, 403, 200], strict=True)),
    "/settings/api-keys/not-a-uuid/": dict(zip(USERS, [404, 404, 403, 404, 403, 404], strict=True)),
    "/settings/audit-log/": dict(zip(USERS, [200, 200, 403, 200, 403, 200], strict=True)),
    "/settings/applications/": dict(zip(USERS, [200, 200, 200, 200, 200, 200], strict=True)),
    "/settings/applications/incharge/": dict(zip(USERS, [200, 200, 200, 200, 200, 404], strict=True)),
    "/admin/": dict(zip(USERS, [302, 302, 302, 302, 302, 302], strict=True)),
    "/admin/keys/apikey/": dict(zip(USERS, [302, 302, 302, 302, 302, 302], strict=True)),
    "/admin/audit/auditevent/": dict(zip(USERS, [302, 302, 302, 302, 302, 302], strict=True)),
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
    target = re.search(r"\{(\w+)\}", template).group(1)
    action = AuditAction.KEY_REGENERATED if template.endswith("/regenerate/") else AuditAction.KEY_REVOKED
    response = client.post(_path(template, world), {"grace_period": "0"})
    expected = POST_ACTIONS[template][email]
    assert response.status_code == expected
    changed = world[target] if expected in (200, 302) else None
    if changed is not None:
        # The action happened, on that key, as that user: the old secret stopped at once and the
        # audit log says who did it.
        assert verify_key(presented=changed.secret) is None
        if action == AuditAction.KEY_REGENERATED:
            assert verify_key(presented=secret_in(response)).id == changed.key.pk  # shown once
        else:
            assert response["Location"] == f"/settings/api-keys/{changed.key.pk}/"
            assert ApiKey.objects.get(pk=changed.key.pk).status == "revoked"
        event = AuditEvent.objects.get(action=action)
        assert (event.key_id, event.actor_label) == (changed.key.pk, email)
    else:
        assert not AuditEvent.objects.filter(action=action).exists()
    # Nothing else changed: every other secret still works.
    for issued in world.values():
        if issued is not changed:
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
        made = ApiKey.objects.filter(name=f"made by {email}").first()
        if expected == 200:  # the key exists as asked, its secret shown once, the creation audited
            assert (made.account, made.role, made.created_by.email) == (account, Role.SUPPORT, email)
            assert verify_key(presented=secret_in(response)).id == made.pk
            created = AuditEvent.objects.get(action=AuditAction.KEY_CREATED, key=made)
            assert (created.actor_label, created.organization) == (email, account.organization)
        else:
            assert made is None, email


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
    assert response.status_code == 200  # the form again, with the errors
    assert field_error(response, "application") and field_error(response, "account")
    assert not ApiKey.objects.filter(name="cross tenant").exists()
    assert not AuditEvent.objects.filter(action=AuditAction.KEY_CREATED, actor_label=GLOBEX).exists()


# ---- the API: every operation × a key of every role × every kind of target ----

READ, WRITE, VERIFY = "api-keys:read", "api-keys:write", "api-keys:verify"

# name: (account, role, application slug, scopes). The Acme keys sit on Acme North, so that Acme South
# is a sibling account outside their subtree. Each carries every portal scope its role may carry (the
# catalogue's min_role in accounts/catalogue.py: read ≥ Support, verify ≥ Admin, write ≥ Admin + API);
# no portal scope is open to a Viewer key, so that one is an InCharge key.
CALLERS = {
    "ADV": ("Acme North", Role.ADVANCED_ADMIN, "portal", [READ, WRITE, VERIFY]),
    "API": ("Acme North", Role.ADMIN_API, "portal", [READ, WRITE, VERIFY]),
    "ADM": ("Acme North", Role.ADMIN, "portal", [READ, VERIFY]),
    "SUP": ("Acme North", Role.SUPPORT, "portal", [READ]),
    "VIEW": ("Acme North", Role.VIEWER, "incharge", ["billing:read"]),
    "RO": ("Acme North", Role.ADVANCED_ADMIN, "portal", [READ]),  # read only: every write is 403
    "GLX": ("Globex", Role.ADVANCED_ADMIN, "portal", [READ, WRITE, VERIFY]),
}
TARGETS = {
    "managed": ("Acme North", Role.ADMIN_API, "portal", [READ]),  # the most Admin + API may manage
    "support": ("Acme North", Role.SUPPORT, "portal", [READ]),  # every reading key of North sees it
    "above": ("Acme North", Role.ADVANCED_ADMIN, "portal", [READ]),  # above Admin + API
    "south": ("Acme South", Role.SUPPORT, "portal", [READ]),  # a sibling account
    "globex": ("Globex", Role.SUPPORT, "portal", [READ]),  # another organization
}
VAL = "valid"  # 200 {"valid": true, "code": "valid", "key": <the target>}
UNK = "unknown"  # 200 {"valid": false, "code": "unauthorized", "key": null}, as for a key that does not exist
HID = "hidden"  # 200 {"valid": true, "code": "valid", "key": null}: valid, but not a key the caller may see
ERROR_CODES = {400: "validation_error", 403: "forbidden", 404: "not_found"}

# The expected status of each request (rows) for each caller (columns). A request is
# "METHOD path [+ field=value]": a POST body is {"name": "made-by-the-api", "scopes": ["api-keys:read"]}
# for a create and {} otherwise, plus the field given; {name} is that key's id in a path and its secret
# in a body. Every 4xx is the API's error body with the code of ERROR_CODES. The scope is checked first
# (403 forbidden), then visibility (404 not_found: another organization, outside the calling key's
# account subtree, a role above its own, or no such key), then the action itself.
API_TABLE = {
    line: dict(zip(CALLERS, cells, strict=True))
    for *cells, line in [
        # ADV API  ADM  SUP  VIEW RO   GLX
        (200, 200, 200, 200, 403, 200, 200, "GET /api/v1/org/api-keys"),
        (201, 201, 403, 403, 403, 403, 201, "POST /api/v1/org/api-keys"),
        (201, 403, 403, 403, 403, 403, 201, "POST /api/v1/org/api-keys + role=advanced_admin"),
        (403, 403, 403, 403, 403, 403, 400, "POST /api/v1/org/api-keys + account=Acme South"),
        (400, 400, 403, 403, 403, 403, 201, "POST /api/v1/org/api-keys + account=Globex"),
        (200, 200, 404, 404, 403, 200, 404, "GET /api/v1/org/api-keys/{managed}"),
        (200, 200, 200, 200, 403, 200, 404, "GET /api/v1/org/api-keys/{support}"),
        (200, 404, 404, 404, 403, 200, 404, "GET /api/v1/org/api-keys/{above}"),
        (404, 404, 404, 404, 403, 404, 404, "GET /api/v1/org/api-keys/{south}"),
        (404, 404, 404, 404, 403, 404, 200, "GET /api/v1/org/api-keys/{globex}"),
        (404, 404, 404, 404, 403, 404, 404, "GET /api/v1/org/api-keys/{unknown}"),
        (404, 404, 404, 404, 403, 404, 404, "GET /api/v1/org/api-keys/not-a-uuid"),
        (200, 200, 403, 403, 403, 403, 404, "POST /api/v1/org/api-keys/{managed}/regenerate"),
        (200, 200, 403, 403, 403, 403, 404, "POST /api/v1/org/api-keys/{support}/regenerate"),
        (200, 404, 403, 403, 403, 403, 404, "POST /api/v1/org/api-keys/{above}/regenerate"),
        (404, 404, 403, 403, 403, 403, 404, "POST /api/v1/org/api-keys/{south}/regenerate"),
        (404, 404, 403, 403, 403, 403, 200, "POST /api/v1/org/api-keys/{globex}/regenerate"),
        (204, 204, 403, 403, 403, 403, 404, "DELETE /api/v1/org/api-keys/{managed}"),
        (204, 204, 403, 403, 403, 403, 404, "DELETE /api/v1/org/api-keys/{support}"),
        (204, 404, 403, 403, 403, 403, 404, "DELETE /api/v1/org/api-keys/{above}"),
        (404, 404, 403, 403, 403, 403, 404, "DELETE /api/v1/org/api-keys/{south}"),
        (404, 404, 403, 403, 403, 403, 204, "DELETE /api/v1/org/api-keys/{globex}"),
        (200, 200, 200, 200, 200, 200, 200, "GET /api/v1/key"),
        (200, 200, 200, 200, 200, 200, 200, "GET /api/v1/scopes"),
        # Verifying answers whether the key is valid; the key object comes only with a key the caller
        # may see (as GET of that key above); another organization's key is unknown.
        (VAL, VAL, HID, 403, 403, 403, UNK, "POST /api/v1/keys/verify + key={managed}"),
        (VAL, VAL, VAL, 403, 403, 403, UNK, "POST /api/v1/keys/verify + key={support}"),
        (VAL, HID, HID, 403, 403, 403, UNK, "POST /api/v1/keys/verify + key={above}"),
        (HID, HID, HID, 403, 403, 403, UNK, "POST /api/v1/keys/verify + key={south}"),
        (UNK, UNK, UNK, 403, 403, 403, VAL, "POST /api/v1/keys/verify + key={globex}"),
    ]
}


@pytest.fixture(scope="class")
def api_keys(django_db_setup, django_db_blocker):
    """Every caller and target key, made once (on the session's demo data) in a transaction that is
    rolled back after the class. Each case runs in a savepoint inside it (pytest-django's ``db``)
    that is rolled back after the case, so every case starts from these very rows, whatever an
    earlier case regenerated, revoked or created: order does not matter. (A fresh seed and fresh
    keys per case took 20 s.)"""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        # Marked as Django's TestCase marks its own class-wide transaction, so that the services'
        # durable transactions may run inside it, as they do inside every test's.
        transaction.get_connection().atomic_blocks[-1]._from_testcase = True
    try:
        with django_db_blocker.unblock():
            if not demo_data.is_seeded():
                demo_data.seed()
            made = {name: _issue(name, *spec) for name, spec in {**CALLERS, **TARGETS}.items()}
        yield made
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def _issue(name, account_name, role, slug, scopes):
    account = Account.objects.select_related("organization").get(name=account_name)
    organization = account.organization
    return create_key(
        actor=Actor.system(organization.pk, label="test"),
        application=Application.objects.get(organization=organization, slug=slug),
        account=account,
        role=role,
        name=f"{organization.slug}-key-{name}",
        scopes=scopes,
    )


def _request(line, made):
    """'POST /api/v1/keys/verify + key={managed}' -> ("POST", "/api/v1/keys/verify", {"key": <secret>})."""
    request, _, extra = line.partition(" + ")
    method, template = request.split(" ")
    path = template.format(unknown=uuid.uuid4(), **{name: issued.key.pk for name, issued in made.items()})
    body = None
    if method == "POST":
        body = {"name": "made-by-the-api", "scopes": [READ]} if path.endswith("/org/api-keys") else {}
    if extra:
        field, value = extra.split("=", 1)
        body[field] = value.format(**{name: issued.secret for name, issued in made.items()})
    return method, path, body


def _target(line):
    found = re.search(r"\{(\w+)\}", line)
    return found.group(1) if found and found.group(1) in TARGETS else None


def _organization(name):
    return "globex" if (CALLERS | TARGETS)[name][0] == "Globex" else "acme"


def _check_payload(line, caller, expected, payload, made, response):
    target = _target(line)
    if expected in ERROR_CODES:
        assert set(payload) == {"error"} and set(payload["error"]) == {"code", "message"}
        assert payload["error"]["code"] == ERROR_CODES[expected]
    elif expected == UNK:
        assert payload == {"valid": False, "code": "unauthorized", "key": None}
    elif expected == VAL:
        assert payload["valid"] is True and payload["code"] == "valid"
        assert payload["key"]["id"] == str(made[target].key.pk)
    elif expected == HID:
        assert payload == {"valid": True, "code": "valid", "key": None}
    elif expected == 204:
        assert response.content == b""
    elif target is not None:  # GET or regenerate a key: that very key
        assert payload["id"] == str(made[target].key.pk)
    elif line == "GET /api/v1/org/api-keys":
        # Exactly the targets the same caller may GET one by one.
        names = {key["name"] for key in payload["data"]}
        for name, issued in made.items():
            if name in TARGETS:
                visible = API_TABLE[f"GET /api/v1/org/api-keys/{{{name}}}"][caller] == 200
                assert (issued.key.name in names) == visible, name
    elif line == "GET /api/v1/key":
        assert payload["id"] == str(made[caller].key.pk)
    elif line == "GET /api/v1/scopes":
        assert payload["application"] == CALLERS[caller][2]


def _check_effects(line, caller, expected, payload, made, keys_before, minted, body):
    """A refused call changes nothing; an accepted one changes exactly its target."""
    target = _target(line)
    changed = target if expected in (200, 204) and line.startswith(("POST", "DELETE")) else None
    if expected == 201:  # in the caller's organization; account and role default to the caller's
        created = ApiKey.objects.select_related("organization", "account").get(pk=payload["id"])
        assert created.organization.slug == _organization(caller)
        assert created.account.name == body.get("account", CALLERS[caller][0])
        assert created.role == (Role.from_name(body["role"]) if "role" in body else CALLERS[caller][1])
        assert verify_key(presented=minted).id == created.pk
    assert ApiKey.objects.count() == keys_before + (1 if expected == 201 else 0)
    if changed is not None:
        assert verify_key(presented=made[changed].secret) is None  # the old secret stopped at once
        if expected == 200:
            assert verify_key(presented=minted).id == made[changed].key.pk
        else:
            assert ApiKey.objects.get(pk=made[changed].key.pk).status == "revoked"
    for name, issued in made.items():
        if name != changed:
            assert verify_key(presented=issued.secret) is not None, f"{name} was changed"


def _check_audit(line, caller, expected, payload, made, since):
    """An accepted change writes its one audit event, naming the calling key; a refusal writes none."""
    target = _target(line)
    if expected == 201:
        wanted = [(AuditAction.KEY_CREATED, uuid.UUID(payload["id"]))]
    elif expected == 200 and line.startswith("POST") and target is not None:
        wanted = [(AuditAction.KEY_REGENERATED, made[target].key.pk)]
    elif expected == 204:
        wanted = [(AuditAction.KEY_REVOKED, made[target].key.pk)]
    else:
        wanted = []
    changes = (AuditAction.KEY_CREATED, AuditAction.KEY_REGENERATED, AuditAction.KEY_REVOKED)
    events = AuditEvent.objects.filter(id__gt=since or 0, action__in=changes).order_by("id")
    assert [(event.action, event.key_id) for event in events] == wanted
    assert all(event.actor_key_id == made[caller].key.pk for event in events)


def _check_no_leak(line, caller, text, made, body, minted):
    """No secret but the one just minted; nothing of the other organization but what the caller sent."""
    secrets = {match.group(0) for match in credentials.SECRET_RE.finditer(text)}
    assert secrets <= {minted}, "a secret leaked"
    for value in (body or {}).values():  # "No account named 'Globex'" only repeats the request
        if isinstance(value, str):
            text = text.replace(value, "")
    other = "acme" if _organization(caller) == "globex" else "globex"
    assert other not in text.lower()
    for name, issued in made.items():
        if _organization(name) == other:
            for marker in (issued.key.name, issued.key.client_id, str(issued.key.pk)):
                assert marker not in text, f"{name}'s {marker!r} leaked"
    target = _target(line)
    if target is not None and API_TABLE[line][caller] in (403, 404):  # a refusal describes no key
        assert made[target].key.name not in text and made[target].key.client_id not in text


def test_api_callers_carry_every_portal_scope_their_role_allows(demo):
    catalogue = list(demo.portal.scopes.all())
    assert not [s for s in catalogue if s.min_role <= Role.VIEWER], "a Viewer key could be a portal key"
    for name, (_, role, slug, scopes) in CALLERS.items():
        if slug == "portal" and name != "RO":
            assert scopes == [s.name for s in catalogue if s.min_role <= role], name


class TestApi:
    """Every case against the same class-wide keys (see ``api_keys``)."""

    @pytest.mark.parametrize("caller", list(CALLERS))
    @pytest.mark.parametrize("line", list(API_TABLE))
    def test_matrix(self, api, api_keys, line, caller):
        expected = API_TABLE[line][caller]
        method, path, body = _request(line, api_keys)
        keys_before = ApiKey.objects.count()
        events_before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()

        response = api(method, path, api_keys[caller].secret, json=body)

        assert response.status_code == (200 if expected in (VAL, UNK, HID) else expected), response.content
        assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(response.headers)
        payload = response.json() if response.content else None
        minted = payload.get("key") if response.status_code in (200, 201) and "key" in payload else None
        minted = minted if isinstance(minted, str) else None
        _check_payload(line, caller, expected, payload, api_keys, response)
        _check_effects(line, caller, expected, payload, api_keys, keys_before, minted, body)
        _check_audit(line, caller, expected, payload, api_keys, events_before)
        _check_no_leak(line, caller, response.content.decode(), api_keys, body, minted)

    @pytest.mark.parametrize(
        ("method", "suffix", "body"),
        [("get", "", None), ("post", "/regenerate", {}), ("delete", "", None)],
    )
    def test_foreign_key_answers_exactly_like_a_missing_one(self, api, api_keys, method, suffix, body):
        """Same status, same body: the 404 is no oracle for what exists in another organization."""
        secret = api_keys["ADV"].secret
        answers = [
            api(method, f"/api/v1/org/api-keys/{key_id}{suffix}", secret, json=body)
            for key_id in (api_keys["globex"].key.pk, api_keys["south"].key.pk, uuid.uuid4(), "not-a-uuid")
        ]
        assert {(a.status_code, a.content) for a in answers} == {(answers[0].status_code, answers[0].content)}
        assert answers[0].status_code == 404


# ---- usage ----


def test_usage_of_a_foreign_key_is_not_found(client, api, demo, make_key):
    """The detail page is where usage is shown: another organization gets 404, page or htmx fragment."""
    foreign = make_key(name="globex-busy-key", organization=demo.globex, scopes=[READ])
    for _ in range(3):
        assert api("get", "/api/v1/key", foreign.secret, REMOTE_ADDR="203.0.113.77").status_code == 200
    usage.buffer.flush(force_last_used=True)
    path = f"/settings/api-keys/{foreign.key.pk}/"
    client.force_login(demo.user(GLOBEX))
    assert "203.0.113.77" in client.get(path).content.decode()  # the usage is there to be leaked
    for email in USERS[:-1]:
        client.force_login(demo.user(email))
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.get(path, **headers)
            assert response.status_code == PORTAL_GET["/settings/api-keys/{globex}/"][email], email
            body = response.content.decode()
            for marker in ("203.0.113.77", "globex-busy-key", foreign.key.client_id):
                assert marker not in body, f"{marker!r} shown to {email}"


# ---- audit log ----


def test_audit_log_of_a_branch_user_shows_only_its_subtree(client, demo, make_user, make_key, world):
    from accounts.actors import Actor
    from keys.services import revoke_key

    revoke_key(actor=Actor.system(demo.acme.pk), key=make_key(name="south-key", account=demo.south).key)
    revoke_key(actor=Actor.system(demo.acme.pk), key=make_key(name="north-key", account=demo.north).key)
    make_user("north-admin@acme.test", Role.ADVANCED_ADMIN, demo.north)
    client.force_login(demo.user("north-admin@acme.test"))
    body = client.get("/settings/audit-log/").content.decode()
    assert "north-key" in body and "south-key" not in body


def test_audit_log_hides_events_about_keys_above_the_users_role(client, demo, make_key):
    from accounts.actors import Actor
    from audit.selectors import visible_events as visible_audit_events
    from keys.services import revoke_key

    above = make_key(name="very-secret-advanced-key", role=Role.ADVANCED_ADMIN)
    revoke_key(actor=Actor.system(demo.acme.pk), key=above.key)
    events = visible_audit_events(Actor.for_user(demo.user(API)))
    assert not events.filter(key=above.key).exists()
    assert visible_audit_events(Actor.for_user(demo.user(ADV))).filter(key=above.key).count() == 2
    assert visible_audit_events(Actor.for_user(demo.user(SUP))).filter(key=above.key).count() == 2
    client.force_login(demo.user(API))
    assert "very-secret-advanced-key" not in client.get("/settings/audit-log/").content.decode()


def test_a_sub_account_members_events_are_filtered_by_the_subtrees_ids(demo, make_user, make_key):
    """The audit log names a sub-account member's accounts by their ids, read first, not by a
    subquery PostgreSQL cannot see into: as a subquery, its capped count of a member's events walked
    every account's events (97 ms at 2,000,000 events; docs/benchmarks.md). The same events."""
    from audit.selectors import visible_events
    from keys.services import revoke_key

    revoke_key(actor=Actor.system(demo.acme.pk), key=make_key(name="north-key", account=demo.north).key)
    revoke_key(actor=Actor.system(demo.acme.pk), key=make_key(name="south-key", account=demo.south).key)
    member = make_user("north-admin@acme.test", Role.ADVANCED_ADMIN, demo.north)
    events = visible_events(Actor.for_user(member))
    sql = str(events.query)
    assert "accounts_account" not in sql and "IN (" in sql
    subtree = set(Account.objects.filter(path__startswith=demo.north.path).values_list("pk", flat=True))
    assert set(events.values_list("account_id", flat=True)) <= subtree
    assert {e.key.name for e in events if e.key} == {"north-key"}
