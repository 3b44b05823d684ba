"""portal/middleware.py: every portal page needs a signed-in user, and the Content Security Policy
is sent with pages and the API docs but not with JSON answers or probes."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path", ["/", "/settings/api-keys/", "/settings/applications/", "/settings/audit-log/", "/password/"]
)
def test_every_page_requires_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("path", ["/login/", "/healthz", "/readyz", "/api/v1/openapi.json", "/api/v1/docs"])
def test_public_paths(client, path):
    assert client.get(path).status_code == 200


def test_the_policy_is_on_pages_and_the_api_docs_not_on_json_or_probes(client, api, make_key):
    issued = make_key()
    assert "Content-Security-Policy" not in api("get", "/api/v1/key", issued.secret)
    assert "Content-Security-Policy" not in client.get("/healthz")
    docs = client.get("/api/v1/docs")
    assert "object-src 'none'" in docs["Content-Security-Policy"]
    assert "object-src 'none'" in client.get("/login/")["Content-Security-Policy"]
