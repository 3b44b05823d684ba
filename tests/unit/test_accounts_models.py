"""accounts/models.py: the account tree, plan limits and roles."""

import pytest
from django.core.exceptions import ValidationError

from accounts.catalogue import ensure_application
from accounts.models import (
    PLAN_LIMITS,
    Account,
    KeyRole,
    Organization,
    Plan,
    Role,
    Scope,
    rate_limit_per_minute,
    resource_label,
)

pytestmark = pytest.mark.django_db


def test_paths_follow_moves(demo):
    deep = Account(organization=demo.acme, name="North East", parent=demo.north)
    deep.save()
    assert deep.path == f"{demo.acme_root.pk}/{demo.north.pk}/{deep.pk}/"
    demo.north.parent = demo.south
    demo.north.save()
    deep.refresh_from_db()
    assert deep.path == f"{demo.acme_root.pk}/{demo.south.pk}/{demo.north.pk}/{deep.pk}/"


def test_one_root_per_organization(demo):
    second_root = Account(organization=demo.acme, name="Another root")
    with pytest.raises(ValidationError):
        second_root.full_clean()


def test_plan_limits_and_overrides(db):
    pro = Organization.objects.create(name="P", slug="p", plan=Plan.PROFESSIONAL)
    ent = Organization.objects.create(name="E", slug="e", plan=Plan.ENTERPRISE)
    assert (pro.key_limit, pro.rate_limit_per_minute) == (10, 100)
    assert (ent.key_limit, ent.rate_limit_per_minute) == (None, 500)
    pro.key_limit_override, pro.rate_limit_override = 25, 1000
    assert (pro.key_limit, pro.rate_limit_per_minute) == (25, 1000)
    assert PLAN_LIMITS[Plan.PROFESSIONAL]["key_limit"] == 10
    assert pro.rotation_policy_days == 90


def test_a_key_limit_beats_the_organization_which_beats_the_plan():
    assert rate_limit_per_minute(Plan.PROFESSIONAL, None) == 100
    assert rate_limit_per_minute(Plan.PROFESSIONAL, 250) == 250
    assert rate_limit_per_minute(Plan.PROFESSIONAL, 250, 7) == 7
    assert rate_limit_per_minute(Plan.ENTERPRISE, None, None) == 500


def test_roles_are_ordered_and_parsed():
    assert Role.ADVANCED_ADMIN > Role.ADMIN_API > Role.ADMIN > Role.SUPPORT > Role.VIEWER
    assert Role.at_most(Role.ADMIN_API) == [Role.ADMIN_API, Role.ADMIN, Role.SUPPORT, Role.VIEWER]
    assert Role.from_name("admin_api") == Role.ADMIN_API
    assert Role.from_name("Admin + API") == Role.ADMIN_API
    assert Role.from_name("Advanced Admin") == Role.ADVANCED_ADMIN
    assert Role.from_name("viewer") == Role.VIEWER
    with pytest.raises(ValueError, match="Unknown role"):
        Role.from_name("owner")


def test_each_role_has_one_api_name_that_reads_back_and_rest_lists_them():
    assert [r.api_name for r in sorted(Role, reverse=True)] == [
        "advanced_admin",
        "admin_api",
        "admin",
        "support",
        "viewer",
    ]
    assert all(Role.from_name(role.api_name) is role for role in Role)
    assert [m.value for m in KeyRole] == [r.api_name for r in sorted(Role, reverse=True)]
    assert {Role.api_name_of(role.value) for role in Role} == {m.value for m in KeyRole}
    assert Role.api_name_of(0) is None  # a user without membership has no role


def test_demo_catalogues_read_in_words_and_an_earlier_seed_is_reworded(demo):
    assert resource_label("work-orders") == "Work orders" and resource_label("iot") == "IoT"
    scopes = Scope.objects.filter(application=demo.infodeck)
    assert scopes.get(resource="work-orders", action="read").description == "View work orders"
    assert scopes.get(resource="iot", action="write").description == "Create/update IoT"
    # A catalogue seeded before ("Read iot") gets the words; one written by someone is kept.
    scopes.filter(resource="iot", action="read").update(description="Read iot")
    scopes.filter(resource="assets", action="read").update(description="Asset register, read-only")
    ensure_application(
        demo.acme, name="Infodeck", slug="infodeck", base_url="https://x.test", resources=["iot", "assets"]
    )
    assert scopes.get(resource="iot", action="read").description == "View IoT"
    assert scopes.get(resource="assets", action="read").description == "Asset register, read-only"
