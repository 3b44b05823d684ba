"""portal/surfaces.py: the APIs and the probes go through their own, lean middleware stack, the
portal through the full one; what each must still do, and what the API must never do."""

import json

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import path

from accounts.models import User
from portal.surfaces import LeanHandler, is_api_path
from tests.helpers.api import assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "lean"),
    [
        ("/api/v1/key", True),
        ("/api/graphql", True),
        ("/api/anything", True),
        ("/healthz", True),
        ("/readyz", True),
        ("/metrics", True),
        ("/healthz/", False),
        ("/metricsx", False),
        ("/apix", False),
        ("/", False),
        ("/settings/api-keys/", False),
        ("/static/portal/portal.css", False),
    ],
)
def test_which_paths_take_the_lean_stack(path, lean):
    assert is_api_path(path) is lean


def _every_key_call(api, client, secret: str, key_id: str) -> list:
    graphql = json.dumps({"query": "{ currentKey { id name } }"})
    return [
        api("get", "/api/v1/key", secret),
        api("get", "/api/v1/scopes", secret),
        api("get", "/api/v1/org/api-keys", secret),
        api("get", f"/api/v1/org/api-keys/{key_id}", secret),
        api("post", "/api/v1/org/api-keys", secret, json={"name": "made", "scopes": ["api-keys:read"]}),
        api("post", "/api/v1/keys/verify", secret, json={"key": secret}),
        api("post", f"/api/v1/org/api-keys/{key_id}/regenerate", secret, json={}),
        client.post(
            "/api/graphql", graphql, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}"
        ),
        client.get("/healthz"),
        client.get("/readyz"),
    ]


def test_no_api_answer_sets_a_cookie_and_all_carry_the_security_headers(api, client, make_key, login):
    caller = make_key(scopes=["api-keys:read", "api-keys:write", "api-keys:verify"])
    target = make_key(name="target")
    # Even a browser that is signed in to the portal gets no session work from the API.
    login("advanced@acme.test")
    for response in _every_key_call(api, client, caller.secret, str(target.key.pk)):
        request = response.wsgi_request
        created = request.method == "POST" and request.path == "/api/v1/org/api-keys"
        assert response.status_code == (201 if created else 200), response.content
        assert not response.cookies, response.wsgi_request.path
        assert "Cookie" not in response.get("Vary", "")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"


def test_a_portal_session_never_authenticates_the_rest_api(login, client):
    login("advanced@acme.test")
    assert_error(client.get("/api/v1/org/api-keys"), 401, "unauthorized")
    assert_error(client.get("/api/v1/key"), 401, "unauthorized")


def test_the_html_under_api_carries_the_content_security_policy(client):
    for address in ("/api/v1/docs", "/api/graphql"):
        response = client.get(address, HTTP_ACCEPT="text/html")
        assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
        policy = response["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert response["X-Content-Type-Options"] == "nosniff"


def test_graphql_session_mode_still_has_its_session_and_csrf(demo):
    """The explorer sets the CSRF cookie and names the member; a query with the token runs as them,
    without it the session request is refused."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(email="advanced@acme.test"))
    page = client.get("/api/graphql")
    assert "advanced@acme.test" in page.content.decode() and "csrftoken" in page.cookies
    token = page.cookies["csrftoken"].value
    query = json.dumps({"query": "{ currentUser { email } }"})
    refused = client.post("/api/graphql", query, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["errors"][0]["extensions"]["code"] == "csrf_failed"
    answered = client.post("/api/graphql", query, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert answered.json() == {"data": {"currentUser": {"email": "advanced@acme.test"}}}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("post", "/api/v1/key", "GET"),
        ("put", "/api/v1/org/api-keys", "GET, POST"),
        ("patch", "/api/v1/scopes", "GET"),
        ("get", "/api/v1/keys/verify", "POST"),
    ],
)
def test_a_wrong_method_is_a_json_405(api, make_key, method, path, allowed):
    response = api(method, path, make_key().secret)
    assert_error(response, 405, "method_not_allowed")
    assert set(response["Allow"].replace(" ", "").split(",")) == set(allowed.replace(" ", "").split(","))


def test_an_unknown_api_path_is_a_json_404_and_a_portal_one_a_page(api, client, make_key):
    assert_error(api("get", "/api/v1/nothing-here", make_key().secret), 404, "not_found")
    page = client.get("/healthz/nothing")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_portal_pages_keep_the_full_stack(login):
    response = login("advanced@acme.test").get("/settings/api-keys/")
    assert response["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in response and response.wsgi_request.user.is_authenticated


# ---- the lean handler itself: Django's middleware hooks, for API_MIDDLEWARE ----

calls: list[str] = []


class Recording:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        calls.append("call")
        return self.get_response(request)

    def process_view(self, request, view, args, kwargs):
        calls.append(f"view {view.__name__}")

    def process_exception(self, request, exception):
        calls.append(f"exception {exception}")
        return HttpResponse("handled", status=418)


def broken(request):
    raise RuntimeError("boom")


urlpatterns = [path("api/broken", broken)]


@override_settings(API_MIDDLEWARE=[f"{__name__}.Recording"], ROOT_URLCONF=__name__)
def test_the_lean_handler_runs_view_and_exception_middleware():
    calls.clear()
    handler = LeanHandler()
    handler.load_middleware()
    response = handler.get_response(RequestFactory().get("/api/broken"))
    assert response.status_code == 418
    assert calls == ["call", "view broken", "exception boom"]
