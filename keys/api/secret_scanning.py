"""The secret scanning partner endpoint's body and answer, in GitHub's format.

A report is a JSON array of ``{"token", "type", "url", "source"}``; the answer an array of
``{"token_hash", "token_type", "label"}`` for the tokens that have the shape and checksum of our
Client Secrets (the others are not ours to judge, and are left out): ``true_positive`` for a live
secret of a key (current or in its grace period), whose key the leak policy has just dealt with,
``false_positive`` for one that is not (unknown, revoked, expired). The signature is checked by the
endpoint (``keys.api.rest``) before anything here runs.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import ConfigDict, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from keys import leaks, scanning
from keys.api.validation import readable
from keys.errors import ErrorCode, ServiceError
from keys.models import MAX_SOURCE_URL_LENGTH

REPORTER = "GitHub secret scanning"


class Label(StrEnum):
    TRUE_POSITIVE = "true_positive"
    FALSE_POSITIVE = "false_positive"


class ReportedToken(Schema):
    model_config = ConfigDict(extra="ignore")  # the partner may add fields

    token: str = Field(max_length=1000, description="The secret found")
    type: str = Field(max_length=200, description=f"The token type registered: {scanning.TOKEN_TYPE}")
    url: str = Field(default="", max_length=MAX_SOURCE_URL_LENGTH, description="Where it was found")
    source: str = Field(default="", max_length=200, description="What it was found in: content, commit…")


class LabelOut(Schema):
    token_hash: str = Field(description="SHA-256 of the token, in hex")
    token_type: str
    label: Label


_REPORT = TypeAdapter(Annotated[list[ReportedToken], Field(max_length=scanning.MAX_TOKENS)])


def parse_report(body: bytes) -> list[ReportedToken]:
    """The report's tokens, or a ServiceError (400) saying what is wrong with it; nothing is done
    for a report that is wrong anywhere."""
    try:
        tokens = _REPORT.validate_json(body)
    except PydanticValidationError as exc:
        errors = [dict(error) for error in exc.errors(include_url=False)]
        too_many = any(error.get("type") == "too_long" and not error.get("loc") for error in errors)
        message = (
            f"A report holds at most {scanning.MAX_TOKENS:,} tokens: send the rest in another."
            if too_many
            else readable(errors)
        )
        raise ServiceError(ErrorCode.VALIDATION_ERROR, message) from None
    for index, reported in enumerate(tokens):
        if leaks.is_ours(reported.token):
            try:
                leaks.clean_source_url(reported.url)
            except ServiceError as err:
                raise ServiceError(ErrorCode.VALIDATION_ERROR, f"[{index}].url: {err.message}") from None
    return tokens


def answer_report(tokens: list[ReportedToken]) -> list[dict[str, Any]]:
    """Apply the leak response to each token of ours, in its own transaction (a partner retrying
    a report that failed half-way finds the first ones done: their replay changes nothing)."""
    labels = []
    for reported in tokens:
        if not leaks.is_ours(reported.token):
            continue
        source = f"{REPORTER} ({reported.source})" if reported.source else REPORTER
        report = leaks.report_leaked_secret(secret=reported.token, source_url=reported.url, source=source)
        labels.append(
            {
                "token_hash": hashlib.sha256(reported.token.encode()).hexdigest(),
                "token_type": reported.type,
                "label": Label.TRUE_POSITIVE if report.live else Label.FALSE_POSITIVE,
            }
        )
    return labels
