"""What makes each lab clinic a host of its own: a system account per clinic, an sshd on loopback
that Ansible reaches them through, the sudo rules a production host would have, the Python the
hosts run, and a static HTTP server for the release artifacts.

Run as root only (accounts, sudoers). Every file an account needs lives under the lab's own
directory in /var/lib/medops-lab (see Lab.home): sshd's StrictModes and the accounts themselves
cannot go through a state dir under /tmp or /root.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .servers import LOOPBACK, ManagedProcess, pid_alive

SSHD = "/usr/sbin/sshd"
SUDOERS_DIR = Path("/etc/sudoers.d")
USERADD_LOCKED = 10  # useradd/userdel: cannot lock /etc/passwd (another lab is adding its accounts)


class HostError(RuntimeError):
    """A host piece (account, sshd, sudo, Python) cannot be set up; the message says what to do."""


def _run(argv: list[str], what: str, retries: int = 20) -> subprocess.CompletedProcess:
    """Run a system tool; retry while another process holds the password file lock."""
    for _attempt in range(retries):
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != USERADD_LOCKED:
            break
        time.sleep(0.25)
    if result.returncode != 0:
        raise HostError(f"{what} failed ({result.returncode}): {(result.stderr or result.stdout).strip()}")
    return result


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise HostError(f"{what} needs root (it creates an account and an sshd per lab): run the lab as root")


def require_tools() -> None:
    missing = [pkg for tool, pkg in ((SSHD, "openssh-server"), ("/usr/bin/sudo", "sudo"), ("/usr/sbin/visudo", "sudo"),
                                     ("/usr/sbin/useradd", "passwd"), ("/usr/bin/ssh-keygen", "openssh-client"))
               if not os.access(tool, os.X_OK)]
    if missing:
        raise HostError(f"missing Debian packages: {' '.join(sorted(set(missing)))} "
                        "(bash scripts/install-deps.sh demo installs them)")


# -- accounts ---------------------------------------------------------------------------------
def account_name(digest: str, code: str) -> str:
    """Unique per lab (several labs run at once in the tests) and within Linux's 32 characters."""
    return f"ml{digest[:6]}-{code}"[:32]


def account(name: str) -> pwd.struct_passwd | None:
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    return None


def ensure_account(name: str, home: Path) -> pwd.struct_passwd:
    """A system account with its own group; '*' (no password, not locked) lets sshd accept its key."""
    found = account(name)
    if found is None:
        _run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", str(home),
              "--shell", "/bin/sh", "--password", "*", name], f"useradd {name}")
        found = pwd.getpwnam(name)
    return found


def account_pids(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.append(int(entry))
    return pids


def end_account_processes(uid: int, timeout: float = 10.0) -> None:
    """SSH sessions outlive the sshd that accepted them (and ControlPersist keeps them): end what
    still runs as the account, so that userdel can remove it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in account_pids(uid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while any(pid_alive(pid) for pid in account_pids(uid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not any(pid_alive(pid) for pid in account_pids(uid)):
            return


def remove_account(name: str) -> bool:
    found = account(name)
    if found is None:
        return False
    end_account_processes(found.pw_uid)
    _run(["userdel", name], f"userdel {name}")
    return True


def give_tree(path: Path, uid: int, gid: int) -> None:
    """chown -R without following links (a release's shared links point elsewhere)."""
    if not path.exists():
        return
    os.lchown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)


# -- the controller's key and the sshd ------------------------------------------------------------
def ensure_key(path: Path, comment: str) -> str:
    """An ed25519 key pair (private 0600); returns the public line."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], f"ssh-keygen {path.name}")
    os.chmod(path, 0o600)
    return path.with_name(path.name + ".pub").read_text(encoding="ascii").strip()


def write_authorized_key(home: Path, public: str, user: pwd.struct_passwd) -> None:
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    keys = ssh_dir / "authorized_keys"
    keys.write_text(public + "\n", encoding="ascii")
    os.chmod(keys, 0o600)
    for path in (ssh_dir, keys):
        os.chown(path, user.pw_uid, user.pw_gid)


class SshServer(ManagedProcess):
    """Debian's sshd on loopback with a configuration, host key and pid file of the lab's own."""

    def __init__(self, ssh: dict, run_dir: Path, users: list[str]):
        self.dir = Path(ssh["dir"])
        self.conf = self.dir / "sshd_config"
        self.host_key = Path(ssh["host_key"])
        self.users = users
        super().__init__("sshd", run_dir, [SSHD, "-D", "-e", "-f", str(self.conf)], port=ssh["port"])

    def config_text(self) -> str:
        return "\n".join([
            "# Written by medops_lab: Ansible reaches the lab's clinic accounts here, by key only.",
            f"ListenAddress {LOOPBACK}:{self.port}",
            f"HostKey {self.host_key}",
            f"PidFile {self.dir / 'sshd.pid'}",
            f"AllowUsers {' '.join(self.users)}",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin no", "StrictModes yes", "UsePAM no",
            "X11Forwarding no", "AllowTcpForwarding no", "AllowAgentForwarding no", "PrintMotd no",
            # A fleet run opens one connection per clinic at once (forks).
            "MaxStartups 100:30:200", "MaxSessions 50",
            "Subsystem sftp internal-sftp", "",
        ])

    def prepare(self) -> None:
        ensure_key(self.host_key, "medops-lab host")
        self.conf.write_text(self.config_text(), encoding="utf-8")
        # sshd needs its privilege separation directory; a container without systemd has none.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        result = subprocess.run([SSHD, "-t", "-f", str(self.conf)], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise HostError(f"sshd refuses its configuration {self.conf}: {result.stderr.strip()}")

    def known_hosts_line(self) -> str:
        public = self.host_key.with_name(self.host_key.name + ".pub").read_text(encoding="ascii").split()
        return f"[{LOOPBACK}]:{self.port} {public[0]} {public[1]}\n"


# -- sudo --------------------------------------------------------------------------------------
def sudoers_text(rules: dict[str, list[str]], origin: str) -> str:
    """``rules``: account -> the exact commands (argv joined) it may run as root."""
    lines = [f"# Written by medops_lab for the lab in {origin}: what each clinic account may run as root.",
             "# Removed by `down`. Commands are matched with their arguments, exactly."]
    for user, commands in rules.items():
        lines.append(f"{user} ALL=(root) NOPASSWD: {', '.join(commands)}")
    return "\n".join(lines) + "\n"


def install_sudoers(path: Path, text: str) -> bool:
    """Install ``text`` as ``path`` once ``visudo -c`` accepts it: a broken file in sudoers.d
    would break sudo for the whole machine. sudo skips names with a dot, so the check copy is inert."""
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == text:
            return False
    tmp = path.with_name(f".{path.name}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o440)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    result = subprocess.run(["visudo", "-c", "-q", "-f", str(tmp)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise HostError(f"visudo refuses the lab's sudo rules: {(result.stderr or result.stdout).strip()}")
    os.replace(tmp, path)
    return True


def write_ctl(path: Path, python: str, cli: Path, state: Path) -> None:
    """The one program the sudo rules name: the lab CLI bound to this lab's state dir. Root-owned,
    so an account can change neither it nor the state it acts on; sudo matches its arguments."""
    text = ("#!/bin/sh\n# Written by medops_lab: this lab's control commands, run as root through sudo.\n"
            f"exec {shlex.quote(python)} {shlex.quote(str(cli))} --state {shlex.quote(str(state))} \"$@\"\n")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o755)


# -- the hosts' Python -----------------------------------------------------------------------------
def host_requirements(repo: Path) -> str:
    """What runs on a clinic host: the modules' requirements.txt and the service's worker (bullmq,
    pinned in requirements-dev.txt)."""
    lines = [line for line in (repo / "requirements.txt").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    lines += [line for line in (repo / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()
              if line.startswith("bullmq")]
    return "\n".join(lines) + "\n"


def system_python() -> str:
    """Debian's python3: the repository's virtualenv may sit where the accounts cannot enter."""
    for candidate in ("/usr/bin/python3", shutil.which("python3") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise HostError("no python3 for the clinic hosts: install python3 and python3-venv")


def ensure_host_python(home: Path, repo: Path) -> str:
    """A virtualenv every account can use (root-owned, world-readable), built once per content of
    the requirements and reused by later labs: ``<home>/python-<hash>``."""
    base = system_python()
    version = subprocess.run([base, "-c", "import sys; print(sys.version)"], capture_output=True, text=True,
                             check=True).stdout
    spec = host_requirements(repo)
    key = hashlib.sha256((spec + version).encode()).hexdigest()[:12]
    final = home / f"python-{key}"
    if (final / ".complete").exists():
        return str(final / "bin" / "python")
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o755)
    tmp = home / f".python-{key}.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _run([base, "-m", "venv", str(tmp)], "python3 -m venv (install python3-venv)")
        (tmp / "requirements.txt").write_text(spec, encoding="utf-8")
        _run([str(tmp / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
              "-r", str(tmp / "requirements.txt")], "pip install of the hosts' requirements")
        (tmp / ".complete").write_text(spec, encoding="utf-8")
        subprocess.run(["chmod", "-R", "a+rX,go-w", str(tmp)], check=True)
        # A venv's python finds its packages relative to itself, so it can be renamed into place.
        os.rename(tmp, final)
    except OSError:
        if not (final / ".complete").exists():  # not another lab's build finishing first
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(final / "bin" / "python")


# -- the release artifacts, served as a production artifact store would --------------------------
def artifact_server(directory: Path, port: int, run_dir: Path, python: str, user: pwd.struct_passwd | None) -> ManagedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    argv = [python, "-m", "http.server", "--bind", LOOPBACK, "--directory", str(directory), str(port)]
    return ManagedProcess("artifacts", run_dir, argv, env=env, port=port, user=user, cwd=directory)
