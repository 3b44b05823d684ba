"""keys/redaction.py: log lines lose anything shaped like a secret."""

import logging

from keys.redaction import REDACTED, ScrubSecretsFilter, scrub


def test_log_lines_are_scrubbed():
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "bad key %s", ("sk_live_" + "a" * 49,), None
    )
    ScrubSecretsFilter().filter(record)
    assert "a" * 20 not in record.getMessage() and REDACTED in record.getMessage()
    assert scrub("no secrets here") == "no secrets here"
