"""`make bench-scale`: every page and list call timed at a large customer's volume, on PostgreSQL.

It creates a throw-away PostgreSQL database (``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/postgres``: the server to create it on, reached as a user that
may create databases), migrates it, and loads through the project's models in bulk (``bulk_create``
for keys and people, ``COPY`` into the models' tables for the append-only audit log and the daily
usage counters):

* one organization with 21 accounts and 20 members; 100,000 keys (15 % revoked, a third expired,
  a few disabled) with realistic names, applications, roles, scopes and creators;
* 2,000,000 audit events over two years, every action (key lifecycle events at each key's own
  times, sign-ins, refusals, failed key authentications, policy changes …);
* 30 days of usage rows for every key (3,000,000 rows).

Then it starts gunicorn with 2 sync workers and production settings, times each request of the
table sequentially (median and p95 of ``BENCH_SCALE_RUNS`` runs, 20 by default, after one warm-up
request), times 4 parallel deep audit-log pages while /healthz is called, writes the table into
docs/benchmarks.md (its own section; ``make bench`` keeps the other) and drops the database.

Times are measured by the client on loopback (the load generator shares the machine); they are
never asserted anywhere: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import bench  # scripts/bench.py: the gunicorn runner and the benchmark document shared with `make bench`

ROOT = bench.ROOT
PYTHON = bench.PYTHON
PASSWORD = bench.PASSWORD
SECTION = "make bench-scale"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
REGIONAL = "regional@acme.test"  # an Advanced Admin of Acme North, a sub-account with 3 sites below it
CITIES = [
    *("Oslo", "Berlin", "Madrid", "Lyon", "Porto", "Turin", "Ghent", "Leeds", "Cork", "Malmo"),
    *("Tartu", "Riga", "Brno", "Graz", "Split", "Bergen", "Aarhus", "Lille", "Bremen", "Basel"),
]
PURPOSES = (
    "ERP sync",
    "SCADA gateway",
    "BI export",
    "Mobile backend",
    "Billing webhook",
    "Charge point bridge",
    "Data warehouse loader",
    "Work order sync",
    "IoT ingest",
    "Reporting job",
    "CRM connector",
    "Asset tracker",
    "Field service app",
    "Meter reader",
    "Partner portal",
)


# ---------------------------------------------------------------------------------------- the data


def load(keys: int, events: int, usage_days: int, seed: int) -> None:
    """Runs inside Django (``--inside load``): the volume, in bulk."""
    from datetime import timedelta

    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import Account, Application, Membership, Organization, Role, Scope, User
    from audit.models import AuditAction, AuditEvent
    from keys import credentials
    from keys.metering.usage import FIELDS as USAGE_FIELDS
    from keys.models import ApiKey, KeyUsageDay

    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    now = timezone.now()
    two_years = timedelta(days=730).total_seconds()
    org = Organization.objects.get(slug="acme")
    started = time.monotonic()

    # 21 accounts: the root, five regions (two of them the demo's), three sites below each region.
    root = Account.objects.get(organization=org, parent__isnull=True)
    regions = [Account.objects.get(organization=org, name=n) for n in ("Acme North", "Acme South")]
    for name in ("Acme East", "Acme West", "Acme Central"):
        account = Account(organization=org, name=name, parent=root)
        account.save()
        regions.append(account)
    accounts = [root, *regions]
    for region in regions:
        for n in range(1, 4):
            account = Account(organization=org, name=f"{region.name} site {n}", parent=region)
            account.save()
            accounts.append(account)

    # Members: the demo's five and fifteen more on various accounts, one password hash for all.
    password = make_password(PASSWORD)
    people = [
        User(
            email=f"engineer{n:02d}@acme.test",
            full_name=f"Engineer {n:02d}",
            organization=org,
            password=password,
        )
        for n in range(1, 15)
    ]
    people.append(User(email=REGIONAL, full_name="Rita Regional", organization=org, password=password))
    User.objects.bulk_create(people)
    people = list(User.objects.filter(email__in=[p.email for p in people]).order_by("email"))
    Membership.objects.bulk_create(
        Membership(
            user=user,
            account=regions[0] if user.email == REGIONAL else rng.choice(accounts),
            role=Role.ADVANCED_ADMIN
            if user.email == REGIONAL
            else rng.choice([Role.ADMIN_API, Role.ADVANCED_ADMIN]),
        )
        for user in people
    )
    members = list(User.objects.filter(organization=org).order_by("email"))
    creators = [
        u for u in members if u.email not in ("admin@acme.test", "viewer@acme.test", "support@acme.test")
    ]

    applications = list(Application.objects.filter(organization=org))
    catalogue = {
        a.pk: [(str(s), s.min_role) for s in Scope.objects.filter(application=a)] for a in applications
    }
    roles = [Role.VIEWER, Role.SUPPORT, Role.ADMIN, Role.ADMIN_API, Role.ADVANCED_ADMIN]
    role_weights = [10, 15, 25, 30, 20]
    pepper = credentials.current_pepper()

    # ---- keys
    made: list[ApiKey] = []
    for i in range(keys):
        application = rng.choice(applications)
        role = rng.choices(roles, role_weights)[0]
        allowed = [name for name, min_role in catalogue[application.pk] if min_role <= role]
        created_at = now - timedelta(seconds=rng.uniform(3600, two_years))
        lived = (now - created_at).total_seconds()
        kind = rng.random()
        revoked_at = expires_at = disabled_at = None
        if kind < 0.15:
            revoked_at = created_at + timedelta(seconds=rng.uniform(60, lived))
            end = revoked_at
        elif kind < 0.15 + 1 / 3:
            expires_at = created_at + timedelta(seconds=rng.uniform(60, lived))
            end = expires_at
        else:
            end = now
            if rng.random() < 0.5:
                expires_at = now + timedelta(days=rng.uniform(0.5, 365))
            if rng.random() < 0.03:
                disabled_at = now - timedelta(days=rng.uniform(0, 30))
        used = rng.random() < 0.9
        last_used_at = end - timedelta(
            seconds=rng.uniform(0, min(30 * 86400, (end - created_at).total_seconds()))
        )
        regenerated_at = None
        if rng.random() < 0.3:
            regenerated_at = created_at + timedelta(
                seconds=rng.uniform(0, (end - created_at).total_seconds())
            )
        creator = rng.choice(creators) if rng.random() < 0.95 else None
        made.append(
            ApiKey(
                organization=org,
                application=application,
                account=rng.choice(accounts),
                role=role,
                name=f"{rng.choice(PURPOSES)} {rng.choice(CITIES)} {i:06d}",
                scopes=rng.sample(allowed, min(len(allowed), rng.randint(1, 4))),
                client_id=credentials.new_client_id(application.environment),
                secret_digest=credentials.digest(credentials.new_secret(application.environment), pepper),
                pepper_id=pepper.id,
                allowed_ips=["10.0.0.0/8"] if rng.random() < 0.1 else [],
                expires_at=expires_at,
                created_at=created_at,
                created_by=creator,
                regenerated_at=regenerated_at,
                disabled_at=disabled_at,
                revoked_at=revoked_at,
                revoked_by=rng.choice(creators) if revoked_at else None,
                # Whoever made the key saw its secret; a few live keys were seen by a leaver.
                secret_seen_by=creator,
                secret_seen_by_label=creator.email if creator else "",
                exposed_at=now - timedelta(days=rng.uniform(1, 60))
                if revoked_at is None and rng.random() < 0.005
                else None,
                last_used_at=last_used_at if used else None,
                recent_ips=(
                    [{"ip": f"198.51.100.{rng.randint(1, 254)}", "seen": last_used_at.isoformat()}]
                    if used
                    else []
                ),
            )
        )
    with transaction.atomic():
        ApiKey.objects.bulk_create(made, batch_size=5000)
    print(f"  {keys:,} keys in {time.monotonic() - started:.0f} s", flush=True)

    # ---- audit events, in time order (ids grow with time, as they do in real life)
    started = time.monotonic()
    lifecycle: list[tuple] = []  # (time, action, key)
    for key in made:
        lifecycle.append((key.created_at, AuditAction.KEY_CREATED, key))
        if key.regenerated_at:
            lifecycle.append((key.regenerated_at, AuditAction.KEY_REGENERATED, key))
        if key.revoked_at:
            lifecycle.append((key.revoked_at, AuditAction.KEY_REVOKED, key))
        if key.disabled_at:
            lifecycle.append((key.disabled_at, AuditAction.KEY_DISABLED, key))
    lifecycle.sort(key=lambda e: e[0])
    others = max(0, events - len(lifecycle))
    actions = [
        (AuditAction.LOGIN_SUCCEEDED, 18),
        (AuditAction.LOGOUT, 12),
        (AuditAction.LOGIN_FAILED, 4),
        (AuditAction.KEY_AUTH_FAILED, 15),
        (AuditAction.KEY_IP_REFUSED, 25),
        (AuditAction.PERMISSION_DENIED, 12),
        (AuditAction.KEY_UPDATED, 10),
        (AuditAction.KEY_ENABLED, 2),
        (AuditAction.KEY_DISABLED, 2),
        (AuditAction.POLICY_UPDATED, 0.01),
    ]
    names, weights = zip(*actions, strict=True)
    times = sorted(rng.uniform(0, two_years) for _ in range(others))
    start = now - timedelta(seconds=two_years)
    fields = [
        "occurred_at",
        "organization",
        "action",
        "actor_user",
        "actor_key",
        "actor_label",
        "key",
        "account",
        "ip",
        "user_agent",
        "details",
    ]
    meta = AuditEvent._meta
    columns = ", ".join(connection.ops.quote_name(meta.get_field(f).column) for f in fields)
    agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"

    def member_event(moment, action, key=None, details=None):
        user = rng.choice(members)
        account = key.account_id if key is not None else None
        return (
            moment,
            org.pk,
            action,
            user.pk,
            None,
            user.email,
            key.pk if key else None,
            account,
            f"192.0.2.{rng.randint(1, 254)}",
            agent,
            json.dumps(details or {}),
        )

    def random_event(moment):
        action = rng.choices(names, weights)[0]
        if action == AuditAction.KEY_AUTH_FAILED:  # nobody known: no organization
            return (
                moment,
                None,
                action,
                None,
                None,
                "unauthenticated API client",
                None,
                None,
                f"203.0.113.{rng.randint(1, 254)}",
                "curl/8.5.0",
                json.dumps({"reason": "unknown or not valid", "path": "/api/v1/key", "method": "GET"}),
            )
        if action == AuditAction.KEY_IP_REFUSED:
            key = rng.choice(made)
            return (
                moment,
                org.pk,
                action,
                None,
                key.pk,
                key.name,
                key.pk,
                key.account_id,
                f"203.0.113.{rng.randint(1, 254)}",
                "python-requests/2.32",
                json.dumps({"path": "/api/v1/org/api-keys", "method": "GET"}),
            )
        if action in (AuditAction.KEY_UPDATED, AuditAction.KEY_ENABLED, AuditAction.KEY_DISABLED):
            key = rng.choice(made)
            return member_event(
                moment,
                action,
                key,
                {"name": [key.name, key.name]} if action == AuditAction.KEY_UPDATED else None,
            )
        if action == AuditAction.PERMISSION_DENIED:
            key = rng.choice(made) if rng.random() < 0.5 else None
            return member_event(
                moment, action, key, {"attempted": "revoke key", "path": "/settings/api-keys/"}
            )
        if action == AuditAction.POLICY_UPDATED:
            return member_event(moment, action, None, {"rotation_policy_days": [90, 60]})
        if action == AuditAction.LOGIN_FAILED:
            user = rng.choice(members)
            return (
                moment,
                org.pk,
                action,
                None,
                None,
                user.email,
                None,
                None,
                f"192.0.2.{rng.randint(1, 254)}",
                agent,
                json.dumps({"email": user.email}),
            )
        return member_event(moment, action)

    def lifecycle_event(moment, action, key):
        actor = key.created_by if action == AuditAction.KEY_CREATED else rng.choice(creators)
        label = actor.email if actor else "system"
        details = {"name": key.name, "scopes": key.scopes} if action == AuditAction.KEY_CREATED else {}
        return (
            moment,
            org.pk,
            action,
            actor.pk if actor else None,
            None,
            label,
            key.pk,
            key.account_id,
            f"192.0.2.{rng.randint(1, 254)}",
            agent,
            json.dumps(details),
        )

    written = 0
    with (
        connection.cursor() as cursor,
        transaction.atomic(),
        cursor.cursor.copy(f"COPY {connection.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        li = 0
        for offset in times:
            moment = start + timedelta(seconds=offset)
            while li < len(lifecycle) and lifecycle[li][0] <= moment:
                copy.write_row(lifecycle_event(*lifecycle[li]))
                li += 1
                written += 1
            copy.write_row(random_event(moment))
            written += 1
        for entry in lifecycle[li:]:
            copy.write_row(lifecycle_event(*entry))
            written += 1
    print(f"  {written:,} audit events in {time.monotonic() - started:.0f} s", flush=True)

    # ---- usage: one row per key and day
    started = time.monotonic()
    today = now.date()
    usage_meta = KeyUsageDay._meta
    usage_fields = ["key", "day", *USAGE_FIELDS]
    usage_columns = ", ".join(connection.ops.quote_name(usage_meta.get_field(f).column) for f in usage_fields)
    rows = 0
    with (
        connection.cursor() as cursor,
        transaction.atomic(),
        cursor.cursor.copy(
            f"COPY {connection.ops.quote_name(usage_meta.db_table)} ({usage_columns}) FROM STDIN"
        ) as copy,
    ):
        for key in made:
            base = rng.randint(0, 5000)
            for back in range(usage_days):
                total = max(0, int(base * rng.uniform(0.6, 1.4)))
                errors = total // 200
                limited = total // 500
                copy.write_row(
                    (
                        key.pk,
                        today - timedelta(days=back),
                        total,
                        total - errors - limited,
                        errors // 2,
                        errors - errors // 2,
                        limited,
                        0,
                    )
                )
                rows += 1
    print(f"  {rows:,} usage rows in {time.monotonic() - started:.0f} s", flush=True)


def facts() -> dict:
    """What the timed requests need, read from the loaded database (so that ``--reuse`` works):
    a busy key, a key's exact name, a creator, an application, and the cursor of the sub-account
    member's page 1000 (None where the audit log pages by number only)."""
    from datetime import timedelta

    from accounts.models import Application, User
    from keys.models import ApiKey

    keys = ApiKey.objects.filter(organization__slug="acme").exclude(name__startswith="bench scale")
    busy = keys.filter(revoked_at__isnull=True, last_used_at__isnull=False).order_by("-last_used_at").first()
    middle = keys.order_by("name").values_list("name", flat=True)[keys.count() // 2]
    newest = keys.order_by("-created_at").values_list("created_at", flat=True).first()
    month_from = (newest - timedelta(days=400)).date()
    found = {
        "key_id": str(busy.pk),
        "key_name": middle,
        "city": CITIES[3],
        "creator_id": User.objects.get(email="engineer02@acme.test").pk,
        "application_id": Application.objects.get(organization__slug="acme", slug="infodeck").pk,
        "regional_cursor": deep_audit_cursor(REGIONAL, 999 * 50),
        "month_from": month_from.isoformat(),
        "month_to": (month_from + timedelta(days=30)).isoformat(),
    }
    return {**found, "matrix": matrix_facts(found)}


# The matrix: every filter of each list, alone, with each sort, at page 1 and at a deep page.
KEY_SORTS = [
    *("", "created", "name", "-name", "application", "-application", "role", "-role"),
    *("account", "-account", "last_used", "-last_used", "expires", "-expires"),
]
KEYS_PER_PAGE = 25
API_DEEP = 90_000  # the REST and GraphQL lists' deep page: this many keys in, or 90 % of a shorter list
AUDIT_DEEP = 50_000  # the audit log's deep cursor page: this many events in (page 1,000), or 90 %
# KeyStatus and KeyFlag's values (this side of the script runs outside Django; matrix_facts checks).
STATUSES = ("active", "disabled", "expired", "revoked")
FLAGS = ("expiring_soon", "rotation_due", "idle", "outside_policy", "exposed")


def key_filters(found: dict) -> list[tuple[str, dict]]:
    """(label, query) of every key-list filter, each alone; ``found`` holds the ids they name."""
    return [
        ("no filter", {}),
        ("search", {"q": found["city"]}),
        *((f"status={s}", {"status": s}) for s in STATUSES),
        *((f"flag={f}", {"flag": f}) for f in FLAGS),
        ("application", {"application": found["application_id"]}),
        ("role", {"role": 40}),
        ("account", {"account": found["account_id"]}),
        ("created by", {"created_by": found["creator_id"]}),
        ("exposed", {"exposed": "true"}),
        ("seen by", {"seen_by": found["creator_id"]}),
        (
            "status + application + created by",
            {"status": "active", "application": found["application_id"], "created_by": found["creator_id"]},
        ),
    ]


def api_filters(found: dict) -> list[tuple[str, dict]]:
    """(label, query) of the API lists' filters (REST parameters; GraphQL takes the same)."""
    return [
        ("no filter", {}),
        *((f"status={s}", {"status": s}) for s in STATUSES),
        ("search", {"search": found["city"]}),
        ("exposed=true", {"exposed": True}),
        ("exposed=false", {"exposed": False}),
    ]


def audit_filters(found: dict) -> list[tuple[str, dict]]:
    return [
        ("no filter", {}),
        ("action (rare)", {"action": "policy.updated"}),
        ("action (common)", {"action": "login.succeeded"}),
        ("actor", {"actor": "engineer07"}),
        ("key (one name)", {"key": found["key_name"]}),
        ("key (many names)", {"key": found["city"]}),
        ("date range (a month)", {"date_from": found["month_from"], "date_to": found["month_to"]}),
        (
            "action + date range",
            {"action": "key.updated", "date_from": found["month_from"], "date_to": found["month_to"]},
        ),
    ]


def matrix_facts(found: dict) -> dict:
    """How long each filtered list is (for its deep page), and the audit log's deep cursors."""
    from accounts.actors import Actor
    from accounts.models import Account, User
    from audit import selectors as audit_selectors
    from audit.models import AuditAction
    from keys import selectors
    from keys.models import KeyFlag, KeyStatus
    from paging import capped_count
    from portal.audit_log.filters import AuditEventFilterSet

    assert set(STATUSES) == set(KeyStatus.values) and set(FLAGS) == set(KeyFlag.values)
    actions = {a.value for a in AuditAction}
    assert {"policy.updated", "login.succeeded", "key.updated"} <= actions, sorted(actions)
    admin = Actor.for_user(User.objects.get(email="advanced@acme.test"))
    found = {**found, "account_id": Account.objects.get(name="Acme North site 1").pk}
    keys = {}
    for label, query in key_filters(found):
        keys[label] = selectors.listed_keys(admin, {k: str(v) for k, v in query.items()}).qs.count()
    api = {}
    for label, query in api_filters(found):
        api[label] = selectors.listed_keys(admin, query).qs.count()
    audit = {}
    events = audit_selectors.visible_events(admin)
    for label, query in audit_filters(found):
        filtered = AuditEventFilterSet(query, events, actor=admin).qs
        count = capped_count(filtered, AUDIT_DEEP * 2)
        depth = AUDIT_DEEP if count is None else int(count * 0.9)
        cursor = None
        if depth > 50:
            event = filtered.order_by(*audit_selectors.EVENT_ORDER.order_by())[depth - 1]
            cursor = audit_selectors.cursor_after(event)
        audit[label] = {"count": count, "depth": depth, "cursor": cursor}
    return {"account_id": found["account_id"], "keys": keys, "api": api, "audit": audit}


def deep_audit_cursor(email: str, depth: int) -> str | None:
    """The cursor of the audit-log page ``depth`` events down for this member, as the Older link
    of the page before it carries it; None where the audit log pages by number only."""
    from audit import selectors

    cursor_after = getattr(selectors, "cursor_after", None)
    if cursor_after is None:
        return None
    from accounts.actors import Actor
    from accounts.models import User

    actor = Actor.for_user(User.objects.get(email=email))
    event = selectors.visible_events(actor).order_by("-occurred_at", "-id")[depth - 1]
    return cursor_after(event)


# ---------------------------------------------------------------------------------------- timing


class Session:
    """A signed-in member (or a key) calling the server; each answer's status is kept (the table
    marks a row whose answers were not all 200)."""

    def __init__(self, base: str, email: str | None = None, secret: str | None = None) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        if email:
            page = self.opener.open(base + "/login/").read().decode()
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
            data = urllib.parse.urlencode(
                {"csrfmiddlewaretoken": token, "username": email, "password": PASSWORD}
            )
            self.opener.open(
                urllib.request.Request(
                    base + "/login/", data=data.encode(), headers={"Referer": base + "/login/"}
                )
            )

    def call(
        self, path: str, body: dict | None = None, headers: dict | None = None, method: str | None = None
    ) -> tuple[float, int, bytes]:
        headers = {**self.headers, **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        started = time.perf_counter()
        try:
            with self.opener.open(request, timeout=60) as response:
                content, status = response.read(), response.status
        except urllib.error.HTTPError as err:
            content, status = err.read(), err.code
        return (time.perf_counter() - started) * 1000, status, content


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def timed(
    session: Session,
    path: str,
    runs: int,
    body: dict | None = None,
    headers: dict | None = None,
    cpu: Callable[[], tuple[float, float]] | None = None,
) -> dict:
    """Median and p95 of ``runs`` calls after a warm-up; with ``cpu``, also the CPU time per call
    in the server's workers and in PostgreSQL (``cpu_ms``): on a quiet machine a call takes about
    that long, and unlike the clock it does not grow when other work shares the cores."""
    session.call(path, body, headers)  # warm-up
    times, statuses = [], set()
    before = cpu() if cpu else None
    for _ in range(runs):
        ms, status, _ = session.call(path, body, headers)
        times.append(ms)
        statuses.add(status)
    result = {
        "median": statistics.median(times),
        "p95": percentile(times, 0.95),
        "n": runs,
        "status": statuses,
    }
    if cpu and before:
        after = cpu()
        spent = after[0] - before[0] + after[1] - before[1]
        if spent >= 0:  # a worker that gunicorn replaced meanwhile (max_requests) took its count along
            result["cpu_ms"] = spent / runs * 1000
    return result


def over(kind: str, result: dict) -> float:
    """How far a result is from its target: 1.0 is at it, 2.0 twice it (the worse of median and
    p95); an answer that was not 200 counts as far over."""
    if any(s != 200 for s in result["status"]):
        return 99.0
    median_target, p95_target = TARGETS[kind]
    return max(result["median"] / median_target, result["p95"] / p95_target)


def link(html: str, element_id: str) -> str | None:
    found = re.search(rf'<a [^>]*id="{element_id}"[^>]*href="([^"]+)"', html) or re.search(
        rf'<a [^>]*href="([^"]+)"[^>]*id="{element_id}"', html
    )
    return found.group(1).replace("&amp;", "&") if found else None


# ---------------------------------------------------------------------------------------- the run

PORTAL, API = "portal", "api"


def measure(
    base: str,
    facts: dict,
    secret: str,
    runs: int,
    only: re.Pattern | None = None,
    cpu: Callable[[], tuple[float, float]] | None = None,
) -> tuple[list[tuple], list[str]]:
    """Rows of (request, kind, result or None, note)."""
    rows: list[tuple] = []
    notes: list[str] = []
    admin = Session(base, "advanced@acme.test")
    regional = Session(base, REGIONAL)
    key = Session(base, secret=secret)
    keys_url = "/settings/api-keys/"
    audit_url = "/settings/audit-log/"

    def row(
        label: str,
        kind: str,
        session: Session,
        path: str,
        body: dict | None = None,
        headers: dict | None = None,
    ) -> None:
        if only is not None and not only.search(label):
            return
        print(f"  {label} …", flush=True)
        rows.append((label, kind, timed(session, path, runs, body, headers), ""))

    row("API Keys list, unfiltered", PORTAL, admin, keys_url)
    row(
        "API Keys list, sorted by last used (least recent first)", PORTAL, admin, keys_url + "?sort=last_used"
    )
    row(
        "API Keys list, sorted by last used (most recent first)", PORTAL, admin, keys_url + "?sort=-last_used"
    )
    row("API Keys list, page 3000", PORTAL, admin, keys_url + "?page=3000")
    row("API Keys list, search by name", PORTAL, admin, keys_url + f"?q={facts['city']}")
    row(
        "API Keys list, status + application + created by",
        PORTAL,
        admin,
        keys_url + f"?status=active&application={facts['application_id']}&created_by={facts['creator_id']}",
    )
    row("API Keys list, sorted by application", PORTAL, admin, keys_url + "?sort=application")
    row(
        "API Keys list, table only (htmx), sorted by expiry, page 2",
        PORTAL,
        admin,
        keys_url + "?sort=-expires&page=2",
        headers={"HX-Request": "true"},
    )
    row("Key detail page", PORTAL, admin, f"{keys_url}{facts['key_id']}/")
    row("Audit log, unfiltered", PORTAL, admin, audit_url)
    row(
        "Audit log, filtered by key name",
        PORTAL,
        admin,
        audit_url + "?" + urllib.parse.urlencode({"key": facts["key_name"]}),
    )
    row("Audit log, filtered by actor", PORTAL, admin, audit_url + "?actor=engineer07")
    row("Audit log, filtered by a rare action", PORTAL, admin, audit_url + "?action=policy.updated")
    first = admin.call(audit_url)[2].decode()
    last = link(first, "page-last") or audit_url + "?page=99999999"
    row("Audit log, last page", PORTAL, admin, last)
    deep = facts.get("regional_cursor")
    deep_path = audit_url + (f"?cursor={urllib.parse.quote(deep)}" if deep else "?page=1000")
    row("Audit log, page 1000, member of a sub-account", PORTAL, regional, deep_path)
    status = admin.call("/settings/members/")[1]
    if status == 404:
        notes.append("Members page: not measured, /settings/members/ answers 404 on this branch.")
    else:
        row("Members page", PORTAL, admin, "/settings/members/")

    row("GET /api/v1/org/api-keys", API, key, "/api/v1/org/api-keys")
    row("GET /api/v1/org/api-keys?offset=90000", API, key, "/api/v1/org/api-keys?offset=90000")
    body = json.loads(key.call("/api/v1/org/api-keys?offset=89999&limit=1")[2])
    if body.get("next"):
        row(
            "GET /api/v1/org/api-keys?cursor=… (90,000 keys deep)",
            API,
            key,
            "/api/v1/org/api-keys?" + urllib.parse.urlencode({"cursor": body["next"]}),
        )
    else:
        notes.append("REST cursor: not measured, the list answers no `next` cursor on this branch.")
    row("GET /api/v1/org/api-keys?search=…", API, key, f"/api/v1/org/api-keys?search={facts['city']}")
    fields = "id name clientId status createdAt lastUsedAt expiresAt"
    row(
        "GraphQL apiKeys(first: 50)",
        API,
        key,
        "/api/graphql",
        {"query": f"{{ apiKeys(first: 50) {{ total items {{ {fields} }} }} }}"},
    )
    row(
        "GraphQL apiKeys(first: 50, offset: 90000)",
        API,
        key,
        "/api/graphql",
        {"query": f"{{ apiKeys(first: 50, offset: 90000) {{ total items {{ {fields} }} }} }}"},
    )
    row("GET /api/v1/key", API, key, "/api/v1/key")

    if only is not None and not only.search("4 parallel deep audit-log pages"):
        return rows, notes
    print("  4 parallel deep audit-log pages …", flush=True)
    sessions = [admin, Session(base, "advanced@acme.test"), Session(base, "advanced@acme.test"), regional]
    paths = [last, last, last, deep_path]
    before = cpu() if cpu else None
    result = parallel_deep_pages_mixed(base, sessions, paths, rounds=max(5, runs // 4))
    if cpu and before:
        after = cpu()
        pages = result["n"]
        worker_ms = (after[0] - before[0]) / pages * 1000
        database_ms = (after[1] - before[1]) / pages * 1000
        notes.append(
            f"4 parallel deep audit-log pages: {worker_ms:.0f} ms of CPU in the gunicorn workers and "
            f"{database_ms:.0f} ms in PostgreSQL per page ({pages} pages; CPU time, which the other "
            "work on the machine does not lengthen): N pages at once need N × "
            f"{worker_ms + database_ms:.0f} ms of CPU, which {os.cpu_count()} cores serve in "
            f"≈ N × {(worker_ms + database_ms) / (os.cpu_count() or 1):.0f} ms."
        )
    rows.append(("4 parallel deep audit-log pages (last page ×3, sub-account page 1000)", PORTAL, result, ""))
    rows.append(
        (
            "/healthz while those 4 run (median; max)",
            "health",
            {"median": result["health_median"], "p95": result["health_max"], "n": 0, "status": {200}},
            "",
        )
    )
    return rows, notes


def measure_matrix(
    base: str,
    facts: dict,
    secret: str,
    runs: int,
    only: re.Pattern | None,
    cpu: Callable[[], tuple[float, float]] | None = None,
) -> list[tuple]:
    """Cells of (list, filter, sort, depth, kind, result): every filter of the key list alone and
    with each sort at page 1 and a deep page (90 % of the way down); the REST and GraphQL lists'
    filters at the first page, a deep offset and the same depth by cursor; the audit log's filters
    at page 1, page 20, a deep cursor page and the last page."""
    cells: list[tuple] = []
    matrix = facts["matrix"]
    found = {**facts, "account_id": matrix["account_id"]}
    admin = Session(base, "advanced@acme.test")
    key = Session(base, secret=secret)

    def cell(
        where: str, name: str, sort: str, depth: str, kind: str, session: Session, path: str, **kw
    ) -> None:
        label = f"{where} · {name} · {sort} · {depth}"
        if only is not None and not only.search(label):
            return
        cells.append((where, name, sort, depth, kind, timed(session, path, runs, cpu=cpu, **kw)))

    started = time.monotonic()
    for name, query in key_filters(found):
        count = matrix["keys"][name]
        deep = math.ceil(count * 0.9 / KEYS_PER_PAGE)
        for sort in KEY_SORTS:
            params = {**query, **({"sort": sort} if sort else {})}
            path = "/settings/api-keys/?" + urllib.parse.urlencode(params)
            shown = sort or "-created (default)"
            cell("API Keys", name, shown, "page 1", PORTAL, admin, path)
            if deep > 1:
                cell("API Keys", name, shown, f"page {deep:,}", PORTAL, admin, f"{path}&page={deep}")
    print(f"  key list cells in {time.monotonic() - started:.0f} s", flush=True)

    started = time.monotonic()
    fields = "id name clientId status createdAt lastUsedAt expiresAt"
    for name, query in api_filters(found):
        count = matrix["api"][name]
        deep = min(API_DEEP, int(count * 0.9))
        rest = "/api/v1/org/api-keys?" + urllib.parse.urlencode(
            {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in query.items()}
        )
        cell("REST", name, "newest first", "first page", API, key, rest)
        arguments = ", ".join(
            f"{k}: {str(v).lower() if isinstance(v, bool) else v.upper() if k == 'status' else json.dumps(v)}"
            for k, v in query.items()
        )

        def graphql(extra: str, arguments: str = arguments) -> dict:
            args = ", ".join(filter(None, [arguments, "first: 50", extra]))
            return {"query": f"{{ apiKeys({args}) {{ total next items {{ {fields} }} }} }}"}

        cell("GraphQL", name, "newest first", "first page", API, key, "/api/graphql", body=graphql(""))

        def relay(extra: str, arguments: str = arguments) -> dict:
            args = ", ".join(filter(None, [arguments, "first: 50", extra]))
            nodes = "edges { cursor node { id name clientId status createdAt lastUsedAt expiresAt } }"
            return {"query": f"{{ apiKeysConnection({args}) {{ totalCount {nodes} }} }}"}

        cell(
            "GraphQL connection", name, "newest first", "first page", API, key, "/api/graphql", body=relay("")
        )
        if deep < 100:
            continue
        cell("REST", name, "newest first", f"offset {deep:,}", API, key, f"{rest}&offset={deep}")
        cell(
            "GraphQL",
            name,
            "newest first",
            f"offset {deep:,}",
            API,
            key,
            "/api/graphql",
            body=graphql(f"offset: {deep}"),
        )
        after = json.loads(key.call(f"{rest}&offset={deep - 1}&limit=1")[2]).get("next")
        if after:
            cell(
                "REST",
                name,
                "newest first",
                f"cursor ({deep:,} in)",
                API,
                key,
                f"{rest}&" + urllib.parse.urlencode({"cursor": after}),
            )
            cell(
                "GraphQL connection",
                name,
                "newest first",
                f"after ({deep:,} in)",
                API,
                key,
                "/api/graphql",
                body=relay(f"after: {json.dumps(after)}"),
            )
            cell(
                "GraphQL",
                name,
                "newest first",
                f"cursor ({deep:,} in)",
                API,
                key,
                "/api/graphql",
                body=graphql(f"cursor: {json.dumps(after)}"),
            )
    print(f"  API cells in {time.monotonic() - started:.0f} s", flush=True)

    started = time.monotonic()
    audit_url = "/settings/audit-log/?"
    for name, query in audit_filters(found):
        deep = matrix["audit"][name]
        path = audit_url + urllib.parse.urlencode(query)
        cell("Audit log", name, "newest first", "page 1", PORTAL, admin, path)
        cell("Audit log", name, "newest first", "page 20", PORTAL, admin, f"{path}&page=20")
        if deep["cursor"]:
            depth = f"cursor ({deep['depth']:,} in)"
            cursor = urllib.parse.urlencode({"cursor": deep["cursor"]})
            cell("Audit log", name, "newest first", depth, PORTAL, admin, f"{path}&{cursor}")
        cell("Audit log", name, "newest first", "last page", PORTAL, admin, f"{path}&page=last")
    print(f"  audit log cells in {time.monotonic() - started:.0f} s", flush=True)
    return cells


def measure_writes(base: str, secret: str, runs: int) -> list[tuple]:
    """Create, regenerate and revoke through the REST API, each ``runs`` times (the keys it makes
    are revoked again): what an index or column more costs a write."""
    key = Session(base, secret=secret)
    created, regenerated, revoked, made = [], [], [], []
    statuses: dict[str, set] = {"create": set(), "regenerate": set(), "revoke": set()}
    for n in range(runs + 1):
        body = {"name": f"bench write {os.getpid()} {time.time_ns()} {n}", "scopes": ["api-keys:read"]}
        ms, status, content = key.call("/api/v1/org/api-keys", body)
        statuses["create"].add(status)
        if status == 201:
            made.append(json.loads(content)["id"])
            created.append(ms)
    for key_id in made:
        ms, status, _ = key.call(f"/api/v1/org/api-keys/{key_id}/regenerate", {})
        statuses["regenerate"].add(status)
        regenerated.append(ms)
    for key_id in made:
        ms, status, _ = key.call(f"/api/v1/org/api-keys/{key_id}", method="DELETE")
        statuses["revoke"].add(status)
        revoked.append(ms)
    rows = []
    for label, times, ok in (
        ("POST /api/v1/org/api-keys (create)", created, 201),
        ("POST /api/v1/org/api-keys/{id}/regenerate", regenerated, 200),
        ("DELETE /api/v1/org/api-keys/{id} (revoke)", revoked, 204),
    ):
        name = label.split("(")[-1].rstrip(")") if "(" in label else "regenerate"
        seen = {200 if s == ok else s for s in statuses[name]}
        times = times[1:] or [0.0]  # the first of each is the warm-up
        result = {"median": statistics.median(times), "p95": percentile(times, 0.95), "n": len(times)}
        rows.append((label, API, {**result, "status": seen}, "write"))
    return rows


def parallel_deep_pages_mixed(base: str, sessions: list[Session], paths: list[str], rounds: int) -> dict:
    deep: list[float] = []
    health: list[float] = []
    done = threading.Event()
    probe = Session(base)

    def call_health() -> None:
        while not done.is_set():
            health.append(probe.call("/healthz")[0])
            time.sleep(0.05)

    watcher = threading.Thread(target=call_health)
    watcher.start()
    try:
        for _ in range(rounds):
            threads = [
                threading.Thread(target=lambda s=s, p=p: deep.append(s.call(p)[0]))
                for s, p in zip(sessions, paths, strict=True)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        done.set()
        watcher.join()
    return {
        "median": statistics.median(deep),
        "p95": percentile(deep, 0.95),
        "n": len(deep),
        "health_median": statistics.median(health),
        "health_max": max(health),
        "status": {200},
    }


def postgres_cpu_seconds(url: str) -> float:
    """CPU time (user + system) the database's server processes have used so far: those of its
    open connections (the portal keeps its connections, ``CONN_MAX_AGE``), read from /proc on a
    server on this machine; 0 when it is elsewhere."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        pids = [
            pid
            for (pid,) in connection.execute(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def database_url(server: str, name: str) -> str:
    parts = urllib.parse.urlsplit(server)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def admin_sql(server: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(statement)


def inside(env: dict[str, str], step: str, *args: str) -> str:
    """Run a step of this script inside Django, on the benchmark's database."""
    result = subprocess.run(
        [PYTHON, __file__, "--inside", step, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"{step} failed:\n{result.stderr}")
    return result.stdout


def create_and_load(env: dict[str, str], args: argparse.Namespace) -> float:
    """Migrate, seed, load the volume, analyse; returns the seconds it all took."""
    started = time.monotonic()
    bench.manage(env, "migrate", "--noinput", "-v0")
    bench.manage(env, "seed_demo", "--no-keys")
    print(
        f"Loading {args.keys:,} keys, {args.events:,} audit events, {args.usage_days} days of usage …",
        flush=True,
    )
    volume = ("--keys", str(args.keys), "--events", str(args.events), "--usage-days", str(args.usage_days))
    print(inside(env, "load", *volume, "--seed", str(args.seed)).rstrip(), flush=True)
    import psycopg

    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")  # what autovacuum does to a table this size soon enough
    seconds = time.monotonic() - started
    print(f"Loaded and analysed in {seconds / 60:.1f} minutes.", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--usage-days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_SCALE_RUNS", "20")))
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--keep", action="store_true", help="keep the database (and print its URL)")
    parser.add_argument("--reuse", metavar="DATABASE_URL", help="time a database kept by --keep (migrated)")
    parser.add_argument(
        "--matrix-runs",
        type=int,
        default=int(os.environ.get("BENCH_SCALE_MATRIX_RUNS", "3")),
        help="how often each cell of the matrix is timed (every filter × sort × depth)",
    )
    parser.add_argument("--only", help="time only the rows and cells whose label matches this regex")
    parser.add_argument("--no-matrix", action="store_true", help="time only the table's rows")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2, as deployed by default)")
    parser.add_argument("--matrix-out", help="write every cell of the matrix here as JSON")
    parser.add_argument("--inside", choices=["load", "facts"], help=argparse.SUPPRESS)  # inside Django
    args = parser.parse_args()

    if args.inside:
        import django

        sys.path.insert(0, str(ROOT))
        django.setup()
        if args.inside == "load":
            load(args.keys, args.events, args.usage_days, args.seed)
        else:
            print(json.dumps(facts()))
        return

    server = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_SERVER
    name = f"akp_bench_scale_{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="akp-bench-scale-"))
    env = bench.base_env(work)
    env.update(BENCH_WORK=str(work), DATABASE_URL=args.reuse or database_url(server, name))
    # Connections kept for the whole run (production: 60 s), so that the CPU time of the server
    # processes behind them, which the matrix reports per call, is never lost with a closed one.
    env["CONN_MAX_AGE"] = "3600"
    if not args.reuse:
        print(f"Creating database {name} on {urllib.parse.urlsplit(server).hostname} …", flush=True)
        admin_sql(server, f'CREATE DATABASE "{name}"')
    server_process = None
    load_seconds = None
    try:
        if not args.reuse:
            load_seconds = create_and_load(env, args)
        bench.manage(env, "collectstatic", "--noinput", "-v0")
        found = json.loads(inside(env, "facts").strip().splitlines()[-1])
        secret = json.loads(
            bench.manage(
                env,
                *("create_api_key", "--organization", "acme", "--name", f"bench scale {os.getpid()}"),
                *("--scope", "api-keys:read", "--rate-limit", "1000000", "--json"),
            )
        )["key"]
        writer = json.loads(
            bench.manage(
                env,
                *("create_api_key", "--organization", "acme", "--name", f"bench scale writer {os.getpid()}"),
                *(
                    "--scope",
                    "api-keys:read",
                    "--scope",
                    "api-keys:write",
                    "--rate-limit",
                    "1000000",
                    "--json",
                ),
            )
        )["key"]
        server_process = bench.Server(env, "scale", workers=args.workers)
        only = re.compile(args.only) if args.only else None
        print(f"Timing, {args.runs} runs of each request after a warm-up …", flush=True)
        server = server_process

        def cpu() -> tuple[float, float]:
            return server.cpu_seconds(), postgres_cpu_seconds(env["DATABASE_URL"])

        rows, notes = measure(server_process.url, found, secret, args.runs, only, cpu)
        if only is None or only.search("/api/v1/org/api-keys (create)"):
            print("  create, regenerate, revoke …", flush=True)
            rows += measure_writes(server_process.url, writer, args.runs)
        cells: list[tuple] = []
        if not args.no_matrix:
            print(f"Timing the matrix, {args.matrix_runs} runs of each cell after a warm-up …", flush=True)
            cells = measure_matrix(server_process.url, found, secret, args.matrix_runs, only, cpu)
    finally:
        if server_process is not None:
            server_process.stop()
        if args.keep:
            print(f"Kept: {env['DATABASE_URL']}")
        elif not args.reuse:
            admin_sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if args.matrix_out:
        Path(args.matrix_out).write_text(
            json.dumps(
                [
                    {
                        "list": w,
                        "filter": f,
                        "sort": s,
                        "depth": d,
                        "kind": k,
                        **r,
                        "status": sorted(r["status"]),
                    }
                    for w, f, s, d, k, r in cells
                ],
                indent=1,
            )
        )
    report = render(rows, notes, args, load_seconds, cells)
    print("\n" + report)
    if args.only:
        print("(--only: docs/benchmarks.md left as it was)")
        return
    bench.write_section(Path(args.output), SECTION, report)


TARGETS = {PORTAL: (100, 200), API: (50, 50)}


def render(
    rows: list[tuple],
    notes: list[str],
    args: argparse.Namespace,
    load_seconds: float | None,
    cells: list[tuple] | None = None,
) -> str:
    cpu = bench.cpu_name()
    loaded = "loaded earlier" if load_seconds is None else f"loaded in {load_seconds / 60:.1f} minutes"
    lines = [
        "## At scale: 100,000 keys and 2,000,000 audit events on PostgreSQL",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {cpu} ({os.cpu_count()} cores) "
        "by `make bench-scale`: "
        f"{args.keys:,} keys in one organization (21 accounts, 15 % revoked, a third expired), "
        f"{args.events:,} audit events over two years, {args.usage_days} days of usage for every key; "
        f"{loaded}; gunicorn with {args.workers} workers ({bench.worker_model()}), production settings; "
        f"each request {args.runs} times in a row after a warm-up, timed by the client on loopback "
        "(signed in as an Advanced Admin of the whole organization unless the row says otherwise).",
        "",
        "| request | median ms | p95 ms | target (median / p95) | met |",
        "|---|---:|---:|---|:-:|",
    ]
    for label, kind, result, _ in rows:
        bad = sorted(s for s in result["status"] if s != 200)
        if kind == "health":
            lines.append(f"| {label} | {result['median']:,.1f} | {result['p95']:,.1f} (max) | — | — |")
            continue
        median_target, p95_target = TARGETS[kind]
        met = result["median"] <= median_target and result["p95"] <= p95_target and not bad
        target = f"≤ {median_target} / ≤ {p95_target}" if kind == PORTAL else f"≤ {median_target}"
        status = f" (status {', '.join(map(str, bad))})" if bad else ""
        figures = f"{result['median']:,.1f} | {result['p95']:,.1f}"
        lines.append(f"| {label}{status} | {figures} | {target} | {'yes' if met else '**no**'} |")
    lines.append("")
    lines += [f"- {note}" for note in notes]
    if notes:
        lines.append("")
    if cells:
        lines += render_matrix(cells, args)
    return "\n".join(lines)


def render_matrix(cells: list[tuple], args: argparse.Namespace) -> list[str]:
    """The matrix in a few lines: how many cells, how many over target, and the worst ten."""
    worst = sorted(cells, key=lambda c: over(c[4], c[5]), reverse=True)
    missed = [c for c in cells if over(c[4], c[5]) > 1]
    with_cpu = [c for c in cells if "cpu_ms" in c[5]]
    cpu_missed = [c for c in with_cpu if c[5]["cpu_ms"] > TARGETS[c[4]][0]]
    worst_cpu = sorted(with_cpu, key=lambda c: c[5]["cpu_ms"] / TARGETS[c[4]][0], reverse=True)
    groups: dict[str, int] = {}
    for where, *_ in cells:
        groups[where] = groups.get(where, 0) + 1
    lines = [
        "### The matrix: every filter × sort × depth",
        "",
        f"{len(cells)} cells ({', '.join(f'{g}: {n}' for g, n in groups.items())}), each timed "
        f"{args.matrix_runs} times after a warm-up: the key list with each filter alone (and one "
        "combination) under each sort, at page 1 and at a page 90 % of the way down; the REST and "
        "GraphQL lists with each filter at the first page, a deep offset and the same depth by cursor; "
        "the audit log's filters at page 1, page 20, a deep cursor page and the last page.",
        "",
        f"**Over target by the clock: {len(missed)} of {len(cells)} cells.**"
        + (
            f" **By CPU time per call (workers and PostgreSQL; what a call takes on a quiet machine): "
            f"{len(cpu_missed)} of {len(with_cpu)} cells over the median target.**"
            if with_cpu
            else ""
        ),
        "",
        "The worst ten by the clock:",
        "",
        *matrix_table(worst[:10]),
    ]
    if with_cpu:
        lines += ["", "The worst ten by CPU time per call:", "", *matrix_table(worst_cpu[:10])]
    lines.append("")
    return lines


def matrix_table(cells: list[tuple]) -> list[str]:
    lines = [
        "| list | filter | sort | page | median ms | p95 ms | CPU ms per call | target | met (clock) |",
        "|---|---|---|---|---:|---:|---:|---|:-:|",
    ]
    for where, name, sort, depth, kind, result in cells:
        median_target, p95_target = TARGETS[kind]
        target = f"≤ {median_target} / ≤ {p95_target}" if kind == PORTAL else f"≤ {median_target}"
        bad = sorted(s for s in result["status"] if s != 200)
        status = f" (status {', '.join(map(str, bad))})" if bad else ""
        met = "yes" if over(kind, result) <= 1 else "**no**"
        cpu = f"{result['cpu_ms']:,.1f}" if "cpu_ms" in result else "—"
        lines.append(
            f"| {where} | {name}{status} | {sort} | {depth} | {result['median']:,.1f} | "
            f"{result['p95']:,.1f} | {cpu} | {target} | {met} |"
        )
    return lines


if __name__ == "__main__":
    main()
