"""Each key's copy of its application's name and its account's path (what the key lists sort by
for "Application" and "Account") matches the row it copies, whichever way the key was written and
whatever happened to the application or account since: it cannot drift."""

import pytest
from django.db.models import F

from accounts.actors import Actor
from accounts.models import Account, Application, User
from keys import selectors
from keys.models import ApiKey
from tests.helpers.bulk import bulk_keys

pytestmark = pytest.mark.django_db


def in_application(make_key, application, **kwargs):
    scope = str(application.scopes.first())
    return make_key(application=application, scopes=[scope], **kwargs).key


def assert_no_drift():
    keys = ApiKey.objects.all()
    assert keys.exists()
    assert not keys.exclude(application_name=F("application__name")).exists()
    assert not keys.exclude(account_path=F("account__path")).exists()


def test_a_key_made_by_the_service_copies_its_application_and_account(demo, make_key):
    key = in_application(make_key, demo.incharge, account=demo.north)
    key.refresh_from_db()
    assert (key.application_name, key.account_path) == (demo.incharge.name, demo.north.path)


def test_keys_made_in_bulk_copy_them_too(demo):
    bulk_keys(demo.acme, 4, applications=[demo.incharge, demo.infodeck], accounts=[demo.north, demo.south])
    assert_no_drift()


def test_renaming_an_application_renames_its_keys_copies_only(demo, make_key):
    renamed = in_application(make_key, demo.incharge)
    other = in_application(make_key, demo.infodeck)
    application = Application.objects.get(pk=demo.incharge.pk)
    application.name = "InCharge Cloud"
    application.save()
    renamed.refresh_from_db()
    other.refresh_from_db()
    assert renamed.application_name == "InCharge Cloud"
    assert other.application_name == demo.infodeck.name
    assert_no_drift()


def test_moving_an_account_moves_the_paths_of_the_keys_below_it(demo, make_key):
    site = Account.objects.create(organization=demo.acme, name="North site", parent=demo.north)
    in_north = make_key(account=demo.north).key
    in_site = make_key(account=site).key
    elsewhere = make_key(account=demo.south).key
    north = Account.objects.get(pk=demo.north.pk)
    north.parent = Account.objects.get(pk=demo.south.pk)
    north.save()
    for key in (in_north, in_site, elsewhere):
        key.refresh_from_db()
    site.refresh_from_db()
    north.refresh_from_db()
    assert in_north.account_path == north.path
    assert in_site.account_path == site.path
    assert site.path.startswith(north.path) and north.path.startswith(demo.south.path)
    assert elsewhere.account_path == demo.south.path
    assert_no_drift()


def test_saving_an_unchanged_application_writes_no_key(demo, make_key, django_assert_num_queries):
    in_application(make_key, demo.incharge)
    application = Application.objects.get(pk=demo.incharge.pk)
    with django_assert_num_queries(2):  # the row, and an UPDATE of the keys that finds none stale
        application.save()
    assert_no_drift()


@pytest.mark.parametrize("sort", ["application", "-application", "account", "-account"])
def test_sorting_by_the_copies_is_sorting_by_the_rows_they_copy(demo, sort):
    site = Account.objects.create(organization=demo.acme, name="A site", parent=demo.south)
    bulk_keys(
        demo.acme,
        12,
        applications=[demo.incharge, demo.infodeck, demo.portal],
        accounts=[demo.north, site, demo.acme_root, demo.south],
    )
    actor = Actor.for_user(User.objects.get(email="advanced@acme.test"))
    listed = list(selectors.listed_keys(actor, {"sort": sort}).qs.values_list("pk", flat=True))
    field = "application__name" if "application" in sort else "account__path"
    field = f"-{field}" if sort.startswith("-") else field
    expected = ApiKey.objects.filter(pk__in=listed).order_by(field, "-created_at", "-id")
    assert listed == list(expected.values_list("pk", flat=True))
