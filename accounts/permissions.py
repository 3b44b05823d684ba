"""Who may do what with API keys (SPEC §1), answered by small named functions.

The rule "each role includes the ones below it" lives in :class:`~accounts.models.Role` ordering.
A user's role on an account is the highest role among their memberships on that account or any of
its ancestors. Views ask these functions; ``keys.services`` asks them again, whoever the caller is.

Functions take anything shaped like a key (``organization_id``, ``account``, ``role``) so that this
module never imports the ``keys`` app.
"""

from __future__ import annotations

from typing import Protocol

from accounts.models import Account, Organization, Role, User

MANAGE_KEYS_ROLE = Role.ADMIN_API


def role_sees_keys(role: int) -> bool:
    """SPEC §1 is not a simple threshold here: Support reads keys, Admin (above it) does not."""
    return role >= MANAGE_KEYS_ROLE or role == Role.SUPPORT


class KeyLike(Protocol):
    organization_id: int
    account: Account
    role: int


def _is_member(user: User | None) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active and user.organization_id)


def role_on(user: User, account: Account) -> int:
    """The user's effective role on ``account`` (0 when they have none)."""
    if not _is_member(user) or account.organization_id != user.organization_id:
        return 0
    return max(
        (m.role for m in user.memberships_with_accounts() if account.path.startswith(m.account.path)),
        default=0,
    )


def top_role(user: User, organization: Organization | None = None) -> int:
    if not _is_member(user):
        return 0
    if organization is not None and organization.pk != user.organization_id:
        return 0
    return user.top_role


def can_view_keys(user: User, organization: Organization | None = None) -> bool:
    """May open Settings → API Keys at all: Advanced Admin, Admin + API and Support."""
    if top_role(user, organization) == 0:
        return False
    return any(role_sees_keys(m.role) for m in user.memberships_with_accounts())


def can_manage_keys(user: User, organization: Organization | None = None) -> bool:
    """May create, regenerate and revoke keys somewhere: Admin + API and above."""
    return top_role(user, organization) >= MANAGE_KEYS_ROLE


def can_view_audit_log(user: User, organization: Organization | None = None) -> bool:
    return can_view_keys(user, organization)


def can_view_applications(user: User, organization: Organization | None = None) -> bool:
    """Every member may read the application catalogue; it holds nothing secret."""
    return top_role(user, organization) >= Role.VIEWER


def key_view_grants(user: User) -> list[tuple[str, int | None]]:
    """(account path, highest key role visible or None for any) for each membership that may see keys.

    Support sees every key of its subtree, read-only; managers see keys up to their own role.
    """
    if not _is_member(user):
        return []
    return [
        (m.account.path, None if m.role < MANAGE_KEYS_ROLE else m.role)
        for m in user.memberships_with_accounts()
        if role_sees_keys(m.role)
    ]


def can_view_key(user: User, key: KeyLike) -> bool:
    if not _is_member(user) or key.organization_id != user.organization_id:
        return False
    return any(
        key.account.path.startswith(path) and (max_role is None or key.role <= max_role)
        for path, max_role in key_view_grants(user)
    )


def can_manage_key(user: User, key: KeyLike) -> bool:
    """May regenerate, revoke, rename or shorten this key."""
    if not _is_member(user) or key.organization_id != user.organization_id:
        return False
    role = role_on(user, key.account)
    return role >= MANAGE_KEYS_ROLE and key.role <= role


def can_create_key(user: User, *, role: int, account: Account) -> bool:
    """May create a key with ``role`` on ``account``: a key never exceeds its creator's role."""
    if not _is_member(user) or account.organization_id != user.organization_id:
        return False
    own = role_on(user, account)
    return own >= MANAGE_KEYS_ROLE and role <= own


def creatable_roles(user: User, account: Account) -> list[Role]:
    own = role_on(user, account)
    return Role.at_most(own) if own >= MANAGE_KEYS_ROLE else []


def manageable_accounts(user: User) -> list[Account]:
    """Accounts on which the user may create keys, in tree order."""
    if not _is_member(user):
        return []
    roots = [m.account for m in user.memberships_with_accounts() if m.role >= MANAGE_KEYS_ROLE]
    return _accounts_below(user.organization_id, roots)


def visible_accounts(user: User) -> list[Account]:
    """Accounts whose keys and audit events the user may read, in tree order."""
    if not _is_member(user):
        return []
    roots = [m.account for m in user.memberships_with_accounts() if role_sees_keys(m.role)]
    return _accounts_below(user.organization_id, roots)


def _accounts_below(organization_id: int, roots: list[Account]) -> list[Account]:
    if not roots:
        return []
    accounts = Account.objects.filter(organization_id=organization_id).order_by("path")
    return [a for a in accounts if any(a.path.startswith(r.path) for r in roots)]
