"""The GraphQL schema: types over the one key object of every API surface, queries over
``keys.selectors`` and the shared FilterSet, mutations over ``keys.services``. Resolvers are thin:
who may call what is asked of ``keys.api.access``, what is visible of the access policy."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from accounts import models as account_models
from accounts.actors import Actor
from accounts.models import KeyRole
from keys import models as key_models
from keys import selectors, services, state
from keys.api import serializers
from keys.api.access import Operation, require
from keys.api.graphql.request_log import ApiKeyRequestConnection, api_key_requests
from keys.api.inputs import create_requested_key
from keys.api.middleware import KeyRequest
from keys.authentication.presented import VerificationCode, verify_presented
from keys.authentication.verification import VerifiedKey
from keys.errors import ErrorCode, ServiceError
from keys.request_log import StatusClass, Surface
from keys.services import MAX_GRACE_PERIOD


@dataclass(frozen=True)
class Context:
    request: KeyRequest
    actor: Actor


def problem(code: ErrorCode, message: str) -> GraphQLError:
    """An error as GraphQL clients expect it: ``errors[].extensions.code``, GraphQL's name for it."""
    return GraphQLError(message, extensions={"code": code.graphql})


# One vocabulary with REST: each enum of the REST contract is a GraphQL enum, registered here on
# the very Python enum that REST's schemas and the domain use (strawberry.enum returns the class
# itself), so a value cannot be added to one API and not the other. GraphQL names the values by
# the members' names: ACTIVE, ADMIN_API, IP_NOT_ALLOWED.
strawberry.enum(
    state.KeyStatus,
    description="A key's status (REST: active, disabled, expired, revoked): ACTIVE keys authenticate; "
    "DISABLED ones are paused and can be enabled again; EXPIRED and REVOKED ones never come back.",
)
strawberry.enum(
    KeyRole,
    description="The role a key acts with (REST: advanced_admin, admin_api, admin, support, viewer), "
    "highest first; each includes the ones below it.",
)
strawberry.enum(
    VerificationCode,
    description="Why a presented key is valid or not (REST: valid, unauthorized, ip_not_allowed, "
    "insufficient_scope, rate_limited): UNAUTHORIZED, IP_NOT_ALLOWED and RATE_LIMITED are the errors a "
    "request made with that key would answer with.",
)


def _parse_datetime(value: object) -> datetime:
    """An ISO 8601 time as a variable; one without an offset is UTC."""
    if not isinstance(value, str):
        raise ValueError("A DateTime is an ISO 8601 string, e.g. 2026-03-01T12:00:00.000Z.")
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Times are written as REST writes them (serializers.timestamp), not as strawberry's own DateTime
# (Python's isoformat: microseconds and +00:00).
DATETIME = strawberry.scalar(
    name="DateTime",
    description="A time in UTC, ISO 8601 with milliseconds and Z, as in REST: 2026-03-01T12:00:00.000Z.",
    serialize=serializers.timestamp,
    parse_value=_parse_datetime,
)
CONFIG = StrawberryConfig(scalar_map={datetime: DATETIME})


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

    # Nullable: read from other rows than the key's own, they can fail on their own; the rest of
    # the key (and of the answer) stands, with an error at this field's path.
    @strawberry.field(description="The application's slug.")
    def application(self) -> str | None:
        return serializers.application_slug(self)  # type: ignore[arg-type]  # self is the model

    @strawberry.field(description="The account's name.")
    def account(self) -> str | None:
        return serializers.account_name(self)  # type: ignore[arg-type]  # self is the model

    @strawberry.field
    def role(self) -> KeyRole:
        return KeyRole(serializers.role_name(self))  # type: ignore[arg-type]  # self is the model

    @strawberry.field
    def status(self) -> state.KeyStatus:
        return serializers.status_of(self)  # type: ignore[arg-type]  # self is the model

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


# Relay's connection, from strawberry's own types (relay.Connection, Edge, PageInfo and the
# relay.connection field, which adds first/after/last/before): so Relay's and Apollo's pagination
# helpers work. The cursors are the API lists' keyset cursors (keys.selectors.slice_of_keys), not
# strawberry's ListConnection offsets, which would skip or repeat keys created meanwhile. Relay
# types its nodes as relay.Node (a global id); a key keeps its own id, as in REST.
@strawberry.type(
    name="ApiKeyConnection",
    description="Keys the caller may see, newest first, as a Relay connection (cursor pagination).",
)
class ApiKeyConnection(relay.Connection[ApiKeyType]):  # type: ignore[type-var]  # see above
    listed: strawberry.Private[Any]  # the whole list's queryset, counted only when asked

    @strawberry.field(description="How many keys the list has, every page together.")
    def total_count(self) -> int:
        return int(self.listed.count())

    @classmethod
    def resolve_connection(
        cls,
        nodes: Any,
        *,
        info: Info,
        before: str | None = None,
        after: str | None = None,
        first: int | None = None,
        last: int | None = None,
        **kwargs: Any,
    ) -> ApiKeyConnection:
        found = _service(selectors.slice_of_keys, nodes, first=first, after=after, last=last, before=before)
        return cls(
            edges=[relay.Edge(cursor=c, node=k) for c, k in zip(found.cursors, found.keys, strict=True)],
            page_info=relay.PageInfo(
                has_next_page=found.has_next,
                has_previous_page=found.has_previous,
                start_cursor=found.cursors[0] if found.cursors else None,
                end_cursor=found.cursors[-1] if found.cursors else None,
            ),
            listed=nodes,
        )


@strawberry.type
class CreatedApiKey:
    api_key: ApiKeyType
    client_secret: str = strawberry.field(description="Shown in this response only: store it now.")


@strawberry.type
class Verification:
    valid: bool
    code: VerificationCode
    api_key: ApiKeyType | None = strawberry.field(
        description="The presented key, when the caller may see it (its account subtree and role, as for "
        "every read); null otherwise, and for an unknown key."
    )


def _scope_name(root: Any) -> str:
    return str(root)  # the model's resource:action


@strawberry.type(name="Scope")
class ScopeType:
    name: str = strawberry.field(resolver=_scope_name, description="resource:action, e.g. work-orders:read")
    resource: str = strawberry.field(description="e.g. work-orders")
    action: str = strawberry.field(description="read or write")
    description: str


@strawberry.type(description="A key's calls on one UTC day.")
class UsageDay:
    date: date = strawberry.field(description="A UTC day")
    calls: int
    errors: int = strawberry.field(
        description="Refused or failed calls (4xx and 5xx answers); not rate-limited ones"
    )
    rate_limited: int = strawberry.field(description="Calls refused with 429 for the key's rate limit")


@strawberry.type
class UsageTotals:
    calls: int
    errors: int
    rate_limited: int


@strawberry.type(description="A key's usage by day, as REST's GET /api/v1/org/api-keys/{id}/usage.")
class KeyUsage:
    key_id: strawberry.ID
    days: int
    data: list[UsageDay] = strawberry.field(
        description="Every day of the range, oldest first; zeros without calls"
    )
    totals: UsageTotals = strawberry.field(description="The sums of data")


@strawberry.type(name="User", description="The signed-in member.")
class UserType:
    email: str
    full_name: str

    @strawberry.field(description="The organization's slug.")
    def organization(self) -> str | None:
        return self.organization.slug if self.organization_id else None  # type: ignore[attr-defined]  # a User

    @strawberry.field(description="The member's highest role; null without a membership.")
    def role(self) -> KeyRole | None:
        name = account_models.Role.api_name_of(self.top_role)  # type: ignore[attr-defined]  # self is a User
        return None if name is None else KeyRole(name)


@strawberry.input
class CreateApiKeyInput:
    name: str
    scopes: list[str]
    description: str = strawberry.field(default="", description="Optional, shown on the key's page")
    expires_in_days: int | None = None
    application: str | None = strawberry.field(default=None, description="Slug; default: the caller's")
    account: str | None = strawberry.field(default=None, description="Name; default: the caller's")
    role: KeyRole | None = strawberry.field(default=None, description="Default: the caller's")
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
    def current_key(self, info: Info) -> ApiKeyType | None:
        key = _context(info).request.api_key
        if key is None:
            raise problem(
                ErrorCode.UNSUPPORTED_WITH_SESSION, "currentKey needs an API key; this request has a session."
            )
        return key  # type: ignore[return-value]  # the verified key, as ApiKeyType

    @strawberry.field(description="The member signed in to the portal.")
    def current_user(self, info: Info) -> UserType | None:
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
        status: state.KeyStatus | None = None,
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
    ) -> ApiKeyPage | None:
        actor = _allowed(info, Operation.READ)
        first = 50 if first is None else first
        offset = offset or 0
        if not 1 <= first <= selectors.MAX_PAGE or not 0 <= offset <= selectors.MAX_OFFSET:
            raise problem(
                ErrorCode.VALIDATION_ERROR,
                f"first must be 1 to {selectors.MAX_PAGE} and offset 0 to {selectors.MAX_OFFSET:,}.",
            )
        data = {"status": status.value if status else None, "search": search}
        query: dict[str, Any] = {k: v for k, v in data.items() if v}
        if exposed is not None:
            query["exposed"] = exposed
        page = _service(selectors.page_of_keys, actor, query, limit=first, offset=offset, cursor=cursor)
        return ApiKeyPage(total=page.total, items=page.keys, next=page.next, previous=page.previous)

    @relay.connection(
        ApiKeyConnection | None,
        description="Keys the caller may see, newest first, as a Relay connection: first (default 50, "
        "at most 100) after a cursor, or last before one. The same keys and filters as apiKeys.",
    )
    def api_keys_connection(
        self,
        info: Info,
        status: state.KeyStatus | None = None,
        search: str | None = None,
        exposed: bool | None = None,
    ) -> Iterable[ApiKeyType] | None:
        actor = _allowed(info, Operation.READ)
        query: dict[str, Any] = {"status": status.value if status else None, "search": search or None}
        query = {k: v for k, v in query.items() if v}
        if exposed is not None:
            query["exposed"] = exposed
        return selectors.listed_keys(actor, query).qs  # the models, as ApiKeyType

    @strawberry.field
    def api_key(self, info: Info, id: strawberry.ID) -> ApiKeyType | None:
        return _visible_key(_allowed(info, Operation.READ), id)  # type: ignore[return-value]  # the model

    @strawberry.field(
        description="A key's calls, errors and rate-limited calls on each of the last days UTC days, "
        "oldest first (a day without calls with zeros): the answer of REST's usage endpoint."
    )
    def api_key_usage(
        self,
        info: Info,
        id: strawberry.ID,
        days: Annotated[
            int | None, strawberry.argument(description=f"1 to {selectors.USAGE_DAYS_MAX}, today included")
        ] = selectors.USAGE_DAYS_DEFAULT,
    ) -> KeyUsage | None:
        key = _visible_key(_allowed(info, Operation.READ), id)
        usage = _service(serializers.usage_out, key, selectors.USAGE_DAYS_DEFAULT if days is None else days)
        return KeyUsage(
            key_id=usage["key_id"],
            days=usage["days"],
            data=[UsageDay(**day) for day in usage["data"]],
            totals=UsageTotals(**usage["totals"]),
        )

    # The request log: one field, its types and resolver in keys/api/graphql/request_log.py.
    @strawberry.field(description="A key's requests, newest first (kept REQUEST_LOG_DAYS days).")
    def api_key_requests(
        self,
        info: Info,
        id: strawberry.ID,
        status: StatusClass | None = None,
        code: ErrorCode | None = None,
        surface: Surface | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> ApiKeyRequestConnection | None:
        actor = _allowed(info, Operation.READ)
        return _service(
            api_key_requests,
            actor,
            id,
            status=status,
            code=code,
            surface=surface,
            since=since,
            until=until,
            first=first,
            after=after,
        )

    @strawberry.field(
        description="The key a Client Secret belongs to (its current secret, or one kept for a grace "
        "period), whatever its status, among the keys the caller may see; not_found otherwise. Send "
        "the secret as a variable of a POST: a request with a secret in its URL is refused. Audited, "
        "never with the secret."
    )
    def api_key_by_secret(self, info: Info, secret: str) -> ApiKeyType | None:
        return _key_of_secret(info, secret)  # type: ignore[return-value]  # the model, as ApiKeyType

    @strawberry.field(description="The scope catalogue of an application: by default the calling key's own.")
    def scopes(self, info: Info, application: str | None = None) -> list[ScopeType] | None:
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
    def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreatedApiKey | None:
        issued = _service(create_requested_key, _allowed(info, Operation.WRITE), **vars(input))
        return CreatedApiKey(api_key=issued.key, client_secret=issued.secret)

    @strawberry.mutation(description="A new secret; the old one stops at once or after the grace period.")
    def regenerate_api_key(
        self, info: Info, id: strawberry.ID, grace_period_seconds: int | None = None
    ) -> CreatedApiKey | None:
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
    def revoke_api_key(self, info: Info, id: strawberry.ID) -> ApiKeyType | None:
        actor = _allowed(info, Operation.WRITE)
        return _service(services.revoke_key, actor=actor, key=_visible_key(actor, id))

    @strawberry.mutation(description="Pause a key at once; enableApiKey brings the same secret back.")
    def disable_api_key(self, info: Info, id: strawberry.ID) -> ApiKeyType | None:
        actor = _allowed(info, Operation.WRITE)
        return _service(services.disable_key, actor=actor, key=_visible_key(actor, id))

    @strawberry.mutation(description="Resume a disabled key with the secret it had.")
    def enable_api_key(self, info: Info, id: strawberry.ID) -> ApiKeyType | None:
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
    ) -> Verification | None:
        actor = _allowed(info, Operation.VERIFY)
        result = _service(verify_presented, actor, key, required_scopes or [], client_ip)
        return Verification(valid=result.valid, code=result.code, api_key=result.key)
