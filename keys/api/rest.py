"""The REST API (``/api/v1``), built with django-ninja: a thin adapter over ``keys.services`` and
``keys.selectors``.

Authentication happens once, in :class:`keys.api.middleware.ApiKeyMiddleware`, which sets
``request.api_key`` and ``request.actor``; the auth classes here only read its result and describe
the two header forms in the OpenAPI document. Every failure leaves as the one JSON error body.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, TypeVar
from uuid import UUID

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, DataError
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from ninja import Field, NinjaAPI, Query, Schema, Status
from ninja.decorators import decorate_view
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.schema import OpenAPISchema
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder, Response
from ninja.security import APIKeyHeader, HttpBearer
from pydantic import ConfigDict
from pydantic import ValidationError as PydanticValidationError

from accounts.actors import client_ip
from accounts.catalogue import portal_base_url
from accounts.models import Application, KeyRole
from keys import request_log, scanning, selectors, services
from keys.api import responses, secret_scanning
from keys.api.access import Operation, require
from keys.api.html import with_content_security_policy
from keys.api.inputs import create_requested_key
from keys.api.middleware import KeyRequest, failed_auth
from keys.api.openapi import LoggedErrorCode, RestErrorCode, document_responses
from keys.api.serializers import key_out, own_key_json, request_out, timestamp, usage_out
from keys.api.validation import WholeNumber, readable
from keys.authentication.presented import VerificationCode, verify_presented
from keys.authentication.verification import VerifiedKey
from keys.errors import ErrorCode, ServiceError
from keys.filters import MAX_SEARCH_LENGTH
from keys.metering.ratelimit import limiter
from keys.names import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH
from keys.networks import MAX_NETWORKS
from keys.policy import MAX_EXPIRY_DAYS
from keys.request_log import StatusClass, Surface
from keys.scopes import INPUT_SYNTAX
from keys.state import KeyStatus

SCOPE_PATTERN = INPUT_SYNTAX.pattern
log = logging.getLogger(__name__)


class BearerKey(HttpBearer):
    """``Authorization: Bearer <secret>`` or ``Bearer <client_id>:<secret>``."""

    def __call__(self, request: HttpRequest) -> VerifiedKey | None:
        return getattr(request, "api_key", None)

    def authenticate(
        self, request: HttpRequest, token: str
    ) -> VerifiedKey | None:  # pragma: no cover - see __call__
        return getattr(request, "api_key", None)


class HeaderKey(APIKeyHeader):
    """``X-API-Key: <secret>`` or ``X-API-Key: <client_id>:<secret>``."""

    param_name = "X-API-Key"

    def __call__(self, request: HttpRequest) -> VerifiedKey | None:
        return getattr(request, "api_key", None)

    def authenticate(self, request: HttpRequest, key: str | None) -> VerifiedKey | None:  # pragma: no cover
        return getattr(request, "api_key", None)


class ApiJSONEncoder(NinjaJSONEncoder):
    """django-ninja's encoder with the API's one form of a time (``serializers.timestamp``)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return timestamp(o)
        return super().default(o)


class ApiJSONRenderer(JSONRenderer):
    encoder_class = ApiJSONEncoder


class PortalAPI(NinjaAPI):
    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        return document_responses(
            schema,
            named={"RegenerateKeyIn": RegenerateKeyIn, "ReportedToken": secret_scanning.ReportedToken},
        )


TAGS = [
    {
        "name": "api-keys",
        "description": "The organization's API keys: list, create, read, regenerate, revoke.",
    },
    {
        "name": "current-key",
        "description": "The key making the call: its own object and its scope catalogue.",
    },
    {"name": "verification", "description": "Checking a key presented to one of your own services."},
    {
        "name": "secret-scanning",
        "description": "Leaked secrets reported by a secret scanning partner (GitHub): signed, no key.",
    },
]

api = PortalAPI(
    title="API Key Portal",
    version="1.0.0",
    description=(
        "Manage an organization's API keys and verify keys presented to your own services. "
        "Authenticate every call with an API key: `Authorization: Bearer <client_secret>` "
        "(or `<client_id>:<client_secret>`), or the same value in `X-API-Key`. "
        'Every error is `{"error": {"code": ..., "message": ...}}`. Every answer to a request made with '
        "a valid key carries the key's rate limit in `RateLimit-Limit`, `RateLimit-Remaining` and "
        "`RateLimit-Reset`; a 429 and a 503 say when to retry in `Retry-After`. Times are UTC, "
        "with milliseconds: `2026-03-01T12:00:00.000Z`."
    ),
    urls_namespace="api_v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=[BearerKey(), HeaderKey()],
    renderer=ApiJSONRenderer(),
    openapi_extra={"tags": TAGS},
    docs_decorator=with_content_security_policy,
)


# ---- errors: one body for everything ----


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: Exception) -> HttpResponse:
    return responses.unauthorized(request)


@api.exception_handler(NinjaValidationError)
def _invalid(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    return responses.error_response(ErrorCode.VALIDATION_ERROR, readable(exc.errors))


@api.exception_handler(ServiceError)
def _refused(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    return responses.error_response(exc.code, exc.message, status=exc.status)


@api.exception_handler(DataError)
def _unstorable(request: HttpRequest, exc: Exception) -> HttpResponse:
    # e.g. a NUL character, which PostgreSQL text cannot hold: the input is wrong, not the server.
    return responses.error_response(
        ErrorCode.VALIDATION_ERROR, "The request contains characters that are not allowed."
    )


@api.exception_handler(DatabaseError)
def _database_down(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The database is away, or cancelled a statement that ran past the statement timeout.
    log.warning("Database error while serving %s: %s", request.path_info, exc)
    return responses.service_unavailable(request)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return responses.error_response(ErrorCode.NOT_FOUND, "Nothing found at this address.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    message = str(exc) if exc.status_code != 400 else f"The request body is not valid JSON: {exc}"
    return responses.error_response(ErrorCode.for_status(exc.status_code), message, status=exc.status_code)


# ---- schemas ----


class ErrorDetail(Schema):
    code: RestErrorCode
    message: str


class ErrorOut(Schema):
    error: ErrorDetail


class ExposureOut(Schema):
    reason: str = Field(description="Why, in words: who saw the secret, or where it was reported leaked")
    source_url: str | None = Field(description="Where the secret was found, when it was reported leaked")
    at: datetime = Field(description="Since when the key is exposed")


class KeyOut(Schema):
    id: UUID
    name: str
    description: str = Field(description="Optional: who runs the integration, where its secret lives")
    client_id: str
    scopes: list[str]
    application: str = Field(description="The application's slug")
    account: str = Field(description="The account's name")
    role: KeyRole
    status: KeyStatus
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    allowed_ips: list[str] = Field(
        description="Networks the key may be used from (addresses or CIDR ranges); empty: anywhere"
    )
    exposed: bool = Field(
        description="A live secret of this key was seen by a member who has since been deactivated, "
        "or was reported leaked: regenerate it (or revoke it)"
    )
    exposure: ExposureOut | None = Field(description="Why the key is exposed; null when it is not")


class IssuedKeyOut(KeyOut):
    key: str = Field(description="The Client Secret. Shown in this response only; store it now.")


class KeyListOut(Schema):
    data: list[KeyOut]
    total: int = Field(description="How many keys the list has with these filters, every page together")
    next: str | None = Field(
        description="Cursor of the page after this one (pass it as `cursor`); null on the last page"
    )
    previous: str | None = Field(
        description="Cursor of the page before this one (pass it as `cursor`); null on the first page"
    )


class RateLimitOut(Schema):
    limit: int
    remaining: int
    reset: int


class OwnKeyOut(KeyOut):
    rate_limit: RateLimitOut


class CreateKeyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    description: str = Field(
        default="", max_length=MAX_DESCRIPTION_LENGTH, description="Optional, shown on the key's page"
    )
    scopes: list[Annotated[str, Field(pattern=SCOPE_PATTERN, max_length=80)]] = Field(
        min_length=1, max_length=100
    )
    expires_in_days: WholeNumber | None = Field(default=None, ge=1, le=MAX_EXPIRY_DAYS)
    application: str | None = Field(default=None, max_length=64, description="Slug; default: the caller's")
    account: str | None = Field(default=None, max_length=200, description="Name; default: the caller's")
    role: KeyRole | None = Field(default=None, description="Default: the caller's role")
    allowed_ips: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=MAX_NETWORKS,
        description="IPv4/IPv6 addresses or CIDR ranges the key may be used from; empty: anywhere",
    )


class RegenerateKeyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    grace_period_seconds: WholeNumber = Field(
        default=0, ge=0, le=int(services.MAX_GRACE_PERIOD.total_seconds())
    )


class LookUpIn(Schema):
    model_config = ConfigDict(extra="forbid")

    secret: str = Field(
        max_length=200, description="A Client Secret (sk_live_… or sk_test_…): in the body, never in a URL"
    )


class VerifyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(max_length=200)
    required_scopes: list[Annotated[str, Field(pattern=SCOPE_PATTERN, max_length=80)]] = Field(
        default_factory=list, max_length=100
    )
    client_ip: IPv4Address | IPv6Address | None = Field(
        default=None,
        description="The address the key was presented from. Required for a key limited to allowed "
        "networks (without it such a key is not valid: code ip_not_allowed).",
    )


class VerifyOut(Schema):
    valid: bool
    code: VerificationCode
    key: KeyOut | None = Field(
        description="The presented key, when the caller may see it (its account subtree and role, "
        "as for every read); null otherwise, and for an unknown key"
    )


class ScopeOut(Schema):
    name: str
    resource: str
    action: str
    description: str


class CatalogueOut(Schema):
    application: str
    environment: str
    endpoint: str
    scopes: list[ScopeOut]


class ListQuery(Schema):
    limit: int = Field(default=50, ge=1, le=selectors.MAX_PAGE)
    offset: int = Field(
        default=0,
        ge=0,
        le=selectors.MAX_OFFSET,
        description="Keys to skip, up to 1,000,000. For deep pages follow `next` (a cursor) instead: "
        "it costs the same at any depth and skips or repeats no key when keys are created meanwhile.",
    )
    cursor: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="`next` or `previous` of an earlier answer, with the same filters; not with offset",
    )
    status: KeyStatus | None = None
    exposed: bool | None = Field(default=None, description="true: only exposed keys; false: none of them")
    # No NUL: PostgreSQL text cannot hold one, and no key name contains one.
    search: str | None = Field(default=None, max_length=MAX_SEARCH_LENGTH, pattern=r"^[^\x00]*$")


class UsageQuery(Schema):
    days: int = Field(
        default=selectors.USAGE_DAYS_DEFAULT,
        ge=1,
        le=selectors.USAGE_DAYS_MAX,
        description="How many UTC days, today included",
    )


class RequestsQuery(Schema):
    """Filters of a key's request log; each checked by ``keys.request_log.parse_filters``, which
    names the one that is wrong."""

    status: StatusClass | None = Field(default=None, description="Only answers of this status class")
    code: LoggedErrorCode | None = Field(default=None, description="Only requests answered with this code")
    surface: Surface | None = Field(default=None, description="Only requests to this API")
    since: datetime | None = Field(
        default=None,
        description="From this time on (ISO 8601, e.g. 2026-12-04T13:00:00Z; no offset: UTC)",
    )
    until: datetime | None = Field(default=None, description="Before this time (ISO 8601), after `since`")
    limit: int = Field(default=request_log.PAGE_SIZE, ge=1, le=request_log.MAX_PAGE)
    cursor: str | None = Field(
        default=None,
        max_length=400,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="`next` or `previous` of an earlier answer, with the same filters",
    )


class RequestOut(Schema):
    time: datetime
    method: str
    route: str = Field(
        description="The URL pattern, e.g. api/v1/org/api-keys/<key_id>; empty when none matched"
    )
    path: str = Field(description="The path, and the query string's parameter names without their values")
    status: int
    error_code: LoggedErrorCode | None = Field(description="The error code answered (REST's name), if any")
    reason: str | None = Field(
        description="Why it was refused when the code alone does not say: wrong_secret, disabled, expired, "
        "ip_not_allowed, missing_scope, rate_limited"
    )
    why: str | None = Field(description='The refusal in words, e.g. "missing scope api-keys:write"')
    client_ip: str | None
    duration_ms: float
    request_id: str = Field(description="The X-Request-ID answered, and request_id of the JSON logs")
    surface: Surface
    operation: str | None = Field(description="GraphQL: the operation's name")
    operation_type: str | None = Field(description="GraphQL: query or mutation")


class RequestPageOut(Schema):
    data: list[RequestOut] = Field(description="Newest first")
    next: str | None = Field(description="Cursor of the older page, if any")
    previous: str | None = Field(description="Cursor of the newer page, if any")


class UsageDayOut(Schema):
    # Annotated, not "= Field(...)": a value assigned to "date" would hide the type in this class.
    date: Annotated[date, Field(description="A UTC day")]
    calls: int
    errors: int = Field(description="Refused or failed calls (4xx and 5xx answers); not rate-limited ones")
    rate_limited: int = Field(description="Calls refused with 429 for the key's rate limit")


class UsageTotalsOut(Schema):
    calls: int
    errors: int
    rate_limited: int


class KeyUsageOut(Schema):
    key_id: UUID
    days: int
    data: list[UsageDayOut] = Field(description="Every day of the range, oldest first; zeros without calls")
    totals: UsageTotalsOut = Field(description="The sums of data")


# ---- helpers ----

# Every operation can answer these (400 for its parameters, 401 without a valid key, 403 for its
# scope or the key's networks, 404 for a key outside the caller's reach, 429 over the rate limit,
# 503 while the database does not answer); those with a body 413 too, and those that change a
# key's state 409.
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 429: ErrorOut, 503: ErrorOut}
BODY_ERRORS = {**ERRORS, 413: ErrorOut}
STATE_ERRORS = {**ERRORS, 409: ErrorOut}


class ApiRequest(KeyRequest):
    """A request to an operation, as django-ninja hands it over (type annotation only)."""

    auth: VerifiedKey  # what the auth classes returned


def _key(request: ApiRequest) -> VerifiedKey:
    return request.auth


# ---- endpoints ----


# The calling key first: GET /key is every integration's health check, and Django tries the
# routes in order.


@api.get(
    "/key",
    response={200: OwnKeyOut, **ERRORS},
    tags=["current-key"],
    summary="The calling key",
    operation_id="getCurrentApiKey",
)
def own_key(request: KeyRequest) -> HttpResponse:
    # The hot path of every integration's health check: serialized directly, not validated against
    # OwnKeyOut on every call (a test holds the body to that schema).
    key = request.api_key  # what the auth classes give django-ninja, read straight from the middleware
    if key is None:
        return responses.unauthorized(request)
    decision = getattr(request, "rate_limit", None) or limiter().peek(str(key.id), key.rate_limit)
    return HttpResponse(own_key_json(key, decision), content_type="application/json; charset=utf-8")


# GET /api/v1/key is routed here ahead of django-ninja (portal/urls.py): ninja's dispatch (its auth
# classes, a provisional response, the route list) cost more than this whole view, on the request
# integrations make most. The operation above still documents it; the answers are the same.
own_key_view = require_GET(own_key)


@api.get(
    "/scopes",
    response={200: CatalogueOut, **ERRORS},
    tags=["current-key"],
    summary="The scope catalogue of the calling key's application",
    operation_id="listScopes",
)
def scopes(request: ApiRequest) -> dict[str, Any]:
    key = _key(request)
    application = Application.objects.prefetch_related("scopes").get(pk=key.application_id)
    return {
        "application": application.slug,
        "environment": application.environment,
        "endpoint": application.endpoint_at(portal_base_url(request)),
        "scopes": [
            {"name": str(s), "resource": s.resource, "action": s.action, "description": s.description}
            for s in application.scopes.all()
        ],
    }


@api.get(
    "/org/api-keys",
    response={200: KeyListOut, **ERRORS},
    tags=["api-keys"],
    summary="List keys",
    operation_id="listApiKeys",
)
def list_keys(request: ApiRequest, filters: Query[ListQuery]) -> dict[str, Any]:
    """Newest first. Page with `limit` and either `offset` or the `next` / `previous` cursors of an
    earlier answer."""
    actor = require(request.actor, Operation.READ)
    page = selectors.page_of_keys(
        actor,
        filters.model_dump(include={"status", "search", "exposed"}, exclude_none=True),
        limit=filters.limit,
        offset=filters.offset,
        cursor=filters.cursor,
    )
    return {
        "data": [key_out(k) for k in page.keys],
        "total": page.total,
        "next": page.next,
        "previous": page.previous,
    }


@api.post(
    "/org/api-keys",
    response={201: IssuedKeyOut, **BODY_ERRORS},
    tags=["api-keys"],
    summary="Create a key",
    operation_id="createApiKey",
)
@decorate_view(never_cache)  # the body carries the secret: no cache may keep it
def create_key(request: ApiRequest, payload: CreateKeyIn) -> Status:
    issued = create_requested_key(require(request.actor, Operation.WRITE), **payload.model_dump())
    return Status(201, {**key_out(issued.key), "key": issued.secret})


# Before /org/api-keys/{key_id}, which would otherwise take "lookup" for an id.
@api.post(
    "/org/api-keys/lookup",
    response={200: KeyOut, **BODY_ERRORS},
    tags=["api-keys"],
    summary="Find the key of a secret",
    operation_id="lookUpApiKey",
)
def look_up_key(request: ApiRequest, payload: LookUpIn) -> dict[str, Any]:
    """The key a Client Secret belongs to (its current secret, or the one it keeps for a grace
    period), whatever its status, among the keys the caller may see; 404 otherwise. For a secret
    found where it should not be: regenerate, disable or revoke the key it names. Each look-up is
    audited, never with the secret."""
    actor = require(request.actor, Operation.READ)
    return key_out(services.look_up_key(actor=actor, secret=payload.secret).key)


@api.get(
    "/org/api-keys/{key_id}",
    response={200: KeyOut, **ERRORS},
    tags=["api-keys"],
    summary="Get a key",
    operation_id="getApiKey",
)
def get_key(request: ApiRequest, key_id: str) -> dict[str, Any]:
    actor = require(request.actor, Operation.READ)
    return key_out(selectors.get_visible_key(actor, key_id))


@api.get(
    "/org/api-keys/{key_id}/usage",
    response={200: KeyUsageOut, **ERRORS},
    tags=["api-keys"],
    summary="A key's usage by day",
    operation_id="getApiKeyUsage",
)
def key_usage(request: ApiRequest, key_id: str, query: Query[UsageQuery]) -> dict[str, Any]:
    """Calls, errors and rate-limited calls of the key on each of the last ``days`` UTC days (30
    unless asked), oldest first; a day without calls is listed with zeros. The same counts as the
    key's page in the portal, which also offers them as CSV. Counts are written every few seconds,
    so the last calls may take a moment to appear."""
    actor = require(request.actor, Operation.READ)
    return usage_out(selectors.get_visible_key(actor, key_id), query.days)


@api.get(
    "/org/api-keys/{key_id}/requests",
    response={200: RequestPageOut, **ERRORS},
    tags=["api-keys"],
    summary="A key's requests",
    operation_id="listApiKeyRequests",
)
def key_requests(request: ApiRequest, key_id: str, query: Query[RequestsQuery]) -> dict[str, Any]:
    """Every request made with the key and every refused attempt that named it, newest first, kept
    for `REQUEST_LOG_DAYS` days (7 unless set): method, route, path (never the query string's values),
    status, error code, why a refusal was refused, client address, duration, request id, surface.
    Rows are written every few seconds, so the last calls may take a moment to appear."""
    actor = require(request.actor, Operation.READ)
    key = selectors.get_visible_key(actor, key_id)
    filters = request_log.parse_filters(
        query.model_dump(mode="json", include={"status", "code", "surface", "since", "until"})
    )
    page = request_log.page_of_requests(key, filters, limit=query.limit, cursor=query.cursor)
    return {"data": [request_out(row) for row in page.rows], "next": page.next, "previous": page.previous}


@api.post(
    "/org/api-keys/{key_id}/regenerate",
    response={200: IssuedKeyOut, **STATE_ERRORS, 413: ErrorOut},
    tags=["api-keys"],
    summary="Regenerate a key's secret",
    operation_id="regenerateApiKey",
    # The body is optional, which django-ninja cannot say of a body parameter: it is read by
    # _optional_body and described here, by its name among the components (document_responses).
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RegenerateKeyIn"}}},
        }
    },
)
@decorate_view(never_cache)  # the body carries the secret: no cache may keep it
def regenerate_key(request: ApiRequest, key_id: str) -> dict[str, Any]:
    """The body is optional (``{}`` or none at all means: the old secret stops at once)."""
    actor = require(request.actor, Operation.WRITE)
    key = selectors.get_visible_key(actor, key_id)
    options = _optional_body(request, RegenerateKeyIn)
    grace = timedelta(seconds=options.grace_period_seconds)
    issued = services.regenerate_key(actor=actor, key=key, grace_period=grace)
    return {**key_out(issued.key), "key": issued.secret}


S = TypeVar("S", bound=Schema)


def _optional_body(request: HttpRequest, schema: type[S]) -> S:
    raw = request.body.strip()
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        if request.POST or request.FILES:
            raise ServiceError(
                ErrorCode.VALIDATION_ERROR, "Send the request body as JSON (application/json)."
            )
        raw = b""
    try:
        return schema.model_validate_json(raw) if raw else schema()
    except PydanticValidationError as exc:
        raise NinjaValidationError([dict(error) for error in exc.errors(include_url=False)]) from None


@api.delete(
    "/org/api-keys/{key_id}",
    response={204: None, **ERRORS},
    tags=["api-keys"],
    summary="Revoke a key",
    operation_id="revokeApiKey",
)
def revoke_key(request: ApiRequest, key_id: str) -> Status:
    actor = require(request.actor, Operation.WRITE)
    key = selectors.get_visible_key(actor, key_id)
    services.revoke_key(actor=actor, key=key)
    return Status(204, None)


@api.post(
    "/org/api-keys/{key_id}/disable",
    response={200: KeyOut, **STATE_ERRORS},
    tags=["api-keys"],
    summary="Disable a key",
    operation_id="disableApiKey",
)
def disable_key(request: ApiRequest, key_id: str) -> dict[str, Any]:
    """Pause the key at once (its grace-period secret too); enable brings the same secret back."""
    actor = require(request.actor, Operation.WRITE)
    return key_out(services.disable_key(actor=actor, key=selectors.get_visible_key(actor, key_id)))


@api.post(
    "/org/api-keys/{key_id}/enable",
    response={200: KeyOut, **STATE_ERRORS},
    tags=["api-keys"],
    summary="Enable a key",
    operation_id="enableApiKey",
)
def enable_key(request: ApiRequest, key_id: str) -> dict[str, Any]:
    """Resume a disabled key with the secret it had; a revoked or expired key answers 409."""
    actor = require(request.actor, Operation.WRITE)
    return key_out(services.enable_key(actor=actor, key=selectors.get_visible_key(actor, key_id)))


@api.post(
    "/keys/verify",
    response={200: VerifyOut, **BODY_ERRORS},
    tags=["verification"],
    summary="Verify a key",
    operation_id="verifyApiKey",
)
def verify(request: ApiRequest, payload: VerifyIn) -> dict[str, Any]:
    """For services that receive keys: is this key valid, and does it carry these scopes?

    (No @sensitive_variables here: ninja resolves the annotations through the function itself.
    The exception reporter filter scrubs secret-shaped values from every frame instead.)

    Counts as a use of the verified key: its usage, last used time and rate limit.
    """
    result = verify_presented(
        require(request.actor, Operation.VERIFY),
        payload.key,
        payload.required_scopes,
        None if payload.client_ip is None else str(payload.client_ip),
    )
    return {"valid": result.valid, "code": result.code, "key": key_out(result.key) if result.key else None}


# ---- secret scanning: no key, a partner's signature instead ----

SIGNATURE_REFUSED = (
    "The report's signature is missing or does not verify: sign the raw body with the key named in "
    "Github-Public-Key-Identifier and send it, base64 DER, in Github-Public-Key-Signature."
)


@api.post(
    "/secret-scanning/github",
    auth=None,
    response={
        200: list[secret_scanning.LabelOut],
        400: ErrorOut,
        401: ErrorOut,
        413: ErrorOut,
        429: ErrorOut,
        503: ErrorOut,
    },
    tags=["secret-scanning"],
    summary="Report leaked secrets (GitHub secret scanning partner program)",
    operation_id="reportLeakedSecretsGitHub",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "maxItems": scanning.MAX_TOKENS,
                        "items": {"$ref": "#/components/schemas/ReportedToken"},
                    }
                }
            },
        },
        "parameters": [
            {
                "name": name,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": text,
            }
            for name, text in (
                ("Github-Public-Key-Identifier", "The identifier of the partner's key that signed the body"),
                ("Github-Public-Key-Signature", "Base64 DER ECDSA P-256 / SHA-256 signature of the raw body"),
            )
        ],
    },
)
def secret_scanning_report(request: HttpRequest) -> Any:
    """For GitHub's secret scanning partner program: the body is a JSON array (at most 1 MiB and
    1,000 tokens) of ``{token, type, url, source}``, signed. Each live Client Secret of ours among
    the tokens has its key dealt with at once by its organization's leak policy (revoked, disabled
    or flagged exposed), is flagged with where it was found, and its managers are told. The answer
    labels each token of our format: ``true_positive`` for a live secret, ``false_positive``
    otherwise; other tokens are left out. Reporting the same secret again changes nothing."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > scanning.MAX_BODY_BYTES:
        return _too_large()
    decision = limiter().hit(
        f"secret-scanning:{client_ip(request)}", settings.SECRET_SCANNING_RATE_LIMIT_PER_MINUTE
    )
    if not decision.allowed:
        return responses.error_response(
            ErrorCode.RATE_LIMITED,
            f"At most {decision.limit} reports a minute from one address. Retry after "
            f"{max(1, decision.reset_seconds)} seconds.",
            decision.headers(),
        )
    try:
        body = request.body
    except RequestDataTooBig:
        return _too_large()
    if len(body) > scanning.MAX_BODY_BYTES:
        return _too_large()
    try:
        signed = scanning.signature_valid(
            body,
            request.headers.get("Github-Public-Key-Identifier"),
            request.headers.get("Github-Public-Key-Signature"),
        )
    except scanning.NotConfigured:
        return responses.unauthorized(
            request, "This portal accepts no secret scanning reports: no public keys are set."
        )
    except scanning.PublicKeysUnavailable:
        return responses.error_response(
            ErrorCode.SERVICE_UNAVAILABLE,
            "The partner's public keys cannot be read now, so the report cannot be verified. Retry later.",
            {"Retry-After": "60"},
        )
    if not signed:
        failed_auth.record(request, "secret scanning report not signed by a known key")
        return responses.unauthorized(request, SIGNATURE_REFUSED)
    answer = Response(secret_scanning.answer_report(secret_scanning.parse_report(body)))
    for name, value in decision.headers().items():
        answer[name] = value
    return answer


def _too_large() -> HttpResponse:
    return responses.error_response(
        ErrorCode.PAYLOAD_TOO_LARGE, f"A report is at most {scanning.MAX_BODY_BYTES:,} bytes: split it."
    )


OPENAPI_FILENAME = "api-key-portal-openapi.json"


def openapi_document(request: HttpRequest) -> HttpResponse:
    """The OpenAPI document, with the address it is served from as its server and a file name for
    saving it; ``?download`` makes browsers save it instead of showing it (for Postman, Insomnia)."""
    schema = api.get_openapi_schema()
    schema["servers"] = [{"url": portal_base_url(request), "description": "This portal"}]
    response = Response(schema)
    disposition = "attachment" if "download" in request.GET else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{OPENAPI_FILENAME}"'
    return response
