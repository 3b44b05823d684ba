"""The role × question matrix of SPEC §1, and the account tree."""

from types import SimpleNamespace

import pytest

from accounts import permissions
from accounts.models import PLAN_LIMITS, Account, Organization, Plan, Role
from tests.conftest import ROLE_EMAILS

pytestmark = pytest.mark.django_db

# role: (view keys, manage keys, view audit log, view applications)
MATRIX = {
    Role.ADVANCED_ADMIN: (True, True, True, True),
    Role.ADMIN_API: (True, True, True, True),
    Role.ADMIN: (False, False, False, True),
    Role.SUPPORT: (True, False, True, True),
    Role.VIEWER: (False, False, False, True),
}


@pytest.mark.parametrize("role", list(MATRIX))
def test_section_questions(demo, role):
    user = demo.user(ROLE_EMAILS[role])
    assert (
        permissions.can_view_keys(user),
        permissions.can_manage_keys(user),
        permissions.can_view_audit_log(user),
        permissions.can_view_applications(user),
    ) == MATRIX[role]


def _key(org, account, role):
    return SimpleNamespace(organization_id=org.pk, account=account, role=role)


# (user role, key role) -> (may view, may manage)
KEY_MATRIX = {
    (Role.ADVANCED_ADMIN, Role.ADVANCED_ADMIN): (True, True),
    (Role.ADVANCED_ADMIN, Role.VIEWER): (True, True),
    (Role.ADMIN_API, Role.ADVANCED_ADMIN): (False, False),
    (Role.ADMIN_API, Role.ADMIN_API): (True, True),
    (Role.ADMIN_API, Role.SUPPORT): (True, True),
    (Role.ADMIN, Role.VIEWER): (False, False),
    (Role.SUPPORT, Role.ADVANCED_ADMIN): (True, False),
    (Role.SUPPORT, Role.VIEWER): (True, False),
    (Role.VIEWER, Role.VIEWER): (False, False),
}


@pytest.mark.parametrize(("user_role", "key_role"), list(KEY_MATRIX))
def test_view_and_manage_a_key(demo, user_role, key_role):
    user = demo.user(ROLE_EMAILS[user_role])
    key = _key(demo.acme, demo.north, key_role)
    assert (permissions.can_view_key(user, key), permissions.can_manage_key(user, key)) == KEY_MATRIX[
        (user_role, key_role)
    ]


@pytest.mark.parametrize("user_role", list(MATRIX))
@pytest.mark.parametrize("key_role", list(Role))
def test_create_with_role_never_above_own(demo, user_role, key_role):
    user = demo.user(ROLE_EMAILS[user_role])
    expected = user_role >= Role.ADMIN_API and key_role <= user_role
    assert permissions.can_create_key(user, role=key_role, account=demo.south) is expected


def test_nothing_across_organizations(demo):
    acme_admin = demo.user("advanced@acme.test")
    globex_admin = demo.user("advanced@globex.test")
    assert not permissions.can_view_key(acme_admin, _key(demo.globex, demo.globex_root, Role.VIEWER))
    assert not permissions.can_manage_key(globex_admin, _key(demo.acme, demo.acme_root, Role.VIEWER))
    assert not permissions.can_create_key(acme_admin, role=Role.VIEWER, account=demo.globex_root)
    assert not permissions.can_view_keys(acme_admin, demo.globex)


def test_membership_on_a_branch_covers_only_that_subtree(demo, make_user):
    user = make_user("north@acme.test", Role.ADVANCED_ADMIN, demo.north)
    assert permissions.can_manage_key(user, _key(demo.acme, demo.north, Role.ADMIN))
    assert not permissions.can_view_key(user, _key(demo.acme, demo.south, Role.VIEWER))
    assert not permissions.can_view_key(user, _key(demo.acme, demo.acme_root, Role.VIEWER))
    assert [a.name for a in permissions.manageable_accounts(user)] == ["Acme North"]
    assert permissions.creatable_roles(user, demo.south) == []


def test_inactive_or_anonymous_users_have_no_rights(demo):
    from django.contrib.auth.models import AnonymousUser

    user = demo.user("advanced@acme.test")
    user.is_active = False
    assert not permissions.can_view_keys(user)
    assert not permissions.can_view_keys(AnonymousUser())
    assert not permissions.can_view_applications(AnonymousUser())


def test_roles_are_ordered_and_parsed():
    assert Role.ADVANCED_ADMIN > Role.ADMIN_API > Role.ADMIN > Role.SUPPORT > Role.VIEWER
    assert Role.at_most(Role.ADMIN_API) == [Role.ADMIN_API, Role.ADMIN, Role.SUPPORT, Role.VIEWER]
    assert Role.from_name("admin_api") == Role.ADMIN_API
    assert Role.from_name("Admin + API") == Role.ADMIN_API
    assert Role.from_name("Advanced Admin") == Role.ADVANCED_ADMIN
    assert Role.from_name("viewer") == Role.VIEWER
    with pytest.raises(ValueError, match="Unknown role"):
        Role.from_name("owner")


# ---- the account tree ----


def test_highest_account_is_nearest_the_root(demo, make_user):
    user = make_user("two@acme.test", Role.ADMIN_API, demo.north)
    from accounts.models import Membership

    Membership.objects.create(user=user, account=demo.acme_root, role=Role.SUPPORT)
    user = type(user).objects.get(pk=user.pk)
    assert user.highest_membership.account == demo.acme_root
    # Effective role on North is the higher of the two memberships that cover it.
    assert permissions.role_on(user, demo.north) == Role.ADMIN_API
    assert permissions.role_on(user, demo.south) == Role.SUPPORT


def test_subtree_and_moves(demo):
    deep = Account(organization=demo.acme, name="North East", parent=demo.north)
    deep.save()
    assert demo.acme_root.contains(deep) and demo.north.contains(deep)
    assert not demo.south.contains(deep)
    assert set(demo.north.subtree().values_list("name", flat=True)) == {"Acme North", "North East"}
    demo.north.parent = demo.south
    demo.north.save()
    deep.refresh_from_db()
    assert demo.south.contains(deep)
    assert deep.path == f"{demo.acme_root.pk}/{demo.south.pk}/{demo.north.pk}/{deep.pk}/"


def test_one_root_per_organization(demo):
    from django.core.exceptions import ValidationError

    second_root = Account(organization=demo.acme, name="Another root")
    with pytest.raises(ValidationError):
        second_root.full_clean()


# ---- plans ----


def test_plan_limits_and_overrides(db):
    pro = Organization.objects.create(name="P", slug="p", plan=Plan.PROFESSIONAL)
    ent = Organization.objects.create(name="E", slug="e", plan=Plan.ENTERPRISE)
    assert (pro.key_limit, pro.rate_limit_per_minute) == (10, 100)
    assert (ent.key_limit, ent.rate_limit_per_minute) == (None, 500)
    pro.key_limit_override, pro.rate_limit_override = 25, 1000
    assert (pro.key_limit, pro.rate_limit_per_minute) == (25, 1000)
    assert PLAN_LIMITS[Plan.PROFESSIONAL]["key_limit"] == 10
    assert pro.rotation_policy_days == 90
