"""Email a member off the request: ``enqueue_email(user, builder, **params)``.

A request or a command never sends mail itself. It enqueues one task per email (django-tasks, the
``TASKS`` setting), and the task worker (``manage.py db_worker``) loads the member, builds the
message and sends it. To add an email:

.. code-block:: python

    from accounts.emails import email_builder, enqueue_email

    @email_builder  # a module-level function: the worker finds it again by its dotted path
    def leak_report_email(user: User, *, key_id: int) -> EmailMessage | None:
        key = ApiKey.objects.filter(pk=key_id).first()
        if key is None:
            return None  # nothing left to say: nothing is sent
        return EmailMultiAlternatives(subject="…", body=render_to_string("…", {"key": key}))

    enqueue_email(user, leak_report_email, key_id=key.pk)  # in the request, the command, a task

The rules:

* ``params`` are JSON values (ids, ISO 8601 times, short words), never a secret nor a model
  instance: they are stored in the task table until the worker runs the task. Anything that is not
  JSON is refused at once (``TypeError``). The builder reads the rows again by id, so the email says
  what is true when it is sent.
* The builder runs in the worker, in the member's own time zone (dates read as on the portal),
  with the member as they are then. It returns the message (its recipient is set here, to the
  member's address alone) or ``None`` to send nothing. A member who is no longer active gets
  nothing.
* With the database backend the task's row is written in the caller's transaction: rolled back
  with it, and seen by the worker only once committed.
* An exception (the builder's, the mail server's refusal) fails the task: the worker logs it and
  keeps it in the task's result (admin: Task results). It is not retried: each email is sent at
  most once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.mail import EmailMessage
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks import TaskResult, task

from accounts.models import User

log = logging.getLogger(__name__)


# build(user, **params) -> the message, or None to send nothing.
B = TypeVar("B", bound=Callable[..., EmailMessage | None])

# Only functions marked with @email_builder are run by the task: a task row names its builder by
# dotted path, and no row can make the worker call anything else.
_MARK = "_builds_member_email"


def email_builder(build: B) -> B:
    """Mark a module-level function as one that ``enqueue_email`` may name."""
    if "<locals>" in build.__qualname__:
        raise TypeError(f"{build.__qualname__}: an email builder is defined at module level.")
    setattr(build, _MARK, True)
    return build


def _path(build: Callable[..., Any]) -> str:
    return f"{build.__module__}.{build.__qualname__}"


def enqueue_email(user: User | int, build: Callable[..., EmailMessage | None], **params: Any) -> TaskResult:
    """Enqueue one email to one member, built by ``build(user, **params)`` in the task worker.
    Returns the task's result (``.id`` finds it again; with a backend that runs tasks at once,
    ``.status`` already says whether it was sent)."""
    if not getattr(build, _MARK, False):
        raise TypeError(f"{_path(build)} is not marked @email_builder.")
    user_id = user if isinstance(user, int) else user.pk
    return send_member_email.enqueue(user_id, _path(build), params)


@task()
def send_member_email(user_id: int, builder: str, params: dict[str, Any]) -> bool:
    """The task: build the email for the member as they are now and send it. True when sent."""
    build = import_string(builder)
    if not getattr(build, _MARK, False):
        raise ValueError(f"{builder} is not an email builder.")
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        log.info("Email %s not sent: member %s is gone or deactivated.", builder, user_id)
        return False
    with timezone.override(user.time_zone):  # dates in the recipient's own time zone
        message = build(user, **params)
    if message is None:
        return False
    message.to = [user.email]
    message.cc = message.bcc = []
    return bool(message.send())
