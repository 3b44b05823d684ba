"""The access policy: who may see and do what, asked as yes/no and as a queryset filter."""

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts import permissions
from accounts.actors import Actor
from accounts.models import Membership, Role
from keys.models import ApiKey
from keys.selectors import visible_keys
from tests.helpers.demo import ROLE_EMAILS

pytestmark = pytest.mark.django_db

# role: (view keys, manage keys, view audit log, view applications)
MATRIX = {
    Role.ADVANCED_ADMIN: (True, True, True, True),
    Role.ADMIN_API: (True, True, True, True),
    Role.ADMIN: (False, False, False, True),
    Role.SUPPORT: (True, False, True, True),
    Role.VIEWER: (False, False, False, True),
}


def member(demo, email: str) -> Actor:
    return Actor.for_user(demo.user(email))


@pytest.mark.parametrize("role", list(MATRIX))
def test_page_questions_per_role(demo, role):
    actor = member(demo, ROLE_EMAILS[role])
    assert (
        permissions.can_view_keys(actor),
        permissions.can_manage_keys(actor),
        permissions.can_view_audit_log(actor),
        permissions.can_view_applications(actor),
    ) == MATRIX[role]


def north_admin_api_key(demo) -> SimpleNamespace:
    """What the policy knows of an Admin + API key on Acme North that authenticated a request."""
    return SimpleNamespace(
        id=None,
        organization_id=demo.acme.pk,
        account_path=demo.north.path,
        role=Role.ADMIN_API,
        name="k",
        client_id="c",
    )


def _key(org, account, role):
    return SimpleNamespace(organization_id=org.pk, account=account, role=role)


# (member role, key role) -> (may view, may manage)
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


@pytest.mark.parametrize(("member_role", "key_role"), list(KEY_MATRIX))
def test_view_and_manage_a_key(demo, member_role, key_role):
    actor = member(demo, ROLE_EMAILS[member_role])
    key = _key(demo.acme, demo.north, key_role)
    assert (permissions.may_view_key(actor, key), permissions.may_manage_key(actor, key)) == KEY_MATRIX[
        (member_role, key_role)
    ]


@pytest.mark.parametrize("member_role", list(MATRIX))
@pytest.mark.parametrize("key_role", list(Role))
def test_create_with_role_never_above_own(demo, member_role, key_role):
    actor = member(demo, ROLE_EMAILS[member_role])
    expected = member_role >= Role.ADMIN_API and key_role <= member_role
    assert permissions.may_create_key(actor, role=key_role, account=demo.south) is expected


def test_the_filter_and_the_yes_no_answers_agree(demo, make_key, make_user):
    """One rule: for every kind of actor, the keys the queryset filter finds are exactly those
    may_view_key allows, and the manageable ones exactly those may_manage_key allows."""
    for account in (demo.acme_root, demo.north, demo.south):
        for role in Role:
            make_key(
                account=account,
                role=role,
                application=demo.incharge,
                scopes=["billing:read"],
                name=f"{account.name} {role.label}",
            )
    make_key(organization=demo.globex, name="globex key", scopes=["api-keys:read"])
    branch = make_user("branch@acme.test", Role.ADMIN_API, demo.north)
    Membership.objects.create(user=branch, account=demo.south, role=Role.SUPPORT)
    branch = type(branch).objects.get(pk=branch.pk)
    key_actor = north_admin_api_key(demo)
    actors = [member(demo, email) for email in [*ROLE_EMAILS.values(), "advanced@globex.test"]]
    actors += [Actor.for_user(branch), Actor.for_key(key_actor), Actor.system(demo.acme.pk)]
    every_key = list(ApiKey.objects.select_related("account"))
    for actor in actors:
        seen = set(visible_keys(actor).values_list("pk", flat=True))
        managed = set(
            ApiKey.objects.filter(permissions.key_filter(actor, manage=True)).values_list("pk", flat=True)
        )
        assert seen == {k.pk for k in every_key if permissions.may_view_key(actor, k)}, actor.label
        assert managed == {k.pk for k in every_key if permissions.may_manage_key(actor, k)}, actor.label
        assert managed <= seen


def test_nothing_across_organizations(demo):
    acme_admin = member(demo, "advanced@acme.test")
    globex_admin = member(demo, "advanced@globex.test")
    assert not permissions.may_view_key(acme_admin, _key(demo.globex, demo.globex_root, Role.VIEWER))
    assert not permissions.may_manage_key(globex_admin, _key(demo.acme, demo.acme_root, Role.VIEWER))
    assert not permissions.may_create_key(acme_admin, role=Role.VIEWER, account=demo.globex_root)


def test_membership_on_a_branch_covers_only_that_subtree(demo, make_user):
    actor = Actor.for_user(make_user("north@acme.test", Role.ADVANCED_ADMIN, demo.north))
    assert permissions.may_manage_key(actor, _key(demo.acme, demo.north, Role.ADMIN))
    assert not permissions.may_view_key(actor, _key(demo.acme, demo.south, Role.VIEWER))
    assert not permissions.may_view_key(actor, _key(demo.acme, demo.acme_root, Role.VIEWER))
    assert [a.name for a in permissions.manageable_accounts(actor)] == ["Acme North"]
    assert not permissions.may_create_key(actor, role=Role.VIEWER, account=demo.south)


def test_a_key_acts_within_its_account_and_role(demo):
    actor = Actor.for_key(north_admin_api_key(demo))
    assert permissions.may_create_key(actor, role=Role.ADMIN_API, account=demo.north)
    assert not permissions.may_create_key(actor, role=Role.ADVANCED_ADMIN, account=demo.north)
    assert not permissions.may_create_key(actor, role=Role.VIEWER, account=demo.south)


def test_inactive_or_anonymous_users_have_no_rights(demo):
    user = demo.user("advanced@acme.test")
    user.is_active = False
    assert not permissions.can_view_keys(Actor.for_user(user))
    assert not permissions.can_view_keys(Actor.for_user(AnonymousUser()))
    assert not permissions.can_view_applications(Actor.for_user(AnonymousUser()))
    assert permissions.key_filter(Actor.for_user(AnonymousUser())) == permissions.NOTHING


def test_two_memberships_the_higher_role_counts_on_the_branch(demo, make_user):
    user = make_user("two@acme.test", Role.ADMIN_API, demo.north)
    Membership.objects.create(user=user, account=demo.acme_root, role=Role.SUPPORT)
    actor = Actor.for_user(type(user).objects.get(pk=user.pk))
    assert actor.user.highest_membership.account == demo.acme_root
    assert permissions.may_manage_key(actor, _key(demo.acme, demo.north, Role.ADMIN_API))
    assert not permissions.may_manage_key(actor, _key(demo.acme, demo.south, Role.VIEWER))
    assert permissions.may_view_key(actor, _key(demo.acme, demo.south, Role.ADVANCED_ADMIN))
    assert permissions.creatable_roles(actor) == Role.at_most(Role.ADMIN_API)
