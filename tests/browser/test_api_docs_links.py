"""From the key pages to the applications and the API documentation, as the vendors' guides describe:
the Application column leads to the application, the docs of both APIs are linked at the top of the
list, the OpenAPI document can be downloaded, and the reveal says where to send the new key."""

import json
import re

from playwright.sync_api import expect

from tests.helpers.browser import (
    fill_create_form,
    key_rows,
    open_create_dialog,
    reveal_dialog,
    revealed_secret,
    seed_keys,
)


def test_the_application_column_leads_to_the_application(sign_in, demo, make_key):
    keys = seed_keys(demo, make_key)
    page = sign_in("support@acme.test")
    page.goto("/settings/api-keys/?q=ERP")
    expect(key_rows(page)).to_have_count(1)
    key_rows(page).first.get_by_role("link", name="InCharge").click()
    expect(page).to_have_url(re.compile(r"/settings/applications/incharge/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("InCharge")
    page.goto(keys["scada"].key.get_absolute_url())
    page.get_by_role("link", name="Infodeck").click()
    expect(page).to_have_url(re.compile(r"/settings/applications/infodeck/$"))


def test_the_docs_of_both_apis_are_linked_at_the_top_of_the_list(sign_in):
    page = sign_in("advanced@acme.test")
    page.goto("/settings/api-keys/")
    links = page.locator("#api-docs-links")
    links.get_by_role("link", name="REST API docs").click()
    expect(page).to_have_url(re.compile(r"/api/v1/docs$"))
    expect(page.locator("#swagger-ui")).to_be_visible()
    page.go_back()
    page.locator("#api-docs-links").get_by_role("link", name="GraphQL explorer").click()
    expect(page).to_have_url(re.compile(r"/api/graphql$"))
    expect(page.get_by_role("heading", name="GraphQL explorer")).to_be_visible()


def test_the_openapi_document_downloads_with_a_file_name(sign_in, tmp_path):
    page = sign_in("advanced@acme.test")
    page.goto("/settings/applications/portal/")
    expect(page.get_by_text("Postman")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download OpenAPI document").click()
    assert download.value.suggested_filename == "api-key-portal-openapi.json"
    saved = tmp_path / "openapi.json"
    download.value.save_as(saved)
    document = json.loads(saved.read_text())
    assert document["openapi"].startswith("3.") and "/api/v1/org/api-keys" in document["paths"]


def test_the_reveal_names_the_keys_own_application_endpoint(sign_in, demo):
    page = sign_in("advanced@acme.test")
    page.goto("/settings/api-keys/")
    dialog = open_create_dialog(page)
    fill_create_form(dialog, name="Charging back end", application="InCharge", scopes=("charge-points:read",))
    dialog.get_by_role("button", name="Create").click()
    reveal = reveal_dialog(page)
    expect(reveal.locator("#reveal-endpoint")).to_contain_text(
        "InCharge is at https://incharge.acme.test/api"
    )
    secret = revealed_secret(reveal)
    # Another application's documented endpoint, for the key's first resource, the secret in it.
    expect(reveal.locator("#reveal-example")).to_have_text(
        f'curl -H "Authorization: Bearer {secret}" https://incharge.acme.test/api/charge-points'
    )
    try_it = reveal.get_by_role("link", name=re.compile("Try it on InCharge’s page"))
    expect(try_it).to_have_attribute("href", "/settings/applications/incharge/#try-it")
