"""Writing the audit log. Callers that change something call :func:`record_event` inside their own
transaction, so the event and the change are written together or not at all. A refusal is an event
too, written by :func:`refuse` for every door and service, so that a rollback never takes it along:
see :func:`door_transaction`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any, TypeVar

from django.db import transaction

from accounts.actors import Actor
from accounts.models import Account
from audit.context import happened_at
from audit.context import request_id as current_request_id
from audit.models import AuditAction, AuditEvent


def record_event(
    *,
    actor: Actor,
    action: str,
    organization_id: int | None = None,
    key: Any = None,
    account: Account | None = None,
    details: dict | None = None,
    key_id: Any = None,
    account_id: int | None = None,
) -> AuditEvent:
    """One event; ``key`` is the ``ApiKey`` it is about, if any (its account is recorded too).
    The hot path, which holds no model instance, names them by ``key_id`` and ``account_id``. The
    id of the request being served, if any, is recorded with it."""
    fields: dict[str, Any] = {
        "organization_id": (
            organization_id if organization_id is not None else (actor.organization_id or None)
        ),
        "action": action,
        "actor_user": actor.user if actor.user is not None and actor.user.pk else None,
        "actor_key_id": actor.key.id if actor.key is not None else None,
        "actor_label": actor.label[:200],
        "ip": actor.ip,
        "user_agent": actor.user_agent[:300],
        "details": details or {},
        "request_id": current_request_id.get() or None,
    }
    if (moment := happened_at.get()) is not None:
        fields["occurred_at"] = moment
    if key is not None:
        fields.update(key=key, account=account or key.account)
    elif account is not None:
        fields.update(key_id=key_id, account=account)
    else:
        fields.update(key_id=key_id, account_id=account_id)
    return AuditEvent.objects.create(**fields)


def record_denied(*, actor: Actor, what: str, key: Any = None, details: dict | None = None) -> AuditEvent:
    """A refused permission check is an audit event too."""
    return record_event(
        actor=actor,
        action=AuditAction.PERMISSION_DENIED,
        key=key,
        details={"attempted": what, **(details or {})},
    )


E = TypeVar("E", bound=BaseException)

# The refusals audited inside the open door transaction, written once it has ended.
_pending_refusals: ContextVar[list[Callable[[], object]] | None] = ContextVar(
    "pending_refusals", default=None
)


def refuse(error: E, *, actor: Actor, what: str, key: Any = None, details: dict | None = None) -> E:
    """Audit a refusal and return the error that tells the caller: ``raise refuse(error, ...)``.
    The portal, the APIs and the key services all refuse through here. Inside a
    :func:`door_transaction` the event is written when that transaction has ended, so that its
    rollback (this refusal's, or that of a caller composing several rules) does not take it along;
    anywhere else, at once."""
    write = partial(record_denied, actor=actor, what=what, key=key, details=details)
    pending = _pending_refusals.get()
    if pending is None:
        write()
    else:
        pending.append(write)
    return error


@contextmanager
def door_transaction() -> Iterator[None]:
    """The one transaction a door (a page, an API operation, a command) opens around the rules it
    calls: durable, so never inside another one (whose rollback could undo a change the
    verification cache already forgot). The rules compose inside it; the refusals they audit are
    written after it, whether it committed or rolled back."""
    pending: list[Callable[[], object]] = []
    token = _pending_refusals.set(pending)
    try:
        with transaction.atomic(durable=True):
            yield
    finally:
        _pending_refusals.reset(token)
        for write in pending:
            write()
