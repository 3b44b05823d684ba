"""Background tasks: emails to members leave the request and the command as tasks, and the task worker
(``manage.py db_worker``) sends them. Most tests run tasks at once (the immediate backend); the
ones that take ``database_tasks`` use the real database queue and its worker."""

from __future__ import annotations

import json
import uuid
from io import StringIO

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from accounts.emails import email_builder, enqueue_email, send_member_email
from accounts.models import Role, User
from keys.models import ApiKey

pytestmark = pytest.mark.django_db


@email_builder
def hello_email(user: User, *, greeting: str, key_id: str | None = None) -> EmailMessage | None:
    """A builder as a feature would write one: reads its rows by id, may decide to send nothing."""
    if key_id is not None and not ApiKey.objects.filter(pk=key_id).exists():
        return None
    return EmailMessage(
        subject=f"{greeting}, {user.get_short_name()}",
        body=f"It is {timezone.localtime():%H:%M %Z} where you are.",
        to=["someone-else@example.com"],
        bcc=["spy@example.com"],
    )


def not_a_builder(user: User, **params: object) -> EmailMessage:
    raise AssertionError("never called: not marked @email_builder")


def _notify(*args: str) -> str:
    out = StringIO()
    call_command("notify_expiring_keys", *args, stdout=out)
    return out.getvalue()


# ---- enqueue_email ----


def test_an_email_goes_to_the_member_alone_in_their_time_zone(demo):
    user = User.objects.get(email="advanced@acme.test")
    User.objects.filter(pk=user.pk).update(time_zone="Asia/Tokyo")
    result = enqueue_email(user, hello_email, greeting="Hello")
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value is True
    (message,) = mail.outbox
    # The recipient is the member's address, whatever the builder put there.
    assert message.to == ["advanced@acme.test"] and message.bcc == [] and message.cc == []
    assert message.subject.startswith("Hello, ")
    assert "JST where you are" in message.body


def test_nothing_is_sent_to_a_deactivated_member_or_when_the_builder_has_nothing_to_say(demo, make_key):
    user = User.objects.get(email="advanced@acme.test")
    key = make_key(name="still here").key
    result = enqueue_email(user.pk, hello_email, greeting="Hi", key_id=str(key.pk))
    assert result.return_value is True and len(mail.outbox) == 1
    result = enqueue_email(user.pk, hello_email, greeting="Hi", key_id=str(uuid.uuid4()))  # no such key
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value is False
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert enqueue_email(user, hello_email, greeting="Hi").return_value is False
    assert len(mail.outbox) == 1


def test_enqueue_email_takes_marked_builders_and_json_values_only(demo):
    user = User.objects.get(email="advanced@acme.test")
    with pytest.raises(TypeError, match="not marked @email_builder"):
        enqueue_email(user, not_a_builder, greeting="Hi")
    with pytest.raises(TypeError, match="Unsupported type"):
        enqueue_email(user, hello_email, greeting=user)  # a model instance, not its id
    with pytest.raises(TypeError, match="module level"):

        @email_builder
        def local(user: User) -> None:
            return None

    assert mail.outbox == []


# ---- the database queue and its worker ----


def test_the_database_queue_holds_ids_until_the_worker_sends(database_tasks, demo):
    user = User.objects.get(email="advanced@acme.test")
    result = enqueue_email(user, hello_email, greeting="Hello")
    assert result.status == TaskResultStatus.READY and mail.outbox == []
    row = DBTaskResult.objects.get()
    assert row.task_path == "accounts.emails.send_member_email"
    assert row.args_kwargs == {
        "args": [user.pk, "tests.integration.test_background_tasks.hello_email", {"greeting": "Hello"}],
        "kwargs": {},
    }
    database_tasks()
    assert [m.to for m in mail.outbox] == [["advanced@acme.test"]]
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value is True
    database_tasks()  # nothing is sent twice
    assert len(mail.outbox) == 1


def test_a_task_enqueued_in_a_transaction_that_rolls_back_is_never_run(database_tasks, demo):
    user = User.objects.get(email="advanced@acme.test")
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_email(user, hello_email, greeting="Hello")
        raise RuntimeError("the request failed after enqueueing")
    assert not DBTaskResult.objects.exists()
    database_tasks()
    assert mail.outbox == []


def test_the_worker_runs_no_function_a_task_row_names_unless_it_is_a_builder(database_tasks, demo):
    user = User.objects.get(email="advanced@acme.test")
    forged = send_member_email.enqueue(user.pk, f"{__name__}.not_a_builder", {})
    database_tasks()
    forged.refresh()
    assert forged.status == TaskResultStatus.FAILED
    assert forged.errors[0].exception_class_path == "builtins.ValueError"
    assert mail.outbox == []


# ---- notify_expiring_keys on the database queue ----


def test_notify_expiring_keys_returns_before_any_email_is_sent_and_the_worker_sends_them(
    database_tasks, demo, make_key
):
    soon = make_key(name="erp nightly", role=Role.ADMIN_API, expires_in_days=3)
    assert "Queued 2 email(s) about 1 key(s): 1 expiring within 7 days" in _notify()
    assert mail.outbox == []
    rows = list(DBTaskResult.objects.order_by("enqueued_at"))
    assert [row.status for row in rows] == [TaskResultStatus.READY] * 2
    # The queue holds ids, the notice and the run's time: nothing secret.
    stored = json.dumps([row.args_kwargs for row in rows])
    assert soon.secret not in stored and soon.secret[8:40] not in stored
    assert f'[["expiring", "{soon.key.pk}"]]' in stored
    # Announced already: a second run queues nothing, whether the worker ran or not.
    assert "Queued 0 email(s) about 0 key(s)" in _notify()

    database_tasks()
    assert sorted(m.to[0] for m in mail.outbox) == ["adminapi@acme.test", "advanced@acme.test"]
    assert all(m.subject == "1 API key expires soon" and "erp nightly" in m.body for m in mail.outbox)
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {TaskResultStatus.SUCCESSFUL}


def test_a_run_that_cannot_queue_every_email_marks_no_key_and_queues_nothing(
    database_tasks, demo, make_key, monkeypatch
):
    from django.db import DatabaseError

    from keys import notifications

    make_key(name="erp nightly", role=Role.ADMIN_API, expires_in_days=3)
    calls = []

    def second_fails(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise DatabaseError("the task table is unavailable")
        return enqueue_email(*args, **kwargs)

    monkeypatch.setattr(notifications, "enqueue_email", second_fails)
    with pytest.raises(DatabaseError):
        _notify()
    assert not DBTaskResult.objects.exists()
    assert ApiKey.objects.filter(expiry_notice_sent_for__isnull=False).count() == 0
    monkeypatch.undo()
    assert "Queued 2 email(s) about 1 key(s)" in _notify()  # the next run tries again, whole
    database_tasks()
    assert len(mail.outbox) == 2


def test_a_key_revoked_before_the_worker_runs_is_left_out_of_the_email(database_tasks, demo, make_key):
    from accounts.actors import Actor
    from keys.services import revoke_key

    make_key(name="erp nightly", expires_in_days=3)
    gone = make_key(name="scada bridge", expires_in_days=4)
    assert "Queued 1 email(s) about 2 key(s)" in _notify()
    revoke_key(actor=Actor.system(demo.acme.pk), key=ApiKey.objects.get(pk=gone.key.pk))
    database_tasks()
    (message,) = mail.outbox
    assert "erp nightly" in message.body and "scada bridge" not in message.body
    assert message.subject == "1 API key expires soon"


def test_a_refused_recipient_fails_their_task_alone_on_the_database_queue(
    database_tasks, demo, make_key, settings
):
    settings.EMAIL_BACKEND = "tests.integration.test_commands.RefusingBackend"
    make_key(name="erp nightly", role=Role.ADMIN_API, expires_in_days=3)
    assert "Queued 2 email(s)" in _notify()  # the command cannot know yet: it does not fail
    database_tasks()
    assert [m.to for m in mail.outbox] == [["advanced@acme.test"]]
    failed = DBTaskResult.objects.get(status=TaskResultStatus.FAILED)
    assert "SMTPRecipientsRefused" in failed.exception_class_path
    assert failed.args_kwargs["args"][0] == User.objects.get(email="adminapi@acme.test").pk
    # Announced: neither a new run nor the worker sends anything again.
    assert "Queued 0 email(s)" in _notify()
    database_tasks()
    assert len(mail.outbox) == 1


def test_the_immediate_backend_reports_a_refused_recipient_at_once(demo, make_key, settings):
    settings.EMAIL_BACKEND = "tests.integration.test_commands.RefusingBackend"
    make_key(name="erp nightly", role=Role.ADMIN_API, expires_in_days=3)
    with pytest.raises(CommandError, match=r"Not sent to 1 recipient\(s\): adminapi@acme.test"):
        _notify()
