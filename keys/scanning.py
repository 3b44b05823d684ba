"""Secret scanning partners: who may report a leaked secret, and how we know it is them.

GitHub's secret scanning partner program sends the secrets it finds in public code, each report
signed: ``Github-Public-Key-Signature`` is a base64 DER ECDSA P-256 / SHA-256 signature over the raw
request body, made with the private key named by ``Github-Public-Key-Identifier``. The public keys
are published in a JSON document (``https://api.github.com/meta/public_keys/secret_scanning``)::

    {"public_keys": [{"key_identifier": "…", "key": "-----BEGIN PUBLIC KEY-----…", "is_current": true}]}

``SECRET_SCANNING_PUBLIC_KEYS`` names that document: a URL, or a file path (an air-gapped
deployment, the tests). The document is read once, with a timeout, and kept for
``SECRET_SCANNING_PUBLIC_KEYS_TTL_SECONDS``; after that (or when a report names a key identifier
the document did not hold: the partner rotated its keys) it is read again in a thread while the
copy in hand keeps answering, so a report waits on the partner's server at most once per process,
for its first report. Verification is the ``cryptography`` package's.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.conf import settings

log = logging.getLogger(__name__)

#: The token type to register with GitHub for the portal's Client Secrets.
TOKEN_TYPE = "api_key_portal_secret"
#: The most a report may hold: its body, and its tokens.
MAX_BODY_BYTES = 1024 * 1024
MAX_TOKENS = 1000
#: A report naming a key identifier we do not hold reads the document again, at most this often.
UNKNOWN_KEY_REFRESH_SECONDS = 60
#: The document is never larger than this (GitHub's holds a handful of keys).
MAX_DOCUMENT_BYTES = 256 * 1024


class PublicKeysUnavailable(Exception):
    """The partner's public keys could not be read, and none were read before."""


class NotConfigured(PublicKeysUnavailable):
    """``SECRET_SCANNING_PUBLIC_KEYS`` is not set: no report can be verified."""


def parse_public_keys(document: bytes | str) -> dict[str, ec.EllipticCurvePublicKey]:
    """The P-256 keys of a document shaped like GitHub's, by identifier; ValueError if it is not
    one. A key of another kind is left out (logged): it could verify nothing we accept."""
    try:
        entries = json.loads(document)["public_keys"]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a public key document: {exc}") from None
    if not isinstance(entries, list):
        raise ValueError("not a public key document: public_keys is not a list")
    found: dict[str, ec.EllipticCurvePublicKey] = {}
    for entry in entries:
        try:
            identifier, pem = str(entry["key_identifier"]), str(entry["key"])
            key = load_pem_public_key(pem.encode())
        except (KeyError, TypeError, ValueError, UnsupportedAlgorithm) as exc:
            log.warning("Secret scanning: a public key of the document was left out: %s", exc)
            continue
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
            log.warning("Secret scanning: public key %s is not ECDSA P-256; left out", identifier)
            continue
        found[identifier] = key
    if not found:
        raise ValueError("the document holds no ECDSA P-256 public key")
    return found


def _read(source: str, timeout: float) -> bytes:
    if source.startswith(("https://", "http://")):
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked just above
            source, headers={"Accept": "application/json", "User-Agent": "api-key-portal secret scanning"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.read(MAX_DOCUMENT_BYTES + 1)[:MAX_DOCUMENT_BYTES]
    return Path(source).read_bytes()[:MAX_DOCUMENT_BYTES]


@dataclass(frozen=True)
class _Loaded:
    source: str
    keys: dict[str, ec.EllipticCurvePublicKey]
    at: float  # time.monotonic() when read


class PublicKeyCache:
    """The partner's public keys in this process: read once, then refreshed in a thread."""

    def __init__(self) -> None:
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()
        self._refreshing = False
        self._last_attempt = 0.0

    def clear(self) -> None:
        with self._lock:
            self._loaded = None
            self._last_attempt = 0.0

    def _fetch(self, source: str) -> _Loaded:
        self._last_attempt = time.monotonic()
        keys = parse_public_keys(_read(source, settings.SECRET_SCANNING_FETCH_TIMEOUT_SECONDS))
        return _Loaded(source, keys, time.monotonic())

    def _refresh_in_background(self, source: str) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True

        def refresh() -> None:
            try:
                loaded = self._fetch(source)
            except Exception as exc:  # a network error, a bad document: keep the copy in hand
                log.warning("Secret scanning: public keys not refreshed from %s: %s", source, exc)
            else:
                with self._lock:
                    self._loaded = loaded
            finally:
                with self._lock:
                    self._refreshing = False

        threading.Thread(target=refresh, name="secret-scanning-keys", daemon=True).start()

    def key(self, identifier: str) -> ec.EllipticCurvePublicKey | None:
        """The public key of this identifier, or None when the document does not hold it."""
        source = settings.SECRET_SCANNING_PUBLIC_KEYS
        if not source:
            raise NotConfigured("SECRET_SCANNING_PUBLIC_KEYS is not set")
        loaded = self._loaded
        if loaded is None or loaded.source != source:
            try:
                loaded = self._fetch(source)  # the first report of this process waits for it
            except Exception as exc:
                log.warning("Secret scanning: public keys not read from %s: %s", source, exc)
                raise PublicKeysUnavailable(str(exc)) from exc
            with self._lock:
                self._loaded = loaded
        now = time.monotonic()
        found = loaded.keys.get(identifier)
        stale = now - loaded.at > settings.SECRET_SCANNING_PUBLIC_KEYS_TTL_SECONDS
        unknown = found is None and now - self._last_attempt > UNKNOWN_KEY_REFRESH_SECONDS
        if stale or unknown:
            self._refresh_in_background(source)
        return found


public_keys = PublicKeyCache()


def signature_valid(body: bytes, identifier: str | None, signature: str | None) -> bool:
    """Whether ``signature`` (base64 DER ECDSA) over ``body`` was made with the partner's key
    ``identifier``. False for a missing, malformed, unknown-key or wrong signature alike;
    PublicKeysUnavailable when no public key could ever be read."""
    if not identifier or not signature or len(identifier) > 200 or len(signature) > 400:
        return False
    key = public_keys.key(identifier)
    if key is None:
        return False
    try:
        der = base64.b64decode(signature, validate=True)
        key.verify(der, body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True
