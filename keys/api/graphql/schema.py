"""The GraphQL schema: types over the one key object of every API surface, queries over
``keys.selectors`` and the shared FilterSet, mutations over ``keys.services``. Resolvers are thin:
who may call what is asked of ``keys.api.access``, what is visible of the access policy."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from accounts import models as account_models
from accounts.actors import Actor
from keys import models as key_models
from keys import selectors, services, state
from keys.api import serializers
from keys.api.access import Operation, require
from keys.api.inputs import create_requested_key
from keys.api.middleware import KeyRequest
from keys.authentication.presented import verify_presented
from keys.authentication.verification import VerifiedKey
from keys.errors import ErrorCode, ServiceError
from keys.services import MAX_GRACE_PERIOD


@dataclass(frozen=True)
class Context:
    request: KeyRequest
    actor: Actor


def problem(code: ErrorCode, message: str) -> GraphQLError:
    """An error as GraphQL clients expect it: ``errors[].extensions.code``, GraphQL's name for it."""
    return GraphQLError(message, extensions={"code": code.graphql})


# Built from keys.state.KeyStatus when imported, so the type checker sees neither its members nor a
# type: the ignores below that name KeyStatus say so.
KeyStatus = strawberry.enum(  # type: ignore[call-overload]
    enum.Enum("KeyStatus", {status.name: status.value for status in state.KeyStatus}),
    description="active, disabled, expired or revoked",
)


# Strawberry resolves these types on the objects the resolvers return (a model instance, a verified
# key), so ``self`` is one of those and the resolvers return them as the type: the ignores below that
# name a model say so.
@strawberry.type(name="ApiKey", description="An API key; never its secret.")
class ApiKeyType:
    id: strawberry.ID
    name: str
    description: str = strawberry.field(
        description="Optional: who runs the integration, where its secret lives."
    )
    client_id: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None

    @classmethod
    def is_type_of(cls, obj: Any, info: Info) -> bool:
        # A stored key, or the key that authenticated the request (no database read for currentKey).
        return isinstance(obj, key_models.ApiKey | VerifiedKey)

    @strawberry.field(description="The application's slug.")
    def application(self) -> str:
        return serializers.application_slug(self)  # type: ignore[arg-type]  # self is the model

    @strawberry.field(description="The account's name.")
    def account(self) -> str:
        return serializers.account_name(self)  # type: ignore[arg-type]  # self is the model

    @strawberry.field(description="advanced_admin, admin_api, admin, support or viewer.")
    def role(self) -> str:
        return serializers.role_name(self)  # type: ignore[arg-type]  # self is the model

    @strawberry.field
    def status(self) -> KeyStatus:  # type: ignore[valid-type]  # KeyStatus: see above
        return KeyStatus(serializers.status_of(self))  # type: ignore[arg-type]  # self is the model

    @strawberry.field(
        description="A live secret of it was seen by a member who has since been deactivated, or was "
        "reported leaked."
    )
    def exposed(self) -> bool:
        return self.exposed

    @strawberry.field(description="Why the key is exposed; null when it is not.")
    def exposure(self) -> Exposure | None:
        return _exposure(self)  # type: ignore[arg-type]  # self is the model or the verified key

    @strawberry.field(description="Addresses or CIDR ranges the key may be used from; empty: anywhere.")
    def allowed_ips(self) -> list[str]:
        return list(self.allowed_ips)


# ---- leak response: a key's exposure, and the key of a secret (apiKeyBySecret, below) ----


@strawberry.type(description="Why a key is exposed.")
class Exposure:
    reason: str = strawberry.field(description="Who saw the secret, or where it was reported leaked.")
    source_url: str | None = strawberry.field(description="Where the secret was found, when reported leaked.")
    at: datetime = strawberry.field(description="Since when the key is exposed.")


def _exposure(key: key_models.ApiKey | VerifiedKey) -> Exposure | None:
    found = serializers.exposure_of(key)
    return Exposure(**found) if found is not None else None


def _key_of_secret(info: Info, secret: str) -> key_models.ApiKey | None:
    """apiKeyBySecret: the key a Client Secret belongs to, as REST's POST /org/api-keys/lookup."""
    match = _service(services.look_up_key, actor=_allowed(info, Operation.READ), secret=secret)
    return match.key


# ---- end of the leak response's types ----


@strawberry.type
class ApiKeyPage:
    total: int = strawberry.field(description="How many keys the list has, every page together.")
    items: list[ApiKeyType]
    next: str | None = strawberry.field(
        description="Cursor of the page after this one (pass it as cursor); null on the last page."
    )
    previous: str | None = strawberry.field(
        description="Cursor of the page before this one (pass it as cursor); null on the first page."
    )


@strawberry.type
class CreatedApiKey:
    api_key: ApiKeyType
    client_secret: str = strawberry.field(description="Shown in this response only: store it now.")


@strawberry.type
class Verification:
    valid: bool
    code: str = strawberry.field(
        description="valid, unauthorized, ip_not_allowed, insufficient_scope or rate_limited"
    )
    api_key: ApiKeyType | None = strawberry.field(
        description="The presented key, when the caller may see it (its account subtree and role, as for "
        "every read); null otherwise, and for an unknown key."
    )


@strawberry.type(name="Scope")
class ScopeType:
    description: str

    @strawberry.field(description="resource:action, e.g. work-orders:read")
    def name(self) -> str:
        return str(self)


@strawberry.type(name="User", description="The signed-in member.")
class UserType:
    email: str
    full_name: str

    @strawberry.field(description="The organization's slug.")
    def organization(self) -> str | None:
        return self.organization.slug if self.organization_id else None  # type: ignore[attr-defined]  # a User

    @strawberry.field(description="The member's highest role, e.g. advanced_admin.")
    def role(self) -> str | None:
        return account_models.Role.api_name_of(self.top_role)  # type: ignore[attr-defined]  # self is a User


@strawberry.input
class CreateApiKeyInput:
    name: str
    scopes: list[str]
    description: str = strawberry.field(default="", description="Optional, shown on the key's page")
    expires_in_days: int | None = None
    application: str | None = strawberry.field(default=None, description="Slug; default: the caller's")
    account: str | None = strawberry.field(default=None, description="Name; default: the caller's")
    role: str | None = strawberry.field(default=None, description="e.g. admin_api; default: the caller's")
    allowed_ips: list[str] | None = strawberry.field(
        default=None, description="IPv4/IPv6 addresses or CIDR ranges, at most 32; default: anywhere"
    )


def _context(info: Info) -> Context:
    return info.context


def _service(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A call into the domain, its refusals as GraphQL errors (with GraphQL's names for the codes:
    forbidden is access_denied, validation_error is bad_user_input)."""
    try:
        return call(*args, **kwargs)
    except ServiceError as err:
        raise problem(err.code, err.message) from None


def _allowed(info: Info, operation: Operation) -> Actor:
    return _service(require, _context(info).actor, operation)


def _visible_key(actor: Actor, key_id: str) -> key_models.ApiKey:
    return _service(selectors.get_visible_key, actor, key_id)


@strawberry.type
class Query:
    @strawberry.field(description="The key that authenticated this request.")
    def current_key(self, info: Info) -> ApiKeyType:
        key = _context(info).request.api_key
        if key is None:
            raise problem(
                ErrorCode.UNSUPPORTED_WITH_SESSION, "currentKey needs an API key; this request has a session."
            )
        return key  # type: ignore[return-value]  # the verified key, as ApiKeyType

    @strawberry.field(description="The member signed in to the portal.")
    def current_user(self, info: Info) -> UserType:
        actor = _context(info).actor
        if actor.key is not None or actor.user is None:
            raise problem(
                ErrorCode.UNSUPPORTED_WITH_API_KEY,
                "currentUser needs a portal session; no user signs in with a key.",
            )
        return actor.user  # type: ignore[return-value]  # the model, as UserType

    @strawberry.field(description="Keys the caller may see, newest first.")
    def api_keys(
        self,
        info: Info,
        status: KeyStatus | None = None,  # type: ignore[valid-type]  # KeyStatus: see above
        search: str | None = None,
        first: int | None = 50,
        offset: int | None = 0,
        exposed: bool | None = None,
        cursor: Annotated[
            str | None,
            strawberry.argument(
                description="next or previous of an earlier page (same filters); not with offset. "
                "Costs the same at any depth, unlike offset (at most 1,000,000)."
            ),
        ] = None,
    ) -> ApiKeyPage:
        actor = _allowed(info, Operation.READ)
        first = 50 if first is None else first
        offset = offset or 0
        if not 1 <= first <= selectors.MAX_PAGE or not 0 <= offset <= selectors.MAX_OFFSET:
            raise problem(
                ErrorCode.VALIDATION_ERROR,
                f"first must be 1 to {selectors.MAX_PAGE} and offset 0 to {selectors.MAX_OFFSET:,}.",
            )
        data = {"status": status.value if status else None, "search": search}  # type: ignore[attr-defined]
        query = {k: v for k, v in data.items() if v}
        if exposed is not None:
            query["exposed"] = exposed
        page = _service(selectors.page_of_keys, actor, query, limit=first, offset=offset, cursor=cursor)
        return ApiKeyPage(total=page.total, items=page.keys, next=page.next, previous=page.previous)

    @strawberry.field
    def api_key(self, info: Info, id: strawberry.ID) -> ApiKeyType:
        return _visible_key(_allowed(info, Operation.READ), id)  # type: ignore[return-value]  # the model

    @strawberry.field(
        description="The key a Client Secret belongs to (its current secret, or one kept for a grace "
        "period), whatever its status, among the keys the caller may see; not_found otherwise. Send "
        "the secret as a variable of a POST: a request with a secret in its URL is refused. Audited, "
        "never with the secret."
    )
    def api_key_by_secret(self, info: Info, secret: str) -> ApiKeyType | None:
        return _key_of_secret(info, secret)  # type: ignore[return-value]  # the model, as ApiKeyType

    @strawberry.field(description="The scope catalogue of an application: by default the calling key's own.")
    def scopes(self, info: Info, application: str | None = None) -> list[ScopeType]:
        actor = _context(info).actor
        applications = account_models.Application.objects.filter(organization_id=actor.organization_id)
        if application:
            found = applications.filter(slug=application).first()
        elif actor.key is not None:
            found = applications.filter(pk=actor.key.application_id).first()
        else:
            found = applications.filter(is_portal=True).first()
        if found is None:
            raise problem(ErrorCode.NOT_FOUND, f"No application with slug {application!r}.")
        return list(found.scopes.all())  # type: ignore[arg-type]  # the models, as ScopeType


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create a key; its secret is in this response only.")
    def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreatedApiKey:
        issued = _service(create_requested_key, _allowed(info, Operation.WRITE), **vars(input))
        return CreatedApiKey(api_key=issued.key, client_secret=issued.secret)

    @strawberry.mutation(description="A new secret; the old one stops at once or after the grace period.")
    def regenerate_api_key(
        self, info: Info, id: strawberry.ID, grace_period_seconds: int | None = None
    ) -> CreatedApiKey:
        actor = _allowed(info, Operation.WRITE)
        seconds = grace_period_seconds or 0
        most = int(MAX_GRACE_PERIOD.total_seconds())
        if not 0 <= seconds <= most:
            raise problem(
                ErrorCode.VALIDATION_ERROR,
                f"gracePeriodSeconds must be 0 to {most} ({MAX_GRACE_PERIOD.days} days).",
            )
        key = _visible_key(actor, id)
        issued = _service(
            services.regenerate_key, actor=actor, key=key, grace_period=timedelta(seconds=seconds)
        )
        return CreatedApiKey(api_key=issued.key, client_secret=issued.secret)

    @strawberry.mutation(description="Revoke a key: final, and at once.")
    def revoke_api_key(self, info: Info, id: strawberry.ID) -> ApiKeyType:
        actor = _allowed(info, Operation.WRITE)
        return _service(services.revoke_key, actor=actor, key=_visible_key(actor, id))

    @strawberry.mutation(description="Pause a key at once; enableApiKey brings the same secret back.")
    def disable_api_key(self, info: Info, id: strawberry.ID) -> ApiKeyType:
        actor = _allowed(info, Operation.WRITE)
        return _service(services.disable_key, actor=actor, key=_visible_key(actor, id))

    @strawberry.mutation(description="Resume a disabled key with the secret it had.")
    def enable_api_key(self, info: Info, id: strawberry.ID) -> ApiKeyType:
        actor = _allowed(info, Operation.WRITE)
        return _service(services.enable_key, actor=actor, key=_visible_key(actor, id))

    @strawberry.mutation(description="Check a key presented to one of your services; counts as its use.")
    def verify_api_key(
        self,
        info: Info,
        key: str,
        required_scopes: list[str] | None = None,
        client_ip: Annotated[
            str | None,
            strawberry.argument(
                description="Where the key was presented from; required for a key with allowed networks."
            ),
        ] = None,
    ) -> Verification:
        actor = _allowed(info, Operation.VERIFY)
        result = _service(verify_presented, actor, key, required_scopes or [], client_ip)
        return Verification(valid=result.valid, code=result.code, api_key=result.key)
