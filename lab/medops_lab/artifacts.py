"""Release artifacts of the lab clinic service: one reproducible tarball (+ .sha256) per version.

A tarball unpacks (no leading directory) into a release dir: ``clinic_service/`` (the code),
``VERSION``, ``release.json`` and ``migrations/*.sql``. Builds are byte-for-byte reproducible,
so rebuilding an unchanged version leaves its file and checksum untouched.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parent.parent
SOURCE = LAB_DIR / "clinic_service"
MIGRATIONS = LAB_DIR / "releases" / "migrations"
EPOCH = 1767225600  # 2026-01-01: fixed member mtimes keep the tarballs reproducible

RELEASES = {
    "1.0.0": {"migrations": ["0001_initial"], "faults": []},
    "1.1.0": {"migrations": ["0001_initial", "0002_appointments"], "faults": []},
    # Its /health/ready never reports ready: the deploy must roll it back.
    "1.2.0-bad": {"migrations": ["0001_initial", "0002_appointments"], "faults": ["ready-never-healthy"]},
    # Its last migration fails half way: only a database restore repairs the clinic.
    "1.2.0-badmigration": {"migrations": ["0001_initial", "0002_appointments", "0003_insurance_broken"], "faults": []},
    # Healthy, passes the smoke tests, but answers 500 on every second /api/appointments call (a
    # path no smoke test calls, the load generator's): only watching after the switch catches it.
    "1.2.0-errors": {"migrations": ["0001_initial", "0002_appointments"], "faults": ["api-errors"]},
}
INITIAL_VERSION = "1.0.0"


def tarball_name(version: str) -> str:
    return f"clinic-service-{version}.tar.gz"


def _members(version: str) -> list[tuple[str, bytes]]:
    spec = RELEASES[version]
    files = [("VERSION", f"{version}\n".encode()),
             ("release.json", json.dumps({"version": version, **spec}, indent=2, sort_keys=True).encode() + b"\n")]
    for path in sorted(SOURCE.glob("*.py")):
        files.append((f"clinic_service/{path.name}", path.read_bytes()))
    for name in spec["migrations"]:
        files.append((f"migrations/{name}.sql", (MIGRATIONS / f"{name}.sql").read_bytes()))
    return files


def _tar_bytes(version: str) -> bytes:
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("clinic_service", "migrations"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, EPOCH
            tar.addfile(info)
        for name, data in _members(version):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, EPOCH
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def build(dest: Path) -> list[dict]:
    """Build every version into ``dest``; returns per version its path, sha256 and whether it changed."""
    dest.mkdir(parents=True, exist_ok=True)
    results = []
    for version in RELEASES:
        data = _tar_bytes(version)
        digest = hashlib.sha256(data).hexdigest()
        path = dest / tarball_name(version)
        sumfile = path.with_name(path.name + ".sha256")
        line = f"{digest}  {path.name}\n".encode()
        changed = not (path.exists() and sumfile.exists() and sumfile.read_bytes() == line)
        if changed:
            _write_atomic(path, data)
            _write_atomic(sumfile, line)
        results.append({"version": version, "path": str(path), "sha256": digest, "changed": changed})
    return results


def unpack(tarball: Path, release_dir: Path) -> None:
    """Unpack into ``release_dir`` through a temporary sibling, so a half unpack never carries the name."""
    tmp = release_dir.with_name(f".{release_dir.name}.unpacking")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        safe_extract(tar, tmp)
    os.replace(tmp, release_dir)


class UnsafeMember(ValueError):
    """A tar member that would land outside the target or is not a plain file, directory or inner link."""


def safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract ``tar`` into ``dest``, refusing members that would write outside it.

    Python's own ``data`` filter does this from 3.11.4 (and 3.12); Debian 12's python3 is 3.11.2,
    so there the members are checked here first, all of them before anything is written.
    """
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    members = tar.getmembers()
    for member in members:
        check_member(member, dest)
    tar.extractall(dest, members=members)  # noqa: S202  # every member checked above


def check_member(member: tarfile.TarInfo, dest: Path) -> None:
    """Raise UnsafeMember for an absolute path, a ``..`` step, a device or a link that may leave ``dest``.

    Link targets may not hold ``..`` either: a target made only of steps downwards, through links
    that are themselves checked the same way, cannot leave ``dest`` whatever is extracted first.
    """
    if _escapes(member.name):
        raise UnsafeMember(f"tar member {member.name!r}: absolute path or '..' refused")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise UnsafeMember(f"tar member {member.name!r}: only files, directories and links are allowed")
    if (member.issym() or member.islnk()) and _escapes(member.linkname):
        raise UnsafeMember(f"tar member {member.name!r} links to {member.linkname!r}, which may leave {dest}")


def _escapes(name: str) -> bool:
    return os.path.isabs(name) or ".." in Path(name).parts
