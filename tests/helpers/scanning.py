"""A secret scanning partner for the tests: a key pair made for the test (never a private key in the
repository), its public key document in GitHub's shape, and signed reports."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keys.scanning import TOKEN_TYPE

GITHUB_PATH = "/api/v1/secret-scanning/github"


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(private: ec.EllipticCurvePrivateKey) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def document(keys: dict[str, ec.EllipticCurvePrivateKey]) -> str:
    """GitHub's ``meta/public_keys/secret_scanning`` for these keys (the first current)."""
    return json.dumps(
        {
            "public_keys": [
                {"key_identifier": name, "key": public_pem(private), "is_current": i == 0}
                for i, (name, private) in enumerate(keys.items())
            ]
        }
    )


def sign(private: ec.EllipticCurvePrivateKey, body: bytes) -> str:
    return base64.b64encode(private.sign(body, ec.ECDSA(hashes.SHA256()))).decode()


def report(
    *tokens: str, url: str = "https://github.com/acme/erp/blob/main/.env", source: str = "content"
) -> bytes:
    return json.dumps(
        [{"token": token, "type": TOKEN_TYPE, "url": url, "source": source} for token in tokens]
    ).encode()


@dataclass
class Partner:
    """A partner with one key pair whose document is at ``path``."""

    private: ec.EllipticCurvePrivateKey
    identifier: str
    path: Path

    @classmethod
    def at(cls, directory: Path, identifier: str = "test-key-1") -> Partner:
        private = new_private_key()
        path = directory / "secret_scanning_keys.json"
        path.write_text(document({identifier: private}))
        return cls(private, identifier, path)

    def headers(self, body: bytes, *, identifier: str | None = None) -> dict[str, str]:
        return {
            "Github-Public-Key-Identifier": identifier or self.identifier,
            "Github-Public-Key-Signature": sign(self.private, body),
        }
