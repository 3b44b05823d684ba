"""The email a leak report sends: to everyone who may manage the key (the reminders' rule), saying
what leaked, where, what was done and what to do, with the link to the key; never a secret."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Role
from keys import leak_emails, services

pytestmark = pytest.mark.django_db

URL = "https://github.com/acme/erp/blob/main/.env"


def _email(user, key, **overrides):
    params = {
        "key_id": str(key.pk),
        "source_url": URL,
        "action": "revoked",
        "secret": "current",
        "reported_at": timezone.now().isoformat(),
        "reported_by": "GitHub secret scanning (content)",
        "flagged": [],
        **overrides,
    }
    return leak_emails.leak_report_email(user, **params)


def test_everyone_who_may_manage_the_key_and_no_one_else(demo, make_key, make_user):
    key = make_key(role=Role.ADMIN_API, account=demo.north, name="north key").key
    make_user("south-admin@acme.test", Role.ADVANCED_ADMIN, account=demo.south)
    make_user("north-admin@acme.test", Role.ADMIN_API, account=demo.north)
    emails = sorted(user.email for user in leak_emails.managers_of(key))
    assert emails == ["adminapi@acme.test", "advanced@acme.test", "north-admin@acme.test"]
    top = make_key(role=Role.ADVANCED_ADMIN, name="top key").key
    assert [u.email for u in leak_emails.managers_of(top)] == ["advanced@acme.test"]


def test_the_email_says_what_leaked_where_what_was_done_and_links_the_key(demo, make_key, settings):
    settings.PORTAL_BASE_URL = "https://keys.example.com"
    issued = make_key(name="ERP sync")
    user = demo.user("advanced@acme.test")
    message = _email(user, issued.key, flagged=["child (ck_live_x)"])
    html = message.alternatives[0][0]
    assert message.subject == "Leaked API key secret: ERP sync was revoked"
    assert message.to == ["advanced@acme.test"]
    for text in (message.body, html):
        assert "ERP sync" in text and issued.key.client_id in text and URL in text
        assert f"https://keys.example.com/settings/api-keys/{issued.key.pk}/" in text
        assert "GitHub secret scanning (content)" in text and "child (ck_live_x)" in text
        assert "Create a key like this one" in text
        assert issued.secret not in text
    assert "The key was revoked." in message.body


@pytest.mark.parametrize(
    "action, says", [("disabled", "Enable it and regenerate"), ("flagged", "still works")]
)
def test_each_action_says_what_to_do(demo, make_key, action, says):
    message = _email(demo.user("advanced@acme.test"), make_key().key, action=action)
    assert says in message.body


def test_nothing_is_sent_to_someone_who_may_no_longer_manage_the_key(demo, make_key):
    issued = make_key(role=Role.ADVANCED_ADMIN)
    assert _email(demo.user("adminapi@acme.test"), issued.key) is None
    services.revoke_key(actor=Actor.system(demo.acme.pk), key=issued.key)
    assert _email(demo.user("advanced@acme.test"), issued.key) is not None  # a revoked key is still theirs
