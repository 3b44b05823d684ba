"""Deactivating a member ends every session of theirs on every gunicorn worker, with the database
and with the cache session engine (a file cache that both workers share, or Redis when
REDIS_URL is set): their next request, whichever worker answers it, is sent to sign in, and the
sessions themselves are gone from the store."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.helpers.demo import PASSWORD
from tests.helpers.deployment import manage_command, manage_commands, production_env, start_gunicorn

REDIS_URL = os.environ.get("REDIS_URL", "")
MEMBER = "viewer@acme.test"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A cookie jar and the portal's sign-in form, as a person's browser would use them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def get(self, path: str) -> tuple[int, str, str]:
        try:
            with self.opener.open(self.url + path, timeout=10) as response:
                return response.status, response.read().decode(), ""
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace"), exc.headers.get("Location", "")

    def post(self, path: str, data: dict) -> tuple[int, str]:
        status, page, _ = self.get(path)
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert found, (path, status, page[:300])
        token = found.group(1)
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(self.url + path, data=body, headers={"Referer": self.url + path})
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.headers.get("Location", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Location", "")

    def sign_in(self, email: str) -> None:
        status, location = self.post("/login/", {"username": email, "password": PASSWORD})
        assert status == 302 and "/login/" not in location, (status, location)

    @property
    def session_key(self) -> str:
        names = {c.name: c.value for c in self.jar}
        assert "sessionid" in names, names.keys()
        return names["sessionid"]


def _engines():
    yield pytest.param({}, id="database")
    if REDIS_URL:
        cache = {"SESSION_ENGINE": "django.contrib.sessions.backends.cache", "CACHE_URL": REDIS_URL}
        yield pytest.param(cache, id="cache-redis", marks=pytest.mark.redis)
    else:
        yield pytest.param({"SESSION_ENGINE": "django.contrib.sessions.backends.cache"}, id="cache-file")


@pytest.mark.parametrize("engine", list(_engines()))
def test_deactivation_ends_every_session_on_every_worker(tmp_path, engine):
    extra = dict(engine)
    if extra.get("SESSION_ENGINE", "").endswith(".cache") and "CACHE_URL" not in extra:
        extra["CACHE_URL"] = f"filecache://{tmp_path / 'cache'}"
    env = production_env(
        f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "sessions-test",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        DEMO_PASSWORD=PASSWORD,
        STATIC_ROOT=str(tmp_path / "static"),
        **extra,
    )
    manage_commands(env)(
        ["migrate", "--noinput", "-v0"], ["seed_demo", "--no-keys"], ["collectstatic", "--noinput", "-v0"]
    )
    access_log = tmp_path / "access.log"
    process, url = start_gunicorn(
        env, extra_args=["--access-logfile", str(access_log), "--access-logformat", "%(p)s %(s)s %(U)s"]
    )

    def workers_answering(status: int, since: int) -> set[str]:
        lines = access_log.read_text().splitlines()[since:]
        return {pid for pid, code, path in (line.split(" ", 2) for line in lines) if code == str(status)}

    try:
        # The member signs in from four browsers; each session works, on both workers.
        browsers = [Browser(url) for _ in range(4)]
        for browser in browsers:
            browser.sign_in(MEMBER)
            for _ in range(4):
                assert browser.get("/settings/applications/")[0] == 200
        session_keys = [browser.session_key for browser in browsers]
        admin = Browser(url)
        admin.sign_in("advanced@acme.test")
        _, page, _ = admin.get("/settings/members/")
        member_id = re.search(
            rf'<tr id="member-(\d+)"[^>]*>\s*<th scope="row" data-label="Email">{MEMBER}<', page
        )
        assert admin.post(f"/settings/members/{member_id.group(1)}/deactivate/", {})[0] == 302

        # Every request of every one of those sessions, whichever worker answers, is sent to sign in
        # (each asks until both workers have answered it so).
        mark = len(access_log.read_text().splitlines())
        for browser in browsers:
            for _ in range(50):
                status, _, location = browser.get("/settings/applications/")
                assert status == 302 and location.startswith("/login/"), (status, location)
                if len(workers_answering(302, mark)) == 2:
                    break
        assert len(workers_answering(302, mark)) == 2
        # And the sessions are gone from the store itself, not only refused.
        keys = ",".join(repr(key) for key in session_keys)
        left = manage_command(env)(
            "shell",
            "-c",
            "from importlib import import_module; from django.conf import settings; "
            "store = import_module(settings.SESSION_ENGINE).SessionStore; "
            f"print(sum(store().exists(k) for k in [{keys}]))",
        )
        assert left.strip().splitlines()[-1] == "0"
        assert admin.get("/settings/members/")[0] == 200  # the admin's own session is untouched
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
