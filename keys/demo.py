"""The demo keys: the integrations of the demo tenants (``accounts.demo``) with 30 days of traffic,
so that a first ``make run`` shows a portal in use rather than an empty list.

Each key is made by a demo member through the key services (``create_key``, ``regenerate_key``,
``revoke_key``): it obeys every rule a real key does (its application's catalogue, a role no higher
than its creator's, the creator's account subtree, the plan's key limit) and has the audit events
those services write. The secrets they return are dropped on the spot: no demo secret is printed,
logged or kept, so no demo key can be used; create one of your own to call the API.

What happened before today is history, written afterwards: the daily counters (``KeyUsageDay``),
when the key was created, when it was last used and from which addresses (documentation ranges
only: 192.0.2.0/24, 198.51.100.0/24, 2001:db8::/32). A key's "Key created" event is written dated
when the key was created (``audit.context.as_of``), so the log and the key's page agree; what comes
after its history (a regeneration, a revocation) happens now. A random generator seeded with each
key's name draws the same history on every run.

Idempotent: a key whose name its organization already has, whatever its status, is left alone, and
its history is written only by the run that creates it.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from accounts import permissions
from accounts.actors import Actor
from accounts.models import Account, Application, Organization, Role, ScopeAction, User
from audit.context import as_of
from keys import services
from keys.errors import ServiceError
from keys.models import ApiKey, KeyUsageDay

DOCUMENTATION_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32")
)
HISTORY_DAYS = 30
GRACE_PERIOD = timedelta(hours=24)
REGENERATE = "regenerate"
REVOKE = "revoke"


@dataclass(frozen=True)
class Traffic:
    """A key's calls per UTC day (±20 %) and the addresses they come from, most recent first."""

    weekday: int
    weekend: int
    ips: tuple[str, ...]
    error_rate: float = 0.002  # share of calls answered 4xx
    rate_limited: int = 0  # at most this many 429s on a day busier than usual (0: never limited)


@dataclass(frozen=True)
class DemoKey:
    organization: str  # slug
    application: str  # slug
    name: str
    scopes: tuple[str, ...] | None  # None: every read scope of the application
    role: Role
    account: str
    created_by: str  # a demo member's email; regenerates or revokes it too
    age_days: int  # created this many days ago (before its history starts)
    traffic: Traffic
    expires_in_days: int | None = None
    rate_limit: int | None = None
    idle_days: int = 0  # its history ends this many days ago
    then: str = ""  # REGENERATE (with GRACE_PERIOD) or REVOKE, right after its history


ADVANCED = "advanced@acme.test"
ADMIN_API = "adminapi@acme.test"
GLOBEX = "advanced@globex.test"

DEMO_KEYS: tuple[DemoKey, ...] = (
    DemoKey(
        "acme",
        "infodeck",
        "SAP ERP Integration",
        ("work-orders:read", "assets:read"),
        Role.ADMIN_API,
        "Acme Corp",
        ADMIN_API,
        age_days=64,
        traffic=Traffic(2400, 300, ("192.0.2.10", "192.0.2.11")),
        then=REGENERATE,
    ),
    DemoKey(
        "acme",
        "infodeck",
        "SCADA BMS Integration",
        ("work-orders:write", "assets:read"),
        Role.ADMIN,
        "Acme North",
        ADVANCED,
        age_days=45,
        traffic=Traffic(1440, 1440, ("198.51.100.23",), error_rate=0.001),  # polls once a minute
    ),
    DemoKey(
        "acme",
        "infodeck",
        "Field Technician App",
        ("work-orders:write", "assets:read"),
        Role.ADMIN,
        "Acme South",
        ADMIN_API,
        age_days=38,
        traffic=Traffic(
            900,
            120,
            ("2001:db8:5a::1c", "198.51.100.140", "2001:db8:5a::7f", "198.51.100.141", "2001:db8:77::12"),
            error_rate=0.006,
        ),
    ),
    DemoKey(
        "acme",
        "infodeck",
        "Data Warehouse ETL",
        None,
        Role.SUPPORT,
        "Acme Corp",
        ADVANCED,
        age_days=104,  # older than the 90-day rotation policy: "rotation due"
        traffic=Traffic(8600, 8600, ("192.0.2.44",), error_rate=0.0005),
    ),
    DemoKey(
        "acme",
        "incharge",
        "Production Dashboard",
        ("charge-points:read", "analytics:read"),
        Role.VIEWER,
        "Acme Corp",
        ADMIN_API,
        age_days=52,
        traffic=Traffic(5200, 1400, ("198.51.100.7", "198.51.100.8"), rate_limited=6),
        rate_limit=60,
    ),
    DemoKey(
        "acme",
        "incharge",
        "CI Pipeline",
        ("charge-points:read",),
        Role.ADMIN,
        "Acme North",
        ADMIN_API,
        age_days=85,  # a 90-day key: "expiring soon"
        traffic=Traffic(260, 20, ("2001:db8:c1::4", "2001:db8:c1::5", "2001:db8:c1::6"), error_rate=0.01),
        expires_in_days=5,
    ),
    DemoKey(
        "acme",
        "incharge",
        "Billing Export (legacy)",
        ("billing:read",),
        Role.ADMIN_API,
        "Acme South",
        ADVANCED,
        age_days=140,
        traffic=Traffic(300, 0, ("192.0.2.80",)),
        idle_days=3,
        then=REVOKE,
    ),
    DemoKey(
        "acme",
        "incharge",
        "Webhook Relay",
        ("webhooks:write", "sessions:read"),
        Role.ADVANCED_ADMIN,
        "Acme Corp",
        ADVANCED,
        age_days=210,
        traffic=Traffic(600, 200, ("198.51.100.201",)),
        idle_days=120,  # unused for 90 days: "idle"
    ),
    DemoKey(
        "globex",
        "infodeck",
        "Maintenance Planner",
        ("work-orders:write", "locations:read"),
        Role.ADMIN,
        "Globex",
        GLOBEX,
        age_days=47,
        traffic=Traffic(700, 60, ("192.0.2.150", "2001:db8:910::2")),
    ),
    DemoKey(
        "globex",
        "infodeck",
        "IoT Gateway",
        ("iot:write", "assets:read"),
        Role.ADMIN_API,
        "Globex",
        GLOBEX,
        age_days=33,
        traffic=Traffic(2880, 2880, ("198.51.100.66",), error_rate=0.001),
    ),
)


@dataclass
class SeededKeys:
    made: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "name: why", for the command to report


def seed_keys(*, now: datetime | None = None) -> SeededKeys:
    """Make the demo keys that are missing. Call it outside any transaction: the key services run
    durable transactions of their own."""
    now = now or timezone.now()
    seeded = SeededKeys()
    for spec in DEMO_KEYS:
        organization = Organization.objects.filter(slug=spec.organization).first()
        if organization is None:
            seeded.skipped.append(f"{spec.name}: no organization {spec.organization!r}")
            continue
        if ApiKey.objects.filter(organization=organization, name__iexact=spec.name).exists():
            continue
        problem = _make(spec, organization, now)
        if problem:
            seeded.skipped.append(f"{spec.name}: {problem}")
        else:
            seeded.made.append(spec.name)
    return seeded


def _make(spec: DemoKey, organization: Organization, now: datetime) -> str:
    """Create one key, its history and what came after; returns why not, or "" when made."""
    creator = User.objects.filter(organization=organization, email=spec.created_by).first()
    application = Application.objects.filter(organization=organization, slug=spec.application).first()
    account = Account.objects.filter(organization=organization, name=spec.account).first()
    if creator is None or application is None or account is None:
        return "its creator, application or account is missing"
    actor = Actor.for_user(creator)
    # Asked first so that a demo member who was deactivated (or lost a role) is a skipped key, not
    # a refusal in the audit log on every run.
    if not permissions.may_create_key(actor, role=spec.role, account=account):
        return f"{creator.email} may not create a {spec.role.label} key on {account.name}"
    scopes = list(spec.scopes) if spec.scopes is not None else _read_scopes(application)
    rng = random.Random(f"{spec.organization}/{spec.name}")  # noqa: S311 (a demo, not a secret)
    created_at = now - timedelta(days=spec.age_days, seconds=rng.randint(0, 8 * 3600))
    try:
        # The secret is never bound to a name here: only the key is kept. Its "Key created" event
        # is dated when the demo says it was created.
        with as_of(created_at):
            key = services.create_key(
                actor=actor,
                application=application,
                account=account,
                role=spec.role,
                name=spec.name,
                scopes=scopes,
                expires_in_days=spec.expires_in_days,
                rate_limit=spec.rate_limit,
            ).key
    except ServiceError as exc:  # the plan's key limit reached, a name made unusable, …
        return exc.message
    _write_history(key, spec, now, rng, created_at)
    if spec.then == REGENERATE:
        services.regenerate_key(actor=actor, key=key, grace_period=GRACE_PERIOD)
    elif spec.then == REVOKE:
        services.revoke_key(actor=actor, key=key)
    return ""


def _read_scopes(application: Application) -> list[str]:
    return [str(s) for s in application.scopes.filter(action=ScopeAction.READ)]


def _write_history(
    key: ApiKey, spec: DemoKey, now: datetime, rng: random.Random, created_at: datetime
) -> None:
    rows = _usage_days(key, spec, now, rng)
    last_used, recent_ips = _last_seen(rows[-1].day, spec.traffic.ips, now, rng) if rows else (None, [])
    with transaction.atomic():
        KeyUsageDay.objects.bulk_create(rows)
        ApiKey.objects.filter(pk=key.pk).update(
            created_at=created_at, last_used_at=last_used, recent_ips=recent_ips
        )


def _usage_days(key: ApiKey, spec: DemoKey, now: datetime, rng: random.Random) -> list[KeyUsageDay]:
    """HISTORY_DAYS days ending ``spec.idle_days`` ago (today only up to now): weekday and weekend
    volumes, a few client errors and refused calls, one bad day with server errors, and a few 429s
    on its busiest days when the key has them."""
    traffic = spec.traffic
    last = now.date() - timedelta(days=spec.idle_days)
    incident = rng.randrange(HISTORY_DAYS)
    rows = []
    for index in range(HISTORY_DAYS):
        day = last - timedelta(days=HISTORY_DAYS - 1 - index)
        weekday = day.weekday() < 5
        calls = round((traffic.weekday if weekday else traffic.weekend) * rng.uniform(0.8, 1.2))
        if not calls:
            continue
        if day == now.date():  # used today already, as much as the part of today gone by
            calls = max(1, round(calls * _share_of_day_gone(now)))
        limited = traffic.rate_limited and calls > traffic.weekday
        client_errors, denied, server_errors, rate_limited = _within(
            calls,
            round(calls * traffic.error_rate * rng.uniform(0.3, 1.7)),
            rng.choice((0, 0, 0, 1, 2)),
            rng.randint(3, 12) if index == incident else 0,
            rng.randint(1, traffic.rate_limited) if limited else 0,
        )
        rows.append(
            KeyUsageDay(
                key=key,
                day=day,
                total=calls,
                success=calls - client_errors - denied - server_errors - rate_limited,
                client_errors=client_errors,
                denied=denied,
                rate_limited=rate_limited,
                server_errors=server_errors,
            )
        )
    return rows


def _within(calls: int, *wanted: int) -> list[int]:
    """The failures wanted, in order, cut so that at least one of the day's calls succeeded."""
    taken: list[int] = []
    for count in wanted:
        taken.append(min(count, calls - 1 - sum(taken)))
    return taken


def _share_of_day_gone(now: datetime) -> float:
    midnight = datetime.combine(now.date(), time(0), tzinfo=UTC)
    return (now - midnight) / timedelta(days=1)


def _last_seen(
    last_day: date, ips: tuple[str, ...], now: datetime, rng: random.Random
) -> tuple[datetime, list[dict[str, str]]]:
    """When the key was last used (on its last day with calls) and its recent addresses, newest
    first, in the shape the usage buffer writes."""
    midnight = datetime.combine(last_day, time(0), tzinfo=UTC)
    if last_day == now.date():
        last_used = max(midnight, now - timedelta(seconds=rng.randint(60, 1500)))
    else:
        last_used = midnight + timedelta(seconds=rng.randint(9 * 3600, 18 * 3600))
    seen = [last_used]
    for _ in ips[1:]:
        seen.append(seen[-1] - timedelta(seconds=rng.randint(30, 30 * 3600)))
    return last_used, [
        {"ip": ip, "seen": moment.isoformat(timespec="microseconds")}
        for ip, moment in zip(ips, seen, strict=True)
    ]
