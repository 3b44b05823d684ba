"""The pattern the README publishes for secret scanners: the code's own, it finds every secret the
portal issues wherever secrets leak to, and nothing in a corpus of look-alikes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from keys import credentials, scanning

README = Path(__file__).resolve().parents[2] / "README.md"


def _published_section() -> str:
    text = README.read_text()
    start = text.index("\n## Secret scanning\n")
    return text[start : text.index("\n## ", start + 1)]


def published_pattern() -> str:
    section = _published_section()
    return re.search(r"```\n(.+?)\n```", section, re.S).group(1).strip()


PATTERN = re.compile(published_pattern())


def test_the_readme_publishes_the_codes_pattern_type_and_endpoint():
    section = _published_section()
    assert published_pattern() == credentials.SECRET_SCAN_PATTERN
    assert f"`{scanning.TOKEN_TYPE}`" in section
    assert "`POST https://<your portal>/api/v1/secret-scanning/github`" in section
    assert "SECRET_SCANNING_PUBLIC_KEYS=https://api.github.com/meta/public_keys/secret_scanning" in section


# Where secrets leak to: each context holds one secret at {}.
CONTEXTS = [
    "{}",
    "API_KEY={}\n",
    'export PORTAL_SECRET="{}"',
    "portal:\n  secret: '{}'\n",
    '{{"client_secret": "{}", "retries": 3}}',
    "curl -H 'Authorization: Bearer {}' https://keys.example.com/api/v1/key",
    "GET /api/v1/key?auth=Bearer%20{}&x=1",  # URL-encoded after a space
    "key=ck_live_AbCdEfGhIjKlMnOpQrStUvWx%3A{}",  # URL-encoded after a colon
    "ck_test_AbCdEfGhIjKlMnOpQrStUvWx:{}",
    "<td>{}</td>",
    "(secret {}), then",
    "secret:{}.",
]


def _issued(count: int) -> list[str]:
    return [credentials.new_secret(("live", "test")[i % 2]) for i in range(count)]


def test_it_finds_every_secret_the_portal_issues_wherever_it_leaks():
    secrets = _issued(1200)
    text = "\n".join(CONTEXTS[i % len(CONTEXTS)].format(secret) for i, secret in enumerate(secrets))
    assert PATTERN.findall(text) == secrets
    assert all(credentials.is_well_formed_secret(found) for found in PATTERN.findall(text))


@pytest.mark.parametrize("bits", [0, 1, 61, 62, 2**255, 2**256 - 1])
def test_it_finds_the_secrets_at_the_edges_of_the_random_range(monkeypatch, bits):
    monkeypatch.setattr(credentials.secrets, "randbits", lambda n: bits)
    for environment in credentials.ENVIRONMENTS:
        secret = credentials.new_secret(environment)
        assert PATTERN.findall(f"leaked {secret} here") == [secret]


SECRET_BODY = "A" * 49  # the shape of a secret's 49 characters after the prefix


def _look_alikes() -> list[str]:
    real = credentials.new_secret("live")
    body = real[len("sk_live_") :]
    return [
        credentials.new_client_id("live"),  # a Client ID is public, not a secret
        credentials.new_client_id("test"),
        f"sk_live_{body[:-1]}",  # one character short
        f"sk_live_{body}0",  # one character more
        f"sk_live_{body}_v2",  # part of a longer identifier
        f"sk_live_{body}é",  # followed by a letter of another alphabet
        f"sk_prod_{body}",  # another environment
        f"sk_Live_{body}",
        f"SK_LIVE_{body}",
        f"sk-live-{body}",
        f"pk_live_{body}",  # Stripe's publishable key shape
        f"rk_live_{body}",  # Stripe's restricted key shape
        f"sk_live_{body[:20]}-{body[21:]}",  # another alphabet inside
        f"sk_live_{body[:20]}_{body[21:]}",
        f"sk_live_{body[:20]}é{body[21:]}",
        "sk_live_51HqLyjWDarjtT1zdp7dcXa0wF4gHjKlMnOpQrStUvWxYz0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",  # Stripe's documented test-mode look-alike length
        "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
        "ghp_" + "a1B2" * 9,  # a GitHub token
        "AKIAIOSFODNN7EXAMPLE",  # an AWS access key id
        "xoxb-1234567890-0987654321-" + "a" * 24,  # a Slack token
        "disk_live_monitoring_" + "x" * 49,
        "task_test_runner",
        "sk_live_",
        "sk_test",
    ]


def test_it_finds_nothing_in_a_corpus_of_look_alikes():
    corpus = "\n".join(context.format(look_alike) for context in CONTEXTS for look_alike in _look_alikes())
    assert PATTERN.findall(corpus) == []
