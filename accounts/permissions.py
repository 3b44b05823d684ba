"""The access policy: what an actor (a member, a key, the system) may see and do with API keys.

The rule is written once, as *grants*. A grant is an account subtree, the highest key role it
covers, and whether it allows managing (creating, regenerating, revoking, editing) keys there:

* a member gets one grant per membership whose role sees keys. Support reads every key of its
  subtree; Admin + API and Advanced Admin see and manage keys up to their own role. Admin and
  Viewer see no keys at all (so this is not a simple threshold on the ordered roles);
* a key gets one grant: its own account subtree, keys up to its own role (which operations it
  may call is a matter of its scopes, asked by the API);
* the system (a command, a superuser in the Django admin) sees and manages its whole organization.

The same grants answer as a queryset filter (:func:`key_filter`, :func:`event_filter`) and as a
yes/no for one object (:func:`may_view_key`, :func:`may_manage_key`, :func:`may_create_key`), so
a list and a detail page cannot disagree. Views ask these; services ask them again.

Functions take anything shaped like a key (``organization_id``, ``account``, ``role``) so that
this module never imports the ``keys`` app.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Protocol, TypeGuard

from django.db.models import Exists, OuterRef, Q

from accounts.actors import Actor
from accounts.models import Account, Membership, Role, User

MANAGE_KEYS_ROLE = Role.ADMIN_API
TOP_ROLE = max(Role)
#: A filter that matches nothing (Django answers it without a query).
NOTHING = Q(pk__in=[])


class KeyLike(Protocol):
    organization_id: int
    account: Account
    role: int


@dataclass(frozen=True, slots=True)
class Grant:
    path: str  # account subtree ("1/4/"); "" is the whole organization
    max_role: int | None  # highest key role covered; None: every role
    manage: bool

    def covers(self, account_path: str, key_role: int) -> bool:
        return account_path.startswith(self.path) and (self.max_role is None or key_role <= self.max_role)

    @property
    def whole_organization(self) -> bool:
        return self.path.count("/") <= 1  # the root account's path is "<id>/"


def role_sees_keys(role: int) -> bool:
    """Support reads keys, Admin (above it) does not: see the module docstring."""
    return role >= MANAGE_KEYS_ROLE or role == Role.SUPPORT


def _is_member(user: User | None) -> TypeGuard[User]:
    return bool(user is not None and user.is_authenticated and user.is_active and user.organization_id)


def _cap(role: int) -> int | None:
    # A cap at the highest role caps nothing: no filter on the key's role (and no join for it).
    return None if role >= TOP_ROLE else role


def grants(actor: Actor, *, manage: bool = False) -> tuple[Grant, ...]:
    """The actor's grants; only those that allow managing when ``manage``."""
    if actor.is_system:
        return (Grant("", None, True),)
    if actor.key is not None:
        return (Grant(actor.key.account_path, _cap(actor.key.role), True),)
    user = actor.user
    if not _is_member(user) or user.organization_id != actor.organization_id:
        return ()
    found = []
    for membership in user.memberships_with_accounts():
        if not role_sees_keys(membership.role):
            continue
        manages = membership.role >= MANAGE_KEYS_ROLE
        if manage and not manages:
            continue
        found.append(Grant(membership.account.path, _cap(membership.role) if manages else None, manages))
    return tuple(found)


# ---- as queryset filters ----


def key_filter(actor: Actor, *, manage: bool = False) -> Q:
    """A filter on ``ApiKey`` for the keys the actor may see (or manage)."""
    parts = grants(actor, manage=manage)
    if not parts:
        return NOTHING
    return Q(organization_id=actor.organization_id) & _any_grant(parts)


def event_filter(actor: Actor) -> Q:
    """A filter on ``AuditEvent``: the events of the actor's account subtrees (a grant on the whole
    organization also covers events tied to no account: sign-ins, refusals), and none about a key
    above the roles it may see. An event visible here is about a key the actor may see."""
    parts = grants(actor)
    if not parts:
        return NOTHING
    return Q(organization_id=actor.organization_id) & _any_grant(
        parts, key_relation="key", subtree_as_ids=True
    )


def _any_grant(parts: tuple[Grant, ...], *, key_relation: str = "", subtree_as_ids: bool = False) -> Q:
    """OR of the grants on a model with an ``account``: ``ApiKey`` itself, or one that points at a
    key through ``key_relation`` (an event about no key passes the role condition).

    ``subtree_as_ids``: the subtree's accounts read first (one query) and passed as their ids, for
    the audit log: PostgreSQL then sees which accounts they are and how many events each has. As a
    subquery, its count of a sub-account member's events (``LIMIT 1,001``) became a merge join that
    walked the events of every account from the first (97 ms at 2,000,000 events); with the ids,
    an index scan that stops at the 1,001st (1.7 ms)."""
    rules = []
    for grant in parts:
        # The subtree's accounts as a subquery on the account table, not a join: the keys or events
        # are then filtered by their own account column (which the list indexes carry).
        subtree = Account.objects.filter(path__startswith=grant.path).values("pk")
        if grant.whole_organization:
            where = Q()
        elif subtree_as_ids:
            where = Q(account__in=list(subtree.values_list("pk", flat=True)))
        else:
            where = Q(account__in=subtree)
        if grant.max_role is not None:
            if key_relation:
                where &= Q(**{f"{key_relation}__isnull": True}) | Q(
                    **{f"{key_relation}__role__lte": grant.max_role}
                )
            else:
                where &= Q(role__lte=grant.max_role)
        if not where:  # this grant alone covers everything
            return Q()
        rules.append(where)
    return reduce(or_, rules)


# ---- as yes/no for one object ----


def _allowed(actor: Actor, organization_id: int, account_path: str, role: int, *, manage: bool) -> bool:
    if organization_id != actor.organization_id:
        return False
    return any(g.covers(account_path, role) for g in grants(actor, manage=manage))


def may_view_key(actor: Actor, key: KeyLike) -> bool:
    return _allowed(actor, key.organization_id, key.account.path, key.role, manage=False)


def may_view_key_at(actor: Actor, *, organization_id: int, account_path: str, role: int) -> bool:
    """``may_view_key`` for a key known by where it is (a verified key carries no Account)."""
    return _allowed(actor, organization_id, account_path, role, manage=False)


def may_manage_key(actor: Actor, key: KeyLike) -> bool:
    """May regenerate, revoke, rename or shorten this key."""
    return _allowed(actor, key.organization_id, key.account.path, key.role, manage=True)


def may_create_key(actor: Actor, *, role: int, account: Account) -> bool:
    """May create a key with ``role`` on ``account``: a key never exceeds its creator's role."""
    return _allowed(actor, account.organization_id, account.path, role, manage=True)


# ---- what a page may offer ----


def can_view_keys(actor: Actor) -> bool:
    """May open Settings → API Keys at all: Advanced Admin, Admin + API and Support."""
    return bool(grants(actor))


def keys_access_note() -> str:
    """Which roles open Settings → API Keys, for whoever's role does not (from the rules above)."""
    managing = [r.label for r in sorted(Role, reverse=True) if role_sees_keys(r) and r >= MANAGE_KEYS_ROLE]
    reading = [r.label for r in sorted(Role, reverse=True) if role_sees_keys(r) and r < MANAGE_KEYS_ROLE]
    note = f"API Keys needs the {' or '.join(managing)} role"
    if reading:
        note += f" ({' or '.join(reading)} may read keys without changing them)"
    return note + ": ask an Advanced Admin of your organization."


def can_manage_keys(actor: Actor) -> bool:
    """May create keys somewhere: Admin + API and above."""
    return bool(grants(actor, manage=True))


def can_view_audit_log(actor: Actor) -> bool:
    return can_view_keys(actor)


def can_view_security_policy(actor: Actor) -> bool:
    """May read Settings → Security: whoever may see keys (Advanced Admin, Admin + API, Support)."""
    return can_view_keys(actor)


def may_edit_security_policy(actor: Actor) -> bool:
    """May change the organization-wide policy: an Advanced Admin of the whole organization (or the
    system). Never a key: the policy governs keys."""
    if actor.is_system:
        return True
    if actor.key is not None:
        return False
    return any(g.whole_organization and g.max_role is None for g in grants(actor, manage=True))


# ---- members (Settings → Members) ----


def _member_paths(actor: Actor, *, manage: bool) -> list[str]:
    """Account subtrees whose members the actor may see (Advanced Admin, Support) or act on
    (Advanced Admin); "" is the whole organization."""
    if actor.is_system:
        return [""]
    user = actor.user
    if actor.key is not None or not _is_member(user) or user.organization_id != actor.organization_id:
        return []
    return [
        m.account.path
        for m in user.memberships_with_accounts()
        if m.role == Role.ADVANCED_ADMIN or (not manage and m.role == Role.SUPPORT)
    ]


def member_filter(actor: Actor, *, manage: bool = False) -> Q:
    """A filter on ``User``: the organization's members with a membership in one of the actor's
    subtrees (all of them for a grant on the root account)."""
    paths = _member_paths(actor, manage=manage)
    if not paths:
        return NOTHING
    organization = Q(organization_id=actor.organization_id)
    if any(Grant(path, None, False).whole_organization for path in paths):
        return organization
    inside = reduce(or_, [Q(account__path__startswith=path) for path in paths])
    return organization & Q(Exists(Membership.objects.filter(inside, user=OuterRef("pk"))))


def can_view_members(actor: Actor) -> bool:
    """May open Settings → Members: Advanced Admins, and Support to read."""
    return bool(_member_paths(actor, manage=False))


def can_manage_members(actor: Actor) -> bool:
    """May deactivate and reactivate members: Advanced Admins."""
    return bool(_member_paths(actor, manage=True))


def member_refusal(actor: Actor, member: User) -> str | None:
    """Why the actor may not deactivate (or reactivate) this member they can see, or None. The
    service adds the rule that needs the database: never the organization's last Advanced Admin."""
    if not can_manage_members(actor):
        return "Only an Advanced Admin may deactivate or reactivate members."
    if actor.user is not None and actor.user.pk == member.pk:
        return "You cannot deactivate or reactivate yourself: ask another Advanced Admin."
    own: int
    if actor.is_system:
        own = TOP_ROLE
    else:
        assert actor.user is not None  # can_manage_members holds for no one else but a member
        own = actor.user.top_role
    if member.top_role > own:
        return f"{member.email} is {Role(member.top_role).label}, above your own role."
    # Deactivating ends every session and flags every key the member saw, wherever: only someone
    # who administers every account the member belongs to may do it.
    paths = _member_paths(actor, manage=True)
    outside = [
        m.account
        for m in member.memberships_with_accounts()
        if not any(m.account.path.startswith(p) for p in paths)
    ]
    if outside:
        names = ", ".join(a.name for a in outside)
        return (
            f"{member.email} also belongs to {names}, outside the accounts you administer: ask an "
            "Advanced Admin whose accounts include them all."
        )
    return None


def can_view_applications(actor: Actor) -> bool:
    """Every member may read the application catalogue; it holds nothing secret."""
    user = actor.user
    return _is_member(user) and user.organization_id == actor.organization_id and user.top_role >= Role.VIEWER


def creatable_roles(actor: Actor) -> list[Role]:
    """Roles the actor may give a key somewhere, highest first. The chosen account may allow less:
    :func:`may_create_key` decides for that account."""
    caps = [g.max_role or TOP_ROLE for g in grants(actor, manage=True)]
    return Role.at_most(max(caps)) if caps else []


def visible_key_roles(actor: Actor) -> list[Role]:
    """Roles of the keys the actor may see somewhere, highest first (the list's role filter)."""
    caps = [g.max_role or TOP_ROLE for g in grants(actor)]
    return Role.at_most(max(caps)) if caps else []


def manageable_accounts(actor: Actor) -> list[Account]:
    """Accounts on which the actor may create keys, in tree order."""
    return _accounts_below(actor, grants(actor, manage=True))


def default_key_account(actor: Actor, accounts: list[Account] | None = None) -> Account | None:
    """Where a new key goes unless told otherwise: the member's highest account (the membership
    nearest the root) when they may create keys there, else the first account they may.
    ``accounts``: :func:`manageable_accounts`, when the caller has them already."""
    accounts = manageable_accounts(actor) if accounts is None else accounts
    highest = actor.user.highest_membership if actor.user is not None else None
    if highest is not None and any(a.pk == highest.account_id for a in accounts):
        return highest.account
    return accounts[0] if accounts else None


def visible_accounts(actor: Actor) -> list[Account]:
    """Accounts whose keys and audit events the actor may read, in tree order."""
    return _accounts_below(actor, grants(actor))


def _accounts_below(actor: Actor, found: tuple[Grant, ...]) -> list[Account]:
    if not found:
        return []
    accounts = Account.objects.filter(organization_id=actor.organization_id).order_by("path")
    return [a for a in accounts if any(a.path.startswith(g.path) for g in found)]
