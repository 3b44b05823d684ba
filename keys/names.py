"""Key names: what a name may contain, and when two names are the same name.

A name is read by people in lists, emails and the audit log, so nothing in it may be invisible or
change how the text around it reads: control characters, format characters (zero-width spaces and
joiners, the word joiner, the soft hyphen, the bidirectional embeddings, overrides and isolates
that turn "Name" into "emaN") and line or paragraph separators are refused, with the character
named.

Two names are the same name when people cannot tell them apart: compared after Unicode NFKC
(compatibility forms: "ﬁ" is "fi", a full-width "Ａ" is "A", a no-break space is a space), case
folding and whitespace collapsed (runs of any kind of space are one space). :func:`fingerprint` is
that comparison, stored with every key so that the database holds it unique among live keys.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from keys import credentials
from keys.errors import ErrorCode, ServiceError

MAX_NAME_LENGTH = 128
MAX_DESCRIPTION_LENGTH = 500
FIELD = "name"
#: Control (Cc), format (Cf: zero-width and bidirectional controls among them), surrogate (Cs)
#: and line/paragraph separator (Zl, Zp) characters.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_WHITESPACE = re.compile(r"\s+")


def _refused(name: str) -> tuple[int, str] | None:
    """The first character a name may not contain, with its position (1-based)."""
    for position, char in enumerate(name, start=1):
        if unicodedata.category(char) in REFUSED_CATEGORIES:
            return position, char
    return None


def _describe(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, '(a control character)')}"


def clean_name(name: str | None) -> str:
    """The name as stored (surrounding spaces dropped), or a ServiceError that says what is wrong."""
    name = (name or "").strip()
    if not name:
        raise ServiceError(ErrorCode.VALIDATION_ERROR, "Give the key a name.", field=FIELD)
    if len(name) > MAX_NAME_LENGTH:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            f"The name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}.",
            field=FIELD,
        )
    found = _refused(name)
    if found is not None:
        position, char = found
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            "The name may not contain control characters, invisible characters or characters that "
            f"change the direction of the text: {_describe(char)} at position {position}.",
            field=FIELD,
        )
    if credentials.contains_secret(name):
        # Names are shown in lists, emails and the audit log: a secret pasted here would leak.
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            "The name looks like a Client Secret. Names are shown to everyone who can see the key: "
            "never put a secret in one (and regenerate that key if the secret is real).",
            field=FIELD,
        )
    return name


def clean_description(description: str | None) -> str:
    """An optional description (who runs the integration, where its secret lives) as stored: the
    same characters refused as in a name but for line breaks and tabs, and never a secret (it is
    shown wherever the key is)."""
    description = "\n".join(line.rstrip() for line in (description or "").strip().splitlines())
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            f"The description is {len(description)} characters long; the limit is {MAX_DESCRIPTION_LENGTH}.",
            field="description",
        )
    found = _refused(description.replace("\n", " ").replace("\t", " "))
    if found is not None:
        position, char = found
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            "The description may not contain control characters, invisible characters or characters "
            f"that change the direction of the text: {_describe(char)} at position {position}.",
            field="description",
        )
    if credentials.contains_secret(description):
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            "That looks like a Client Secret: a description is shown to everyone who sees the key. "
            "Say where the secret is kept, never the secret itself.",
            field="description",
        )
    return description


def comparable(name: str) -> str:
    """The form two names are compared in: NFKC, case folded, whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return _WHITESPACE.sub(" ", folded).strip()


def fingerprint(name: str) -> str:
    """A fixed-length digest of :func:`comparable`: NFKC can make a 128-character name up to 18
    times longer, so the comparable text itself would not fit a bounded column and index."""
    return hashlib.sha256(comparable(name).encode()).hexdigest()
