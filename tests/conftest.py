"""Shared fixtures for every test layer.

The demo data (the real seed_demo command) is created once per session, right after the test
database. Each test runs in a transaction that is rolled back after it, so every test starts from
exactly those rows. A test that uses ``transactional_db`` or ``live_server`` runs outside such a
transaction and empties every table when it ends, as Django's TransactionTestCase does; so those
tests run after all the others (``pytest_collection_modifyitems``), and ``demo`` seeds again
whenever it finds the demo data missing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
from django.test import Client
from django.test.client import ClientHandler
from hypothesis import settings as hypothesis_settings

from accounts.models import Account, Membership, User
from keys.authentication.verification import verified_keys
from keys.metering import ratelimit, requestlog, usage
from keys.models import ApiKey
from keys.services import IssuedKey
from tests.helpers import demo as demo_data
from tests.helpers import services, tasks
from tests.helpers.api import bearer
from tests.helpers.demo import PASSWORD, Demo

# Property tests check what happens, not how fast: Hypothesis's per-example deadline (200 ms) is a
# timed assertion that a loaded CI machine fails. Speed is for the benchmarks.
hypothesis_settings.register_profile("portal", deadline=None)
hypothesis_settings.load_profile("portal")


def _empties_the_database(item: pytest.Item) -> bool:
    """Whether pytest-django runs this test as a TransactionTestCase (flushed afterwards)."""
    marker = item.get_closest_marker("django_db")
    if marker is not None:
        transaction = marker.kwargs.get("transaction", marker.args[0] if marker.args else False)
        if transaction or marker.kwargs.get("reset_sequences"):
            return True
    names = getattr(item, "fixturenames", ())
    return any(name in names for name in ("transactional_db", "live_server", "django_db_reset_sequences"))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that empties the database after itself runs after every test that expects the
    session's demo data; otherwise the order is unchanged (a stable sort)."""
    items.sort(key=_empties_the_database)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, with the demo data already in it."""
    with django_db_blocker.unblock():
        demo_data.seed()


@pytest.fixture(scope="session")
def _request_handler() -> ClientHandler:
    """One test-client handler for the session. It loads the middleware on its first request (and
    WhiteNoise then scans every static file): once per new client, that was a fifth of the run."""
    return ClientHandler(enforce_csrf_checks=False)


@pytest.fixture
def client(_request_handler) -> Client:
    """A new test client, without cookies, for each test; the middleware is the session's."""
    client = Client()
    client.handler = _request_handler
    return client


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings):
    """Fast password hashing, tasks run at once where they are enqueued (no worker needed: the
    ``database_tasks`` fixture gives a test the real queue), and no per-process state leaking from
    one test into the next."""
    settings.PASSWORD_HASHERS = demo_data.FAST_HASHERS
    settings.TASKS = tasks.IMMEDIATE
    verified_keys.clear()
    usage.buffer.clear()
    requestlog.buffer.clear()
    ratelimit.limiter().local.clear()
    if ratelimit.limiter().shared is not None:
        ratelimit.limiter().shared.clear()
    yield
    verified_keys.clear()
    usage.buffer.clear()
    requestlog.buffer.clear()
    ratelimit.limiter().local.clear()


@pytest.fixture
def database_tasks(settings, transactional_db) -> Callable[[], str]:
    """The real database backend: enqueued tasks wait in the database until the test runs the worker
    (``manage.py db_worker --batch``) with the function this fixture gives. Committed rows, as the
    worker sees them in production: the test runs outside a transaction (transactional_db)."""
    settings.TASKS = tasks.DATABASE
    return tasks.run_worker


@pytest.fixture
def demo(db) -> Demo:
    """The demo organizations, accounts, applications and users, as seed_demo creates them."""
    if not demo_data.is_seeded():  # emptied by an earlier transactional test
        demo_data.seed()
    return demo_data.load()


@pytest.fixture
def demo_keys(demo) -> dict[str, ApiKey]:
    """The demo keys seed_demo makes (the session's demo has none), by name; rolled back after the
    test like everything else it writes."""
    demo_data.seed(keys=True)
    keys = ApiKey.objects.select_related("organization", "application", "account", "created_by")
    return {key.name: key for key in keys}


@pytest.fixture
def make_user(demo) -> Callable[..., User]:
    def make(email: str, role: int, account: Account | None = None) -> User:
        account = account or demo.acme_root
        user = User.objects.create_user(email, PASSWORD, organization=account.organization)
        Membership.objects.create(user=user, account=account, role=role)
        return user

    return make


@pytest.fixture
def login(client, demo) -> Callable[[str], Client]:
    """Sign the test client in as one of the demo users (or one made by make_user)."""

    def sign_in(email: str) -> Client:
        client.force_login(User.objects.get(email=email))
        return client

    return sign_in


@pytest.fixture
def make_key(demo) -> Callable[..., IssuedKey]:
    """Create a key through the real service, as the system, with sensible defaults (the one key
    factory, tests/helpers/services.py, bound to the demo data)."""
    return functools.partial(services.make_key, demo)


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
