"""``/api/graphql``: ``POST`` runs a query, ``GET`` in a browser opens the GraphiQL explorer.

Who is asking: a request with an API key was authenticated, rate-limited and counted by
``keys.api.middleware`` like any REST call (its failures there already have GraphQL's shape);
without a key, the portal session of a signed-in member, with its CSRF token. The API's middleware
has no session (``portal.surfaces``): :func:`with_member_session` loads one on this route alone, for
the requests without a key and for the explorer. Errors follow the
GraphQL spec (``errors[].extensions.code``); requests that never reach a resolver (too large,
batched, unparsable, invalid, too complex) answer 400, so monitoring sees them.
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
    GraphQLError,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    execute,
    specified_rules,
    validate,
)
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionContext

from accounts.actors import Actor, client_ip, user_agent
from keys.api.graphql.limits import MAX_BODY_BYTES, parse_limited, refusals
from keys.api.graphql.schema import Context, Mutation, Query
from keys.api.html import with_content_security_policy
from keys.api.middleware import KeyRequest
from keys.api.responses import ErrorResponse, graphql_error_response, service_unavailable
from keys.errors import ErrorCode
from keys.redaction import scrub

log = logging.getLogger(__name__)


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Not logged here: an error a client caused is part of the contract, and the view logs
        the unexpected ones itself (once, with their traceback)."""


schema = Schema(query=Query, mutation=Mutation)

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
    query: str, variables: dict | None, operation_name: str | None, context: Context
) -> ExecutionResult:
    """The query run by graphql-core on strawberry's schema, its resolvers and its executor, as
    ``Schema.execute_sync`` does, less the extension machinery around it (hooks for parsing,
    validating and executing, built for every request), which was most of a small query's cost:
    parsing and validating happen once per query text instead (``_prepared``)."""
    try:
        document, errors = _prepared(query)
    except GraphQLError as error:
        return ExecutionResult(data=None, errors=[error])
    if errors:
        return ExecutionResult(data=None, errors=list(errors))
    result = execute(
        schema._schema,
        document,
        context_value=context,
        variable_values=variables,
        operation_name=operation_name,
        executor_class=schema.execution_context_class,
        is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]  # graphql-core's own test, untyped
    )
    if isawaitable(result):  # no resolver of ours is async
        raise RuntimeError("GraphQL execution did not complete synchronously.")
    return result


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
BODY_HELP = 'Send a JSON object: {"query": "...", "variables": {...}, "operationName": "..."}.'


def _no_response(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    """The view and the next handler CsrfViewMiddleware wants: only its verdict is used."""
    raise NotImplementedError


def with_member_session(
    view: Callable[[KeyRequest], HttpResponseBase],
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
        return view(cast(KeyRequest, request))

    # Django's middleware run synchronously here: their answers are responses, never awaitables.
    with_session = cast(
        Callable[[HttpRequest], HttpResponseBase], SessionMiddleware(AuthenticationMiddleware(with_member))
    )

    @wraps(view)
    def dispatch(request: HttpRequest) -> HttpResponseBase:
        if request.method == "POST" and getattr(request, "api_key", None) is not None:
            return view(cast(KeyRequest, request))  # the key middleware set its actor
        return with_session(request)

    return dispatch


@csrf_exempt  # a key request carries no cookie to forge; a session request is checked below
@with_member_session
def graphql_endpoint(request: KeyRequest) -> HttpResponseBase:
    if request.method == "GET":
        return explorer(request)
    if request.method != "POST":
        response = graphql_error_response(
            ErrorCode.METHOD_NOT_ALLOWED, "Use POST (or GET in a browser for the explorer)."
        )
        response["Allow"] = "GET, POST"
        return response
    actor = request.actor
    if getattr(request, "api_key", None) is None:
        if actor.user is None:
            return graphql_error_response(
                ErrorCode.UNAUTHORIZED,
                "Send an API key (Authorization: Bearer <secret>) or sign in to the portal.",
            )
        refused = CsrfViewMiddleware(_no_response).process_view(request, _no_response, (), {})
        if refused is not None:
            return graphql_error_response(
                ErrorCode.CSRF_FAILED, "A session request needs the X-CSRFToken header."
            )
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES or len(request.body) > MAX_BODY_BYTES:
        return graphql_error_response(
            ErrorCode.QUERY_TOO_COMPLEX, f"The body is over {MAX_BODY_BYTES // 1024} KiB."
        )
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return graphql_error_response(ErrorCode.BAD_REQUEST, f"The body is not JSON. {BODY_HELP}")
    if isinstance(body, list):
        return graphql_error_response(ErrorCode.BATCHING_NOT_SUPPORTED, "Send one operation per request.")
    query = body.get("query") if isinstance(body, dict) else None
    variables = body.get("variables") if isinstance(body, dict) else None
    operation_name = body.get("operationName") if isinstance(body, dict) else None
    if (
        not isinstance(query, str)
        or not query.strip()
        or not isinstance(variables, dict | None)
        or not isinstance(operation_name, str | None)
    ):
        return graphql_error_response(ErrorCode.BAD_REQUEST, BODY_HELP)
    if _holds_nul(query) or _holds_nul(variables) or _holds_nul(operation_name):
        # No text column can hold one (PostgreSQL refuses it), and no name, slug or scope has one.
        return graphql_error_response(ErrorCode.BAD_REQUEST, "NUL characters are not allowed in a request.")
    request.graphql_operation = operation_of(query, operation_name)  # for the key's request log
    result = execute_prepared(query, variables, operation_name, Context(request, actor))
    originals = [error.original_error for error in result.errors or ()]
    unavailable = next((e for e in originals if isinstance(e, OperationalError)), None)
    if unavailable is not None:
        # The database is away, or cancelled a statement that ran too long: the same retryable 503
        # as REST, not an internal error.
        log.warning("Database unavailable while serving GraphQL: %s", unavailable)
        return service_unavailable(request)
    errors = [_formatted(error) for error in result.errors or ()]
    if any(e["extensions"]["code"] == TOO_COMPLEX for e in errors):
        errors = [e for e in errors if e["extensions"]["code"] == TOO_COMPLEX]  # the reason it was refused
    # A request error (unparsable, invalid, too complex) never started executing: no "data" at all.
    status = 400 if any(e["extensions"]["code"] in REQUEST_ERRORS for e in errors) else 200
    payload: dict = {} if status == 400 else {"data": result.data}
    if errors:
        payload["errors"] = errors
    response = ErrorResponse(payload, status=status)
    if errors:  # the request log's code: the first error's, by its REST name
        response.error_code = REST_NAMES.get(errors[0]["extensions"]["code"], ErrorCode.ERROR.value)
    response["Cache-Control"] = "no-store"
    return response


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
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            name = definition.name.value if definition.name else ""
            if operation_name is None or name == operation_name:
                return (operation_name or name)[:100], definition.operation.value
    return (operation_name or "")[:100], ""


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


def _formatted(error: GraphQLError) -> dict[str, Any]:
    """The error as clients see it: a code, never a stack trace, never a secret."""
    code = (error.extensions or {}).get("code")
    original = error.original_error
    if isinstance(error, GraphQLSyntaxError):
        code = ErrorCode.GRAPHQL_PARSE_FAILED.graphql
    elif isinstance(original, DataError):
        # A value the database cannot store: the input is wrong, not the server.
        code = ErrorCode.VALIDATION_ERROR.graphql
    elif original is not None and not isinstance(original, GraphQLError):
        log.error("GraphQL resolver failed", exc_info=(type(original), original, original.__traceback__))
        return {
            "message": "Something went wrong on our side.",
            "path": error.path,
            "extensions": {"code": ErrorCode.INTERNAL_ERROR.graphql},
        }
    elif code is None:
        if error.path is not None:  # raised by graphql-core while executing: our bug, not the client's
            log.error("GraphQL execution failed at %s: %s", error.path, error.message)
            return {
                "message": "Something went wrong on our side.",
                "path": error.path,
                "extensions": {"code": ErrorCode.INTERNAL_ERROR.graphql},
            }
        # Before execution: the query does not fit the schema, or its variables do not fit the query.
        code = ErrorCode.GRAPHQL_VALIDATION_FAILED.graphql
    formatted: dict[str, Any] = {"message": scrub(error.message), "extensions": {"code": code}}
    if error.locations:
        formatted["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        formatted["path"] = error.path
    return formatted


@never_cache
@with_content_security_policy
@ensure_csrf_cookie
@csp_update({"font-src": ["data:"]})
def explorer(request: HttpRequest) -> HttpResponse:
    """GraphiQL, served from our own static files, for a signed-in member's session (or any key put
    into its Headers tab)."""
    return render(request, "keys/graphiql.html", {"signed_in": request.user.is_authenticated})
