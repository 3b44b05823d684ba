"""accounts.models: the account tree and plan limits."""

import pytest
from django.core.exceptions import ValidationError

from accounts.models import PLAN_LIMITS, Account, Organization, Plan, rate_limit_per_minute

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
