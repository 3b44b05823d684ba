"""portal/views.py: the health and readiness probes, the 403 and 404 pages, and the answer to a
form sent without its CSRF token."""

import pytest

pytestmark = pytest.mark.django_db


def test_health_probes(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"


def test_healthz_touches_neither_database_nor_cache(client, django_assert_num_queries, monkeypatch):
    from django.core.cache import cache

    def boom(*args, **kwargs):
        raise AssertionError("healthz used the cache")

    monkeypatch.setattr(cache, "get", boom)
    monkeypatch.setattr(cache, "set", boom)
    with django_assert_num_queries(0):
        assert client.get("/healthz").status_code == 200


def test_readyz_answers_503_when_the_database_is_down(client, monkeypatch):
    from django.db.backends.base import base

    def down(self, *args, **kwargs):
        raise base.DatabaseError("connection refused")

    monkeypatch.setattr("django.db.backends.utils.CursorWrapper.execute", down)
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["database"] == "unavailable"


def test_403_page_is_styled(login, demo):
    response = login("viewer@acme.test").get("/settings/api-keys/")
    html = response.content.decode()
    assert response.status_code == 403 and "Not allowed" in html and "portal.css" in html


def test_404_page(login, demo):
    response = login("advanced@acme.test").get("/no/such/page/")
    assert response.status_code == 404 and "Page not found" in response.content.decode()


def test_post_without_csrf_token_is_refused(demo):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(demo.user("advanced@acme.test"))
    response = client.post("/logout/")
    assert response.status_code == 403 and "expired" in response.content.decode()
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post("/login/", {"username": "a@b.c", "password": "x"}).status_code == 403
