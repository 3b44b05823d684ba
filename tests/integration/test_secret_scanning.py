"""POST /api/v1/secret-scanning/github, GitHub's secret scanning partner format, end to end: a key pair
made here signs the reports; a signed report deals with the key at once by its organization's leak
policy and answers the exact label array; anything not signed by a known key changes nothing."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta

import pytest
from django.test import Client
from django_tasks_db.models import DBTaskResult

from accounts.actors import Actor
from audit.models import AuditAction, AuditEvent
from keys import credentials, scanning, services
from keys.models import ApiKey
from tests.helpers.api import assert_error
from tests.helpers.scanning import GITHUB_PATH, Partner, new_private_key, report, sign
from tests.helpers.services import set_policy

pytestmark = pytest.mark.django_db

URL = "https://github.com/acme/erp/blob/main/.env"


@pytest.fixture
def partner(tmp_path, settings) -> Partner:
    found = Partner.at(tmp_path)
    settings.SECRET_SCANNING_PUBLIC_KEYS = str(found.path)
    # Out of the way but where a test is about it: a shared limiter (Redis) outlives a test.
    settings.SECRET_SCANNING_RATE_LIMIT_PER_MINUTE = 100_000
    scanning.public_keys.clear()
    yield found
    scanning.public_keys.clear()


@pytest.fixture
def post(client):
    def send(body: bytes, headers: dict[str, str] | None = None, **extra):
        meta = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in (headers or {}).items()}
        return client.post(GITHUB_PATH, data=body, content_type="application/json", **meta, **extra)

    return send


def _signed(post, partner, body: bytes):
    return post(body, partner.headers(body))


def _label(token: str, label: str) -> dict[str, str]:
    return {
        "token_hash": hashlib.sha256(token.encode()).hexdigest(),
        "token_type": scanning.TOKEN_TYPE,
        "label": label,
    }


def _status(issued) -> str:
    return ApiKey.objects.get(pk=issued.key.pk).status


def test_a_signed_report_revokes_at_once_and_answers_the_exact_labels(post, partner, make_key, demo):
    leaked = make_key(name="ERP sync")
    assert services.verify_key(presented=leaked.secret) is not None  # cached by this worker
    unknown = credentials.new_secret("test")
    not_ours = "ghp_" + "a" * 36
    looks_like_ours = leaked.secret[:-1] + ("A" if leaked.secret[-1] != "A" else "B")  # checksum fails
    body = report(leaked.secret, not_ours, unknown, looks_like_ours)
    response = _signed(post, partner, body)
    assert response.status_code == 200, response.content
    assert response.json() == [_label(leaked.secret, "true_positive"), _label(unknown, "false_positive")]
    assert _status(leaked) == "revoked"
    assert services.verify_key(presented=leaked.secret) is None  # refused at once
    event = AuditEvent.objects.get(action=AuditAction.KEY_LEAK_REPORTED)
    assert event.key_id == leaked.key.pk and event.actor_label == "GitHub secret scanning (content)"
    assert event.details["source_url"] == URL and event.details["action"] == "revoked"
    assert leaked.secret not in json.dumps([e.details for e in AuditEvent.objects.all()])


def test_a_grace_period_secret_counts(post, partner, make_key, demo):
    issued = make_key(name="rolling over")
    new = services.regenerate_key(
        actor=Actor.system(demo.acme.pk), key=issued.key, grace_period=timedelta(hours=24)
    )
    response = _signed(post, partner, report(issued.secret))
    assert response.json() == [_label(issued.secret, "true_positive")]
    assert _status(issued) == "revoked"
    assert services.verify_key(presented=new.secret) is None  # the whole key, as the policy says


def test_a_replay_is_a_no_op(post, partner, make_key, demo):
    revoked = make_key(name="revoked on the first report")
    body = report(revoked.secret)
    assert _signed(post, partner, body).json() == [_label(revoked.secret, "true_positive")]
    events = AuditEvent.objects.count()
    # The key is revoked now: its secret is no longer live, and nothing changes.
    assert _signed(post, partner, body).json() == [_label(revoked.secret, "false_positive")]
    assert AuditEvent.objects.count() == events

    set_policy(demo, leak_policy="flag")
    flagged = make_key(name="flagged only")
    body = report(flagged.secret)
    assert _signed(post, partner, body).json() == [_label(flagged.secret, "true_positive")]
    events = AuditEvent.objects.count()
    assert _signed(post, partner, body).json() == [_label(flagged.secret, "true_positive")]
    assert AuditEvent.objects.count() == events
    assert _status(flagged) == "active"


@pytest.mark.parametrize("policy, status", [("disable", "disabled"), ("flag", "active")])
def test_the_leak_policy_decides(post, partner, make_key, demo, policy, status):
    set_policy(demo, leak_policy=policy)
    issued = make_key()
    assert _signed(post, partner, report(issued.secret)).json() == [_label(issued.secret, "true_positive")]
    key = ApiKey.objects.get(pk=issued.key.pk)
    assert key.status == status and key.exposed and key.exposure["source_url"] == URL


def _nothing_changed(issued) -> None:
    assert _status(issued) == "active"
    assert not AuditEvent.objects.filter(action=AuditAction.KEY_LEAK_REPORTED).exists()


def test_a_bad_missing_or_unknown_key_signature_is_401_and_changes_nothing(post, partner, make_key, demo):
    issued = make_key()
    body = report(issued.secret)
    other = new_private_key()
    refused = [
        post(body),  # no signature at all
        post(body, {"Github-Public-Key-Identifier": partner.identifier}),
        post(body, {"Github-Public-Key-Signature": sign(partner.private, body)}),
        post(body, partner.headers(body, identifier="no-such-key")),
        post(
            body,
            {
                "Github-Public-Key-Identifier": partner.identifier,
                "Github-Public-Key-Signature": sign(other, body),
            },
        ),
        post(
            body, partner.headers(report(issued.secret, url="https://elsewhere.example/"))
        ),  # another body's
        post(
            body, {"Github-Public-Key-Identifier": partner.identifier, "Github-Public-Key-Signature": "%%%"}
        ),
        post(
            body, {"Github-Public-Key-Identifier": partner.identifier, "Github-Public-Key-Signature": "AAAA"}
        ),
    ]
    for response in refused:
        assert_error(response, 401, "unauthorized")
    assert "Github-Public-Key-Signature" in refused[0].json()["error"]["message"]
    _nothing_changed(issued)


def test_without_public_keys_nothing_is_accepted(post, partner, make_key, settings):
    settings.SECRET_SCANNING_PUBLIC_KEYS = ""
    issued = make_key()
    body = report(issued.secret)
    assert_error(post(body, partner.headers(body)), 401, "unauthorized")
    _nothing_changed(issued)


def test_public_keys_that_cannot_be_read_are_503_to_retry(post, partner, make_key, settings, tmp_path):
    settings.SECRET_SCANNING_PUBLIC_KEYS = str(tmp_path / "missing.json")
    issued = make_key()
    body = report(issued.secret)
    response = post(body, partner.headers(body))
    assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == "60"
    _nothing_changed(issued)


def test_an_oversized_body_is_413(post, partner, make_key):
    issued = make_key()
    body = report(issued.secret) + b" " * scanning.MAX_BODY_BYTES
    assert_error(post(body, partner.headers(body)), 413, "payload_too_large")
    _nothing_changed(issued)


def test_more_than_a_thousand_tokens_is_refused(post, partner, make_key):
    issued = make_key()
    body = report(issued.secret, *["ghp_x"] * scanning.MAX_TOKENS)
    response = post(body, partner.headers(body))
    assert_error(response, 400, "validation_error")
    assert "at most 1,000 tokens" in response.json()["error"]["message"]
    _nothing_changed(issued)


@pytest.mark.parametrize(
    "body, says",
    [
        (b"not json", ""),
        (b'{"token": "x"}', ""),
        (b'[{"type": "api_key_portal_secret"}]', "token"),
    ],
)
def test_a_malformed_report_is_400(post, partner, body, says):
    response = post(body, partner.headers(body))
    assert_error(response, 400, "validation_error")
    assert says in response.json()["error"]["message"]


def test_a_bad_address_for_one_of_our_tokens_changes_nothing(post, partner, make_key):
    first, second = make_key(), make_key()
    body = json.dumps(
        [
            {"token": first.secret, "type": scanning.TOKEN_TYPE, "url": URL, "source": "content"},
            {
                "token": second.secret,
                "type": scanning.TOKEN_TYPE,
                "url": "javascript:alert(1)",
                "source": "x",
            },
        ]
    ).encode()
    response = post(body, partner.headers(body))
    assert_error(response, 400, "validation_error")
    assert response.json()["error"]["message"].startswith("[1].url:")
    _nothing_changed(first)
    _nothing_changed(second)


def test_rate_limited_per_client_address(post, partner, settings, make_key):
    settings.SECRET_SCANNING_RATE_LIMIT_PER_MINUTE = 2
    body = report(credentials.new_secret("live"))
    # Addresses of this test alone: a shared limiter (Redis) remembers the other tests' reports.
    address, other = (f"2001:db8::{secrets.token_hex(2)}:{n}" for n in (1, 2))
    for _ in range(2):
        assert post(body, partner.headers(body), REMOTE_ADDR=address).status_code == 200
    limited = post(body, partner.headers(body), REMOTE_ADDR=address)
    assert_error(limited, 429, "rate_limited")
    assert int(limited["Retry-After"]) >= 1
    # Another address has its own window.
    assert post(body, partner.headers(body), REMOTE_ADDR=other).status_code == 200


def test_no_key_and_no_csrf_token_needed(partner, make_key, _request_handler):
    strict = Client(enforce_csrf_checks=True)
    issued = make_key()
    body = report(issued.secret)
    response = strict.post(
        GITHUB_PATH,
        data=body,
        content_type="application/json",
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in partner.headers(body).items()},
    )
    assert response.status_code == 200 and response.json()[0]["label"] == "true_positive"


def test_the_openapi_document_describes_it(client):
    document = client.get("/api/v1/openapi.json").json()
    operation = document["paths"][GITHUB_PATH]["post"]
    assert operation["operationId"] == "reportLeakedSecretsGitHub"
    assert "security" not in operation  # no key: the partner's signature instead
    assert {p["name"] for p in operation["parameters"]} >= {
        "Github-Public-Key-Identifier",
        "Github-Public-Key-Signature",
    }
    assert "ReportedToken" in document["components"]["schemas"]


def test_the_managers_are_emailed_by_the_worker_not_by_the_request(
    database_tasks, partner, client, make_key, demo, mailoutbox
):
    leaked = make_key(name="Night batch")
    body = report(leaked.secret)
    meta = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in partner.headers(body).items()}
    response = client.post(GITHUB_PATH, data=body, content_type="application/json", **meta)
    assert response.json() == [_label(leaked.secret, "true_positive")]
    # The request has answered: the key is revoked, the emails wait in the queue.
    assert _status(leaked) == "revoked"
    assert mailoutbox == [] and DBTaskResult.objects.count() == 1  # one manager of this key
    database_tasks()
    (message,) = mailoutbox
    assert message.to == ["advanced@acme.test"]
    assert message.subject == "Leaked API key secret: Night batch was revoked"
    assert URL in message.body and f"/settings/api-keys/{leaked.key.pk}/" in message.body
