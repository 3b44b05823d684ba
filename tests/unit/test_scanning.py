"""The secret scanning partner's public keys: read from a URL with a timeout, kept, refreshed in a
thread (never on the request path once read), and the signatures they verify."""

from __future__ import annotations

import io
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from keys import scanning
from tests.helpers.scanning import document, new_private_key, public_pem, sign

DOCUMENT_URL = "https://api.github.com/meta/public_keys/secret_scanning"


class FakeGitHub:
    """``urlopen`` answering the public key document, counting its calls."""

    def __init__(self, keys: dict) -> None:
        self.keys = keys
        self.calls: list[tuple[str, float]] = []
        self.delay = 0.0

    def __call__(self, request, timeout):
        self.calls.append((request.full_url, timeout))
        time.sleep(self.delay)
        return io.BytesIO(document(self.keys).encode())


@pytest.fixture
def github(monkeypatch, settings):
    partner = FakeGitHub({"k1": new_private_key()})
    monkeypatch.setattr(scanning.urllib.request, "urlopen", partner)
    settings.SECRET_SCANNING_PUBLIC_KEYS = DOCUMENT_URL
    settings.SECRET_SCANNING_FETCH_TIMEOUT_SECONDS = 2.5
    scanning.public_keys.clear()
    yield partner
    _settle()
    scanning.public_keys.clear()


def _settle() -> None:
    deadline = time.monotonic() + 5
    while scanning.public_keys._refreshing and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_document_is_read_once_with_a_timeout_then_kept(github):
    body = b"[]"
    signature = sign(github.keys["k1"], body)
    assert scanning.signature_valid(body, "k1", signature)
    assert scanning.signature_valid(body, "k1", signature)
    assert github.calls == [(DOCUMENT_URL, 2.5)]


def test_a_stale_document_is_refreshed_in_a_thread_while_the_copy_in_hand_answers(github, settings):
    body = b"[]"
    old = github.keys["k1"]
    assert scanning.signature_valid(body, "k1", sign(old, body))
    settings.SECRET_SCANNING_PUBLIC_KEYS_TTL_SECONDS = 0
    github.delay = 0.5  # a slow partner: the report does not wait for it
    started = time.monotonic()
    assert scanning.signature_valid(body, "k1", sign(old, body))
    assert time.monotonic() - started < 0.4
    _settle()
    assert len(github.calls) == 2


def test_a_rotated_key_is_fetched_after_a_report_names_it(github, monkeypatch):
    body = b"[]"
    assert scanning.signature_valid(body, "k1", sign(github.keys["k1"], body))
    github.keys["k2"] = new_private_key()  # the partner rotates
    monkeypatch.setattr(scanning, "UNKNOWN_KEY_REFRESH_SECONDS", 0)
    signature = sign(github.keys["k2"], body)
    assert not scanning.signature_valid(body, "k2", signature)  # not known yet: 401, and a refresh
    _settle()
    assert scanning.signature_valid(body, "k2", signature)  # the partner's retry succeeds


def test_an_unreachable_document_is_unavailable_until_read(monkeypatch, settings):
    def down(request, timeout):
        raise OSError("connection refused")

    monkeypatch.setattr(scanning.urllib.request, "urlopen", down)
    settings.SECRET_SCANNING_PUBLIC_KEYS = DOCUMENT_URL
    scanning.public_keys.clear()
    with pytest.raises(scanning.PublicKeysUnavailable):
        scanning.signature_valid(b"[]", "k1", "AAAA")


def test_only_p256_keys_are_kept():
    p256, p384 = new_private_key(), ec.generate_private_key(ec.SECP384R1())
    keys = scanning.parse_public_keys(document({"good": p256, "other curve": p384}))
    assert set(keys) == {"good"}
    with pytest.raises(ValueError, match="no ECDSA P-256"):
        scanning.parse_public_keys(document({"other curve": p384}))
    for bad in ("nope", "{}", '{"public_keys": "x"}', json.dumps({"public_keys": [{"key": "junk"}]})):
        with pytest.raises(ValueError):
            scanning.parse_public_keys(bad)


def test_githubs_shape_is_read_as_published(tmp_path, settings):
    """The fields GitHub's document has, is_current included (every listed key verifies)."""
    current, previous = new_private_key(), new_private_key()
    published = {
        "public_keys": [
            {
                "key_identifier": "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a",
                "key": public_pem(current),
                "is_current": True,
            },
            {
                "key_identifier": "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c",
                "key": public_pem(previous),
                "is_current": False,
            },
        ]
    }
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(published))
    settings.SECRET_SCANNING_PUBLIC_KEYS = str(path)
    scanning.public_keys.clear()
    body = b'[{"token":"x","type":"t","url":"u","source":"content"}]'
    for entry, private in zip(published["public_keys"], (current, previous), strict=True):
        assert scanning.signature_valid(body, entry["key_identifier"], sign(private, body))
    scanning.public_keys.clear()
