"""Who is acting: a signed-in user or an API key. Services take an :class:`Actor` so that the same
role and subtree rules hold for the portal, the REST API, the admin and the commands."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from accounts import permissions
from accounts.models import Account, Role, User

if TYPE_CHECKING:
    from keys.models import ApiKey
    from keys.verification import VerifiedKey


@dataclass(frozen=True)
class Actor:
    organization_id: int
    user: User | None = None
    key: VerifiedKey | None = None
    label: str = "system"
    ip: str | None = None
    user_agent: str = ""
    # A management command or the Django admin acting for a superuser: the organization's rules
    # (quota, scope catalogue, role caps on scopes) still hold, the caller's own role does not.
    is_system: bool = False
    _key_account: Account | None = field(default=None, compare=False)

    @classmethod
    def for_user(cls, user: User, *, ip: str | None = None, user_agent: str = "") -> Actor:
        return cls(
            organization_id=user.organization_id or 0,
            user=user,
            label=user.email,
            ip=ip,
            user_agent=user_agent[:300],
        )

    @classmethod
    def for_key(cls, key: VerifiedKey, *, ip: str | None = None, user_agent: str = "") -> Actor:
        return cls(
            organization_id=key.organization_id,
            key=key,
            label=f"key {key.name} ({key.client_id})",
            ip=ip,
            user_agent=user_agent[:300],
        )

    @classmethod
    def system(cls, organization_id: int, *, label: str = "system", user: User | None = None) -> Actor:
        return cls(organization_id=organization_id, user=user, label=label, is_system=True)

    # ---- the questions services ask ----
    def may_create(self, *, role: int, account: Account) -> bool:
        if account.organization_id != self.organization_id:
            return False
        if self.is_system:
            return True
        if self.key is not None:
            return account.path.startswith(self.key.account_path) and role <= self.key.role
        return self.user is not None and permissions.can_create_key(self.user, role=role, account=account)

    def may_view(self, key: ApiKey) -> bool:
        if key.organization_id != self.organization_id:
            return False
        if self.is_system:
            return True
        if self.key is not None:
            return key.account.path.startswith(self.key.account_path) and key.role <= self.key.role
        return self.user is not None and permissions.can_view_key(self.user, key)

    def may_manage(self, key: ApiKey) -> bool:
        if key.organization_id != self.organization_id:
            return False
        if self.is_system:
            return True
        if self.key is not None:
            return key.account.path.startswith(self.key.account_path) and key.role <= self.key.role
        return self.user is not None and permissions.can_manage_key(self.user, key)

    @property
    def role_cap(self) -> int:
        if self.is_system:
            return Role.ADVANCED_ADMIN
        if self.key is not None:
            return self.key.role
        return self.user.top_role if self.user is not None else 0
