"""playbooks/backup.yml on the lab: backups taken, verified, pruned and copied off the host to the
lab's backup account (SSH, the lab's sshd) and to moto_server (S3), checked there, fetched back."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.ansible import REPO, ansible_env, run_module, run_playbook
from harness.s3 import ACCESS_KEY, SECRET_KEY, MotoS3

pytestmark = pytest.mark.lab
PLAYBOOK = REPO / "playbooks" / "backup.yml"
CLINIC = "kin"


@pytest.fixture(scope="module")
def s3():
    server = MotoS3().start()
    yield server
    server.stop()


def s3_vars(s3):
    return {"backup_s3_bucket": s3.bucket, "backup_s3_endpoint_url": s3.url, "backup_s3_access_key": ACCESS_KEY,
            "backup_s3_secret_key": SECRET_KEY}


def _run(lab, s3, tmp_path, **extra):
    run = run_playbook(PLAYBOOK, inventory=lab.inventory, env={**lab.env, "PWD": str(tmp_path)},
                       extra_vars={"backup_hosts": f"clinic_{CLINIC}", **s3_vars(s3), **extra})
    reports = sorted((tmp_path / "reports").glob("backup-*.json"))
    assert reports, run.output[-4000:]
    return run, {r["clinic"]: r for r in json.loads(reports[-1].read_text())}[CLINIC]


def far_dir(lab, code=CLINIC) -> Path:
    return Path(lab.info["backup_host"]["dir"]) / code


def _manifest(path: Path, finished: datetime.datetime, code=CLINIC) -> dict:
    data = path.read_bytes()
    return {"engine": "postgresql", "clinic": code, "database": f"clinic_{code}", "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "finished_at": finished.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def _plant_old_backup(lab, s3, code=CLINIC) -> str:
    """A backup 40 days old, here and at both far ends: the retention (30 days) removes it everywhere."""
    finished = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=40)
    name = f"{code}-postgresql-{finished.strftime('%Y%m%dT%H%M%S%fZ')}.dump"
    owner = pwd.getpwnam(lab.clinic(code)["account"])
    local = Path(lab.clinic(code)["backup_dir"]) / name
    local.write_bytes(os.urandom(4096))
    manifest = json.dumps(_manifest(local, finished, code))
    (local.parent / (name + ".manifest.json")).write_text(manifest)
    backup_user = pwd.getpwnam(lab.info["backup_host"]["account"])
    far = far_dir(lab, code)
    far.mkdir(exist_ok=True)
    (far / name).write_bytes(local.read_bytes())
    (far / (name + ".manifest.json")).write_text(manifest)
    for directory, user in ((local.parent, owner), (far, backup_user)):
        for entry in (directory / name, directory / (name + ".manifest.json")):
            os.chown(entry, user.pw_uid, user.pw_gid)
    os.chown(far, backup_user.pw_uid, backup_user.pw_gid)
    s3.client().put_object(Bucket=s3.bucket, Key=f"{code}/{name}", Body=local.read_bytes())
    s3.client().put_object(Bucket=s3.bucket, Key=f"{code}/{name}.manifest.json", Body=manifest.encode())
    return name


def _local_backups(lab, code=CLINIC) -> set[str]:
    """The backups (each with its manifest) on the clinic's host: earlier tests' deploys leave some."""
    return {p.name[:-len(".manifest.json")] for p in Path(lab.clinic(code)["backup_dir"]).glob("*.manifest.json")}


def test_backup_takes_verifies_prunes_copies_to_both_and_sends_nothing_twice(lab, s3, tmp_path):
    old = _plant_old_backup(lab, s3)
    earlier = _local_backups(lab)  # the planted old one included: copied (already there) before it is pruned
    run, report = _run(lab, s3, tmp_path / "first", clinic_redis_backup=True)
    assert run.rc == 0, run.output[-5000:]
    first, snapshot = report["backup"], report["redis_backup"]
    assert report["outcome"] == "passed" and report["verified"] is True and report["redis_verified"] is True, report
    assert snapshot.startswith(f"{CLINIC}-redis-") and snapshot.endswith(".rdb"), report
    for target in ("ssh", "s3"):
        done = report["targets"][target]
        assert old in done["pruned"]["removed_far"], done
        # The Redis snapshot goes with the database backup; the backups earlier runs took are sent or
        # already there (an earlier backup.yml copied them to the backup host).
        assert {first, snapshot} <= set(done["copied"]["sent"]), done
        assert set(done["copied"]["sent"]) | set(done["copied"]["already_there"]) == earlier | {first, snapshot}, done
        assert done["copied"]["far_problems"] == [], done
    assert SECRET_KEY not in run.output + json.dumps(report) and ACCESS_KEY not in run.output + json.dumps(report)
    assert old in report["targets"]["ssh"]["pruned"]["removed_local"]
    assert not (Path(lab.clinic(CLINIC)["backup_dir"]) / old).exists()
    assert (far_dir(lab) / first).exists() and (far_dir(lab) / (first + ".manifest.json")).exists()
    assert not (far_dir(lab) / old).exists() and f"{CLINIC}/{old}" not in s3.keys()
    assert {f"{CLINIC}/{first}", f"{CLINIC}/{first}.manifest.json"} <= set(s3.keys())

    # The same day's second run: only its own new backup goes; the first is already there.
    run, report = _run(lab, s3, tmp_path / "second")
    assert run.rc == 0, run.output[-5000:]
    for target in ("ssh", "s3"):
        copied = report["targets"][target]["copied"]
        assert copied["sent"] == [report["backup"]] and {first, snapshot} <= set(copied["already_there"]), copied
        assert copied["far_checked"] >= 1 and copied["far_problems"] == [], copied
    # Nothing new to take: nothing is sent at all.
    run, report = _run(lab, s3, tmp_path / "third", backup_take=False)
    assert run.rc == 0, run.output[-5000:]
    for target in ("ssh", "s3"):
        assert report["targets"][target]["copied"]["sent"] == [], report["targets"][target]
        assert report["targets"][target]["copied"]["changed"] is False


def _flip(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0x01
    return bytes(flipped)


def test_a_flipped_byte_in_a_far_copy_is_reported_by_name_and_sent_again(lab, s3, tmp_path):
    name = sorted(p.name for p in far_dir(lab).glob(f"{CLINIC}-postgresql-*.dump"))[-1]
    path = far_dir(lab) / name
    stat = path.stat()
    path.write_bytes(_flip(path.read_bytes()))
    os.chown(path, stat.st_uid, stat.st_gid)
    client, key = s3.client(), f"{CLINIC}/{name}"
    head = client.head_object(Bucket=s3.bucket, Key=key)
    body = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    client.put_object(Bucket=s3.bucket, Key=key, Body=_flip(body), Metadata=head["Metadata"])

    run, report = _run(lab, s3, tmp_path, backup_take=False, backup_restore_check=False)
    assert run.rc == 0, run.output[-5000:]
    for target in ("ssh", "s3"):
        copied = report["targets"][target]["copied"]
        assert [(p["name"], p["problem"]) for p in copied["far_problems"]] == [(name, "differs")], copied
        assert copied["repaired"] == [name] and copied["sent"] == [name], copied
    assert f"far copy {name} on" in run.flat and "differs" in run.flat
    local = (Path(lab.clinic(CLINIC)["backup_dir"]) / name).read_bytes()
    assert path.read_bytes() == local
    assert client.get_object(Bucket=s3.bucket, Key=key)["Body"].read() == local


def _restore_playbook(tmp_path: Path) -> Path:
    playbook = tmp_path / "restore.yml"
    playbook.write_text(f"""\
- hosts: clinic_{CLINIC}
  gather_facts: false
  tasks:
    - name: Fetch the newest S3 copy back and restore it
      ansible.builtin.include_role:
        name: medops.runbook.backup
        tasks_from: restore
      vars:
        backup_restore_target: s3
""")
    return playbook


def _superuser(lab, sql):
    import psycopg2

    info = lab.info["postgres"]
    conn = psycopg2.connect(host=info["host"], port=info["port"], user=info["superuser"], dbname="postgres",
                            password=lab.secret(info["password_file"]))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def _kept_databases(lab):
    """The restore keeps the database it replaced (as the rollback does); the test drops its own."""
    return [row[0] for row in _superuser(lab, f"SELECT datname FROM pg_database WHERE datname LIKE 'clinic_{CLINIC}_kept_%'")]


def test_a_restore_from_the_s3_copy_brings_the_database_back_with_its_row_counts(lab, s3, tmp_path):
    import psycopg2

    backup_dir = Path(lab.clinic(CLINIC)["backup_dir"])
    newest = sorted(backup_dir.glob(f"{CLINIC}-postgresql-*.dump"))[-1].name
    manifest = json.loads((backup_dir / (newest + ".manifest.json")).read_text())
    # The host lost its backups, and the database lost rows.
    for entry in backup_dir.iterdir():
        entry.unlink()
    with psycopg2.connect(**lab.db_params(CLINIC)) as conn, conn.cursor() as cur:
        # CASCADE: a later schema (1.1.0's appointments) refers to the patients.
        cur.execute("TRUNCATE patients CASCADE")
    kept_before = _kept_databases(lab)
    run = run_playbook(_restore_playbook(tmp_path), inventory=lab.inventory, env=lab.env, extra_vars=s3_vars(s3))
    for name in set(_kept_databases(lab)) - set(kept_before):
        _superuser(lab, f'DROP DATABASE "{name}" WITH (FORCE)')
    assert run.rc == 0, run.output[-5000:]
    assert (backup_dir / newest).exists(), "the fetched copy is where db_backup restored it from"
    with psycopg2.connect(**lab.db_params(CLINIC)) as conn, conn.cursor() as cur:
        for table, count in manifest["tables"].items():
            schema, _dot, bare = table.partition(".")
            cur.execute(f'SELECT count(*) FROM "{schema}"."{bare}"')
            assert cur.fetchone()[0] == count, table
    assert manifest["tables"]["public.patients"] > 0


def test_health_check_calls_a_clinic_degraded_when_its_newest_far_copy_is_old(lab, s3, tmp_path):
    common = {"health_check_hosts": f"clinic_{CLINIC}", "health_check_backup_max_age_hours": 100000,
              "health_check_far_copy_target": "s3", **s3_vars(s3),
              "backup_s3_prefix": f"{CLINIC}/"}
    run = run_playbook(REPO / "playbooks" / "health_check.yml", inventory=lab.inventory,
                       env={**lab.env, "PWD": str(tmp_path / "fresh")}, extra_vars=common)
    assert f"{CLINIC}: HEALTHY" in run.flat, run.output[-4000:]
    run = run_playbook(REPO / "playbooks" / "health_check.yml", inventory=lab.inventory,
                       env={**lab.env, "PWD": str(tmp_path / "old")},
                       extra_vars={**common, "health_check_far_copy_max_age_hours": 0.0001})
    assert f"{CLINIC}: DEGRADED" in run.flat and "far copy: newest on s3://" in run.flat, run.output[-4000:]


# -- kill -9 of a copy in flight ---------------------------------------------------------------
KILL_PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Copy
      medops.runbook.backup_copy: "{{ module_args }}"
"""


def _big_backup(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    finished = datetime.datetime.now(datetime.timezone.utc)
    name = f"big-postgresql-{finished.strftime('%Y%m%dT%H%M%S%fZ')}.dump"
    with open(directory / name, "wb") as handle:
        for _chunk in range(48):
            handle.write(os.urandom(4 * 1024 * 1024))
    manifest = _manifest(directory / name, finished, "big")
    (directory / (name + ".manifest.json")).write_text(json.dumps(manifest))
    return name


def _module_pids() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"AnsiballZ_backup_copy" in cmdline:
                found.append(int(entry))
    return found


def _kill_in_flight(args: dict, tmp_path: Path, in_flight) -> None:
    playbook = tmp_path / "copy.yml"
    playbook.write_text(KILL_PLAYBOOK)
    varsfile = tmp_path / "vars.json"
    varsfile.write_text(json.dumps({"module_args": args}))
    proc = subprocess.Popen([str(Path(os.sys.executable).parent / "ansible-playbook"), str(playbook), "-i", "localhost,",
                             "-e", f"@{varsfile}"], cwd=REPO, env=ansible_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while not in_flight():
            assert proc.poll() is None and time.monotonic() < deadline, "the copy ended before it was seen in flight"
            time.sleep(0.005)
        pids = _module_pids()
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
    finally:
        proc.wait(60)


def test_kill_9_of_a_copy_in_flight_leaves_no_final_name_and_the_next_run_completes_it(lab, s3, tmp_path):
    name = _big_backup(tmp_path / "backups")
    ssh = {"target": "ssh", "dest": str(tmp_path / "backups"), "clinic": "big",
           "ssh_host": lab.info["ssh"]["host"], "ssh_port": lab.info["ssh"]["port"],
           "ssh_user": lab.info["backup_host"]["account"],
           "ssh_key_file": str(Path(lab.clinic(CLINIC)["home"]) / ".ssh" / "backup_ed25519"),
           "ssh_known_hosts_file": str(Path(lab.clinic(CLINIC)["home"]) / ".ssh" / "known_hosts_backup"),
           "remote_dir": str(far_dir(lab, "big"))}
    s3_args = {"target": "s3", "dest": str(tmp_path / "backups"), "clinic": "big", "s3_bucket": s3.bucket,
               "s3_prefix": "big/", "s3_endpoint_url": s3.url, "s3_access_key": ACCESS_KEY, "s3_secret_key": SECRET_KEY,
               "s3_multipart_threshold": 8 * 1024 * 1024}

    half = (tmp_path / "backups" / name).stat().st_size // 2

    def ssh_partial():
        """Half-way: the sender still has half the bytes to send (not only the far end's check left)."""
        for path in far_dir(lab, "big").glob(f".{name}.partial-*"):
            with contextlib.suppress(OSError):
                if 0 < path.stat().st_size < half:
                    return True
        return False

    def s3_upload():
        return bool(s3.client().list_multipart_uploads(Bucket=s3.bucket, Prefix=f"big/{name}").get("Uploads"))

    def ssh_final():
        return (far_dir(lab, "big") / name).exists()

    def s3_final():
        return f"big/{name}" in s3.keys()

    for args, in_flight, final in ((ssh, ssh_partial, ssh_final), (s3_args, s3_upload, s3_final)):
        _kill_in_flight(args, tmp_path, in_flight)
        time.sleep(0.5)
        assert not final(), f"{args['target']}: a final name after the kill"
        result = run_module("backup_copy", args)
        assert result.get("failed") is not True, result
        assert result["sent"] == [name] and result["far_problems"] == [], result
    local_sha = hashlib.sha256((tmp_path / "backups" / name).read_bytes()).hexdigest()
    assert hashlib.sha256((far_dir(lab, "big") / name).read_bytes()).hexdigest() == local_sha
    # Both far copies come back whole, sha256 checked (the S3 fetch is the restore test's).
    fetched = run_module("backup_copy", {**ssh, "state": "fetched", "dest": str(tmp_path / "fetched")})
    assert fetched["changed"] is True and fetched["backup"] == str(tmp_path / "fetched" / name), fetched
    assert hashlib.sha256((tmp_path / "fetched" / name).read_bytes()).hexdigest() == local_sha
    assert not list(far_dir(lab, "big").glob(".*partial*"))
    assert s3.client().list_multipart_uploads(Bucket=s3.bucket, Prefix="big/").get("Uploads") in (None, [])
    assert f"big/{name}" in s3.keys()


def test_a_deploy_with_clinic_redis_backup_snapshots_redis_and_backup_yml_keeps_it(lab, s3, tmp_path):
    """Seed 002's BGSAVE before a deploy: the deploy's backup step takes it with the same module and
    engine as backup.yml, into the same directory, and the next backup.yml copies it off the host."""
    version = "1.0.0" if lab.version(CLINIC) != "1.0.0" else "1.1.0"
    run = run_playbook(REPO / "playbooks" / "deploy.yml", "--limit", CLINIC, inventory=lab.inventory, env=lab.env,
                       extra_vars={"deploy_version": version, "clinic_redis_backup": True})
    assert run.rc == 0, run.output[-5000:]
    record = Path(lab.clinic(CLINIC)["app_root"]) / "deployments.jsonl"
    finished = [json.loads(line) for line in record.read_text().splitlines() if '"finished"' in line][-1]
    snapshot = Path(finished["redis_backup"])
    assert finished["outcome"] == "success" and snapshot.name.startswith(f"{CLINIC}-redis-") and snapshot.suffix == ".rdb"
    assert snapshot.parent == Path(lab.clinic(CLINIC)["backup_dir"]) and snapshot.stat().st_size > 0
    assert Path(f"{snapshot}.manifest.json").exists()

    run, report = _run(lab, s3, tmp_path / "after-deploy", backup_take=False)
    assert run.rc == 0, run.output[-5000:]
    for target in ("ssh", "s3"):
        copied = report["targets"][target]["copied"]
        assert snapshot.name in copied["sent"] + copied["already_there"] and copied["far_problems"] == [], copied
    assert (far_dir(lab) / snapshot.name).exists() and f"{CLINIC}/{snapshot.name}" in s3.keys()
    assert snapshot.exists(), "the snapshot stays with the database backups"


def test_rollback_restores_the_database_from_a_copy_in_s3(lab, s3, tmp_path):
    """rollback.yml with rollback_backup_from=s3: the named far copy comes back (its sha256 checked),
    then the release role's restore replaces the database with it and keeps the one it replaced."""
    import psycopg2

    # A backup of the live release's schema, copied to S3 by backup.yml; then the host loses it.
    run, report = _run(lab, s3, tmp_path / "backup")
    assert run.rc == 0 and f"{CLINIC}/{report['backup']}" in s3.keys(), run.output[-4000:]
    name = report["backup"]
    local = Path(lab.clinic(CLINIC)["backup_dir"]) / name
    for path in (local, Path(f"{local}.manifest.json")):
        path.unlink(missing_ok=True)
    live = lab.version(CLINIC)
    kept_before = _kept_databases(lab)
    run = run_playbook(REPO / "playbooks" / "rollback.yml", "--limit", CLINIC, inventory=lab.inventory, env=lab.env,
                       extra_vars={"rollback_version": live, "rollback_restore_db": True, "rollback_backup": name,
                                   "rollback_backup_from": "s3", **s3_vars(s3)})
    kept = sorted(set(_kept_databases(lab)) - set(kept_before))
    try:
        assert run.rc == 0, run.output[-5000:]
        assert local.exists(), "the far copy was fetched to the clinic's backup directory"
        manifest = json.loads(Path(f"{local}.manifest.json").read_text())
        entry = [json.loads(line) for line in (Path(lab.clinic(CLINIC)["app_root"]) / "deployments.jsonl").read_text().splitlines()][-1]
        assert (entry["kind"], entry["outcome"], entry["database_kept"]) == ("rollback", "success", kept[0]), entry
        assert f"{CLINIC}: {live} -> {live} | success | database restored from {name}, the replaced one kept as {kept[0]}" in run.flat
        assert SECRET_KEY not in run.output and ACCESS_KEY not in run.output
        with psycopg2.connect(**lab.db_params(CLINIC)) as conn, conn.cursor() as cur:
            for table, count in manifest["tables"].items():
                schema, _dot, bare = table.partition(".")
                cur.execute(f'SELECT count(*) FROM "{schema}"."{bare}"')
                assert cur.fetchone()[0] == count, table
    finally:
        for database in kept:
            _superuser(lab, f'DROP DATABASE "{database}" WITH (FORCE)')
