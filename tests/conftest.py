"""Shared factories and fixtures for every test layer."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.actors import Actor
from accounts.models import Account, Application, Membership, Organization, Role, User
from keys.hotpath import ratelimit, usage
from keys.hotpath.verification import verified_keys
from keys.services import IssuedKey, create_key

PASSWORD = "acme-demo-2026"


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings):
    """Fast password hashing, and no per-process state leaking from one test into the next."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    verified_keys.clear()
    usage.buffer.clear()
    ratelimit.limiter().local.clear()
    if ratelimit.limiter().shared is not None:
        ratelimit.limiter().shared.clear()
    yield
    verified_keys.clear()
    usage.buffer.clear()
    ratelimit.limiter().local.clear()


@dataclass
class Demo:
    acme: Organization
    globex: Organization
    acme_root: Account
    north: Account
    south: Account
    globex_root: Account
    portal: Application
    incharge: Application
    infodeck: Application
    globex_portal: Application

    def user(self, email: str) -> User:
        return User.objects.get(email=email)


@pytest.fixture
def demo(db) -> Demo:
    """The demo data of SPEC §7, created by the real seed_demo command."""
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    acme = Organization.objects.get(slug="acme")
    globex = Organization.objects.get(slug="globex")
    return Demo(
        acme=acme,
        globex=globex,
        acme_root=Account.objects.get(organization=acme, name="Acme Corp"),
        north=Account.objects.get(organization=acme, name="Acme North"),
        south=Account.objects.get(organization=acme, name="Acme South"),
        globex_root=Account.objects.get(organization=globex, name="Globex"),
        portal=Application.objects.get(organization=acme, is_portal=True),
        incharge=Application.objects.get(organization=acme, slug="incharge"),
        infodeck=Application.objects.get(organization=acme, slug="infodeck"),
        globex_portal=Application.objects.get(organization=globex, is_portal=True),
    )


ROLE_EMAILS = {
    Role.ADVANCED_ADMIN: "advanced@acme.test",
    Role.ADMIN_API: "adminapi@acme.test",
    Role.ADMIN: "admin@acme.test",
    Role.SUPPORT: "support@acme.test",
    Role.VIEWER: "viewer@acme.test",
}


@pytest.fixture
def make_user(demo) -> Callable[..., User]:
    def make(email: str, role: int, account: Account | None = None) -> User:
        account = account or demo.acme_root
        user = User.objects.create_user(email, PASSWORD, organization=account.organization)
        Membership.objects.create(user=user, account=account, role=role)
        return user

    return make


@pytest.fixture
def login(client) -> Callable[[str], Client]:
    def sign_in(email: str) -> Client:
        client.force_login(User.objects.get(email=email))
        return client

    return sign_in


@pytest.fixture
def make_key(demo) -> Callable[..., IssuedKey]:
    """Create a key through the real service, as the system, with sensible defaults."""
    counter = {"n": 0}

    def make(
        *,
        scopes: list[str] | None = None,
        role: int = Role.ADVANCED_ADMIN,
        account: Account | None = None,
        application: Application | None = None,
        organization: Organization | None = None,
        name: str | None = None,
        expires_in_days: int | None = None,
        rate_limit: int | None = None,
    ) -> IssuedKey:
        counter["n"] += 1
        organization = organization or demo.acme
        if application is None:
            application = Application.objects.get(organization=organization, is_portal=True)
        if account is None:
            account = Account.objects.get(organization=organization, parent__isnull=True)
        return create_key(
            actor=Actor.system(organization.pk, label="test"),
            application=application,
            account=account,
            role=role,
            name=name or f"test key {counter['n']}",
            scopes=scopes or ["api-keys:read", "api-keys:write", "api-keys:verify"],
            expires_in_days=expires_in_days,
            rate_limit=rate_limit,
        )

    return make


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def api(client) -> Callable[..., object]:
    """Call the REST API with a secret: api("get", "/api/v1/key", secret, json={...})."""

    def call(method: str, path: str, secret: str | None = None, *, json=None, headers=None, **extra):
        kwargs = dict(extra)
        if secret is not None:
            kwargs.update(bearer(secret))
        if headers:
            kwargs.update(headers)
        if json is not None:
            kwargs["data"] = json
            kwargs["content_type"] = "application/json"
        return getattr(client, method.lower())(path, **kwargs)

    return call
