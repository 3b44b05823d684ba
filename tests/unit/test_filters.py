"""keys.filters: one reading of a key-list query string for the portal, the REST API and the audit log."""

import pytest

from accounts.actors import Actor
from keys.filters import ApiKeyFilterSet
from keys.models import ApiKey

pytestmark = pytest.mark.django_db


def names(data, actor) -> list[str]:
    return list(ApiKeyFilterSet(data, ApiKey.objects.all(), actor=actor).qs.values_list("name", flat=True))


@pytest.fixture
def keys(demo, make_key):
    made = [
        make_key(name=n, scopes=["api-keys:read"]) for n in ("ERP production", "SCADA north", "BI export")
    ]
    return {issued.key.name: issued.key for issued in made}


def test_client_ids_match_exactly_or_by_case_sensitive_prefix(demo, keys):
    actor = Actor.system(demo.acme.pk)
    client_id = keys["SCADA north"].client_id
    assert names({"search": client_id}, actor) == ["SCADA north"]
    assert names({"search": client_id[:14]}, actor) == ["SCADA north"]
    swapped = client_id[:8] + client_id[8:].swapcase()
    assert client_id != swapped and names({"search": swapped}, actor) == []
    first_letter = next(i for i, c in enumerate(client_id) if i >= 8 and c.isalpha())
    # Another key's random Client ID may start the same way by chance: only this one is asserted.
    assert "SCADA north" not in names({"search": swapped[: first_letter + 1]}, actor)


def test_names_match_anywhere_in_any_case(demo, keys):
    actor = Actor.system(demo.acme.pk)
    assert names({"search": "NORTH"}, actor) == ["SCADA north"]
    # Text that does not start like a Client ID ("ck_") is not compared with Client IDs.
    assert names({"search": "ck"}, actor) == []


def test_q_is_the_same_filter_as_search(demo, keys):
    actor = Actor.system(demo.acme.pk)
    for text in ("erp", keys["BI export"].client_id):
        assert names({"q": text}, actor) == names({"search": text}, actor)


def test_bad_values_are_ignored_and_sorting_defaults_to_newest_first(demo, keys):
    actor = Actor.system(demo.acme.pk)
    everything = names({}, actor)
    assert everything == ["BI export", "SCADA north", "ERP production"]
    assert (
        names({"status": "sleeping", "role": "x", "account": "999999", "sort": "-nope"}, actor) == everything
    )
    assert names({"sort": "name"}, actor) == ["BI export", "ERP production", "SCADA north"]
    assert names({"status": "revoked"}, actor) == []


def test_choices_are_read_only_when_needed(demo, keys, django_assert_num_queries):
    actor = Actor.system(demo.acme.pk)
    with django_assert_num_queries(1):  # the keys themselves; no application, account or creator list
        list(ApiKeyFilterSet({"search": "erp"}, ApiKey.objects.all(), actor=actor).qs)


@pytest.mark.parametrize("field", ["last_used", "expires"])
def test_empty_values_sort_last_both_ways_and_ties_go_to_the_newest(demo, field):
    """Each order matches an index; whichever way, keys never used (or never expiring) come last,
    and keys with the same value are newest first."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.helpers.bulk import bulk_keys

    made = bulk_keys(demo.acme, 6, applications=[demo.portal], accounts=[demo.acme_root], prefix=field)
    moment = timezone.now() + timedelta(days=3)
    column = {"last_used": "last_used_at", "expires": "expires_at"}[field]
    for n, key in enumerate(made):
        value = None if n in (1, 4) else moment + timedelta(hours=n % 2)
        ApiKey.objects.filter(pk=key.pk).update(**{column: value})
    actor = Actor.system(demo.acme.pk)
    ascending = names({"sort": field, "search": field}, actor)
    descending = names({"sort": f"-{field}", "search": field}, actor)
    assert ascending == [f"{field} {n:04d}" for n in (2, 0, 5, 3, 4, 1)]
    assert descending == [f"{field} {n:04d}" for n in (5, 3, 2, 0, 4, 1)]


def test_created_by_choices_ask_each_member_not_each_key(demo, make_user, django_assert_num_queries):
    from keys import selectors
    from tests.helpers.bulk import bulk_keys

    creator = make_user("creator@acme.test", 50)
    make_user("idle@acme.test", 50)
    bulk_keys(demo.acme, 40, applications=[demo.portal], accounts=[demo.north], created_by=creator)
    bulk_keys(demo.globex, 3, applications=[demo.globex_portal], accounts=[demo.globex_root], prefix="g")
    actor = Actor.system(demo.acme.pk)
    with django_assert_num_queries(1):
        people = selectors.creators_of(demo.acme.pk, selectors.visible_keys(actor))
    assert [p.email for p in people] == ["creator@acme.test"]
