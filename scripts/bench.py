"""`make bench`: the hot path measured against a bare Django view, as ratios from one run on this machine.

It builds a throw-away SQLite database (demo data + 10,000 keys), starts gunicorn with production
settings and 2 workers (gunicorn.conf.py's worker model, threads included), loads it with wrk on
loopback, and prints (and writes to docs/benchmarks.md) requests/s as the median of interleaved
runs, p50/p99 latency, and each scenario's ratio to a bare Django project (scripts/bare_django.py:
no app, no middleware, one JSON view, the same gunicorn settings and worker model) and to /healthz,
both measured in the same run. Timings are never asserted: the machines are shared and noisy; the
ratios are what we compare.
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookiejar
import json
import os
import platform
import re
import runpy
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
PASSWORD = "acme-demo-2026"


def worker_model() -> str:
    """gunicorn.conf.py's worker class and threads, as the table's heading names them."""
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    name = conf.get("worker_class", "sync").rsplit(".", 1)[-1]
    threads = conf.get("threads", 1)
    return f"{name}, {threads} threads each" if threads > 1 else name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CACHE_URL", "DATABASE_URL"}}
    env.update(
        DEBUG="0",
        SECRET_KEY="bench-" + "x" * 60,
        KEY_PEPPERS="bench-pepper-current,bench-pepper-old",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        SECURE_HSTS_SECONDS="0",
        DATABASE_URL=f"sqlite:///{work / 'bench.sqlite3'}",
        LOG_LEVEL="WARNING",
        DEMO_PASSWORD=PASSWORD,
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


SEED_KEYS = r"""
import sys, django
django.setup()
from accounts.models import Account, Application, Organization, Role
from keys import credentials
from keys.models import ApiKey
count = int(sys.argv[1])
org = Organization.objects.get(slug="acme")
apps = list(Application.objects.filter(organization=org))
accounts = list(Account.objects.filter(organization=org))
pepper = credentials.current_pepper()
rows = []
for i in range(count):
    app = apps[i % len(apps)]
    scope = str(app.scopes.first()) if i < len(apps) else None
    rows.append(ApiKey(
        organization=org, application=app, account=accounts[i % len(accounts)],
        role=[Role.VIEWER, Role.SUPPORT, Role.ADMIN, Role.ADMIN_API, Role.ADVANCED_ADMIN][i % 5],
        name=f"bulk key {i:05d}", scopes=[scope or "api-keys:read"],
        client_id=credentials.new_client_id(app.environment),
        secret_digest=credentials.digest(credentials.new_secret(app.environment), pepper),
        pepper_id=pepper.id,
    ))
ApiKey.objects.bulk_create(rows, batch_size=2000)
print(ApiKey.objects.count())
"""


def cpu_name() -> str:
    return next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown",
    )


SECTION = "make bench"
DOCUMENT_TITLE = "# Benchmarks\n"


def write_section(path: Path, name: str, text: str) -> None:
    """Put ``text`` between the ``<!-- name -->`` and ``<!-- /name -->`` markers of the benchmark
    document, leaving everything else alone (``make bench`` and ``make bench-scale`` write one
    section each); a section not there yet goes at the end."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    document = path.read_text() if path.exists() else DOCUMENT_TITLE
    block = f"{start}\n{text.strip()}\n{end}"
    if start in document and end in document:
        before, rest = document.split(start, 1)
        document = before + block + rest.split(end, 1)[1]
    else:
        document = document.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(exist_ok=True)
    path.write_text(document)


class Server:
    """gunicorn with production settings; stopped with SIGTERM so workers flush their buffers."""

    def __init__(
        self,
        env: dict[str, str],
        name: str,
        workers: int = 2,
        config: str = "gunicorn.conf.py",
        app: str = "portal.wsgi:application",
        probe: str = "/healthz",
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(env["BENCH_WORK"]) / f"{name}.log"
        self.proc = subprocess.Popen(
            [
                GUNICORN,
                app,
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--config",
                config,
                *extra_args,
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for _ in range(100):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(self.url + probe, timeout=1).read()
                break
            time.sleep(0.1)
        else:
            sys.exit(f"gunicorn did not start; see {self.log}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) its workers have used so far. Per request it is much steadier
        than requests/s on a machine shared with other work: time spent waiting for a core is not
        in it."""
        found = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        ticks = 0
        for pid in found.stdout.split():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def load(self, path: str, seconds: int, headers: dict[str, str] | None) -> dict:
        """wrk against one path, with the workers' CPU time per request."""
        before = self.cpu_seconds()
        result = wrk(self.url + path, seconds, headers)
        result["cpu_us"] = (self.cpu_seconds() - before) / max(result["requests"], 1) * 1e6
        return result

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def wrk(url: str, seconds: int, headers: dict[str, str] | None = None, connections: int = 16) -> dict:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    headers = dict(headers or {})
    script = headers.pop(POST_SCRIPT, None)
    if script:
        cmd[1:1] = ["-s", script]
    for name, value in headers.items():
        cmd[1:1] = ["-H", f"{name}: {value}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def percentile(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "rps": rps,
        "requests": requests,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "p50": percentile("50"),
        "p99": percentile("99"),
    }


BARE = "a bare Django JSON view (no middleware, same gunicorn): the reference"
HEALTHZ = "/healthz"
WARM = "/api/v1/key, valid key, warm"
WARM_NO_METRICS = "/api/v1/key, valid key, warm, metrics off (METRICS=0)"
WARM_NO_REQUEST_LOG = "/api/v1/key, valid key, warm, request log off (REQUEST_LOG=0)"
# A pseudo-header: the wrk Lua script that makes the request a POST with a body.
POST_SCRIPT = "x-bench-post-script"
GRAPHQL_QUERY = "{ currentKey { id name } }"
# Ten fields of each of 50 keys: a list page as a client reads it (no count).
GRAPHQL_LIST_QUERY = (
    "{ apiKeysConnection(first: 50) { edges { node { id name clientId scopes application account "
    "role status createdAt expiresAt } } } }"
)


def graphql_post_script(work: Path, query: str = GRAPHQL_QUERY, name: str = "graphql") -> str:
    path = work / f"{name}.lua"
    body = json.dumps({"query": query}).replace("\\", "\\\\").replace("'", "\\'")
    path.write_text(
        f"wrk.method = 'POST'\nwrk.body = '{body}'\nwrk.headers['Content-Type'] = 'application/json'\n"
    )
    return str(path)


def redis_answers(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


def login_session(base: str, email: str = "advanced@acme.test") -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": email, "password": PASSWORD}
    ).encode()
    opener.open(urllib.request.Request(base + "/login/", data=data, headers={"Referer": base + "/login/"}))
    return opener


def time_page(opener: urllib.request.OpenerDirector, url: str, n: int = 15) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = opener.open(url)
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status}")
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def count_writes(env: dict[str, str], secret: str, seconds: int) -> tuple[int, int]:
    """(database writes, requests) for one key under load, counted by every worker."""
    counts = Path(env["BENCH_WORK"]) / "writes"
    counts.mkdir(exist_ok=True)
    server = Server(
        {**env, "BENCH_COUNT_WRITES": str(counts)}, "writes", config="scripts/gunicorn-bench.conf.py"
    )
    try:
        result = wrk(server.url + "/api/v1/key", seconds, {"Authorization": f"Bearer {secret}"})
    finally:
        server.stop()
    writes = sum(int(p.read_text() or 0) for p in counts.glob("*.count"))
    return writes, result["requests"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", "5")))
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated parts of scenario names: run those (and the two references) only, "
        "without the list page and the write count; for trying a change, not for docs/",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="akp-bench-"))
    env = base_env(work)
    env["BENCH_WORK"] = str(work)
    print(f"Preparing a fresh database with {args.keys:,} keys in {work} …", flush=True)
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "seed_demo", "--no-keys")  # the benchmark makes keys of its own
    manage(env, "collectstatic", "--noinput", "-v0")
    subprocess.run([PYTHON, "-c", SEED_KEYS, str(args.keys)], cwd=ROOT, env=env, check=True)
    created = json.loads(
        manage(
            env,
            "create_api_key",
            "--organization",
            "acme",
            "--name",
            "bench",
            "--scope",
            "api-keys:read",
            "--rate-limit",
            "1000000",
            "--json",
        )
    )
    secret = created["key"]
    auth = {"Authorization": f"Bearer {secret}"}
    # The same key limited to three networks, the last of which is where wrk calls from.
    fenced = json.loads(
        manage(
            env,
            "create_api_key",
            *("--organization", "acme", "--name", "bench fenced", "--scope", "api-keys:read"),
            *("--rate-limit", "1000000", "--json"),
            *("--allowed-ip", "10.0.0.0/8", "--allowed-ip", "2001:db8::/32", "--allowed-ip", "127.0.0.0/8"),
        )
    )
    fenced_auth = {"Authorization": f"Bearer {fenced['key']}"}
    bad_checksum = secret[:-1] + ("A" if secret[-1] != "A" else "B")

    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    servers = {
        # The reference: a bare Django project (no app, no middleware) under the same gunicorn settings.
        "bare": Server(
            {**env, "DJANGO_SETTINGS_MODULE": "bare_django"},
            "bare",
            config="scripts/gunicorn-bare.conf.py",
            app="bare_django:application",
            probe="/ok",
            extra_args=("--pythonpath", "scripts"),
        ),
        "warm": Server(env, "warm"),
        # The same without the Prometheus instrumentation, for what it costs.
        "no-metrics": Server({**env, "METRICS": "0"}, "no-metrics"),
        # The same without the request log, for what it costs.
        "no-request-log": Server({**env, "REQUEST_LOG": "0"}, "no-request-log"),
        "cold": Server({**env, "KEY_CACHE_TTL_SECONDS": "0"}, "cold"),
    }
    if redis_answers(redis_url):
        servers["redis"] = Server({**env, "REDIS_URL": redis_url}, "redis")
    scenarios = [
        (BARE, "bare", "/ok", None),
        (HEALTHZ, "warm", "/healthz", None),
        (WARM, "warm", "/api/v1/key", auth),
        (WARM_NO_METRICS, "no-metrics", "/api/v1/key", auth),
        (WARM_NO_REQUEST_LOG, "no-request-log", "/api/v1/key", auth),
        ("/api/v1/key, valid key with 3 allowed networks, warm", "warm", "/api/v1/key", fenced_auth),
        ("/api/v1/key, verification cache off (cold)", "cold", "/api/v1/key", auth),
        ("/api/v1/key, malformed key", "warm", "/api/v1/key", {"Authorization": "Bearer not-a-key"}),
        ("/api/v1/key, bad checksum", "warm", "/api/v1/key", {"Authorization": f"Bearer {bad_checksum}"}),
        (
            f"GraphQL `{GRAPHQL_QUERY}`, valid key, warm",
            "warm",
            "/api/graphql",
            {**auth, POST_SCRIPT: graphql_post_script(work)},
        ),
        (
            "GraphQL 10 fields of 50 keys (`apiKeysConnection(first: 50)`), valid key, warm",
            "warm",
            "/api/graphql",
            {**auth, POST_SCRIPT: graphql_post_script(work, GRAPHQL_LIST_QUERY, "graphql-list")},
        ),
    ]
    if "redis" in servers:
        scenarios.append(("/api/v1/key, rate limits shared in Redis", "redis", "/api/v1/key", auth))
        scenarios.append(("/healthz on the Redis server", "redis", "/healthz", None))

    if args.only:
        wanted = [part.strip() for part in args.only.split(",") if part.strip()]
        scenarios = [s for s in scenarios if s[0] in (BARE, HEALTHZ) or any(w in s[0] for w in wanted)]
    results: dict[str, list[dict]] = {name: [] for name, *_ in scenarios}
    try:
        for _, server, path, headers in scenarios:  # warm-up
            wrk(servers[server].url + path, 1, headers)
        for run in range(args.runs):
            print(f"run {run + 1}/{args.runs}", flush=True)
            for name, server, path, headers in scenarios:
                results[name].append(servers[server].load(path, args.seconds, headers))
        list_url = servers["warm"].url + "/settings/api-keys/"
        try:
            if args.only:
                raise RuntimeError("--only")
            opener = login_session(servers["warm"].url)
            list_times = {
                "unfiltered": time_page(opener, list_url),
                "filtered (search + status + role)": time_page(
                    opener, list_url + "?search=bulk+key+01&status=active&role=40"
                ),
            }
        except Exception as exc:  # report the failure in the table instead of losing the run
            list_times = {f"not measured ({exc})": float("nan")}
    finally:
        for server in servers.values():
            server.stop()
    writes, requests = count_writes(env, secret, args.seconds) if not args.only else (0, 0)

    reference = statistics.median(r["rps"] for r in results[BARE])
    reference_cpu = statistics.median(r["cpu_us"] for r in results[BARE])
    healthz = statistics.median(r["rps"] for r in results[HEALTHZ])
    rows = []
    for name, runs in results.items():
        rps = statistics.median(r["rps"] for r in runs)
        cpu = statistics.median(r["cpu_us"] for r in runs)
        rows.append(
            (
                name,
                rps,
                statistics.median(r["p50"] for r in runs),
                statistics.median(r["p99"] for r in runs),
                rps / reference,
                rps / healthz,
                cpu,
                reference_cpu / cpu,
                sum(r["non2xx"] for r in runs),
            )
        )
    cpu = cpu_name()
    lines = [
        "## Hot path",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {cpu} ({os.cpu_count()} cores) by `make bench`:",
        f"gunicorn, 2 workers ({worker_model()}), production settings, SQLite with {args.keys:,} keys; "
        "wrk -t2 -c16 on loopback",
        "(load generator and server share the machine); "
        f"median of {args.runs} interleaved runs of {args.seconds} s.",
        "",
        "| scenario | requests/s | p50 ms | p99 ms | × bare Django | × /healthz | worker CPU µs/request "
        "| bare Django's CPU ÷ this | non-2xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rps, p50, p99, ratio, to_healthz, cpu, cpu_ratio, non2xx in rows:
        lines.append(
            f"| {name} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {ratio:.2f} | {to_healthz:.2f} | {cpu:.0f} "
            f"| {cpu_ratio:.2f} | {non2xx:,} |"
        )
    if WARM in results and WARM_NO_METRICS in results:
        on, off = (statistics.median(r["rps"] for r in results[name]) for name in (WARM, WARM_NO_METRICS))
        cpu_on, cpu_off = (
            statistics.median(r["cpu_us"] for r in results[name]) for name in (WARM, WARM_NO_METRICS)
        )
        lines += [
            "",
            f"The Prometheus instrumentation costs the warm row **{(1 - on / off) * 100:.1f} %** of its "
            f"requests/s and **{(cpu_on / cpu_off - 1) * 100:.1f} %** more worker CPU per request "
            "(metrics on, as deployed, against METRICS=0).",
        ]
    if WARM in results and WARM_NO_REQUEST_LOG in results:
        on, off = (statistics.median(r["rps"] for r in results[name]) for name in (WARM, WARM_NO_REQUEST_LOG))
        cpu_on, cpu_off = (
            statistics.median(r["cpu_us"] for r in results[name]) for name in (WARM, WARM_NO_REQUEST_LOG)
        )
        lines += [
            "",
            f"The request log costs the warm row **{(1 - on / off) * 100:.1f} %** of its requests/s and "
            f"**{(cpu_on / cpu_off - 1) * 100:.1f} %** more worker CPU per request (on, as deployed, "
            "against REQUEST_LOG=0).",
        ]
    lines += [
        "",
        "Database writes per 1,000 authenticated requests of one key (usage and request log batches): "
        f"**{writes * 1000 / max(requests, 1):.3f}** ({writes} writes for {requests:,} requests).",
        "",
        f"API Keys list page with {args.keys:,} keys (median of 15, signed in as Advanced Admin):",
        "",
    ]
    for name, ms in list_times.items():
        lines.append(f"- {name}: {ms:.1f} ms")
    lines.append("")
    report = "\n".join(lines)
    print("\n" + report)
    write_section(Path(args.output), SECTION, report)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
