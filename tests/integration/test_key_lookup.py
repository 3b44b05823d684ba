"""Finding the key of a secret: the service (who may, which keys, which secrets, its audit event), the
REST call, and the form on Settings → API Keys."""

from datetime import timedelta

import pytest

from accounts.actors import Actor
from accounts.models import Application, Role
from audit.models import AuditAction, AuditEvent
from keys import credentials, services
from keys.errors import ErrorCode, KeyNotFound, ServiceError
from tests.helpers.api import KEY_FIELDS, assert_error
from tests.helpers.demo import ROLE_EMAILS

pytestmark = pytest.mark.django_db


def _look_up(actor, secret):
    return services.look_up_key(actor=actor, secret=secret)


def _infodeck_key(make_key, organization, account, role):
    """A key of any role (Infodeck's read scopes suit every role)."""
    infodeck = Application.objects.get(organization=organization, slug="infodeck")
    return make_key(
        organization=organization, application=infodeck, account=account, role=role, scopes=["assets:read"]
    )


# ---- who may find which key: roles × tenant × subtree ----

# (member role, key role) -> found (True), not found (False), or refused (None)
ROLE_MATRIX = {
    (Role.ADVANCED_ADMIN, Role.ADVANCED_ADMIN): True,
    (Role.ADVANCED_ADMIN, Role.VIEWER): True,
    (Role.ADMIN_API, Role.ADVANCED_ADMIN): False,  # a key above the member's role is not theirs to see
    (Role.ADMIN_API, Role.ADMIN_API): True,
    (Role.ADMIN_API, Role.SUPPORT): True,
    (Role.ADMIN, Role.VIEWER): None,
    (Role.SUPPORT, Role.ADVANCED_ADMIN): True,  # Support reads every key of its subtree
    (Role.SUPPORT, Role.VIEWER): True,
    (Role.VIEWER, Role.VIEWER): None,
}


@pytest.mark.parametrize(("member_role", "key_role"), list(ROLE_MATRIX))
@pytest.mark.parametrize("where", ["same account", "other tenant", "other subtree"])
def test_who_finds_which_key(demo, make_key, make_user, member_role, key_role, where):
    if where == "same account":
        member = demo.user(ROLE_EMAILS[member_role])
        issued = _infodeck_key(make_key, demo.acme, demo.north, key_role)
    elif where == "other tenant":
        member = demo.user(ROLE_EMAILS[member_role])
        issued = _infodeck_key(make_key, demo.globex, demo.globex_root, key_role)
    else:  # a member of Acme North, a key of Acme South
        member = make_user(f"north-{int(member_role)}@acme.test", member_role, account=demo.north)
        issued = _infodeck_key(make_key, demo.acme, demo.south, key_role)
    actor = Actor.for_user(member)
    expected = ROLE_MATRIX[(member_role, key_role)]
    if expected is None:
        with pytest.raises(ServiceError) as refused:
            _look_up(actor, issued.secret)
        assert refused.value.code == ErrorCode.FORBIDDEN
        return
    if expected and where == "same account":
        assert _look_up(actor, issued.secret).key.pk == issued.key.pk
    else:
        with pytest.raises(KeyNotFound):
            _look_up(actor, issued.secret)


def test_a_key_finds_keys_of_its_own_subtree_and_role_only(demo, make_key):
    north_key = make_key(role=Role.ADMIN_API, account=demo.north, scopes=["api-keys:read"])
    caller = Actor.for_key(services.verify_key(presented=north_key.secret))
    same = make_key(role=Role.SUPPORT, account=demo.north, scopes=["api-keys:read"])
    higher = make_key(role=Role.ADVANCED_ADMIN, account=demo.north, scopes=["api-keys:read"])
    elsewhere = make_key(role=Role.SUPPORT, account=demo.south, scopes=["api-keys:read"])
    assert _look_up(caller, same.secret).key.pk == same.key.pk
    for hidden in (higher, elsewhere):
        with pytest.raises(KeyNotFound):
            _look_up(caller, hidden.secret)


# ---- which secrets name a key ----


def test_the_current_and_the_grace_period_secret_whatever_the_status(demo, make_key):
    actor = Actor.for_user(demo.user("advanced@acme.test"))
    issued = make_key(name="rolled")
    system = Actor.system(demo.acme.pk)
    new = services.regenerate_key(actor=system, key=issued.key, grace_period=timedelta(hours=1))
    old_match = _look_up(actor, issued.secret)
    assert (old_match.key.pk, old_match.previous) == (issued.key.pk, True)
    assert _look_up(actor, new.secret).previous is False
    services.disable_key(actor=system, key=issued.key)
    assert _look_up(actor, new.secret).key.status == "disabled"
    services.revoke_key(actor=system, key=issued.key)
    revoked = _look_up(actor, new.secret)
    assert revoked.key.status == "revoked" and not revoked.live(revoked.key.revoked_at)
    # Revoking forgets the grace-period digest: the old secret names no key any more.
    with pytest.raises(KeyNotFound):
        _look_up(actor, issued.secret)


def test_a_secret_of_an_older_pepper_still_names_its_key(demo, make_key, settings):
    issued = make_key(name="old pepper")
    settings.KEY_PEPPERS = ["a-new-pepper-of-at-least-32-characters!!", *settings.KEY_PEPPERS]
    assert _look_up(Actor.system(demo.acme.pk), issued.secret).key.pk == issued.key.pk


@pytest.mark.parametrize("pasted", ["", "sk_live_short", "not a secret", None, 42])
def test_a_malformed_secret_is_a_validation_error_on_the_field(demo, pasted):
    with pytest.raises(ServiceError) as refused:
        _look_up(Actor.system(demo.acme.pk), pasted)
    assert (refused.value.code, refused.value.field) == (ErrorCode.VALIDATION_ERROR, "secret")
    assert not AuditEvent.objects.filter(action=AuditAction.KEY_LOOKED_UP).exists()


def test_a_secret_with_a_broken_checksum_is_refused_before_any_look_up(
    demo, make_key, django_assert_num_queries
):
    issued = make_key()
    broken = issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")
    with django_assert_num_queries(0), pytest.raises(ServiceError):
        _look_up(Actor.system(demo.acme.pk), broken)


# ---- the audit log ----


def test_each_look_up_is_audited_without_the_secret(demo, make_key):
    actor = Actor.for_user(demo.user("support@acme.test"), ip="198.51.100.4")
    issued = make_key(name="looked for")
    _look_up(actor, f"  {issued.secret}\n")  # pasted with spaces around it
    with pytest.raises(KeyNotFound):
        _look_up(actor, credentials.new_secret("live"))
    found, missed = AuditEvent.objects.filter(action=AuditAction.KEY_LOOKED_UP).order_by("id")
    assert (found.key_id, found.actor_label, found.ip) == (issued.key.pk, "support@acme.test", "198.51.100.4")
    assert found.details == {"found": True, "secret": "current"}
    assert missed.key_id is None and missed.details == {"found": False}
    assert missed.organization_id == demo.acme.pk
    for event in (found, missed):
        assert issued.secret not in repr(event.__dict__)
        assert issued.key.secret_digest not in repr(event.__dict__)


# ---- REST ----


def test_rest_look_up_answers_the_key_object(api, make_key, demo):
    caller = make_key(name="caller", scopes=["api-keys:read"])
    target = make_key(name="target")
    response = api("post", "/api/v1/org/api-keys/lookup", caller.secret, json={"secret": target.secret})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == KEY_FIELDS and body["id"] == str(target.key.pk) and body["name"] == "target"
    assert "key" not in body and target.secret not in response.content.decode()


def test_rest_look_up_status_codes(api, make_key, demo):
    caller = make_key(name="caller", scopes=["api-keys:read"])
    foreign = make_key(organization=demo.globex, name="globex key")
    path = "/api/v1/org/api-keys/lookup"
    assert_error(api("post", path, caller.secret, json={"secret": foreign.secret}), 404, "not_found")
    assert_error(
        api("post", path, caller.secret, json={"secret": credentials.new_secret("test")}), 404, "not_found"
    )
    bad = api("post", path, caller.secret, json={"secret": "sk_live_nope"})
    assert_error(bad, 400, "validation_error")
    assert "sk_live_" in bad.json()["error"]["message"]  # says what a secret looks like
    assert_error(api("post", path, caller.secret, json={}), 400, "validation_error")
    assert_error(api("post", path, caller.secret, json={"secret": "x", "more": 1}), 400, "validation_error")
    assert_error(api("post", path, json={"secret": caller.secret}), 401, "unauthorized")
    verifier = make_key(name="verifier", scopes=["api-keys:verify"])
    assert_error(api("post", path, verifier.secret, json={"secret": caller.secret}), 403, "forbidden")
    # Never in a URL: the same secret in the query string is refused before anything is looked up.
    leaked = api("post", f"{path}?secret={caller.secret}", caller.secret, json={"secret": caller.secret})
    assert_error(leaked, 401, "unauthorized")


# ---- the portal's form ----


def test_the_portal_form_names_the_key_and_offers_its_actions(login, make_key, demo):
    issued = make_key(name="Leaky ERP")
    client = login("advanced@acme.test")
    listed = client.get("/settings/api-keys/").content.decode()
    assert 'id="find-secret-form"' in listed and 'action="/settings/api-keys/find/"' in listed
    response = client.post("/settings/api-keys/find/", {"secret": issued.secret}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Leaky ERP" in html and issued.key.client_id in html
    for action in ("regenerate", "disable", "revoke"):
        assert f"/settings/api-keys/{issued.key.pk}/{action}/" in html
    assert issued.secret not in html  # the field comes back empty
    assert 'name="secret"' in html and "value=" not in html.split('name="secret"')[1].split(">")[0]
    assert "no-store" in response["Cache-Control"]
    assert AuditEvent.objects.filter(action=AuditAction.KEY_LOOKED_UP, key=issued.key).count() == 1


def test_the_portal_form_without_javascript_and_its_errors(login, make_key, demo):
    issued = make_key(name="Plain form")
    client = login("support@acme.test")
    page = client.post("/settings/api-keys/find/", {"secret": issued.secret}).content.decode()
    assert "<h1>Find the key of a secret</h1>" in page and "Plain form" in page
    assert "/revoke/" not in page  # Support reads, never acts
    missing = client.post("/settings/api-keys/find/", {"secret": credentials.new_secret("live")})
    assert 'id="find-not-found"' in missing.content.decode()
    malformed = client.post("/settings/api-keys/find/", {"secret": "sk_live_typo"}).content.decode()
    assert "field-error" in malformed and "sk_live_typo" not in malformed
    assert (
        "Paste the Client Secret" in client.post("/settings/api-keys/find/", {"secret": ""}).content.decode()
    )


@pytest.mark.parametrize("email", ["admin@acme.test", "viewer@acme.test"])
def test_roles_without_keys_cannot_open_the_form(login, make_key, demo, email):
    issued = make_key()
    assert login(email).post("/settings/api-keys/find/", {"secret": issued.secret}).status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.KEY_LOOKED_UP).exists()
