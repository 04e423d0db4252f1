"""The multi-clinic lab: one PostgreSQL, one Redis and the clinics' services, all on loopback.

Each clinic runs one of the deploy role's three strategies, chosen by the lab's layout when it is
created (``up --layout``): ``production`` (the default) as inventories/production assigns them,
kin ``release``, lub ``container``, gom ``blue_green`` (further clinics ``release``); ``release``
or ``blue_green`` for every clinic. A release clinic runs one service from ``current``; a
blue_green clinic two slots (two services on two ports, each running the release its
``slots/<slot>`` link points at) behind an nginx front of its own (front.py); a container clinic
its versions as containers on the lab's podman Docker API (containers.py), behind its own front.

Each clinic is a host of its own (hosts.py): a system account per clinic that owns the clinic's
files, secrets and processes, reached by Ansible through an sshd of the lab's own on loopback,
with sudo rules for exactly the commands production runs as root. What the accounts need lives
in the lab's directory under /var/lib/medops-lab (``Lab.home``); the rest under the state
directory, where ``<state>/lab.json`` records ports and paths (never a secret). Passwords are
generated once and kept in 0600 files. Every process the lab starts is found again through its
pid file and checked to still be that process before it is signalled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import artifacts, containers, hosts, vault
from .front import FrontError, NginxFront, nginx_binary
from .servers import LOOPBACK, ManagedProcess, PostgresServer, RedisServer, ServerError, closed_parent, free_port, server_user

LAB_DIR = Path(__file__).resolve().parent.parent
DEFAULT_STATE = LAB_DIR / "state"
KNOWN_CLINICS = [("kin", "Kinshasa", "Africa/Kinshasa"), ("lub", "Lubumbashi", "Africa/Lubumbashi"),
                 ("gom", "Goma", "Africa/Lubumbashi")]
SERVICE_START_TIMEOUT = 30.0
SERVICE_STOP_TIMEOUT = 75.0  # above the service's own stop_timeout, so an active job can finish
SLOTS = ("blue", "green")
# Each lab's directory for what its accounts (and PostgreSQL, when the state dir is closed to it)
# must reach: a state dir under /root or /tmp is no place for an account's files (sshd's StrictModes).
SERVER_HOME = Path("/var/lib/medops-lab")
# The non-superuser role (CREATEROLE, CREATEDB) that makes every clinic's roles and database, as a
# managed server's admin account would; the collection's code (db_roles) logs in as it.
PROVISIONER = "medops_provisioner"
COLLECTIONS = LAB_DIR.parent / ".collections"
SCHEMA = 2  # 2: clinics are hosts (accounts, sshd); a lab.json of schema 1 is refused
SLOT_COMMANDS = ("slot-restart", "slot-stop")
LAYOUTS = ("production", "release", "blue_green")
# The production layout: inventories/production's strategy per clinic; clinics beyond these run `release`.
PRODUCTION_STRATEGIES = {"kin": "release", "lub": "container", "gom": "blue_green"}


class LabError(RuntimeError):
    """The lab cannot do what was asked; the message says why and what to do."""


def state_dir(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get("MEDOPS_LAB_STATE") or DEFAULT_STATE).absolute()


def clinic_identity(index: int) -> tuple[str, str, str]:
    if index < len(KNOWN_CLINICS):
        return KNOWN_CLINICS[index]
    return f"c{index + 1:02d}", f"Clinic {index + 1:02d}", "Africa/Kinshasa"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def _write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == text:
            return False
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def _replace_link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` by renaming a new link over it: it never points nowhere."""
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
        return True
    return False


def http_json(url: str, timeout: float = 3.0) -> tuple[int | None, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(ValueError):
            return exc.code, json.loads(exc.read() or b"{}")
        return exc.code, {}
    except (OSError, ValueError) as exc:
        return None, {"error": str(exc)}


class Lab:
    def __init__(self, state: Path):
        self.state = Path(state).absolute()
        self.file = self.state / "lab.json"
        self.data: dict = self._load()

    # -- records --------------------------------------------------------------------------
    def _load(self) -> dict:
        try:
            return json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise LabError(f"{self.file} is not valid JSON ({exc}); remove the state dir to start over") from None

    def _save(self) -> None:
        _write_if_changed(self.file, json.dumps(self.data, indent=2, sort_keys=True) + "\n")

    def require(self) -> None:
        if not self.data:
            raise LabError(f"no lab in {self.state} (no lab.json): run `python -m medops_lab up` first")

    @staticmethod
    def secret(path: str | Path) -> Path:
        """Path of a 0600 secret file, generated on first use and kept afterwards."""
        path = Path(path)
        if not path.exists():
            _write_private(path, secrets.token_urlsafe(32) + "\n")
        return path

    @staticmethod
    def read_secret(path: str | Path) -> str:
        return Path(path).read_text(encoding="utf-8").strip()

    def clinics(self) -> list[dict]:
        return self.data.get("clinics", [])

    def clinic(self, code: str) -> dict:
        for clinic in self.clinics():
            if clinic["code"] == code:
                return clinic
        raise LabError(f"unknown clinic {code!r}; the lab has: {', '.join(c['code'] for c in self.clinics()) or 'none'}")

    # -- servers ----------------------------------------------------------------------------
    def postgres(self) -> PostgresServer:
        pg = self.data["postgres"]
        return PostgresServer(Path(pg["datadir"]), port=pg["port"], password=self.read_secret(pg["password_file"]))

    def redis(self) -> RedisServer:
        rd = self.data["redis"]
        return RedisServer(Path(rd["workdir"]), port=rd["port"], password=self.read_secret(rd["password_file"]), persistent=True)

    def service_env(self, clinic: dict) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        if "account" in clinic:
            env.update(HOME=clinic["home"], USER=clinic["account"], LOGNAME=clinic["account"])
        return env

    def host_python(self) -> str:
        # A lab.json of schema 1 has none: `down` still finds (and stops) its services.
        return self.data.get("host_python") or self.data["python"]

    @staticmethod
    def account(clinic: dict):
        return hosts.account(clinic["account"]) if "account" in clinic else None

    def service(self, clinic: dict) -> ManagedProcess:
        """The clinic's service, run as the clinic's account with the hosts' Python."""
        argv = [self.host_python(), "-m", "clinic_service", "serve", "--config", clinic["config"]]
        return ManagedProcess("service", Path(clinic["run_dir"]), argv, env=self.service_env(clinic), port=clinic["port"],
                              cwd=Path(clinic["app_root"]) / "current", user=self.account(clinic))

    def _service_pid(self, clinic: dict) -> int | None:
        """The pid of this clinic's service, or None; a stale pid file (pid reused) is removed."""
        return self._checked_pid(self.service(clinic), "clinic_service", clinic["config"])

    @staticmethod
    def _checked_pid(proc: ManagedProcess, *marks: str) -> int | None:
        """``proc``'s pid when that process still runs what we started (its command line has every
        mark), else None; a stale pid file (pid reused) is removed."""
        pid = proc.pid()
        if pid and all(mark in _cmdline(pid) for mark in marks):
            return pid
        proc.pidfile.unlink(missing_ok=True)
        return None

    # -- blue/green slots and their front -----------------------------------------------------
    @staticmethod
    def blue_green(clinic: dict) -> bool:
        return "slots" in clinic

    @staticmethod
    def container(clinic: dict) -> bool:
        return clinic.get("strategy") == "container"

    @staticmethod
    def strategy(clinic: dict) -> str:
        return clinic.get("strategy") or ("blue_green" if "slots" in clinic else "release")

    def _require_blue_green(self, code: str) -> dict:
        self.require()
        clinic = self.clinic(code)
        if not self.blue_green(clinic):
            raise LabError(f"clinic {code} has no slots: slots exist for blue_green clinics (`up --layout production` "
                           "gives gom two, `up --layout blue_green` every clinic)")
        return clinic

    def _require_front(self, code: str) -> dict:
        self.require()
        clinic = self.clinic(code)
        if "front" not in clinic:
            raise LabError(f"clinic {code} has no nginx front: blue_green and container clinics have one")
        return clinic

    @staticmethod
    def slot_config(clinic: dict, slot: str) -> str:
        return str(Path(clinic["config"]).with_name(f"slot-{slot}.conf"))

    @staticmethod
    def slot_link(clinic: dict, slot: str) -> Path:
        return Path(clinic["app_root"]) / "slots" / slot

    def slot_process(self, clinic: dict, slot: str) -> ManagedProcess:
        argv = [self.host_python(), "-m", "clinic_service", "serve", "--config", self.slot_config(clinic, slot)]
        return ManagedProcess(f"slot-{slot}", Path(clinic["run_dir"]), argv, env=self.service_env(clinic),
                              port=clinic["slots"][slot], cwd=self.slot_link(clinic, slot), user=self.account(clinic))

    def _slot_pid(self, clinic: dict, slot: str) -> int | None:
        return self._checked_pid(self.slot_process(clinic, slot), "clinic_service", self.slot_config(clinic, slot))

    def front(self, clinic: dict) -> NginxFront:
        return NginxFront(clinic["front"]["dir"], clinic["port"], clinic["code"], self.data["nginx"],
                          upstream_file=clinic["front"].get("upstream_file"))

    @staticmethod
    def _front_command(code: str, argv: list[str], what: str) -> dict:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LabError(f"clinic {code}: nginx {what} failed: {(result.stderr or result.stdout).strip()}")
        return {"clinic": code, what: "ok", "changed": what == "reload"}

    def front_check(self, code: str) -> dict:
        """``nginx -t`` on the clinic's front: what the deploy account runs through sudo."""
        return self._front_command(code, self.front(self._require_front(code)).check_command(), "check")

    def front_reload(self, code: str) -> dict:
        return self._front_command(code, self.front(self._require_front(code)).reload_command(), "reload")

    def _front_pid(self, clinic: dict) -> int | None:
        return self._checked_pid(self.front(clinic).process(clinic["run_dir"]), "nginx", str(self.front(clinic).conf))

    def live_slot(self, clinic: dict) -> str | None:
        """The slot the front sends traffic to (read from its upstream file)."""
        port = self.front(clinic).live_port()
        return next((slot for slot, slot_port in clinic["slots"].items() if slot_port == port), None)

    @staticmethod
    def slot_version(clinic: dict, slot: str) -> str | None:
        try:
            return (Lab.slot_link(clinic, slot) / "VERSION").read_text(encoding="utf-8").strip()
        except OSError:
            return None

    def _start_slot(self, clinic: dict, slot: str) -> int:
        if not self.slot_link(clinic, slot).exists():
            raise LabError(f"clinic {clinic['code']}: slots/{slot} points at no release: link it to releases/<version> first")
        return self._launch(clinic, self._as_account(clinic, self.slot_process(clinic, slot)), f"slot {slot}")

    @staticmethod
    def _as_account(clinic: dict, proc: ManagedProcess) -> ManagedProcess:
        """A clinic's processes never run as root: without its account (after `down`) they do not start."""
        if proc.user is None:
            raise LabError(f"clinic {clinic['code']}: its account {clinic.get('account', '(none)')} does not exist: run `up`")
        return proc

    def _stop_slot(self, clinic: dict, slot: str) -> bool:
        if self._slot_pid(clinic, slot) is None:
            return False
        self.slot_process(clinic, slot).stop(SERVICE_STOP_TIMEOUT)
        return True

    def _check_slot(self, clinic: dict, slot: str) -> None:
        if slot not in clinic["slots"]:
            raise LabError(f"clinic {clinic['code']} has slots {', '.join(clinic['slots'])}, not {slot!r}")

    def slot_restart(self, code: str, slot: str) -> dict:
        """Stop the slot's service (SIGTERM: an active job finishes) and start it from slots/<slot>."""
        clinic = self._require_blue_green(code)
        self._check_slot(clinic, slot)
        self._stop_slot(clinic, slot)
        pid = self._start_slot(clinic, slot)
        return {"clinic": code, "slot": slot, "pid": pid, "version": self.slot_version(clinic, slot), "changed": True}

    def slot_stop(self, code: str, slot: str) -> dict:
        clinic = self._require_blue_green(code)
        self._check_slot(clinic, slot)
        return {"clinic": code, "slot": slot, "changed": self._stop_slot(clinic, slot)}

    def _start_front(self, clinic: dict) -> int:
        return self._launch(clinic, self.front(clinic).process(clinic["run_dir"]), "nginx front")

    def _stop_front(self, clinic: dict) -> bool:
        if self._front_pid(clinic) is None:
            return False
        self.front(clinic).process(clinic["run_dir"]).stop()
        return True

    def _redis_pid(self) -> int | None:
        proc = self.redis()
        pid = proc.pid()
        if pid and "redis-server" in _cmdline(pid) and f":{proc.port}" in _cmdline(pid):
            return pid
        proc.pidfile.unlink(missing_ok=True)
        return None

    # -- up ---------------------------------------------------------------------------------
    def _plan(self, count: int, environment: str, layout: str | None = None) -> None:
        """Create or extend lab.json: ports are chosen once, then kept."""
        python = sys.executable
        data = self.data
        if data.get("clinics") and data.get("schema", 1) < SCHEMA:
            raise LabError(f"the lab in {self.state} was made by an older medops_lab (clinics were not hosts): "
                           "run `down --purge` on it, then `up`")
        if layout not in (None, *LAYOUTS):
            raise LabError(f"unknown layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
        recorded = data.get("layout", "release") if data.get("clinics") else None
        if layout and recorded and layout != recorded:
            raise LabError(f"the lab in {self.state} has the {recorded} layout (chosen when it was created); start a "
                           f"{layout} lab in another state directory (--state)")
        data["layout"] = recorded or layout or "production"
        data.setdefault("schema", SCHEMA)
        data["state_dir"] = str(self.state)
        data["python"] = python
        data["lab_dir"] = str(LAB_DIR)
        data["home"] = str(self.home)
        # Served over HTTP to the hosts (deploy_artifact_url), so where every account can read.
        data["artifacts_dir"] = str(self.home / "artifacts")
        data["ctl"] = str(self.home / "bin" / "lab-ctl")
        data["sudoers_file"] = str(hosts.SUDOERS_DIR / f"medops-lab-{self.digest}")
        data.setdefault("environment", environment)
        taken = set()
        data.setdefault("postgres", {"host": LOOPBACK, "port": free_port(), "superuser": "postgres",
                                     "datadir": str(self._postgres_home() / "data"),
                                     "password_file": str(self.state / "secrets" / "postgres.password")})
        data.setdefault("redis", {"host": LOOPBACK, "port": free_port(), "workdir": str(self.state / "redis"),
                                  "password_file": str(self.state / "secrets" / "redis.password")})
        taken |= {data["postgres"]["port"], data["redis"]["port"]}
        clinics = data.setdefault("clinics", [])
        taken |= {c["port"] for c in clinics} | {p for c in clinics for p in c.get("slots", {}).values()}
        taken |= {p for c in clinics for p in c.get("container_ports", [])}
        taken |= {data[key]["port"] for key in ("ssh", "artifacts") if key in data}

        def new_port() -> int:
            port = free_port()
            while port in taken:
                port = free_port()
            taken.add(port)
            return port

        ssh = self.state / "ssh"
        data.setdefault("ssh", {"host": LOOPBACK, "port": new_port(), "dir": str(ssh), "host_key": str(ssh / "host_ed25519_key"),
                                "client_key": str(ssh / "id_ed25519"), "known_hosts": str(ssh / "known_hosts")})
        backup_home = self.home / "backup-host"
        # The clinics' off-host copies (playbooks/backup.yml) go to an account of its own on the
        # lab's sshd, as to a backup host: one directory per clinic, each clinic with its own key.
        data.setdefault("backup_host", {"account": hosts.account_name(self.digest, "backup"), "home": str(backup_home),
                                        "dir": str(backup_home / "copies")})
        if "artifacts" not in data:
            port = new_port()
            data["artifacts"] = {"port": port, "url": f"http://{LOOPBACK}:{port}"}
        for index in range(len(clinics), count):
            code, name, tz = clinic_identity(index)
            port = new_port()
            home = self.home / "clinics" / code
            root = home / "app"
            clinics.append({
                "code": code, "name": name, "timezone": tz, "port": port,
                "base_url": f"http://{LOOPBACK}:{port}",
                "account": hosts.account_name(self.digest, code), "home": str(home),
                "db_name": f"clinic_{code}", "db_user": f"clinic_{code}",
                "queue": f"clinic-{code}", "queue_prefix": "bull", "redis_db": 0,
                "app_root": str(root), "backup_dir": str(home / "backups"),
                "config": str(root / "shared" / "service.conf"), "flags_file": str(root / "shared" / "flags.env"),
                "log_dir": str(root / "shared" / "logs"),
                "db_password_file": str(root / "shared" / "secrets" / "db.password"),
                "redis_password_file": str(root / "shared" / "secrets" / "redis.password"),
                "api_token_file": str(root / "shared" / "secrets" / "api.token"),
                "run_dir": str(self.state / "run" / code),
            })
            clinic = clinics[-1]
            clinic["strategy"] = self._strategy_for(data["layout"], code)
            # A blue_green clinic's slots and a container clinic's two ports sit behind a front of the
            # clinic's own: port and base_url are the front's.
            if clinic["strategy"] == "blue_green":
                clinic["slots"] = {slot: new_port() for slot in SLOTS}
            elif clinic["strategy"] == "container":
                clinic["container_ports"] = [new_port(), new_port()]
            if clinic["strategy"] != "release":
                # nginx's own files stay root's; the upstream file is the deploy account's to rewrite.
                clinic["front"] = {"dir": str(self.state / "front" / code), "upstream_file": str(home / "front" / "upstream.conf")}
        if any("front" in clinic for clinic in clinics):
            try:
                data["nginx"] = nginx_binary()
            except FrontError as exc:
                raise LabError(str(exc)) from None
        for clinic in clinics:
            if "front" in clinic:
                front = self.front(clinic)
                clinic["front"].update(check_command=front.check_command(), reload_command=front.reload_command())
        if any(map(self.container, clinics)):
            data.setdefault("podman", containers.Podman.plan(self.home))
        self._plan_db_roles(data)

    @staticmethod
    def _strategy_for(layout: str, code: str) -> str:
        if layout == "production":
            return PRODUCTION_STRATEGIES.get(code, "release")
        return layout

    def _plan_db_roles(self, data: dict) -> None:
        """Names and 0600 password files of the database logins beside each clinic's own: the
        provisioning role (server setup) and each clinic's backup and restore roles. setdefault,
        so a lab planned before these existed gets them on its next `up`."""
        secrets_dir = self.state / "secrets"
        data["postgres"].setdefault("provisioner", PROVISIONER)
        data["postgres"].setdefault("provisioner_password_file", str(secrets_dir / "provisioner.password"))
        for clinic in data["clinics"]:
            for kind in ("backup", "restore"):
                clinic.setdefault(f"db_{kind}_user", f"{clinic['db_user']}_{kind}")
                clinic.setdefault(f"db_{kind}_password_file", str(secrets_dir / f"{clinic['code']}-db-{kind}.password"))

    @property
    def digest(self) -> str:
        return hashlib.sha256(str(self.state.resolve()).encode()).hexdigest()[:16]

    @property
    def home(self) -> Path:
        """This lab's directory under SERVER_HOME: the clinics' host trees, the artifacts, lab-ctl."""
        return SERVER_HOME / self.digest

    def _postgres_home(self) -> Path:
        """<state>/postgres, unless PostgreSQL's account cannot reach the state dir (a root checkout
        under /root, mode 0700): then the lab's own directory under SERVER_HOME."""
        if closed_parent(self.state / "postgres", server_user()) is None:
            return self.state / "postgres"
        return self.home / "postgres"

    def _prepare_state(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "secrets").mkdir(exist_ok=True, mode=0o700)

    def _open_postgres_home(self) -> None:
        """PostgreSQL runs as the postgres account when we are root: it must be able to enter its home."""
        home = Path(self.data["postgres"]["datadir"]).parent
        home.mkdir(parents=True, exist_ok=True)
        for path in (home, *home.parents):
            if path in (self.state.parent, SERVER_HOME.parent):
                break
            os.chmod(path, 0o755)

    def purge(self) -> list[str]:
        """Delete the state dir and the lab's directory under SERVER_HOME (after down). The hosts'
        Python stays there for the next lab (it is keyed by its requirements)."""
        removed = [self.state, self.home]
        for path in removed:
            shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            SERVER_HOME.rmdir()  # only when no other lab (or Python) is there
        return [str(path) for path in removed]

    def _create_secrets(self) -> None:
        self.secret(self.data["postgres"]["password_file"])
        self.secret(self.data["redis"]["password_file"])

    @staticmethod
    def _check_interpreter() -> None:
        """The services run with this interpreter: it must have what they import."""
        import importlib.util

        missing = [name for name in ("psycopg2", "redis", "bullmq") if importlib.util.find_spec(name) is None]
        if missing:
            raise LabError(f"{sys.executable} lacks {', '.join(missing)}: run the lab with the project's "
                           "virtualenv (.venv/bin/python -m medops_lab, or make lab-up)")

    def _prepare_home(self) -> None:
        """The lab's directory: root's, open for the accounts to reach their own (0750) homes."""
        for path in (SERVER_HOME, self.home, self.home / "clinics"):
            path.mkdir(exist_ok=True)
            os.chmod(path, 0o755)
        Path(self.data["artifacts_dir"]).mkdir(exist_ok=True)
        started = time.monotonic()
        self.data["host_python"] = hosts.ensure_host_python(SERVER_HOME, LAB_DIR.parent)
        self.host_python_seconds = round(time.monotonic() - started, 2)

    def _clear_stale_home(self) -> None:
        """A new lab in a state dir that was deleted by hand (not purged): the lab directory of the
        same path holds the old lab's host trees and PostgreSQL, which the new lab must not take on."""
        if self.home.exists():
            shutil.rmtree(self.home)

    def _ensure_accounts(self) -> None:
        for clinic in self.clinics():
            hosts.ensure_account(clinic["account"], Path(clinic["home"]))
        backup = self.data["backup_host"]
        hosts.ensure_account(backup["account"], Path(backup["home"]))

    @staticmethod
    def backup_key(clinic: dict) -> Path:
        """The clinic account's key to the backup host (the account's own, 0600)."""
        return Path(clinic["home"]) / ".ssh" / "backup_ed25519"

    @staticmethod
    def backup_known_hosts(clinic: dict) -> Path:
        return Path(clinic["home"]) / ".ssh" / "known_hosts_backup"

    def _up_backup_host(self, sshd: hosts.SshServer) -> None:
        """The backup account's home (0750, its own) accepts every clinic's backup key; each clinic
        account gets that key and the sshd's host key (strict checking) in its own .ssh."""
        backup = self.data["backup_host"]
        user = hosts.account(backup["account"])
        home = Path(backup["home"])
        Path(backup["dir"]).mkdir(parents=True, exist_ok=True)
        keys = []
        for clinic in self.clinics():
            owner = hosts.account(clinic["account"])
            keys.append(hosts.ensure_key(self.backup_key(clinic), f"medops-lab {clinic['code']} backups"))
            _write_if_changed(self.backup_known_hosts(clinic), sshd.known_hosts_line(), 0o600)
            for path in (self.backup_key(clinic), self.backup_key(clinic).with_suffix(".pub"), self.backup_known_hosts(clinic)):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        hosts.write_authorized_key(home, "\n".join(keys), user)
        hosts.give_tree(home, user.pw_uid, user.pw_gid)
        os.chmod(home, 0o750)

    def _hand_over(self, clinic: dict) -> None:
        """The clinic's host tree belongs to its account: homes 0750, secrets 0600 (as written)."""
        user = hosts.account(clinic["account"])
        home = Path(clinic["home"])
        hosts.give_tree(home, user.pw_uid, user.pw_gid)
        for path in (home, Path(clinic["app_root"]), Path(clinic["backup_dir"])):
            os.chmod(path, 0o750)

    def up(self, count: int = 3, environment: str = "production", layout: str | None = None) -> dict:
        try:
            hosts.require_root("the lab")
            hosts.require_tools()
        except hosts.HostError as exc:
            raise LabError(str(exc)) from None
        self._check_interpreter()
        self._prepare_state()
        if not self.clinics():
            self._clear_stale_home()
        self._plan(max(count, len(self.clinics()), 1), environment, layout)
        self._prepare_home()
        self._save()
        self._ensure_accounts()
        self._open_postgres_home()
        self._create_secrets()
        built = artifacts.build(Path(self.data["artifacts_dir"]))
        images = self._up_podman()
        pg = self.postgres()
        pg_was_running = pg.pid() is not None
        if not pg_was_running and port_open(pg.port):
            raise LabError(f"port {pg.port} recorded for the lab PostgreSQL is taken by another process")
        pg.start()
        self._ensure_provisioner(pg)
        rd = self.redis()
        redis_was_running = self._redis_pid() is not None
        if not redis_was_running:
            if port_open(rd.port):
                raise LabError(f"port {rd.port} recorded for the lab Redis is taken by another process")
            rd.start()
        report = {"postgres": "running" if pg_was_running else "started",
                  "redis": "running" if redis_was_running else "started",
                  "artifacts_built": [b["version"] for b in built if b["changed"]], "clinics": {}}
        if images is not None:
            report["images_built"] = images
        for clinic in self.clinics():
            report["clinics"][clinic["code"]] = self._up_clinic(pg, clinic)
        report["vault"] = "written" if self._write_vault() else "unchanged"
        report["hosts"] = self._up_hosts()
        report["host_python_seconds"] = self.host_python_seconds
        return report

    def _write_vault(self) -> bool:
        """The clinic secrets, vault-encrypted under production's variable names (see vault.py)."""
        # The lab has one database server, so every clinic's provisioning login is the same role.
        provisioner = self.data["postgres"]["provisioner_password_file"]
        clinics = [{**clinic, "db_provisioner_password_file": provisioner} for clinic in self.clinics()]
        return vault.write(self.state, vault.plain_values(clinics, lambda path: self.read_secret(self.secret(path))))

    # -- the container clinic's podman ---------------------------------------------------------
    def podman(self) -> containers.Podman:
        return containers.Podman(self.data["podman"], self.state / "run")

    def _podman_account(self) -> dict:
        """The container clinic whose account the podman socket is open to: one per lab, as the
        socket gives whoever holds it every container of the host."""
        found = [clinic for clinic in self.clinics() if self.container(clinic)]
        if len(found) != 1:
            raise LabError(f"a lab has one container clinic (its account alone reaches podman's socket), not {len(found)}")
        return found[0]

    def _podman_pid(self) -> int | None:
        return self._checked_pid(self.podman().service(), "podman", self.data["podman"]["socket"])

    def _up_podman(self) -> list[str] | None:
        """Start the lab's podman API (socket open to the container clinic's account) and build one
        image per release artifact. None when the lab has no container clinic."""
        if "podman" not in self.data:
            return None
        try:
            containers.require_podman()
            podman = self.podman()
            gid = hosts.account(self._podman_account()["account"]).pw_gid
            podman.prepare(gid)
            for clinic in filter(self.container, self.clinics()):
                # What its containers mount and are told, for the inventory (deploy_container_*) too.
                clinic["container"] = {"image": containers.IMAGE, "volumes": self.container_volumes(clinic),
                                       "env": {"CLINIC_SERVICE_CONFIG": containers.CONFIG_IN_CONTAINER}}
            self._save()
            if self._podman_pid() is None:
                podman.start_service(gid)
            return [version for version in artifacts.RELEASES
                    if podman.build(Path(self.data["artifacts_dir"]) / artifacts.tarball_name(version), version,
                                    self.data["host_python"])]
        except containers.PodmanError as exc:
            raise LabError(str(exc)) from None

    def container_volumes(self, clinic: dict) -> list[str]:
        return containers.volumes(str(Path(clinic["app_root"]) / "shared"), self.data["host_python"])

    def _container_release(self, clinic: dict, **params) -> dict:
        """One medops.runbook.container_release call made with the collection's own code, so the lab's
        containers are what the deploy role makes (names, labels, settings)."""
        self._import_collection()
        from ansible_collections.medops.runbook.plugins.module_utils import container_docker
        from ansible_collections.medops.runbook.plugins.modules import container_release

        values = {name: option.get("default") for name, option in container_release.argument_spec().items()}
        settings = clinic["container"]
        values.update(clinic=clinic["code"], docker_host=self.podman().url, pull="never", image=settings["image"],
                      env=settings["env"], volumes=settings["volumes"], **params)
        try:
            return container_docker.ReleaseRun(container_docker.DockerBackend(values), values).run()
        except container_docker.ContainerError as exc:
            raise LabError(f"clinic {clinic['code']}: containers: {exc}") from None

    def _record_image(self, clinic: dict) -> list[str]:
        """releases/<current>/image.json, as the deploy's ship step writes it for a version it ships."""
        version = self.current_version(clinic)
        record = Path(clinic["app_root"]) / "releases" / version / "image.json"
        if record.exists():
            return []
        image = self._container_release(clinic, state="present", version=version)["image"]
        _write_if_changed(record, json.dumps({"image": image["ref"], "id": image["id"],
                                              "repo_digests": image.get("repo_digests") or []}, indent=2) + "\n")
        _write_if_changed(record.with_name(".medops-complete"), image["id"] + "\n")
        return [f"image of {version} recorded"]

    def _container_rows(self, clinic: dict) -> list[dict]:
        return self.podman().containers(clinic["code"]) if "podman" in self.data else []

    def _live_container(self, clinic: dict, rows: list[dict] | None = None) -> dict | None:
        """The container (of ``rows``, else read now) on the port the front sends traffic to."""
        live = self.front(clinic).live_port()
        rows = self._container_rows(clinic) if rows is None else rows
        return next((row for row in rows if row["port"] == live), None)

    def _up_containers(self, clinic: dict) -> list[str]:
        """The live version's container runs on the front's port (made again if `down` removed it)."""
        row = self._live_container(clinic)
        if row and row["state"] == "running":
            return []
        port = self.front(clinic).live_port() or clinic["container_ports"][0]
        self._container_release(clinic, state="started", version=self.current_version(clinic), ports=[port])
        return [f"container of {self.current_version(clinic)} started"]

    def _stop_containers(self, clinic: dict) -> list[str]:
        running = [row["name"] for row in self._container_rows(clinic) if row["state"] == "running"]
        try:
            self.podman().stop(running)
        except containers.PodmanError as exc:
            raise LabError(f"clinic {clinic['code']}: {exc}") from None
        return running

    def container_migrate(self, code: str, version: str) -> dict:
        """The release's migrations in a one-off container of its image: what the container clinic's
        deploy account runs through sudo (production: ``sudo podman run --rm ... migrate``)."""
        self.require()
        clinic = self.clinic(code)
        if not self.container(clinic):
            raise LabError(f"clinic {code} does not run containers")
        podman = self.podman()
        if version not in artifacts.RELEASES or podman.image_python(version) is None:
            raise LabError(f"no image {containers.IMAGE}:{version} in the lab (versions: {', '.join(artifacts.RELEASES)})")
        result = subprocess.run(podman.migrate_argv(version, self.container_volumes(clinic)), env=podman.env(),
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LabError(f"clinic {code}: migrations of {version} failed: {result.stderr.strip()[-1500:]}")
        return {"clinic": code, "version": version, "changed": True}

    def _down_podman(self) -> list[str]:
        if "podman" not in self.data or not shutil.which("podman"):
            return []
        stopped = []
        podman = self.podman()
        try:
            if podman.remove_all():
                stopped.append("containers")
        except containers.PodmanError as exc:
            raise LabError(str(exc)) from None
        left = podman.wait_gone()
        if left:
            raise LabError(f"container processes still running after their removal: {left}")
        if self._podman_pid():
            podman.service().stop()
            stopped.append("podman")
        return stopped

    # -- the clinics as hosts ---------------------------------------------------------------
    def sshd(self) -> hosts.SshServer:
        users = [c["account"] for c in self.clinics()] + ([self.data["backup_host"]["account"]] if "backup_host" in self.data else [])
        return hosts.SshServer(self.data["ssh"], self.state / "run", users)

    def artifact_server(self) -> ManagedProcess:
        return hosts.artifact_server(Path(self.data["artifacts_dir"]), self.data["artifacts"]["port"], self.state / "run",
                                     self.data["host_python"], server_user())

    def _sshd_pid(self) -> int | None:
        return self._checked_pid(self.sshd(), "sshd", str(self.sshd().conf))

    def _artifacts_pid(self) -> int | None:
        return self._checked_pid(self.artifact_server(), "http.server", str(self.data["artifacts"]["port"]))

    def sudo_rules(self) -> dict[str, list[str]]:
        """Per account, exactly the commands production runs as root: its restart (or its slots'
        restart and stop and its front's check and reload)."""
        ctl = self.data["ctl"]
        rules = {}
        for clinic in self.clinics():
            code = clinic["code"]
            if self.blue_green(clinic):
                rules[clinic["account"]] = [f"{ctl} {cmd} {code} {slot}" for cmd in SLOT_COMMANDS for slot in clinic["slots"]]
            elif self.container(clinic):
                # lab-ctl checks the version names one of the lab's images before anything runs.
                rules[clinic["account"]] = [f"{ctl} container-migrate {code} *"]
            else:
                rules[clinic["account"]] = [f"{ctl} restart {code}"]
            if "front" in clinic:
                rules[clinic["account"]] += [f"{ctl} front-check {code}", f"{ctl} front-reload {code}"]
        return rules

    def _up_hosts(self) -> list[str]:
        done = []
        ssh = self.data["ssh"]
        hosts.write_ctl(Path(self.data["ctl"]), self.data["python"], LAB_DIR / "bin" / "medops-lab", self.state)
        try:
            if hosts.install_sudoers(Path(self.data["sudoers_file"]), hosts.sudoers_text(self.sudo_rules(), str(self.state))):
                done.append("sudo rules installed")
            public = hosts.ensure_key(Path(ssh["client_key"]), "medops-lab controller")
            for clinic in self.clinics():
                hosts.write_authorized_key(Path(clinic["home"]), public, hosts.account(clinic["account"]))
            sshd = self.sshd()
            sshd.prepare()
            self._up_backup_host(sshd)
        except hosts.HostError as exc:
            raise LabError(str(exc)) from None
        _write_if_changed(Path(ssh["known_hosts"]), sshd.known_hosts_line(), 0o600)
        if self._sshd_pid() is None:
            self._launch_server(sshd, "sshd")
            done.append("sshd started")
        if self._artifacts_pid() is None:
            self._launch_server(self.artifact_server(), "artifact server")
            done.append("artifact server started")
        return done

    @staticmethod
    def _launch_server(proc: ManagedProcess, what: str) -> int:
        """Start ``proc`` and wait for its port, which must be free: the lab never takes over (or
        later signals) a process it did not start."""
        if port_open(proc.port):
            raise LabError(f"{what}: port {proc.port} is taken by a process the lab did not start")
        try:
            proc.start(SERVICE_START_TIMEOUT)
        except ServerError as exc:
            raise LabError(f"{what} did not start: {exc}") from None
        return proc.pid()

    def _down_hosts(self) -> list[str]:
        """Stop sshd and the artifact server, end what still runs as a clinic account (SSH sessions),
        give the host trees back to root, remove the accounts and the sudo rules."""
        stopped = []
        if self.data.get("ssh") and self._sshd_pid():
            self.sshd().stop()
            stopped.append("sshd")
        if self.data.get("artifacts") and self._artifacts_pid():
            self.artifact_server().stop()
            stopped.append("artifact server")
        # The clinics' accounts and the backup host's: each home back to root, then the account.
        for owner in [c for c in self.clinics() if "account" in c] + [b for b in [self.data.get("backup_host")] if b]:
            hosts.give_tree(Path(owner["home"]), 0, 0)
            try:
                if hosts.remove_account(owner["account"]):
                    stopped.append(f"account {owner['account']}")
            except hosts.HostError as exc:
                raise LabError(str(exc)) from None
        if self.data.get("sudoers_file") and Path(self.data["sudoers_file"]).exists():
            Path(self.data["sudoers_file"]).unlink()
            stopped.append("sudo rules")
        return stopped

    def _up_clinic(self, pg: PostgresServer, clinic: dict) -> dict:
        done = []
        if self._ensure_database(pg, clinic):
            done.append("database created")
        if self._ensure_layout(clinic):
            done.append("config written")
        if self._ensure_queue(clinic):
            done.append("queue registered")
        current = Path(clinic["app_root"]) / "current"
        if not current.exists():
            self.install(clinic, artifacts.INITIAL_VERSION)
            done.append(f"installed {artifacts.INITIAL_VERSION}")
        if self.blue_green(clinic):
            done += self._link_slots(clinic)
        elif self.container(clinic):
            done += self._record_image(clinic)
            if self.front(clinic).write(clinic["container_ports"][0]):
                done.append("front configured")
        # Written as root until here: from now on the files are the clinic account's.
        self._hand_over(clinic)
        if self.blue_green(clinic):
            done += self._up_slots(clinic)
        elif self.container(clinic):
            done += self._up_containers(clinic) + self._up_front(clinic)
        elif self._service_pid(clinic) is None:
            self._start_service(clinic)
            done.append("service started")
        return {"changed": bool(done), "actions": done, "version": self.current_version(clinic)}

    def _link_slots(self, clinic: dict) -> list[str]:
        """First slot runs what `current` points at, the front sends traffic to it; afterwards the
        slot links and the upstream file belong to the deploy role: `up` only starts what stopped."""
        done = []
        first = SLOTS[0]
        if not any(self.slot_link(clinic, slot).is_symlink() for slot in SLOTS):
            _replace_link(self.slot_link(clinic, first), Path("..") / os.readlink(Path(clinic["app_root"]) / "current"))
            done.append(f"slot {first} linked")
        if self.front(clinic).write(clinic["slots"][first]):
            done.append("front configured")
        return done

    def _up_slots(self, clinic: dict) -> list[str]:
        done = []
        for slot in SLOTS:
            if self.slot_link(clinic, slot).exists() and self._slot_pid(clinic, slot) is None:
                self._start_slot(clinic, slot)
                done.append(f"slot {slot} started")
        return done + self._up_front(clinic)

    def _up_front(self, clinic: dict) -> list[str]:
        if self._front_pid(clinic) is not None:
            return []
        self._start_front(clinic)
        return ["front started"]

    def _ensure_queue(self, clinic: dict) -> bool:
        """Give the clinic's queue its BullMQ meta hash, as a queue in use has: BullMQ writes it on
        the first pause (or job), and medops.runbook.queue_pause refuses queues that have none."""
        prefix, name = clinic["queue_prefix"], clinic["queue"]
        # A queue that has been used needs nothing: resuming it removes meta's `paused` field and
        # with it an otherwise empty meta hash, but its job counter and event stream stay. Pausing
        # and resuming it again here would only wake its worker late.
        if self.redis().client().exists(*(f"{prefix}:{name}:{suffix}" for suffix in ("meta", "id", "events"))):
            return False
        import asyncio

        from bullmq import Queue

        async def register() -> None:
            queue = Queue(name, {"connection": {"host": LOOPBACK, "port": self.redis().port,
                                                "password": self.redis().password}, "prefix": prefix})
            try:
                await queue.pause()
                await queue.resume()
            finally:
                await queue.close()

        asyncio.run(register())
        return True

    def _ensure_provisioner(self, pg: PostgresServer) -> bool:
        """Server setup, as the superuser: the provisioning role, which is all the lab does as one."""
        from psycopg2 import sql

        name = self.data["postgres"]["provisioner"]
        if pg.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)):
            return False
        password = self.read_secret(self.secret(self.data["postgres"]["provisioner_password_file"]))
        # psycopg2 binds the password client side: it never shows in a process list.
        pg.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB PASSWORD %s").format(sql.Identifier(name)), (password,))
        return True

    @staticmethod
    def _import_collection() -> None:
        """The lab uses the collection's own code where it does what a playbook would."""
        if str(COLLECTIONS) not in sys.path:
            sys.path.append(str(COLLECTIONS))

    def _ensure_database(self, pg: PostgresServer, clinic: dict) -> bool:
        """The clinic's database and its application, backup and restore roles, made by the
        provisioning role through the collection's db_roles code (what playbooks/db_roles.yml runs)."""
        self._import_collection()
        from ansible_collections.medops.runbook.plugins.module_utils import db_roles

        names = {"application": clinic["db_user"], "backup": clinic["db_backup_user"], "restore": clinic["db_restore_user"]}
        passwords = {"application": self.read_secret(self.secret(clinic["db_password_file"])),
                     "backup": self.read_secret(self.secret(clinic["db_backup_password_file"])),
                     "restore": self.read_secret(self.secret(clinic["db_restore_password_file"]))}
        provisioner = self.data["postgres"]["provisioner"]
        roles = db_roles.ClinicDatabaseRoles(
            {"host": LOOPBACK, "port": pg.port, "user": provisioner, "connect_timeout": 10},
            self.read_secret(self.data["postgres"]["provisioner_password_file"]), clinic["db_name"], names, passwords)
        try:
            return db_roles.ensure(roles)["changed"]
        except db_roles.DbRolesError as exc:
            raise LabError(f"clinic {clinic['code']}: database roles: {exc}") from None

    def _ensure_layout(self, clinic: dict) -> bool:
        root = Path(clinic["app_root"])
        for sub in ("releases", "shared", "shared/logs"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        Path(clinic["backup_dir"]).mkdir(parents=True, exist_ok=True)
        Path(clinic["run_dir"]).mkdir(parents=True, exist_ok=True)
        if self.blue_green(clinic):
            (root / "slots").mkdir(exist_ok=True)
        self.secret(clinic["api_token_file"])
        # The service reads every secret from its own shared/ dir: a release + shared/ is all it needs.
        redis_password = self.read_secret(self.data["redis"]["password_file"]) + "\n"
        _write_if_changed(Path(clinic["redis_password_file"]), redis_password, 0o600)
        flags = Path(clinic["flags_file"])
        if not flags.exists():  # owned by the operator (and the feature_flag module) once written
            flags.write_text("# Feature flags of this clinic (FEATURE_FLAG_<NAME>=true|false)\n"
                             "FEATURE_FLAG_NEW_UI=false\nFEATURE_FLAG_ADVANCED_ANALYTICS=false\n"
                             "FEATURE_FLAG_BULK_OPERATIONS=false\n", encoding="utf-8")
        changed = _write_if_changed(Path(clinic["config"]), self._service_conf(clinic))
        # A slot's service reads the same settings but listens on the slot's port.
        for slot, port in clinic.get("slots", {}).items():
            changed = _write_if_changed(Path(self.slot_config(clinic, slot)), self._service_conf(clinic, port)) or changed
        return changed

    def _service_conf(self, clinic: dict, port: int | None = None) -> str:
        pg, rd = self.data["postgres"], self.data["redis"]
        return (
            f"# Written by medops_lab for clinic {clinic['code']}; secrets live in secrets/ (0600).\n"
            "[service]\n"
            f"clinic = {clinic['code']}\nclinic_name = {clinic['name']}\nenvironment = {self.data['environment']}\n"
            f"host = {LOOPBACK}\nport = {port or clinic['port']}\nflags_file = flags.env\nlog_dir = logs\n"
            "rate_limit = 600\nstop_timeout = 60\n\n"
            "[api]\ntoken_file = secrets/api.token\n\n"
            "[database]\n"
            f"host = {pg['host']}\nport = {pg['port']}\nname = {clinic['db_name']}\nuser = {clinic['db_user']}\n"
            "password_file = secrets/db.password\n\n"
            "[redis]\n"
            f"host = {rd['host']}\nport = {rd['port']}\ndb = {clinic['redis_db']}\npassword_file = secrets/redis.password\n"
            f"queue = {clinic['queue']}\nprefix = {clinic['queue_prefix']}\nconcurrency = 1\n"
        )

    # -- releases ---------------------------------------------------------------------------
    def migrate_command(self, clinic: dict) -> list[str]:
        return [self.data["host_python"], "-m", "clinic_service", "migrate", "--config", clinic["config"]]

    def install(self, clinic: dict, version: str) -> None:
        """Unpack, migrate and switch ``current`` to ``version`` (what the deploy role does, for bootstrap)."""
        tarball = Path(self.data["artifacts_dir"]) / artifacts.tarball_name(version)
        release = Path(clinic["app_root"]) / "releases" / version
        if not release.exists():
            artifacts.unpack(tarball, release)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        result = subprocess.run(self.migrate_command(clinic), cwd=release, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LabError(f"clinic {clinic['code']}: migrations of {version} failed: {result.stderr.strip()}")
        _replace_link(Path(clinic["app_root"]) / "current", Path("releases") / version)

    @staticmethod
    def current_version(clinic: dict) -> str | None:
        """The release ``current`` points at: its VERSION file, or (a container clinic's release
        holds only image.json) the name of its releases/ directory."""
        current = Path(clinic["app_root"]) / "current"
        try:
            return (current / "VERSION").read_text(encoding="utf-8").strip()
        except OSError:
            pass
        try:
            return os.path.basename(os.readlink(current)) or None
        except OSError:
            return None

    # -- services ---------------------------------------------------------------------------
    def _start_service(self, clinic: dict) -> int:
        if not (Path(clinic["app_root"]) / "current").exists():
            raise LabError(f"clinic {clinic['code']}: no current release to start (run `up`)")
        return self._launch(clinic, self._as_account(clinic, self.service(clinic)), "service")

    def _launch(self, clinic: dict, proc: ManagedProcess, what: str) -> int:
        return self._launch_server(proc, f"clinic {clinic['code']}: {what}")

    def _stop_service(self, clinic: dict) -> bool:
        pid = self._service_pid(clinic)
        if pid is None:
            return False
        self.service(clinic).stop(SERVICE_STOP_TIMEOUT)
        return True

    def start_service(self, code: str) -> dict:
        self.require()
        clinic = self.clinic(code)
        if self.blue_green(clinic):
            started = [slot for slot in SLOTS if self.slot_link(clinic, slot).exists() and self._slot_pid(clinic, slot) is None]
            for slot in started:
                self._start_slot(clinic, slot)
            return {"clinic": code, "slots_started": started, "changed": bool(started)}
        if self.container(clinic):
            started = self._up_containers(clinic)
            return {"clinic": code, "started": started, "changed": bool(started)}
        pid = self._service_pid(clinic)
        changed = pid is None
        if changed:
            pid = self._start_service(clinic)
        return {"clinic": code, "pid": pid, "version": self.current_version(clinic), "changed": changed}

    def stop_service(self, code: str) -> dict:
        self.require()
        clinic = self.clinic(code)
        if self.blue_green(clinic):  # both slots: the front stays up and answers 502
            stopped = [slot for slot in SLOTS if self._stop_slot(clinic, slot)]
            return {"clinic": code, "slots_stopped": stopped, "changed": bool(stopped)}
        if self.container(clinic):  # the front stays up and answers 502
            stopped = self._stop_containers(clinic)
            return {"clinic": code, "containers_stopped": stopped, "changed": bool(stopped)}
        return {"clinic": code, "changed": self._stop_service(clinic)}

    def restart(self, code: str) -> dict:
        self.require()
        clinic = self.clinic(code)
        if self.blue_green(clinic):
            raise LabError(f"clinic {code} runs two slots behind nginx: restart one with `slot-restart {code} <slot>`")
        if self.container(clinic):
            raise LabError(f"clinic {code} runs containers: `stop-service {code}` and `start-service {code}` stop and "
                           "start the live one")
        self._stop_service(clinic)
        pid = self._start_service(clinic)
        return {"clinic": code, "pid": pid, "version": self.current_version(clinic), "changed": True}

    # -- failures on demand -----------------------------------------------------------------
    def stop_db(self) -> dict:
        self.require()
        pg = self.postgres()
        running = pg.pid() is not None
        pg.stop("fast")
        return {"postgres": "stopped", "changed": running}

    def start_db(self) -> dict:
        self.require()
        pg = self.postgres()
        running = pg.pid() is not None
        pg.start()
        return {"postgres": "running", "changed": not running}

    def stop_redis(self) -> dict:
        self.require()
        running = self._redis_pid() is not None
        if running:
            self.redis().stop()
        return {"redis": "stopped", "changed": running}

    def start_redis(self) -> dict:
        self.require()
        running = self._redis_pid() is not None
        if not running:
            self.redis().start()
        return {"redis": "running", "changed": not running}

    # -- status / down ----------------------------------------------------------------------
    def status(self) -> dict:
        self.require()
        pg, rd = self.postgres(), self.redis()
        out = {"state": str(self.state), "postgres": {"port": pg.port, "pid": pg.pid()},
               "redis": {"port": rd.port, "pid": self._redis_pid()}, "clinics": []}
        if self.data.get("ssh"):
            out["sshd"] = {"port": self.data["ssh"]["port"], "pid": self._sshd_pid()}
            out["artifacts"] = {"url": self.data["artifacts"]["url"], "pid": self._artifacts_pid()}
        for clinic in self.clinics():
            row, slots = {}, {}
            if self.blue_green(clinic):
                live = self.live_slot(clinic)
                slots = {slot: {"port": port, "pid": self._slot_pid(clinic, slot), "version": self.slot_version(clinic, slot),
                                "live": slot == live} for slot, port in clinic["slots"].items()}
                pid = slots[live]["pid"] if live else None
                row = {"slots": slots, "live_slot": live, "front_pid": self._front_pid(clinic)}
            elif self.container(clinic):
                rows = self._container_rows(clinic)  # one `podman ps` for the live one and the listing
                live = self._live_container(clinic, rows)
                pid = live["pid"] if live and live["state"] == "running" else None
                row = {"containers": rows, "front_pid": self._front_pid(clinic)}
            else:
                pid = self._service_pid(clinic)
            code, body = http_json(clinic["base_url"] + "/health") if pid else (None, {})
            out["clinics"].append({"clinic": clinic["code"], "name": clinic["name"], "strategy": self.strategy(clinic),
                                   "pid": pid, "port": clinic["port"],
                                   "version": self.current_version(clinic), "http": code,
                                   "health": body.get("status", "down" if not pid else "unreachable"),
                                   "degraded": body.get("degraded_services", []), **row})
        return out

    def pids(self) -> list[int]:
        """Every pid the lab has running right now (for checks that nothing is left behind)."""
        found = [self._service_pid(c) for c in self.clinics()] + [self._redis_pid(), self.postgres().pid()]
        if self.data.get("ssh"):
            found += [self._sshd_pid(), self._artifacts_pid()]
        for clinic in filter(self.blue_green, self.clinics()):
            found += [self._slot_pid(clinic, slot) for slot in clinic["slots"]]
        found += [self._front_pid(clinic) for clinic in self.clinics() if "front" in clinic]
        if "podman" in self.data and shutil.which("podman"):
            found += [self._podman_pid()] + [row["pid"] for c in filter(self.container, self.clinics())
                                             for row in self._container_rows(c) if row["state"] == "running"]
        return [pid for pid in found if pid]

    def down(self) -> dict:
        if not self.data:
            return {"changed": False, "stopped": []}
        stopped = [f"service {c['code']}" for c in self.clinics() if self._stop_service(c)]
        for clinic in self.clinics():
            stopped += [f"front {clinic['code']}"] if "front" in clinic and self._stop_front(clinic) else []
        for clinic in filter(self.blue_green, self.clinics()):
            stopped += [f"slot {clinic['code']} {slot}" for slot in clinic["slots"] if self._stop_slot(clinic, slot)]
        stopped += self._down_podman()
        if self._redis_pid():
            self.redis().stop()
            stopped.append("redis")
        pg = self.postgres()
        if pg.pid():
            pg.stop("fast")
            stopped.append("postgres")
        stopped += self._down_hosts()
        left = self.pids()
        if left:
            raise LabError(f"processes still running after down: {left}")
        return {"changed": bool(stopped), "stopped": stopped}
