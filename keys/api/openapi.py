"""What the OpenAPI document says that django-ninja cannot declare on an operation: the headers of
each answer (rate limit, retry, challenge), the error codes behind each status (and, as the
``ErrorCode`` enum, in every error body), a body schema by its name, ids as UUIDs, and no schema
that nothing refers to. Client generators (openapi-python-client, openapi-generator) read exactly
these."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel

from keys.errors import ErrorCode

HEADERS = {
    "RateLimit-Limit": ("Requests the key may make in any 60 seconds.", {"type": "integer", "minimum": 1}),
    "RateLimit-Remaining": ("Requests it may still make now.", {"type": "integer", "minimum": 0}),
    "RateLimit-Reset": (
        "Seconds until the oldest counted request leaves the 60-second window.",
        {"type": "integer", "minimum": 0},
    ),
    "Retry-After": ("Seconds to wait before trying again.", {"type": "integer", "minimum": 1}),
    "WWW-Authenticate": ('`Bearer realm="api"`: send a key.', {"type": "string"}),
}
RATE_LIMIT = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
#: The codes REST answers with, as the document's ``ErrorCode`` enum (``ErrorDetail.code``), so that
#: generated clients can switch on it; each with its status and what it means.
# Members computed at import: mypy cannot list them (it wants literals).
RestErrorCode = StrEnum("ErrorCode", [(code.name, code.value) for code in ErrorCode if code.rest])  # type: ignore[misc]
RestErrorCode.__doc__ = (
    "What went wrong, for a program to switch on (the message is for people):\n"
    + "".join(
        f"\n- `{code}` ({code.status or 'any other status'}): {code.description}"
        for code in ErrorCode
        if code.rest
    )
)
#: Every code a request log row can hold: REST's codes and those only GraphQL answers (a request
#: log row names a GraphQL error by its REST name where it has one, e.g. ``forbidden``).
LoggedErrorCode = StrEnum("RequestErrorCode", [(code.name, code.value) for code in ErrorCode])  # type: ignore[misc]
LoggedErrorCode.__doc__ = "The error code a request was answered with (REST's name for it)."
#: Each error status of an operation, described by the codes answered with it.
ERROR_DESCRIPTIONS = {
    str(status): "; ".join(
        f"`{code}`: {code.description}" for code in ErrorCode if code.rest and code.status == status
    )
    for status in dict.fromkeys(code.status for code in ErrorCode if code.rest and code.status)
}
REF = re.compile(r'"#/components/schemas/([^"]+)"')


SchemaDict = TypeVar("SchemaDict", bound=dict[str, Any])


def document_responses(schema: SchemaDict, named: dict[str, type[BaseModel]]) -> SchemaDict:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name, model in named.items():
        schemas[name] = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components["headers"] = {
        name: {"description": description, "schema": header_schema}
        for name, (description, header_schema) in HEADERS.items()
    }
    for path_item in schema["paths"].values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", ()):
                if parameter["in"] == "path" and parameter["name"] == "key_id":
                    parameter["schema"]["format"] = "uuid"
            for code, response in operation["responses"].items():
                status = str(code)  # django-ninja keys them by number; JSON writes them as text
                if status in ERROR_DESCRIPTIONS:
                    response["description"] = ERROR_DESCRIPTIONS[status]
                names = ["WWW-Authenticate"] if status == "401" else list(RATE_LIMIT)
                if status in ("429", "503"):
                    names.append("Retry-After")
                response["headers"] = {name: {"$ref": f"#/components/headers/{name}"} for name in names}
    _drop_unreferenced(schema)
    return schema


def _drop_unreferenced(schema: dict[str, Any]) -> None:
    """Component schemas that no operation reaches, directly or through another schema (django-ninja
    publishes the models of query parameters, which it spreads into single parameters)."""
    schemas = schema["components"]["schemas"]
    reached: set[str] = set()
    todo = set(REF.findall(json.dumps(schema["paths"])))
    while todo:
        name = todo.pop()
        if name in reached or name not in schemas:
            continue
        reached.add(name)
        todo |= set(REF.findall(json.dumps(schemas[name])))
    for name in set(schemas) - reached:
        del schemas[name]
