"""HTTP side of the service: health endpoints in the shapes the runbooks use, and smoke-test surfaces."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import psycopg2
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import RELEASE, RELEASE_DIR, VERSION, db
from .flags import FlagFile, in_rollout
from .migrate import release_migrations

log = logging.getLogger("clinic_service.http")

# A failing database makes the clinic unusable; the other checks only degrade it.
CRITICAL = ("database",)
READY_CHECKS = ("database", "redis", "migrations", "warmup")
# The api-errors fault (release 1.2.0-errors) fails one /api/appointments call in this many.
API_ERRORS_EVERY = 2


class RateLimiter:
    """Fixed one-minute window per client address; only /api/ requests count."""

    def __init__(self, limit: int):
        self.limit = limit
        self._windows: dict = {}
        self._lock = threading.Lock()

    def hit(self, client: str, count: bool) -> int:
        window = int(time.time() // 60)
        with self._lock:
            seen_window, used = self._windows.get(client, (window, 0))
            if seen_window != window:
                used = 0
            if count:
                used += 1
            self._windows[client] = (window, used)
            return self.limit - used


class RequestCounters:
    """Prometheus-style counters of the answers given (every request but the /metrics scrape itself)."""

    def __init__(self):
        self._by_code: dict = {}
        self._lock = threading.Lock()

    def count(self, status: int) -> None:
        with self._lock:
            self._by_code[status] = self._by_code.get(status, 0) + 1

    def render(self) -> str:
        with self._lock:
            by_code = dict(sorted(self._by_code.items()))
        errors = sum(n for code, n in by_code.items() if code >= 500)
        lines = ["# HELP http_requests_total Requests answered, by status code.", "# TYPE http_requests_total counter"]
        lines += [f'http_requests_total{{code="{code}"}} {n}' for code, n in by_code.items()]
        lines += ["# HELP http_requests_errors_total Requests answered with a 5xx status.",
                  "# TYPE http_requests_errors_total counter", f"http_requests_errors_total {errors}"]
        return "\n".join(lines) + "\n"


class Clinic:
    """Everything a request handler needs: config, probes, flags, worker."""

    def __init__(self, cfg, worker):
        self.cfg = cfg
        self.worker = worker
        self.flags = FlagFile(cfg.flags_file)
        self.limiter = RateLimiter(cfg.rate_limit)
        self.counters = RequestCounters()
        # shared/faults/<flag>: a fault injected on purpose (tests, drills), see fault_from()
        self.faults_dir = cfg.path.parent / "faults"
        self.migrations = [path.stem for path in release_migrations()]
        # /api/appointments calls, counted: the api-errors fault fails a fixed share of them.
        self.appointment_calls = itertools.count(1)
        # No client-side retries: a probe must answer within its timeout, not after a backoff series.
        self.redis = redis.Redis(**cfg.redis, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))

    def checks(self) -> tuple[dict, dict]:
        checks, details = {}, {}
        try:
            pending = db.probe(self.cfg.db, self.migrations)["pending"]
            checks["database"] = "ok"
            checks["migrations"] = "fail" if pending else "ok"
            if pending:
                details["migrations"] = f"pending: {', '.join(pending)}"
        except psycopg2.Error as exc:
            checks["database"] = checks["migrations"] = "fail"
            details["database"] = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        try:
            self.redis.ping()
            checks["redis"] = "ok"
        except redis.RedisError as exc:
            checks["redis"] = "fail"
            details["redis"] = str(exc).strip() or type(exc).__name__
        checks["queue"] = "ok" if self.worker.healthy() and checks["redis"] == "ok" else "fail"
        if "ready-never-healthy" in RELEASE["faults"]:
            checks["warmup"] = "fail"
            details["warmup"] = "cache warm-up never completes in this release"
        return checks, details

    def health(self) -> tuple[int, dict]:
        checks, details = self.checks()
        failed = [name for name, state in checks.items() if state != "ok"]
        status = "unhealthy" if any(name in CRITICAL for name in failed) else "degraded" if failed else "healthy"
        body = {"status": status, "version": VERSION, "clinic": self.cfg.clinic, "checks": checks,
                "degraded_services": failed, "details": details}
        return (503 if status == "unhealthy" else 200), body

    def ready(self) -> tuple[int, dict]:
        checks, details = self.checks()
        checks = {name: state for name, state in checks.items() if name in READY_CHECKS}
        failed = [name for name, state in checks.items() if state != "ok"]
        body = {"ready": not failed, "status": "fail" if failed else "ok", "version": VERSION, "checks": checks,
                "failed": failed, "details": {k: v for k, v in details.items() if k in failed}}
        return (503 if failed else 200), body

    def health_db(self) -> tuple[int, dict]:
        try:
            db.probe(self.cfg.db, [])
            return 200, {"status": "ok", "database": "connected"}
        except psycopg2.Error as exc:
            return 503, {"status": "fail", "database": "disconnected", "error": str(exc).strip().splitlines()[0]}

    def fault_from(self, flag: str) -> int | None:
        """The rollout percentage from which the code behind ``flag`` fails (the integer in
        shared/faults/<flag>), or None: a new code path that copes with a small share of the
        traffic and breaks under more of it."""
        try:
            return int((self.faults_dir / flag).read_text(encoding="utf-8").strip() or 0)
        except (OSError, ValueError):
            return None

    def dashboard(self, user: str | None) -> tuple[int, dict]:
        """The page behind the ``new_ui`` flag: the new dashboard for users inside the rollout."""
        flag = self.flags.flag("new_ui")
        if not in_rollout(flag, "new_ui", user):
            return 200, {"ui": "classic", "user": user, "flag": flag}
        fault = self.fault_from("new_ui")
        rollout = 100 if flag["rollout"] is None else flag["rollout"]
        if fault is not None and rollout >= fault:
            log.error("new dashboard failed for user %s at rollout %d%% (injected fault from %d%%)", user, rollout, fault)
            return 500, {"error": "new dashboard failed", "ui": "new", "user": user, "flag": flag}
        return 200, {"ui": "new", "user": user, "flag": flag}

    def patients(self) -> tuple[int, dict]:
        try:
            with contextlib.closing(db.connect(self.cfg.db)) as conn, conn.cursor() as cur:
                cur.execute("SELECT id, full_name FROM patients ORDER BY id")
                return 200, {"patients": [{"id": row[0], "name": row[1]} for row in cur.fetchall()]}
        except psycopg2.Error:
            return 503, {"error": "database unavailable"}

    def appointments(self) -> tuple[int, dict]:
        """The appointments list; a release with the ``api-errors`` fault answers every
        ``API_ERRORS_EVERY``-th call 500 (a deterministic share, on a path no smoke test calls)."""
        call = next(self.appointment_calls)
        if "api-errors" in RELEASE["faults"] and call % API_ERRORS_EVERY == 0:
            log.error("appointments call %d failed (injected fault of release %s)", call, VERSION)
            return 500, {"error": "appointments failed"}
        try:
            with contextlib.closing(db.connect(self.cfg.db)) as conn, conn.cursor() as cur:
                cur.execute("SELECT to_regclass('appointments') IS NOT NULL")
                if not cur.fetchone()[0]:
                    return 404, {"error": "no appointments before 1.1.0"}
                cur.execute("SELECT id, patient_id FROM appointments ORDER BY id")
                return 200, {"appointments": [{"id": row[0], "patient": row[1]} for row in cur.fetchall()]}
        except psycopg2.Error:
            return 503, {"error": "database unavailable"}


class Handler(BaseHTTPRequestHandler):
    server_version = "clinic-service"
    sys_version = ""
    clinic: Clinic  # set on the subclass built by make_server

    def do_GET(self):  # noqa: N802 (http.server naming)
        started = time.monotonic()
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        self.answer(path, *self.route(path), started=started)

    do_HEAD = do_GET

    def do_POST(self):  # noqa: N802 (http.server naming)
        started = time.monotonic()
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(min(length, 65536)) if length > 0 else b""
        status, body = self.login(data) if path == "/api/login" else (404, {"error": "not found"})
        self.answer(path, status, body, started=started)

    def answer(self, path: str, status: int, body, started: float) -> None:
        remaining = self.clinic.limiter.hit(self.client_address[0], path.startswith("/api/"))
        if remaining < 0 and path.startswith("/api/"):
            status, body = 429, {"error": "rate limit exceeded"}
        if path != "/metrics":
            self.clinic.counters.count(status)
        text = isinstance(body, str)  # /metrics: Prometheus text format
        payload = body.encode() if text else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; version=0.0.4" if text else "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-RateLimit-Limit", str(self.clinic.limiter.limit))
        self.send_header("X-RateLimit-Remaining", str(max(remaining, 0)))
        self.send_header("X-Clinic-Version", VERSION)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        log.info("%s %s %d %.1fms", self.command, path, status, (time.monotonic() - started) * 1000)

    def route(self, path: str) -> tuple[int, dict | str]:
        clinic, cfg = self.clinic, self.clinic.cfg
        if path == "/health":
            return clinic.health()
        if path == "/health/live":
            return 200, {"status": "ok", "alive": True, "version": VERSION}
        if path == "/health/ready":
            return clinic.ready()
        if path == "/health/db":
            return clinic.health_db()
        if path == "/api/version":
            return 200, {"version": VERSION, "clinic": cfg.clinic, "release": RELEASE_DIR.name,
                         "environment": cfg.environment}
        if path == "/api/flags":
            return 200, {"flags": clinic.flags.current(), "states": clinic.flags.states()}
        if path == "/metrics":
            return 200, clinic.counters.render()
        if path == "/dashboard":
            query = parse_qs(urlsplit(self.path).query)
            return clinic.dashboard(self.headers.get("X-User-Id") or query.get("user", [None])[0])
        if path == "/api/patients":
            if not self._authorised():
                return 401, {"error": "unauthorized"}
            return clinic.patients()
        if path == "/api/appointments":
            if not self._authorised():
                return 401, {"error": "unauthorized"}
            return clinic.appointments()
        if path == "/api/dev":
            if cfg.environment == "production":
                return 403, {"error": "forbidden in production"}
            return 200, {"dev": True}
        return 404, {"error": "not found"}

    def login(self, data: bytes) -> tuple[int, dict]:
        """POST /api/login {"user": ..., "token": <the clinic's API token>}: seed 004's login check."""
        try:
            doc = json.loads(data.decode("utf-8") or "null")
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("user"), str):
            return 400, {"error": "expected a JSON object with user and token"}
        token = self.clinic.cfg.api_token
        if not token or doc.get("token") != token:
            return 401, {"authenticated": False}
        return 200, {"authenticated": True, "user": doc["user"], "clinic": self.clinic.cfg.clinic}

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        token = self.clinic.cfg.api_token
        return bool(token) and header.startswith("Bearer ") and header[len("Bearer "):].strip() == token

    def log_message(self, fmt, *args):  # the access log line above replaces http.server's stderr line
        pass


def make_server(cfg, worker) -> ThreadingHTTPServer:
    handler = type("ClinicHandler", (Handler,), {"clinic": Clinic(cfg, worker)})
    server = ThreadingHTTPServer((cfg.host, cfg.port), handler)
    server.daemon_threads = True
    return server
