"""A leaked secret reported: the organization's leak policy applied at once through the key rules,
the key (and the keys made through it) flagged exposed with the reason, one audit event, all in one
transaction; a replay changes nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Role
from audit.models import AuditAction, AuditEvent
from keys import credentials, leaks, services
from keys.authentication.verification import verified_keys
from keys.errors import ErrorCode, ServiceError
from keys.models import ApiKey, KeyFlag
from keys.offboarding import deactivate_member
from keys.selectors import listed_keys
from tests.helpers.services import set_policy

pytestmark = pytest.mark.django_db

URL = "https://github.com/acme/erp-sync/blob/4f1c2ab/config/settings.py"


def _report(secret, url=URL, source="GitHub secret scanning"):
    return leaks.report_leaked_secret(secret=secret, source_url=url, source=source)


def _events(action=AuditAction.KEY_LEAK_REPORTED):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def _fresh(issued) -> ApiKey:
    return ApiKey.objects.get(pk=issued.key.pk)


def test_by_default_the_key_is_revoked_at_once(demo, make_key):
    issued = make_key(name="ERP sync")
    assert services.verify_key(presented=issued.secret) is not None  # cached by this worker
    report = _report(issued.secret)
    assert report.live and report.action == leaks.LeakAction.REVOKED
    key = _fresh(issued)
    assert key.status == "revoked" and key.revoked_by_label == "GitHub secret scanning"
    assert services.verify_key(presented=issued.secret) is None  # at once, the cache too
    # A revoked key exposes nothing any more; the reason and the address stay on it.
    assert not key.exposed and key.exposure is None
    assert key.exposed_reason.startswith(f"reported leaked at {URL} on ")
    assert key.exposed_source_url == URL
    (event,) = _events()
    assert event.key_id == key.pk and event.actor_label == "GitHub secret scanning"
    assert event.details == {
        "source_url": URL,
        "action": "revoked",
        "secret": "current",
        "reported_by": "GitHub secret scanning",
        "flagged_keys": [],
    }
    assert [e.action for e in AuditEvent.objects.filter(key=key).order_by("id")][-2:] == [
        AuditAction.KEY_REVOKED,
        AuditAction.KEY_LEAK_REPORTED,
    ]
    assert issued.secret not in repr([e.details for e in AuditEvent.objects.all()])


def test_the_disable_policy_pauses_the_key_and_flags_it(demo, make_key):
    set_policy(demo, leak_policy="disable")
    issued = make_key(name="Dashboard")
    report = _report(issued.secret)
    assert report.action == leaks.LeakAction.DISABLED
    key = _fresh(issued)
    assert key.status == "disabled" and key.exposed
    assert services.verify_key(presented=issued.secret) is None
    assert key.exposure == {
        "reason": key.exposed_reason,
        "source_url": URL,
        "at": key.exposed_at,
    }
    assert key.exposed_reason == f"reported leaked at {URL} on {key.exposed_at:%b %-d, %Y %H:%M} UTC"
    assert [e.action for e in AuditEvent.objects.filter(key=key).order_by("id")][-2:] == [
        AuditAction.KEY_DISABLED,
        AuditAction.KEY_LEAK_REPORTED,
    ]


def test_the_flag_policy_leaves_the_key_working_and_exposed_until_regenerated(demo, make_key):
    set_policy(demo, leak_policy="flag")
    issued = make_key(name="BI export")
    report = _report(issued.secret)
    assert report.action == leaks.LeakAction.FLAGGED
    key = _fresh(issued)
    assert key.status == "active" and key.exposed
    assert services.verify_key(presented=issued.secret) is not None
    actor = Actor.system(demo.acme.pk)
    assert listed_keys(actor, {"flag": KeyFlag.EXPOSED}).qs.filter(pk=key.pk).exists()  # the Flag filter
    # Regenerating with a grace period: the leaked secret, still working, keeps the key exposed.
    regenerated = services.regenerate_key(actor=actor, key=key, grace_period=timedelta(hours=1))
    key = _fresh(issued)
    assert key.exposed and key.exposure["source_url"] == URL and key.exposure["at"] == key.previous_exposed_at
    # Regenerating without one ends it.
    services.regenerate_key(actor=actor, key=key)
    key = _fresh(issued)
    assert not key.exposed and key.exposure is None
    assert (key.exposed_reason, key.exposed_source_url) == ("", "")
    assert services.verify_key(presented=regenerated.secret) is None  # replaced without a grace period


@pytest.mark.parametrize("policy", ["revoke", "disable", "flag"])
def test_the_same_report_twice_does_nothing_the_second_time(demo, make_key, policy):
    set_policy(demo, leak_policy=policy)
    issued = make_key()
    _report(issued.secret)
    before = _fresh(issued)
    events = AuditEvent.objects.count()
    again = _report(issued.secret)
    assert again.action is None
    assert AuditEvent.objects.count() == events
    after = _fresh(issued)
    assert (after.revoked_at, after.disabled_at, after.exposed_at, after.exposed_reason) == (
        before.revoked_at,
        before.disabled_at,
        before.exposed_at,
        before.exposed_reason,
    )
    # Still a live secret of ours unless it was revoked.
    assert again.live is (policy != "revoke")


def test_the_same_secret_found_somewhere_else_is_a_new_report(demo, make_key):
    set_policy(demo, leak_policy="flag")
    issued = make_key()
    _report(issued.secret)
    elsewhere = "https://gist.github.com/someone/0123456789abcdef"
    assert _report(issued.secret, url=elsewhere).action == leaks.LeakAction.FLAGGED
    assert _fresh(issued).exposed_source_url == elsewhere
    assert [e.details["source_url"] for e in _events()] == [URL, elsewhere]


def test_a_grace_period_secret_counts(demo, make_key):
    set_policy(demo, leak_policy="flag")
    issued = make_key(name="rolling")
    services.regenerate_key(actor=Actor.system(demo.acme.pk), key=issued.key, grace_period=timedelta(days=1))
    report = _report(issued.secret)  # the old secret, still in its grace period
    assert report.live and report.action == leaks.LeakAction.FLAGGED
    key = _fresh(issued)
    assert key.exposed and key.exposed_at is None and key.previous_exposed_at is not None
    assert _events()[0].details["secret"] == "previous"
    set_policy(demo, leak_policy="revoke")
    assert _report(issued.secret, url="https://example.com/paste/1").action == leaks.LeakAction.REVOKED
    assert _fresh(issued).status == "revoked"


def test_a_secret_that_is_not_live_changes_nothing(demo, make_key):
    system = Actor.system(demo.acme.pk)
    revoked = make_key(name="gone")
    services.revoke_key(actor=system, key=revoked.key)
    expired = make_key(name="expired")
    ApiKey.objects.filter(pk=expired.key.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    rolled = make_key(name="rolled at once")
    services.regenerate_key(actor=system, key=rolled.key)  # the old secret stopped at once
    events = AuditEvent.objects.count()
    for secret in (revoked.secret, expired.secret):
        report = _report(secret)
        assert report.key is not None and not report.live and report.action is None
    assert _report(rolled.secret).key is None  # its digest is gone
    assert _report(credentials.new_secret("live")).key is None
    assert AuditEvent.objects.count() == events
    assert not _fresh(expired).exposed_reason


def test_keys_made_through_the_leaked_key_are_flagged_with_it(demo, make_key):
    parent = make_key(name="provisioner", expires_in_days=30)
    parent_actor = Actor.for_key(services.verify_key(presented=parent.secret))
    child = services.create_key(
        actor=parent_actor,
        application=demo.portal,
        account=demo.acme_root,
        role=parent.key.role,
        name="made by the provisioner",
        scopes=["api-keys:read"],
        expires_in_days=7,
    )
    grandchild = services.create_key(
        actor=Actor.for_key(services.verify_key(presented=child.secret)),
        application=demo.portal,
        account=demo.acme_root,
        role=parent.key.role,
        name="made by the child",
        scopes=["api-keys:read"],
        expires_in_days=7,
    )
    report = _report(parent.secret)
    assert report.action == leaks.LeakAction.REVOKED
    assert {k.pk for k in report.flagged} == {child.key.pk, grandchild.key.pk}
    for issued, through in ((child, parent), (grandchild, child)):
        key = _fresh(issued)
        assert key.status == "active" and key.exposed  # flagged, not revoked: their own secrets
        assert key.exposed_reason.startswith(
            f"made or regenerated by the key {through.key.name} ({through.key.client_id}), whose secret was "
            f"reported leaked at {URL}"
        )
        assert key.exposure["source_url"] == URL
    assert _events()[0].details["flagged_keys"] == [
        f"{child.key.name} ({child.key.client_id})",
        f"{grandchild.key.name} ({grandchild.key.client_id})",
    ]


def test_all_or_nothing(demo, make_key, monkeypatch):
    issued = make_key()
    verified_keys.clear()

    def fail(**kwargs):
        raise RuntimeError("the audit log is full")

    monkeypatch.setattr(leaks, "record_event", fail)
    with pytest.raises(RuntimeError):
        _report(issued.secret)
    key = _fresh(issued)
    assert key.status == "active" and not key.exposed and not key.exposed_reason
    assert services.verify_key(presented=issued.secret) is not None


@pytest.mark.parametrize(
    ("secret", "url", "field"),
    [
        ("sk_live_nope", URL, "secret"),
        (None, URL, "secret"),
        ("valid", "javascript:alert(1)", "url"),
        ("valid", "", "url"),
        ("valid", "https://example.com/" + "a" * 2000, "url"),
    ],
)
def test_bad_input_is_refused_before_anything(demo, make_key, secret, url, field):
    issued = make_key()
    with pytest.raises(ServiceError) as refused:
        _report(issued.secret if secret == "valid" else secret, url=url)
    assert (refused.value.code, refused.value.field) == (ErrorCode.VALIDATION_ERROR, field)
    assert _fresh(issued).status == "active"


def test_offboarding_keeps_the_leak_as_the_reason(demo, make_key, make_user):
    set_policy(demo, leak_policy="flag")
    leaver = make_user("leaver@acme.test", Role.ADVANCED_ADMIN)
    issued = make_key(actor=Actor.for_user(leaver), name="seen and leaked")
    _report(issued.secret)
    deactivate_member(actor=Actor.for_user(demo.user("advanced@acme.test")), member=leaver)
    key = _fresh(issued)
    assert (
        key.exposed and key.exposed_reason.startswith("reported leaked at") and key.exposed_source_url == URL
    )


def test_the_plan_names_the_key_and_the_action_without_doing_it(demo, make_key):
    set_policy(demo, leak_policy="disable")
    issued = make_key(name="planned")
    plan = leaks.plan_leak_response(secret=issued.secret, source_url=URL)
    assert (plan.key.pk, plan.live, plan.action) == (issued.key.pk, True, leaks.LeakAction.DISABLED)
    assert _fresh(issued).status == "active" and not _events()


# ---- where people see it ----


def test_the_key_page_the_list_and_the_apis_show_the_leak(demo, make_key, login, api):
    set_policy(demo, leak_policy="flag")
    caller = make_key(name="caller", scopes=["api-keys:read"])
    issued = make_key(name="Leaked ERP")
    _report(issued.secret)
    client = login("advanced@acme.test")
    page = client.get(f"/settings/api-keys/{issued.key.pk}/").content.decode()
    assert f"<strong>Exposed:</strong> reported leaked at {URL} on " in page
    assert f'<a href="{URL}" rel="noopener noreferrer nofollow" id="exposed-source">' in page
    listed = client.get("/settings/api-keys/?flag=exposed").content.decode()
    assert "Leaked ERP" in listed and "caller" not in listed
    assert f'title="Exposed: reported leaked at {URL} on ' in listed
    body = api("get", f"/api/v1/org/api-keys/{issued.key.pk}", caller.secret).json()
    assert body["exposed"] is True
    assert body["exposure"]["reason"].startswith(f"reported leaked at {URL} on ")
    assert body["exposure"]["source_url"] == URL
    assert body["exposure"]["at"].endswith("Z")
    assert api("get", f"/api/v1/org/api-keys/{caller.key.pk}", caller.secret).json()["exposure"] is None
    # The leaked key's own view of itself says so too (read for an exposed key only).
    own = api("get", "/api/v1/key", issued.secret).json()
    assert own["exposed"] is True and own["exposure"]["source_url"] == URL
    assert api("get", "/api/v1/key", caller.secret).json()["exposure"] is None


# ---- who is told ----


def test_everyone_who_may_manage_the_key_gets_one_email_per_report(demo, make_key, make_user, mailoutbox):
    make_user("north-admin@acme.test", Role.ADMIN_API, account=demo.north)  # another subtree's: not told
    set_policy(demo, leak_policy="flag")
    issued = make_key(name="ERP sync", role=Role.ADMIN_API)
    _report(issued.secret)
    assert sorted(m.to[0] for m in mailoutbox) == ["adminapi@acme.test", "advanced@acme.test"]
    assert all(m.subject == "Leaked API key secret: ERP sync was flagged" for m in mailoutbox)
    assert all(URL in m.body and issued.secret not in m.body for m in mailoutbox)
    _report(issued.secret)  # a replay tells no one again
    assert len(mailoutbox) == 2
    _report(issued.secret, url="https://gist.github.com/someone/1")  # another report: told again
    assert len(mailoutbox) == 4


def test_no_email_for_a_secret_that_is_not_live(demo, make_key, mailoutbox):
    issued = make_key()
    services.revoke_key(actor=Actor.system(demo.acme.pk), key=issued.key)
    _report(issued.secret)
    assert mailoutbox == []


def test_a_revoked_key_page_still_says_where_its_secret_leaked(demo, make_key, login):
    issued = make_key(name="Revoked for a leak")
    _report(issued.secret)
    page = login("advanced@acme.test").get(f"/settings/api-keys/{issued.key.pk}/").content.decode()
    assert 'id="revoked-notice"' in page and "Revoked</strong> by GitHub secret scanning" in page
    assert f'id="leak-notice">Its secret was reported leaked at {URL} on ' in page
    assert 'id="exposed-notice"' not in page  # a revoked key exposes nothing any more
