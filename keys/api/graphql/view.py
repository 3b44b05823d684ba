"""``/api/graphql``: GraphQL over HTTP on strawberry's Django view, and the GraphiQL explorer.

- ``POST`` runs any operation; ``GET`` with ``query`` in the URL runs a *query* for a client that
  asks for JSON (a mutation by ``GET`` is 405); a browser asking for HTML gets the explorer.
- The answer is ``application/graphql-response+json`` for a client that prefers it, else
  ``application/json``; either way a request that never executed (unparsable, invalid, too complex,
  not a GraphQL request at all) is a 4xx without ``data``, and one that executed is 200, errors or
  not (partial data).

Strawberry's ``GraphQLView`` carries the transport: the method check, the choice of the explorer,
reading the operation from the body or the URL, batch refusal. What the contract adds on top is in
the hooks below: who is asking (:meth:`GraphQLEndpoint.get_context`), the body's limits, error codes
and status codes, and the execution itself (:func:`execute_prepared`, for speed: see there).

Who is asking: a request with an API key was authenticated, rate-limited and counted by
``keys.api.middleware`` like any REST call (its failures there already have GraphQL's shape);
without a key, the portal session of a signed-in member, with its CSRF token. The API's middleware
has no session (``portal.surfaces``): :func:`with_member_session` loads one on this route alone, for
the requests without a key and for the explorer.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from functools import lru_cache, wraps
from inspect import isawaitable
from typing import Any, cast

import strawberry
from cross_web import HTTPException, SyncHTTPRequestAdapter
from csp.decorators import csp_update
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import DataError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from graphql import (
    DocumentNode,
    ExecutionResult,
    Executor,
    GraphQLError,
    GraphQLSyntaxError,
    OperationType,
    execute,
    get_operation_ast,
    specified_rules,
    validate,
)
from strawberry.django.views import GraphQLView, TemporalHttpResponse
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionContext

from accounts.actors import Actor, client_ip, user_agent
from keys.api.graphql.limits import MAX_BODY_BYTES, parse_limited, refusals
from keys.api.graphql.schema import CONFIG, Context, Mutation, Query
from keys.api.html import with_content_security_policy
from keys.api.middleware import KeyRequest
from keys.api.responses import GRAPHQL_RESPONSE_JSON, JSON, graphql_error_response, graphql_media_type
from keys.errors import ErrorCode
from keys.redaction import scrub

log = logging.getLogger(__name__)


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Not logged here: an error a client caused is part of the contract, and the view logs
        the unexpected ones itself (once, with their traceback)."""


schema = Schema(query=Query, mutation=Mutation, config=CONFIG)


class PlainExecutor(Executor):
    """graphql-core's plain executor (no incremental delivery: the schema has no ``@defer`` or
    ``@stream``, and ``execute`` refuses an incremental answer anyway) with strawberry's resolver
    info, instead of strawberry's default, which is built on graphql-core's ``IncrementalExecutor``
    and sets up its delivery groups on every request. ``executor_class`` is graphql-core's own
    parameter for this. Measured in-process for ``{ currentKey { id name } }`` on 2026-12-04:
    35 µs of CPU per execution instead of 42 alone; through the whole middleware stack, two runs of
    20 interleaved pairs against strawberry's executor: 264 µs of CPU per request instead of 290
    (median ratio 0.91, faster in 18 of 20), then 254 µs instead of 259 (0.95, 16 of 20), on a
    loaded machine (load average 6–10 on 2 cores; REST's own request, unchanged, 1.01)."""

    operation_extensions = None  # what strawberry's resolver info carries; execute passes none
    build_resolve_info = StrawberryGraphQLCoreExecutionContext.build_resolve_info


# Every rule a query must pass once it is within our limits (limits.refusals): GraphQL's own and
# strawberry's.
VALIDATION_RULES = (*specified_rules, MaybeNullValidationRule, OneOfInputValidationRule)


@lru_cache(maxsize=512)
def _prepared(query: str) -> tuple[DocumentNode, tuple[GraphQLError, ...]]:
    """A query parsed and validated once, for every later request that sends the same text (an
    integration sends the same few queries all day). Raises GraphQLError (unparsable, or over the
    token limit), which is not kept. The limits run alone first: the full rules are only for a
    document they let through, whose size they bound."""
    document = parse_limited(query)
    refused = refusals(schema._schema, document)
    return document, tuple(refused or validate(schema._schema, document, VALIDATION_RULES))


def execute_prepared(
    query: str,
    variables: dict | None,
    operation_name: str | None,
    context: Context,
    *,
    mutations: bool = True,
) -> ExecutionResult:
    """The query run by graphql-core on strawberry's schema, its resolvers and its executor, as
    ``Schema.execute_sync`` does, less the extension machinery around it: parsing and validating
    happen once per query text (``_prepared``, what strawberry's ``ParserCache`` and
    ``ValidationCache`` do), not through hooks built for every request. Measured in-process for
    ``{ currentKey { id name } }`` on 2026-12-04: 53–78 µs here, 119–189 µs by ``execute_sync``
    with those two extensions, on a request of about 700 µs of worker CPU in all.

    ``mutations=False`` (a GET) refuses a mutation with 405 before anything runs."""
    try:
        document, errors = _prepared(query)
    except GraphQLError as error:
        return ExecutionResult(data=None, errors=[error])
    if errors:
        return ExecutionResult(data=None, errors=list(errors))
    if not mutations:
        operation = get_operation_ast(document, operation_name)
        if operation is not None and operation.operation is not OperationType.QUERY:
            raise Refusal(
                ErrorCode.METHOD_NOT_ALLOWED,
                "A mutation needs POST; GET runs queries only.",
                headers={"Allow": "POST"},
            )
    result = execute(
        schema._schema,
        document,
        context_value=context,
        variable_values=variables,
        operation_name=operation_name,
        executor_class=PlainExecutor,
        is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]  # graphql-core's own test, untyped
    )
    if isawaitable(result):  # no resolver of ours is async
        raise RuntimeError("GraphQL execution did not complete synchronously.")
    return result


class Refusal(HTTPException):
    """A request refused before (or instead of) an answer from the schema, with its error code."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status or code.status or 400, message)
        self.code = code
        self.headers = headers


TOO_COMPLEX = ErrorCode.QUERY_TOO_COMPLEX.graphql
# Errors of a request that never started executing: 400, and no "data" at all.
REQUEST_ERRORS = {
    code.graphql
    for code in (
        ErrorCode.GRAPHQL_PARSE_FAILED,
        ErrorCode.GRAPHQL_VALIDATION_FAILED,
        ErrorCode.QUERY_TOO_COMPLEX,
    )
}
BODY_HELP = (
    'POST a JSON object {"query": "...", "variables": {...}, "operationName": "..."} as '
    "application/json, or GET with query (and variables as JSON) in the URL."
)
HTML = "text/html"
# Nothing in the view changes this: strawberry's hooks take a sub-response, ours set nothing on it.
NO_SUB_RESPONSE = TemporalHttpResponse()


def wants_explorer(request: HttpRequest) -> bool:
    """A GET from a browser: HTML preferred to JSON, or accepted when the URL has no query."""
    if request.method != "GET":
        return False
    if "query" not in request.GET:
        return request.accepts(HTML)
    return request.get_preferred_type([JSON, GRAPHQL_RESPONSE_JSON, HTML]) == HTML


def _no_response(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    """The view and the next handler CsrfViewMiddleware wants: only its verdict is used."""
    raise NotImplementedError


def _csrf_refused(request: HttpRequest) -> bool:
    return CsrfViewMiddleware(_no_response).process_view(request, _no_response, (), {}) is not None


class GraphQLEndpoint(GraphQLView):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.media_type = graphql_media_type(request)
        try:
            return self.run(request=request)
        except Refusal as refusal:
            return self._error(refusal.code, refusal.reason, refusal.headers, refusal.status_code)
        except HTTPException as error:  # strawberry's own refusals of the HTTP request
            if error.status_code == 405:
                return self._error(
                    ErrorCode.METHOD_NOT_ALLOWED,
                    "Use POST (or GET for queries, and in a browser for the explorer).",
                    {"Allow": "GET, POST"},
                )
            if "Batching" in error.reason:
                return self._error(ErrorCode.BATCHING_NOT_SUPPORTED, "Send one operation per request.")
            return self._error(ErrorCode.BAD_REQUEST, f"{error.reason}. {BODY_HELP}")

    def _error(
        self, code: ErrorCode, message: str, headers: dict[str, str] | None = None, status: int | None = None
    ) -> HttpResponse:
        return graphql_error_response(code, message, headers, status=status, media_type=self.media_type)

    # ---- the explorer ----

    def should_render_graphql_ide(self, request: Any) -> bool:
        return wants_explorer(request.request)

    def render_graphql_ide(self, request: HttpRequest) -> HttpResponse:
        return cast(HttpResponse, explorer(request))

    # ---- who is asking ----

    def get_sub_response(self, request: HttpRequest) -> TemporalHttpResponse:
        return NO_SUB_RESPONSE

    # Strawberry types the context as its own (StrawberryDjangoContext): ours is keys' Context.
    def get_context(self, request: HttpRequest, response: Any) -> Context:  # type: ignore[override]
        key_request = cast(KeyRequest, request)
        actor = key_request.actor
        if getattr(request, "api_key", None) is None:
            if actor.user is None:
                raise Refusal(
                    ErrorCode.UNAUTHORIZED,
                    "Send an API key (Authorization: Bearer <secret>) or sign in to the portal.",
                )
            # A GET only ever reads (a mutation by GET is refused), so only a POST needs the token.
            if request.method == "POST" and _csrf_refused(request):
                raise Refusal(ErrorCode.CSRF_FAILED, "A session request needs the X-CSRFToken header.")
        return Context(key_request, actor)

    # ---- the operation asked for ----

    def parse_http_body(
        self, request: SyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        django_request = cast(HttpRequest, request.request)  # type: ignore[attr-defined]  # the Django adapter
        if django_request.method == "POST":
            size = int(django_request.META.get("CONTENT_LENGTH") or 0)
            if size > MAX_BODY_BYTES or len(django_request.body) > MAX_BODY_BYTES:
                raise Refusal(ErrorCode.QUERY_TOO_COMPLEX, f"The body is over {MAX_BODY_BYTES // 1024} KiB.")
            if django_request.content_type == JSON:
                return _one_operation(self.parse_json(django_request.body))
        try:
            return super().parse_http_body(request)
        except UnicodeDecodeError:
            raise Refusal(ErrorCode.BAD_REQUEST, f"The body is not UTF-8 JSON. {BODY_HELP}") from None

    def parse_json(self, data: str | bytes) -> Any:
        try:
            parsed = json.loads(data)
        except ValueError:
            raise Refusal(ErrorCode.BAD_REQUEST, f"Not valid JSON. {BODY_HELP}") from None
        if not isinstance(parsed, dict | list):
            raise Refusal(ErrorCode.BAD_REQUEST, BODY_HELP)
        return parsed

    def execute_single(  # type: ignore[override]  # the same call, by keyword
        self, *, request: HttpRequest, request_data: GraphQLRequestData, context: Context, **_: Any
    ) -> ExecutionResult:
        query, variables, name = _operation(request_data)
        # For the key's request log (keys.metering.requestlog): which operation this request ran.
        cast(KeyRequest, request).graphql_operation = operation_of(query, name)
        result = execute_prepared(query, variables, name, context, mutations=request.method == "POST")
        _refuse_if_database_away(result)
        return result

    # ---- the answer ----

    def process_result(self, request: HttpRequest, result: Any) -> GraphQLHTTPResponse:
        errors: list[Any] = [_formatted(error) for error in result.errors or ()]
        codes = {e["extensions"]["code"] for e in errors}
        if TOO_COMPLEX in codes:
            errors = [e for e in errors if e["extensions"]["code"] == TOO_COMPLEX]  # why it was refused
        # A request error (unparsable, invalid, too complex) never started executing: no "data".
        payload = cast(GraphQLHTTPResponse, {} if codes & REQUEST_ERRORS else {"data": result.data})
        if errors:
            payload["errors"] = errors
        return payload

    def create_response(self, response_data: Any, sub_response: Any) -> HttpResponse:
        response = AnswerResponse(
            json.dumps(response_data),
            status=200 if "data" in response_data else 400,
            content_type=self.media_type,
        )
        if response_data.get("errors"):  # the request log's code: the first error's, by its REST name
            first = response_data["errors"][0].get("extensions", {}).get("code")
            response.error_code = REST_NAMES.get(first, ErrorCode.ERROR.value)
        response["Cache-Control"] = "no-store"
        return response


class AnswerResponse(HttpResponse):
    """A GraphQL answer, with the code of its first error at hand for the request log."""

    error_code: str = ""


# Each code's REST name by its GraphQL one (access_denied is forbidden).
REST_NAMES = {code.graphql: code.value for code in ErrorCode}


@lru_cache(maxsize=512)
def operation_of(query: str, operation_name: str | None) -> tuple[str, str]:
    """The operation a request runs, for its request log: its name (the one asked for, else the
    document's own) and whether it is a query or a mutation; empty when the query does not parse."""
    try:
        document, _ = _prepared(query)
    except GraphQLError:
        return (operation_name or "")[:100], ""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return (operation_name or "")[:100], ""
    name = operation_name or (operation.name.value if operation.name else "")
    return name[:100], operation.operation.value


def _one_operation(data: dict | list) -> GraphQLRequestData:
    """A JSON body's operation, read as strawberry's ``parse_http_body`` reads it, less what costs
    it most on every request and does not apply to a sync view (its ``Content-Type`` parsing, which
    Django has done, and its search of the headers for a streaming protocol): about a third of
    the view's own time per request, measured with cProfile on 2026-12-04. GETs and other content
    types still go through strawberry's."""
    if isinstance(data, list):
        raise Refusal(ErrorCode.BATCHING_NOT_SUPPORTED, "Send one operation per request.")
    variables = data.get("variables")
    if not isinstance(variables, dict | None):
        raise Refusal(ErrorCode.BAD_REQUEST, f"variables must be a JSON object. {BODY_HELP}")
    return GraphQLRequestData(
        query=data.get("query"),
        variables=variables,
        operation_name=data.get("operationName"),
        extensions=None,
    )


def _operation(request_data: GraphQLRequestData) -> tuple[str, dict | None, str | None]:
    """The query, its variables and operation name, or a 400 for what no GraphQL request holds."""
    query, variables, name = request_data.query, request_data.variables, request_data.operation_name
    if not isinstance(query, str) or not query.strip() or not isinstance(name, str | None):
        raise Refusal(ErrorCode.BAD_REQUEST, f"No query. {BODY_HELP}")
    if _holds_nul(query) or _holds_nul(variables) or _holds_nul(name):
        # No text column can hold one (PostgreSQL refuses it), and no name, slug or scope has one.
        raise Refusal(ErrorCode.BAD_REQUEST, "NUL characters are not allowed in a request.")
    return query, variables, name


def _refuse_if_database_away(result: ExecutionResult) -> None:
    """The database is away, or cancelled a statement that ran too long: the same retryable 503 as
    REST, not an internal error."""
    originals = (error.original_error for error in result.errors or ())
    unavailable = next((e for e in originals if isinstance(e, OperationalError)), None)
    if unavailable is not None:
        log.warning("Database unavailable while serving GraphQL: %s", unavailable)
        raise Refusal(
            ErrorCode.SERVICE_UNAVAILABLE,
            "The service is briefly unavailable (its database does not answer). Retry in a few seconds.",
            headers={"Retry-After": "5"},
        )


# A NUL character, raw or escaped in a GraphQL string ("\u0000", "\u{0}").
NUL = re.compile(r"\x00|\\u0000|\\u\{0+\}", re.IGNORECASE)


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return NUL.search(value) is not None
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def _code_of(error: GraphQLError) -> str | None:
    """The error's code for clients; None for our own bug (logged here, with its traceback)."""
    code = (error.extensions or {}).get("code")
    original = error.original_error
    if isinstance(error, GraphQLSyntaxError):
        return ErrorCode.GRAPHQL_PARSE_FAILED.graphql
    if isinstance(original, DataError):
        # A value the database cannot store: the input is wrong, not the server.
        return ErrorCode.VALIDATION_ERROR.graphql
    if original is not None and not isinstance(original, GraphQLError):
        log.error("GraphQL resolver failed", exc_info=(type(original), original, original.__traceback__))
        return None
    if code is None and error.path is not None:  # raised by graphql-core while executing: our bug
        log.error("GraphQL execution failed at %s: %s", error.path, error.message)
        return None
    # Without a code before execution: the query does not fit the schema, or its variables do not
    # fit the query.
    return code or ErrorCode.GRAPHQL_VALIDATION_FAILED.graphql


def _formatted(error: GraphQLError) -> dict[str, Any]:
    """The error as clients see it: a code, never a stack trace, never a secret."""
    code = _code_of(error)
    if code is None:
        return _internal(error)
    formatted: dict[str, Any] = {"message": scrub(error.message), "extensions": {"code": code}}
    if error.locations:
        formatted["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        formatted["path"] = error.path
    return formatted


def _internal(error: GraphQLError) -> dict[str, Any]:
    return {
        "message": "Something went wrong on our side.",
        "path": error.path,
        "extensions": {"code": ErrorCode.INTERNAL_ERROR.graphql},
    }


def with_member_session(
    view: Callable[[HttpRequest], HttpResponseBase],
) -> Callable[[HttpRequest], HttpResponseBase]:
    """GraphQL's session mode, on its own route: for a request without an API key (and for the
    explorer page), the portal's session, its signed-in member as ``request.user`` and
    ``request.actor``, by Django's own session and authentication middleware; the view checks the
    CSRF token itself. A request with a key skips all of it, so no API answer to a key sets a
    cookie or reads a session."""

    def with_member(request: HttpRequest) -> HttpResponseBase:
        request.actor = SimpleLazyObject(  # type: ignore[attr-defined]  # the attribute this adds
            lambda: Actor.for_user(request.user, ip=client_ip(request), user_agent=user_agent(request))
        )
        return view(request)

    # Django's middleware run synchronously here: their answers are responses, never awaitables.
    with_session = cast(
        Callable[[HttpRequest], HttpResponseBase], SessionMiddleware(AuthenticationMiddleware(with_member))
    )

    @wraps(view)
    def dispatch(request: HttpRequest) -> HttpResponseBase:
        if getattr(request, "api_key", None) is not None and not wants_explorer(request):
            return view(request)  # the key middleware set its actor
        return with_session(request)

    return dispatch


# A key request carries no cookie to forge; a session request's POST is checked in get_context.
graphql_endpoint = csrf_exempt(with_member_session(GraphQLEndpoint.as_view(schema=schema)))


@never_cache
@with_content_security_policy
@ensure_csrf_cookie
@csp_update({"font-src": ["data:"]})
def explorer(request: HttpRequest) -> HttpResponse:
    """GraphiQL, served from our own static files, for a signed-in member's session (or any key put
    into its Headers tab)."""
    return render(request, "keys/graphiql.html", {"signed_in": request.user.is_authenticated})
