"""A newcomer on a clean Debian: clone, `make demo`, then the README's commands exactly as written.

The container is a debootstrap image with only ``python3 python3-venv make git ca-certificates``
(scripts/debian-image.sh, cached by podman between runs); it gets a clone of the committed files
and runs the README's newcomer commands (tests/harness/readme.py) with the system Python, as root,
on the host's loopback network, privileged (the lab's container clinic runs a podman inside). The
host's pip configuration, pip cache and CA certificates go in, so that pip works behind an
intercepting proxy too; nothing else of the host does.

    make newcomer                 Debian 12 (bookworm), in `make test`
    make newcomer DIST=trixie     Debian 13
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from harness.podman import podman
from harness.readme import NEWCOMER, REPO

DIST = os.environ.get("MEDOPS_NEWCOMER_DIST", "bookworm")
PACKAGES = "python3,python3-venv,make,git,ca-certificates"
IMAGE = f"localhost/medops-newcomer:{DIST}"
CLONE = "/root/medops-runbook"  # where a newcomer working as root would clone it
# What pip reads besides the environment; each is passed in read-only when the host has it.
PIP_CONFIG = ["/etc/pip.conf", "/etc/xdg/pip", str(Path.home() / ".config" / "pip")]
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
CA_IN_CONTAINER = "/etc/ssl/medops-host-ca.crt"


def _build_image() -> None:
    build = subprocess.run(["bash", str(REPO / "scripts" / "debian-image.sh"), IMAGE, DIST, PACKAGES],
                           capture_output=True, text=True, timeout=1200, check=False)
    assert build.returncode == 0, f"building {IMAGE} failed: {build.stderr.strip()[-2000:]}"


def _script(out: str) -> str:
    """The README commands in order, each announced; the lab's state is read just before `make lab-down`."""
    lines = ["set -euo pipefail", f"cd {CLONE}", "SECONDS=0"]
    for command in NEWCOMER:
        if command == "make lab-down":
            lines.append(f"PYTHONPATH=lab .venv/bin/python -m medops_lab status --json > {out}/status.json")
        lines += [f"echo {shlex.quote('+++ ' + command)} \"(at ${{SECONDS}} s)\"", command]
    lines += ["echo '+++ done' \"(at ${SECONDS} s)\"", _list_processes(f"{out}/processes.txt")]
    return "\n".join(lines) + "\n"


def _list_processes(path: str) -> str:
    """pid and command line of every process in the container, from /proc (minbase has no ps)."""
    return f'for p in /proc/[0-9]*; do echo "${{p#/proc/}} $(tr "\\0" " " < $p/cmdline 2>/dev/null)"; done > {path}'


def _mounts_and_env(work: Path) -> list[str]:
    args = ["-v", f"{work}:/newcomer-out", "-v", f"{REPO}:/newcomer-src:ro"]
    args += [arg for path in PIP_CONFIG if os.path.exists(path) for arg in ("-v", f"{path}:{path}:ro")]
    cache = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-m", "pip", "cache", "dir"],
                           capture_output=True, text=True, check=False).stdout.strip()
    if cache and os.path.isdir(cache):
        args += ["-v", f"{cache}:/root/.cache/pip"]  # saves downloads only: every package is still installed
    env = {k: v for k, v in os.environ.items() if k.startswith("PIP_") and k != "PIP_CERT"}
    if os.path.exists(HOST_CA):
        args += ["-v", f"{HOST_CA}:{CA_IN_CONTAINER}:ro"]
        env.update({name: CA_IN_CONTAINER for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")})
    return args + [arg for k, v in env.items() for arg in ("-e", f"{k}={v}")]


@pytest.fixture(scope="module")
def newcomer_run(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the newcomer test needs root (rootful podman; `make demo` installs Debian packages)")
    _build_image()
    work = tmp_path_factory.mktemp(f"newcomer-{DIST}")
    (work / "run.sh").write_text(_script("/newcomer-out"))
    # The clone holds committed files only, as a newcomer's has; the checkout is mounted read-only to clone from.
    # --privileged: the lab's container clinic runs a podman of its own inside, as on a real host.
    command = ["run", "--rm", "--privileged", "--network", "host", *_mounts_and_env(work), IMAGE, "bash", "-c",
               f"git clone -q /newcomer-src {CLONE} && exec bash /newcomer-out/run.sh"]
    started = time.monotonic()
    proc = podman(*command, check=False, timeout=2400)
    elapsed = time.monotonic() - started
    log = proc.stdout + proc.stderr
    (work / "console.log").write_text(log)
    print(f"newcomer {DIST}: {elapsed:.0f} s; " + "; ".join(l for l in proc.stdout.splitlines() if l.startswith("+++ ")))
    return {"rc": proc.returncode, "log": log, "out": work, "elapsed": elapsed}


def test_every_newcomer_command_passes_as_written(newcomer_run):
    assert newcomer_run["rc"] == 0, f"a README command failed on {DIST}:\n{newcomer_run['log'][-6000:]}"
    announced = [l[4:].split(" (at ")[0] for l in newcomer_run["log"].splitlines() if l.startswith("+++ ")]
    assert announced == [*NEWCOMER, "done"]


def test_every_clinic_ends_healthy_on_the_demo_version(newcomer_run):
    status = json.loads((newcomer_run["out"] / "status.json").read_text())
    assert [(c["clinic"], c["strategy"]) for c in status["clinics"]] == [
        ("kin", "release"), ("lub", "container"), ("gom", "blue_green")]
    for clinic in status["clinics"]:
        assert (clinic["health"], clinic["version"]) == ("healthy", "1.1.0"), clinic


def test_lab_down_leaves_no_process(newcomer_run):
    rows = dict(line.split(" ", 1) for line in (newcomer_run["out"] / "processes.txt").read_text().splitlines())
    # pid 1 is the newcomer's shell running run.sh (the listing saw it, so it saw everything).
    assert rows.pop("1", "").startswith("bash /newcomer-out/run.sh"), rows
    left = {pid: args for pid, args in rows.items() if args.strip()}
    assert not left, f"processes left after make lab-down: {left}"
