"""Pydantic's validation errors, said the way a person reads them: ``client_ip: must be an IPv4 or
IPv6 address`` rather than ``client_ip.lax-or-strict[lax=function-plain[…]]: Input is not a valid
IPv4 address; …``.

Each error names its field by its path in the request (``scopes[2]``): pydantic's location also
holds where the value came from (body, query) and, for a field that accepts several types, one
entry per type it tried; both are dropped, and the errors of one field are said once. The message
comes from the error's ``type`` and ``ctx`` (pydantic's stable, documented error codes), never from
its internal schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

#: Where a value came from, which pydantic puts first in the location.
SOURCES = frozenset({"body", "query", "path", "payload", "header", "cookie", "form"})
#: Pydantic's entry for one member of a union (``lax-or-strict[…]``, ``function-after[…]``) or a type
#: (``IPv4Address``, ``list[str]``): a request field is always a lower-case identifier.
_FIELD = re.compile(r"^[a-z_][a-z0-9_]*$")
_TYPE_NAMES = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})
#: What a field's pattern means, for the fields that have one.
PATTERN_HINTS = {
    "scopes": "must be a scope such as charge-points:read",
    "required_scopes": "must be a scope such as charge-points:read",
    "cursor": "must be a cursor an earlier answer handed out",
    "search": "may not contain a NUL character",
}
MAX_PROBLEMS = 5


def _no_boolean_or_text(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


#: An integer in a JSON body: what JSON Schema's ``integer`` is (``30`` or ``30.0``), never ``true``
#: (which pydantic's lax mode reads as 1) nor ``"30"``. Not ``StrictInt``: that refuses ``30.0``,
#: which the OpenAPI document's ``integer`` promises to accept.
WholeNumber = Annotated[int, BeforeValidator(_no_boolean_or_text)]


def _path(location: Iterable[Any]) -> tuple[str, str]:
    """The field's path as written in a message (``scopes[2]``), and the field's own name."""
    written, field = "", ""
    for part in location:
        if isinstance(part, int):
            written += f"[{part}]"
        elif isinstance(part, str) and part not in SOURCES and _FIELD.match(part) and part not in _TYPE_NAMES:
            written = f"{written}.{part}" if written else part
            field = part
    return written, field


def _quoted(values: Any) -> str:
    return str(values).replace(" or ", ", ")


def _message(error: Mapping[str, Any], field: str) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind in ("ip_v4_address", "ip_v6_address", "ip_any_address", "ip_any_interface", "ip_any_network"):
        return "must be an IPv4 or IPv6 address"
    if kind in ("int_type", "int_parsing", "int_from_float", "int_parsing_size"):
        return (
            "must be a whole number, not true or false"
            if isinstance(error.get("input"), bool)
            else ("must be a whole number")
        )
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind == "string_type":
        return "must be a string"
    if kind in ("list_type", "tuple_type", "set_type"):
        return "must be a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a JSON object"
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        return "must not be empty" if least == 1 else f"must be at least {least} characters long"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long"
    if kind == "too_short":
        least = ctx.get("min_length", 1)
        return "must not be empty" if least == 1 else f"must have at least {least} items"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        return f"must be at least {bound}" if kind == "greater_than_equal" else f"must be more than {bound}"
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        return f"must be at most {bound}" if kind == "less_than_equal" else f"must be less than {bound}"
    if kind == "string_pattern_mismatch":
        return PATTERN_HINTS.get(field, "does not have the expected form")
    if kind in ("enum", "literal_error"):
        return f"must be one of {_quoted(ctx.get('expected', ''))}"
    if kind in ("uuid_type", "uuid_parsing"):
        return "must be a UUID"
    if kind == "extra_forbidden":
        return "is not a field of this request"
    if kind == "missing":
        return "is required"
    if kind == "json_invalid":
        return "is not valid JSON"
    # An error type not listed above: pydantic's own sentence, which names no internals.
    return str(error.get("msg", "is not valid"))


def readable(errors: Iterable[Mapping[str, Any]]) -> str:
    """One sentence for a request's validation errors: ``field: problem; field: problem``."""
    problems: dict[str, str] = {}
    for error in errors:
        written, field = _path(error.get("loc", ()))
        where = written or "request"
        if where not in problems:
            problems[where] = f"{where}: {_message(error, field)}"
        if len(problems) == MAX_PROBLEMS:
            break
    return "; ".join(problems.values()) or "The request is not valid."
