"""Service configuration: one INI file in the clinic's shared/ directory.

Secrets never sit in the file itself: each comes from an environment variable or from a 0600 file
that the config names, so that neither a process listing nor the config leaks them.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path


class ConfigError(RuntimeError):
    pass


@dataclass
class Config:
    path: Path
    clinic: str
    clinic_name: str
    environment: str
    host: str
    port: int
    flags_file: Path
    log_dir: Path
    rate_limit: int
    api_token: str
    db: dict
    redis: dict
    queue: str
    queue_prefix: str
    worker_concurrency: int
    stop_timeout: float


def _secret(section: configparser.SectionProxy, env_name: str, base: Path) -> str | None:
    if os.environ.get(env_name):
        return os.environ[env_name]
    name = section.get("password_file") or section.get("token_file")
    if not name:
        return None
    path = (base / name) if not os.path.isabs(name) else Path(name)
    mode = path.stat().st_mode & 0o077
    if mode:
        raise ConfigError(f"{path} is readable by group or others (mode {oct(path.stat().st_mode & 0o777)}): chmod 0600 it")
    return path.read_text(encoding="utf-8").strip()


def load(path: str | Path) -> Config:
    path = Path(path).resolve()
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        svc, db, rds = parser["service"], parser["database"], parser["redis"]
        base = path.parent
        api = parser["api"] if parser.has_section("api") else svc
        return Config(
            path=path,
            clinic=svc["clinic"],
            clinic_name=svc.get("clinic_name", svc["clinic"]),
            environment=svc.get("environment", "production"),
            host=svc.get("host", "127.0.0.1"),
            port=svc.getint("port"),
            flags_file=base / svc.get("flags_file", "flags.env"),
            log_dir=base / svc.get("log_dir", "logs"),
            rate_limit=svc.getint("rate_limit", 600),
            api_token=_secret(api, "CLINIC_API_TOKEN", base) or "",
            db={"host": db.get("host", "127.0.0.1"), "port": db.getint("port", 5432), "dbname": db["name"],
                "user": db["user"], "password": _secret(db, "CLINIC_DB_PASSWORD", base)},
            redis={"host": rds.get("host", "127.0.0.1"), "port": rds.getint("port", 6379), "db": rds.getint("db", 0),
                   "password": _secret(rds, "CLINIC_REDIS_PASSWORD", base)},
            queue=rds["queue"],
            queue_prefix=rds.get("prefix", "bull"),
            worker_concurrency=rds.getint("concurrency", 1),
            stop_timeout=svc.getfloat("stop_timeout", 60.0),
        )
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"config {path} is incomplete or invalid: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot read a secret file: {exc}") from None


def default_path() -> Path:
    """``<app_root>/shared/service.conf`` seen from a release dir ``<app_root>/releases/<version>``."""
    if os.environ.get("CLINIC_SERVICE_CONFIG"):
        return Path(os.environ["CLINIC_SERVICE_CONFIG"])
    return Path.cwd().resolve().parent.parent / "shared" / "service.conf"
