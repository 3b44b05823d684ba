"""What an API request names, turned into what the key services take: an application by its slug,
an account by its name, a role by its name. What a request leaves out is the caller's own: a key's
own application, account and role; for a signed-in member the first application, their highest
account and their highest role (as the portal's create form pre-fills them). Shared by every API
surface that creates keys."""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, QuerySet

from accounts import permissions
from accounts.actors import Actor
from accounts.models import Account, Application, Role
from keys import services
from keys.errors import ErrorCode, ServiceError
from keys.services import IssuedKey

M = TypeVar("M", bound=Model)


def _named_or_own(
    queryset: QuerySet[M], lookup: str, value: str | None, own_pk: int | None, missing: str
) -> M:
    found = queryset.filter(**({lookup: value} if value else {"pk": own_pk})).first()
    if found is None:
        raise ServiceError(ErrorCode.VALIDATION_ERROR, missing, field=queryset.model._meta.model_name)
    return found


def creation_target(
    actor: Actor, *, application: str | None, account: str | None, role: str | None
) -> tuple[Application, Account, Role]:
    applications = Application.objects.filter(organization_id=actor.organization_id)
    own_application: int | None
    own_account: int | None
    if actor.key is not None:
        own_application, own_account, own_role = (
            actor.key.application_id,
            actor.key.account_id,
            actor.key.role,
        )
    else:
        first = applications.first()
        default_account = permissions.default_key_account(actor)
        roles = permissions.creatable_roles(actor)
        own_application = first.pk if first else None
        own_account = default_account.pk if default_account else None
        own_role = roles[0] if roles else Role.VIEWER
    try:
        chosen_role = Role.from_name(role) if role else Role(own_role)
    except ValueError as exc:
        raise ServiceError(ErrorCode.VALIDATION_ERROR, str(exc), field="role") from None
    chosen_application = _named_or_own(
        applications, "slug", application, own_application, f"No application with slug {application!r}."
    )
    chosen_account = _named_or_own(
        Account.objects.filter(organization_id=actor.organization_id),
        "name",
        account,
        own_account,
        f"No account named {account!r}." if account else "You may not create keys on any account.",
    )
    return chosen_application, chosen_account, chosen_role


def create_requested_key(
    actor: Actor,
    *,
    name: str,
    scopes: list[str],
    expires_in_days: int | None = None,
    application: str | None = None,
    account: str | None = None,
    role: str | None = None,
    allowed_ips: list[str] | None = None,
    description: str = "",
) -> IssuedKey:
    """Create the key an API request describes, through the service (which checks everything)."""
    chosen_application, chosen_account, chosen_role = creation_target(
        actor, application=application, account=account, role=role
    )
    return services.create_key(
        actor=actor,
        application=chosen_application,
        account=chosen_account,
        role=chosen_role,
        name=name,
        scopes=scopes,
        expires_in_days=expires_in_days,
        allowed_ips=allowed_ips,
        description=description,
    )
