"""keys/names.py: no invisible or direction-changing character in a key name, and two names people
cannot tell apart are the same name (name_taken), in the service and in the database."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import IntegrityError, transaction

from keys.errors import ServiceError
from keys.models import ApiKey
from keys.names import clean_name, comparable, fingerprint
from keys.services import revoke_key, update_key
from tests.helpers.services import create, user_actor

pytestmark = pytest.mark.django_db

REAL = "Production Dashboard"


@pytest.mark.parametrize(
    ("name", "named"),
    [
        (REAL + "\u200b", "U+200B ZERO WIDTH SPACE at position 21"),
        ("\u202eName", "U+202E RIGHT-TO-LEFT OVERRIDE at position 1"),
        ("Pro\u2060duction", "U+2060 WORD JOINER"),
        ("Name\u2066x\u2069", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("soft\u00adhyphen", "U+00AD SOFT HYPHEN"),
        ("zero\u200dwidth joiner", "U+200D ZERO WIDTH JOINER"),
        ("line\u2028separator", "U+2028 LINE SEPARATOR"),
        ("tab\there", "U+0009 (a control character) at position 4"),
        ("bom\ufeff", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
    ],
)
def test_invisible_and_direction_changing_characters_are_refused_by_name(name, named):
    with pytest.raises(ServiceError) as refused:
        clean_name(name)
    assert refused.value.field == "name" and named in refused.value.message


@pytest.mark.parametrize(
    "twin",
    [
        "production dashboard",
        "Production\u00a0Dashboard",  # no-break space
        "Production  Dashboard",  # two spaces
        "Production\u3000Dashboard",  # ideographic space
        "Production\u2003Dashboard",  # em space
        "\uff30roduction Dashboard",  # full-width P
        "PRODUCTION DASHBOARD",
    ],
)
def test_twins_compare_equal(twin):
    assert comparable(twin) == comparable(REAL) and fingerprint(twin) == fingerprint(REAL)


def test_different_names_stay_different():
    assert fingerprint("Production Dashboard") != fingerprint("Production Dashboards")
    assert fingerprint("Grüße") != fingerprint("Grusse")
    assert fingerprint("ﬁle") == fingerprint("file")  # a ligature is its letters


@pytest.mark.parametrize("twin", ["production\u00a0dashboard", "\uff30roduction  Dashboard"])
def test_a_twin_is_name_taken_on_create_and_on_rename(demo, twin):
    create(demo, name=REAL)
    with pytest.raises(ServiceError) as refused:
        create(demo, name=twin)
    assert refused.value.code == "name_taken"
    other = create(demo, name="Other").key
    with pytest.raises(ServiceError) as refused:
        update_key(actor=user_actor(demo), key=other, name=twin)
    assert refused.value.code == "name_taken"
    assert ApiKey.objects.filter(name=twin).count() == 0


def test_renaming_a_key_to_its_own_twin_is_allowed_and_keeps_the_fingerprint(demo):
    key = create(demo, name=REAL).key
    renamed = update_key(actor=user_actor(demo), key=key, name="production dashboard")
    stored = ApiKey.objects.get(pk=renamed.pk)
    assert stored.name == "production dashboard" and stored.name_fingerprint == fingerprint(REAL)


def test_a_revoked_keys_name_is_free_again(demo):
    first = create(demo, name=REAL).key
    revoke_key(actor=user_actor(demo), key=first)
    assert create(demo, name="production\u00a0dashboard").key.name_fingerprint == fingerprint(REAL)


def test_the_database_refuses_a_twin_whatever_writes_it(demo):
    """The constraint holds even for a write that skips the service (bulk_create computes it too)."""
    existing = create(demo, name=REAL).key
    twin = ApiKey(
        organization_id=existing.organization_id,
        application_id=existing.application_id,
        account_id=existing.account_id,
        role=existing.role,
        name="PRODUCTION\u00a0DASHBOARD",
        scopes=existing.scopes,
        client_id="ck_test_twin",
        secret_digest="twin",
        pepper_id="p",
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiKey.objects.bulk_create([twin])


def test_the_migration_fills_fingerprints_and_keeps_twins_that_already_exist(demo):
    """Keys written before the fingerprint: the oldest of two live twins keeps the name's
    fingerprint, the later twin one of its own; a revoked twin keeps the name's."""
    migration = importlib.import_module("keys.migrations.0011_key_names_compared_as_people_read_them")
    older = create(demo, name=REAL).key
    later = create(demo, name="placeholder").key
    revoked = create(demo, name="revoked placeholder").key
    revoke_key(actor=user_actor(demo), key=revoked)
    # As they were before the migration: twins, without fingerprints (update() skips pre_save).
    ApiKey.objects.filter(pk=older.pk).update(name_fingerprint="a")
    ApiKey.objects.filter(pk=later.pk).update(name="production\u00a0dashboard", name_fingerprint="b")
    ApiKey.objects.filter(pk=revoked.pk).update(name="PRODUCTION DASHBOARD", name_fingerprint="c")

    migration.fill_fingerprints(apps, None)

    assert ApiKey.objects.get(pk=older.pk).name_fingerprint == fingerprint(REAL)
    assert ApiKey.objects.get(pk=revoked.pk).name_fingerprint == fingerprint(REAL)
    kept = ApiKey.objects.get(pk=later.pk).name_fingerprint
    assert kept != fingerprint(REAL) and len(kept) == 64
    with pytest.raises(ServiceError) as refused:
        create(demo, name="Production Dashboard ")
    assert refused.value.code == "name_taken"
