"""keys/api/middleware.py: reading a key out of the request headers, and throttling the audit
events of failed authentications.

Whatever arrives in ``Authorization`` and ``X-API-Key``, the parser never raises, accepts only a
well-formed secret, and a request carrying rubbish gets the one JSON 401, never a 500.
"""

from __future__ import annotations

import string

import pytest
from django.test import RequestFactory
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from keys import credentials
from keys.api.middleware import _MALFORMED, _NO_CREDENTIALS, FailedAuthRecorder, presented_credentials

# Header values as a WSGI server can deliver them (latin-1), weighted towards the interesting parts.
header_text = st.one_of(
    st.text(alphabet=st.characters(max_codepoint=255), max_size=120),
    st.builds(
        lambda scheme, gap, body: f"{scheme}{gap}{body}",
        st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "Token", "", "Bearer:"]),
        st.sampled_from([" ", "  ", "\t", "", " \x00 "]),
        st.text(alphabet=string.ascii_letters + string.digits + "_:. \x00", max_size=80),
    ),
)
optional_header = st.one_of(st.none(), header_text)


def request_with(authorization: str | None, api_key: str | None):
    meta = {}
    if authorization is not None:
        meta["HTTP_AUTHORIZATION"] = authorization
    if api_key is not None:
        meta["HTTP_X_API_KEY"] = api_key
    return RequestFactory().get("/api/v1/key", **meta)


@settings(max_examples=800)
@given(authorization=optional_header, api_key=optional_header)
@example(authorization="Bearer", api_key=None)
@example(authorization="Bearer  ", api_key=None)
@example(authorization=None, api_key="")
@example(authorization="Bearer a", api_key="b")
def test_any_headers_parse_to_no_credentials_malformed_or_a_well_formed_secret(authorization, api_key):
    result = presented_credentials(request_with(authorization, api_key))
    if authorization is None and api_key is None:
        assert result is _NO_CREDENTIALS
    elif result is not _MALFORMED:
        assert isinstance(result, credentials.PresentedCredentials)
        assert credentials.is_well_formed_secret(result.secret)
        assert result.client_id is None or credentials.is_well_formed_client_id(result.client_id)


@settings(max_examples=200)
@given(
    env=st.sampled_from(["live", "test"]),
    form=st.sampled_from(["bearer", "bearer-with-id", "header", "header-with-id", "both"]),
    scheme=st.sampled_from(["Bearer", "bearer", "BEARER"]),
    padding=st.sampled_from(["", " ", "  ", "\t"]),
)
def test_the_four_accepted_forms_all_parse_to_the_same_secret(env, form, scheme, padding):
    secret = credentials.new_secret(env)
    client_id = credentials.new_client_id(env)
    value = f"{client_id}:{secret}" if form.endswith("with-id") else secret
    authorization = f"{padding}{scheme} {value}{padding}" if form.startswith(("bearer", "both")) else None
    api_key = f"{padding}{value}{padding}" if form.startswith(("header", "both")) else None
    result = presented_credentials(request_with(authorization, api_key))
    assert result.secret == secret
    assert result.client_id == (client_id if form.endswith("with-id") else None)


@settings(max_examples=300)
@given(position=st.integers(min_value=0, max_value=56), replacement=st.sampled_from(string.ascii_letters))
def test_any_single_character_change_to_a_secret_is_malformed(position, replacement):
    secret = credentials.new_secret("live")
    changed = secret[:position] + replacement + secret[position + 1 :]
    result = presented_credentials(request_with(f"Bearer {changed}", None))
    if changed == secret:
        assert result.secret == secret
    else:
        assert result is _MALFORMED


def test_two_different_headers_are_malformed_even_if_each_is_valid():
    one, other = credentials.new_secret("live"), credentials.new_secret("live")
    assert presented_credentials(request_with(f"Bearer {one}", other)) is _MALFORMED


@pytest.mark.django_db
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(authorization=optional_header, api_key=optional_header)
def test_rubbish_headers_get_the_json_401_never_a_500(client, authorization, api_key):
    meta = {}
    if authorization is not None:
        meta["HTTP_AUTHORIZATION"] = authorization
    if api_key is not None:
        meta["HTTP_X_API_KEY"] = api_key
    response = client.get("/api/v1/key", **meta)
    assert response.status_code == 401, response.content[:200]
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthorized"


def test_failed_auth_recorder_caps_events_per_minute():
    recorder = FailedAuthRecorder()
    accepted = sum(recorder.should_record(f"198.51.100.{i}", 1000.0) for i in range(100))
    assert accepted == FailedAuthRecorder.PER_MINUTE
    assert recorder.should_record("192.0.2.1", 1061.0)  # a new minute
