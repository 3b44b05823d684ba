"""The GraphQL explorer at /api/graphql: GraphiQL from our own static files, used with the session."""

from urllib.parse import urlsplit

from playwright.sync_api import expect


def test_the_explorer_runs_a_query_with_the_session(sign_in, live_server, screenshot):
    page = sign_in("advanced@acme.test")
    own_host = urlsplit(live_server.url).netloc
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda request: (
            elsewhere.append(request.url)
            if urlsplit(request.url).scheme in ("http", "https") and urlsplit(request.url).netloc != own_host
            else None
        ),
    )
    page.goto("/api/graphql")
    expect(page.get_by_role("heading", name="GraphQL explorer")).to_be_visible()
    expect(page.locator(".graphiql-container")).to_be_visible()
    editor = page.locator(".graphiql-query-editor .CodeMirror").first
    expect(editor).to_be_visible()
    page.evaluate(
        "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue("
        "'{ currentUser { email } }')"
    )
    with page.expect_response(
        lambda r: r.url.endswith("/api/graphql") and r.request.method == "POST"
    ) as answer:
        page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
    assert answer.value.status == 200
    expect(page.locator(".graphiql-response")).to_contain_text("advanced@acme.test")
    screenshot(page, "graphiql")
    assert not elsewhere, f"requests to another host: {elsewhere}"


def test_the_docs_explorer_finds_an_operation(sign_in):
    page = sign_in("advanced@acme.test")
    page.goto("/api/graphql")
    page.get_by_role("button", name="Show Documentation Explorer").click()
    explorer = page.locator(".graphiql-doc-explorer")
    expect(explorer).to_contain_text("Query")
    page.screenshot(path="/tmp/docs.png")
    search = explorer.locator("input").first
    search.fill("createApi")
    expect(page.get_by_text("createApiKey").first).to_be_visible()
