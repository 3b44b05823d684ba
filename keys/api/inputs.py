"""What an API request names, turned into what the key services take: an application by its slug,
an account by its name, a role by its name. What a request leaves out is the calling key's own.
Shared by every API surface that creates keys."""

from __future__ import annotations

from django.db.models import Model, QuerySet

from accounts.models import Account, Application, Role
from keys.errors import ServiceError
from keys.hotpath.verification import VerifiedKey


def _named_or_own(queryset: QuerySet, lookup: str, value: str | None, own_pk: int, missing: str) -> Model:
    found = queryset.filter(**({lookup: value} if value else {"pk": own_pk})).first()
    if found is None:
        raise ServiceError("validation_error", missing, field=queryset.model._meta.model_name)
    return found


def creation_target(
    caller: VerifiedKey, *, application: str | None, account: str | None, role: str | None
) -> tuple[Application, Account, Role]:
    organization_id = caller.organization_id
    return (
        _named_or_own(
            Application.objects.filter(organization_id=organization_id),
            "slug",
            application,
            caller.application_id,
            f"No application with slug {application!r}.",
        ),
        _named_or_own(
            Account.objects.filter(organization_id=organization_id),
            "name",
            account,
            caller.account_id,
            f"No account named {account!r}.",
        ),
        Role.from_name(role) if role else Role(caller.role),
    )
