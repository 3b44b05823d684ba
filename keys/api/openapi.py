"""What the OpenAPI document says that django-ninja cannot declare on an operation: the headers of
each answer (rate limit, retry, challenge), the error codes behind each status, a body schema by its
name, ids as UUIDs, and no schema that nothing refers to. Client generators (openapi-python-client,
openapi-generator) read exactly these."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel

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
ERROR_DESCRIPTIONS = {
    "400": "`validation_error` (a field or parameter, or the JSON), `invalid_scope` or `name_taken`",
    "401": "`unauthorized`: no key, or not a valid one (the message does not say why)",
    "403": "`forbidden` (the key lacks the scope or asks above its role), `exceeds_parent_key` (a key "
    "asks for a key wider than itself), `key_limit_reached` or `ip_not_allowed` (outside the key's "
    "allowed networks)",
    "404": "`not_found`: unknown or malformed id, or a key outside the caller's reach",
    "409": "`key_not_active`: the key's status does not allow this",
    "413": "`payload_too_large`: the body is over 1 MiB",
    "429": "`rate_limited`: over the key's per-minute limit; retry after `Retry-After` seconds",
    "503": "`service_unavailable`: the database does not answer; retry after `Retry-After` seconds",
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
