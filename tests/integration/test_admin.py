"""The Django admin (portal/admin.py and each app's admin.py): for platform superusers only, no
secret or digest shown, no key widened, revocation through the service, an append-only audit log."""

import pytest

from audit.models import AuditAction, AuditEvent
from keys.models import ApiKey
from keys.services import verify_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def root_client(client, demo):
    client.force_login(demo.user("root@acme.test"))
    return client


def test_admin_is_for_superusers_only(client, demo, make_key):
    issued = make_key()
    for email in ("advanced@acme.test", "support@acme.test"):
        client.force_login(demo.user(email))
        response = client.get("/admin/keys/apikey/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
        assert client.get(f"/admin/keys/apikey/{issued.key.pk}/change/").status_code == 302


@pytest.mark.parametrize("permissions", [[], ["view_apikey", "view_auditevent", "view_organization"]])
def test_staff_without_superuser_gets_no_admin_model(client, demo, make_key, permissions):
    """is_staff opens nothing in the Django admin, even with model permissions granted: the admin
    is not tenant-aware, so it is for platform superusers only."""
    from django.contrib.auth.models import Permission

    foreign = make_key(name="globex-admin-probe", organization=demo.globex)
    own = make_key(name="acme-admin-probe")
    staff = demo.user("advanced@acme.test")
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    staff.user_permissions.set(Permission.objects.filter(codename__in=permissions))
    client.force_login(staff)
    index = client.get("/admin/")
    assert index.status_code == 302 and "/admin/login/" in index["Location"]
    for path in [
        "/admin/keys/apikey/",
        f"/admin/keys/apikey/{foreign.key.pk}/change/",
        f"/admin/keys/apikey/{own.key.pk}/change/",
        "/admin/audit/auditevent/",
        "/admin/keys/keyusageday/",
        "/admin/accounts/organization/",
        f"/admin/accounts/organization/{demo.globex.pk}/change/",
        "/admin/accounts/account/",
        "/admin/accounts/user/",
        "/admin/accounts/user/add/",
        "/admin/accounts/membership/",
        "/admin/accounts/application/",
    ]:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == f"/admin/login/?next={path}", path
        body = response.content.decode()
        for marker in ("Globex", "globex-admin-probe", foreign.key.client_id, own.key.client_id):
            assert marker not in body, f"{marker!r} shown on {path}"


def test_a_superuser_without_staff_status_gets_no_admin(client, demo):
    root = demo.user("root@acme.test")
    root.is_staff = False
    root.save(update_fields=["is_staff"])
    client.force_login(root)
    response = client.get("/admin/keys/apikey/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_lists_keys_without_secret_or_digest(root_client, make_key):
    issued = make_key(name="admin visible")
    key = ApiKey.objects.get(pk=issued.key.pk)
    for path in (
        "/admin/keys/apikey/",
        f"/admin/keys/apikey/{key.pk}/change/",
        "/admin/keys/apikey/?q=admin",
    ):
        html = root_client.get(path).content.decode()
        assert "admin visible" in html
        assert issued.secret not in html and key.secret_digest not in html and key.pepper_id not in html
    assert root_client.get("/admin/keys/apikey/add/").status_code == 403
    assert root_client.get(f"/admin/keys/apikey/{key.pk}/delete/").status_code == 403


def test_admin_change_form_cannot_widen_a_key(root_client, make_key):
    issued = make_key(scopes=["api-keys:read"])
    response = root_client.post(
        f"/admin/keys/apikey/{issued.key.pk}/change/", {"scopes": '["api-keys:write"]', "role": "50"}
    )
    # Saved without the read-only fields: back to the list, the key as it was.
    assert response.status_code == 302 and response["Location"] == "/admin/keys/apikey/"
    assert ApiKey.objects.get(pk=issued.key.pk).scopes == ["api-keys:read"]


def test_admin_revoke_action_goes_through_the_service(root_client, make_key):
    first, second = make_key(), make_key()
    response = root_client.post(
        "/admin/keys/apikey/",
        {"action": "revoke_selected", "_selected_action": [str(first.key.pk), str(second.key.pk)]},
    )
    assert response.status_code == 302
    assert verify_key(presented=first.secret) is None and verify_key(presented=second.secret) is None
    events = AuditEvent.objects.filter(action=AuditAction.KEY_REVOKED)
    assert events.count() == 2 and all("Django admin" in e.actor_label for e in events)


def test_audit_events_are_read_only_in_the_admin(root_client, make_key):
    make_key()
    event = AuditEvent.objects.first()
    assert root_client.get("/admin/audit/auditevent/").status_code == 200
    assert root_client.get("/admin/audit/auditevent/add/").status_code == 403
    assert root_client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    root_client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"actor_label": "forged"})
    assert AuditEvent.objects.get(pk=event.pk).actor_label == "test"
    html = root_client.get("/admin/audit/auditevent/").content.decode()
    assert 'value="delete_selected"' not in html


def test_admin_manages_accounts_domain(root_client, demo):
    for path in (
        "/admin/accounts/organization/",
        "/admin/accounts/account/",
        "/admin/accounts/membership/",
        "/admin/accounts/application/",
        "/admin/accounts/user/",
        f"/admin/accounts/application/{demo.incharge.pk}/change/",
    ):
        assert root_client.get(path).status_code == 200, path


def test_the_security_policy_is_read_only_in_the_admin(root_client, demo):
    from accounts.models import Organization

    url = f"/admin/accounts/organization/{demo.globex.pk}/change/"
    page = root_client.get(url).content.decode()
    assert "Settings → Security" in page and 'name="rotation_policy_days"' not in page
    response = root_client.post(
        url,
        {
            "name": "Globex",
            "slug": "globex",
            "plan": "professional",
            "rotation_policy_days": "1",
            "require_ip_allowlist": "on",
            "accounts-TOTAL_FORMS": "0",
            "accounts-INITIAL_FORMS": "0",
        },
    )
    # Saved without the read-only fields: back to the list, the policy as it was.
    assert response.status_code == 302 and response["Location"] == "/admin/accounts/organization/"
    globex = Organization.objects.get(pk=demo.globex.pk)
    assert (globex.rotation_policy_days, globex.require_ip_allowlist) == (90, False)
