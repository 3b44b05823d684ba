"""Concurrency properties of the key services, with real threads on PostgreSQL: simultaneous
regenerations, creations and revocations leave exactly one consistent outcome."""

import os
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections

from accounts.actors import Actor
from audit.models import AuditAction, AuditEvent
from keys import leaks, services
from keys.errors import ServiceError
from keys.models import ApiKey
from keys.services import regenerate_key, revoke_key, verify_key
from tests.helpers.services import set_policy
from tests.helpers.threads import start_and_join

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql")),
        reason="needs DATABASE_URL pointing at PostgreSQL",
    ),
]

N = 10


def run_together(target, n=N):
    """Start n threads at the same instant; collect each one's result or exception."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connections.close_all()

    start_and_join([threading.Thread(target=worker, args=(i,)) for i in range(n)])
    return results


def test_running_on_postgres():
    assert connection.vendor == "postgresql"


def test_simultaneous_regenerations_leave_exactly_one_valid_secret(demo, make_key):
    issued = make_key(name="contended")
    actor = Actor.system(demo.acme.pk)
    results = run_together(lambda i: regenerate_key(actor=actor, key=ApiKey.objects.get(pk=issued.key.pk)))
    assert all(not isinstance(r, Exception) for r in results), results
    services.verified_keys.clear()
    valid = [r.secret for r in results if verify_key(presented=r.secret) is not None]
    assert len(valid) == 1
    assert verify_key(presented=issued.secret) is None
    assert AuditEvent.objects.filter(action=AuditAction.KEY_REGENERATED).count() == N


def test_simultaneous_creations_with_one_slot_left_create_exactly_one_key(demo, make_key):
    for _ in range(9):
        make_key(organization=demo.globex)

    results = run_together(
        lambda i: make_key(organization=demo.globex, role=50, name=f"racer {i}", scopes=["api-keys:read"])
    )
    created = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, ServiceError)]
    assert len(created) == 1, results
    assert len(refused) == N - 1 and {r.code for r in refused} == {"key_limit_reached"}
    assert ApiKey.objects.filter(organization=demo.globex).count() == 10


def test_simultaneous_creations_with_the_same_name_create_one(demo, make_key):
    results = run_together(lambda i: make_key(role=50, name="same", scopes=["api-keys:read"]))
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert {r.code for r in results if isinstance(r, ServiceError)} == {"name_taken"}


def test_revoke_racing_regenerate_ends_revoked_with_no_valid_secret(demo, make_key):
    issued = make_key(name="raced")
    actor = Actor.system(demo.acme.pk)

    def act(i):
        key = ApiKey.objects.get(pk=issued.key.pk)
        if i % 2:
            return revoke_key(actor=actor, key=key)
        return regenerate_key(actor=actor, key=key, grace_period=timedelta(hours=1))

    results = run_together(act)
    services.verified_keys.clear()
    key = ApiKey.objects.get(pk=issued.key.pk)
    assert key.revoked_at is not None and key.previous_digest is None
    secrets_issued = [issued.secret] + [r.secret for r in results if isinstance(r, services.IssuedKey)]
    assert all(verify_key(presented=s) is None for s in secrets_issued)
    # Regenerations that came after the revocation were refused, not half-applied.
    assert all(isinstance(r, (ApiKey, services.IssuedKey, ServiceError)) for r in results), results


@pytest.mark.parametrize("policy", ["revoke", "flag"])
def test_the_same_leak_reported_at_once_many_times_is_handled_once(demo, make_key, policy):
    set_policy(demo, leak_policy=policy)
    issued = make_key(name="reported by every retry at once")
    url = "https://github.com/acme/erp/blob/main/.env"
    results = run_together(
        lambda i: leaks.report_leaked_secret(secret=issued.secret, source_url=url, source="race")
    )
    assert all(not isinstance(r, Exception) for r in results), results
    assert sum(1 for r in results if r.action is not None) == 1
    assert AuditEvent.objects.filter(action=AuditAction.KEY_LEAK_REPORTED).count() == 1
    assert ApiKey.objects.get(pk=issued.key.pk).status == ("revoked" if policy == "revoke" else "active")
