"""db_backup against bare pg_dump / pg_restore on a generated clinic database, in one run.

Starts its own throwaway PostgreSQL (medops_lab.servers), fills a clinic database to --size-mb with
server-side ``INSERT ... SELECT generate_series``, then times, each against its natural baseline
measured in the same run:

  * db_backup dumped (custom, gzip; snapshot, row counts, sha256, fsync, manifest) vs bare pg_dump -Fc
  * db_backup dumped, directory format, jobs=2 vs jobs=1
  * zstd vs gzip (size and time), where this pg_dump supports zstd (16+), else n/a with the reason
  * db_backup verified with restore_check (checksum, --list, scratch restore, counts, drop) vs bare
    createdb + pg_restore of the same archive
  * community.postgresql.postgresql_db state=dump (custom format) when a Python with that
    collection is given (--community-python) or importable, else n/a with the reason

The module's engine runs in-process (what the module does minus ansible-playbook's start-up, which
is reported separately so the ratio measures the backup work, not Ansible).

    .venv/bin/python bench/db_backup.py [--size-mb 1024] [--community-python /path/to/venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lab"), str(REPO / "tests"), str(REPO / ".collections")]

from medops_lab.servers import PostgresServer  # noqa: E402
from ansible_collections.medops.runbook.plugins.module_utils import backup_manifest as bm  # noqa: E402
from ansible_collections.medops.runbook.plugins.module_utils import backup_postgresql as bpg  # noqa: E402

PASSWORD = "bench-Secret-4c1d9e7a2b"
DB = "clinic_bench"


def generate(pg: PostgresServer, size_mb: int) -> tuple[int, float]:
    pg.create_database(DB)
    pg.execute("CREATE TABLE patients (id serial PRIMARY KEY, name text, born date, notes text);"
               "CREATE TABLE visits (id bigserial PRIMARY KEY, patient_id int, at timestamptz, reason text, note text);"
               "CREATE TABLE invoices (id bigserial PRIMARY KEY, visit_id bigint, amount numeric(10,2), paid boolean)", dbname=DB)
    started = time.monotonic()
    batch = 0
    while True:
        size = pg.execute("SELECT pg_database_size(current_database())", dbname=DB)[0][0]
        if size >= size_mb * 1024 * 1024:
            return size, time.monotonic() - started
        base = batch * 500000
        pg.execute(
            f"INSERT INTO patients (name, born, notes) SELECT 'patient ' || g, date '1940-01-01' + mod(g, 30000),"
            f" md5(g::text) FROM generate_series({base // 10 + 1}, {base // 10 + 50000}) g;"
            f"INSERT INTO visits (patient_id, at, reason, note) SELECT 1 + mod(g, 50000), now() - (g || ' minutes')::interval,"
            f" md5(g::text) || md5((g * 7)::text), repeat(chr(65 + mod(g, 26)), 40) || g FROM generate_series({base + 1}, {base + 500000}) g;"
            f"INSERT INTO invoices (visit_id, amount, paid) SELECT g, mod(g, 10000) / 7.0, mod(g, 3) = 0"
            f" FROM generate_series({base + 1}, {base + 500000}) g", (), dbname=DB)
        batch += 1


def params(pg: PostgresServer, **extra) -> dict:
    base = {"engine": "postgresql", "login_host": "127.0.0.1", "login_port": pg.port, "login_user": "postgres",
            "login_password": PASSWORD, "database": DB, "clinic": "bench", "format": "custom", "jobs": 1,
            "compression": "gzip", "compression_level": None, "dump_extra_args": [], "bin_dir": None, "uri": None,
            "maintenance_database": "postgres", "connect_timeout": 10, "scratch_database": None, "no_owner": False}
    base.update(extra)
    return base


def timed(func):
    started = time.monotonic()
    value = func()
    return time.monotonic() - started, value


def env() -> dict:
    return dict(os.environ, PGPASSWORD=PASSWORD)


def bare_dump(pg, out: Path, fmt="custom", extra=()):
    argv = [bpg.find_tool("pg_dump"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-d", DB, "-F", fmt, "-f", str(out), *extra]
    subprocess.run(argv, env=env(), check=True)


def module_dump(pg, dest: Path, **extra):
    engine = bpg.PostgresqlEngine(params(pg, **extra))
    final = bm.final_path(str(dest), "bench", "postgresql", bm.utcnow(), bpg.SUFFIX[extra.get("format", "custom")])
    return engine.dump(final), final


def bare_restore(pg, archive: Path, name: str):
    pg.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        subprocess.run([bpg.find_tool("pg_restore"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-d", name,
                        "--exit-on-error", str(archive)], env=env(), check=True)
    finally:
        pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def module_verify(pg, backup: str):
    engine = bpg.PostgresqlEngine(params(pg))
    checks = engine.verify(backup, bm.read_manifest(backup), True)
    if not all(c["ok"] for c in checks):
        raise SystemExit(f"verification failed: {checks}")


def ansible_overhead() -> float:
    from harness.ansible import run_module

    started = time.monotonic()
    run_module("ansible.builtin.ping", {})
    return time.monotonic() - started


def community_dump(pg, out: Path, python: str | None) -> tuple[float | None, str]:
    if not python:
        return None, "no Python with community.postgresql given (--community-python) and the ansible package is not installed in .venv"
    playbook = out.parent / "community.yml"
    playbook.write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        "    - community.postgresql.postgresql_db:\n        name: " + DB + "\n        state: dump\n"
        f"        target: {out}\n        login_host: 127.0.0.1\n        login_port: {pg.port}\n"
        "        login_user: postgres\n        login_password: \"{{ lookup('env', 'BENCH_PGPASSWORD') }}\"\n")
    bindir = Path(python).parent
    cmd = [str(bindir / "ansible-playbook"), "-i", "localhost,", str(playbook)]
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    run_env.update(BENCH_PGPASSWORD=PASSWORD, ANSIBLE_PYTHON_INTERPRETER=python, ANSIBLE_LOCALHOST_WARNING="false",
                   PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    started = time.monotonic()
    proc = subprocess.run(cmd, env=run_env, cwd=out.parent, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        return None, "community.postgresql run failed: " + (proc.stdout + proc.stderr)[-300:].replace("\n", " ")
    return elapsed, "custom format (.pgc), default compression"


def find_community_python(given: str | None) -> str | None:
    if given:
        return given
    try:
        import ansible_collections.community.postgresql  # noqa: F401
        return sys.executable
    except ImportError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the main dump comparison (best of)")
    parser.add_argument("--community-python", help="python of a venv that has the 'ansible' package (community.postgresql)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="medops-bench-pg-"))
    os.chmod(base, 0o755)
    pg = PostgresServer(base / "data", password=PASSWORD).start()
    work = Path(tempfile.mkdtemp(prefix="medops-bench-out-"))
    rows = []
    try:
        size, gen_s = generate(pg, args.size_mb)
        print(f"database {DB}: {size / 2**20:.0f} MB generated in {gen_s:.1f}s", flush=True)
        pg.execute("VACUUM ANALYZE", dbname=DB)
        mb = size / 2**20

        # Interleaved rounds, best of each: the machine's other load hits both sides alike.
        t_bare = t_mod = float("inf")
        for _round in range(args.rounds):
            t = timed(lambda: bare_dump(pg, work / "bare.dump"))[0]
            t_bare = min(t_bare, t)
            if _round:
                os.unlink(backup)
                os.unlink(backup + bm.MANIFEST_SUFFIX)
            t, (manifest, backup) = timed(lambda: module_dump(pg, work, format="custom"))
            t_mod = min(t_mod, t)
        rows.append(("dumped custom gzip vs bare pg_dump -Fc", f"{t_mod:.1f}s", f"{t_bare:.1f}s",
                     f"throughput {t_bare / t_mod:.3f} (goal >= 0.95)",
                     f"{manifest['bytes'] / 2**20:.0f} MB vs {(work / 'bare.dump').stat().st_size / 2**20:.0f} MB"))
        print(rows[-1], flush=True)

        t_j1, (m1, d1) = timed(lambda: module_dump(pg, work, format="directory", jobs=1))
        t_j2, (m2, d2) = timed(lambda: module_dump(pg, work, format="directory", jobs=2))
        rows.append(("dumped directory jobs=2 vs jobs=1", f"{t_j2:.1f}s", f"{t_j1:.1f}s", f"speed-up {t_j1 / t_j2:.2f}x", ""))
        print(rows[-1], flush=True)
        shutil.rmtree(d1)
        shutil.rmtree(d2)

        version, _text = bpg.tool_version(bpg.find_tool("pg_dump"))
        try:
            bpg.compression_args(version, "zstd", 3)
            t_z, (mz, bz) = timed(lambda: module_dump(pg, work, compression="zstd", compression_level=3))
            rows.append(("zstd:3 vs gzip (default level)", f"{t_z:.1f}s", f"{t_mod:.1f}s", f"time {t_z / t_mod:.2f}",
                         f"size {mz['bytes'] / manifest['bytes']:.2f} of gzip"))
            os.unlink(bz)
        except bm.BackupError as exc:
            rows.append(("zstd vs gzip", "n/a", f"{t_mod:.1f}s", "n/a", str(exc)[:90]))
        print(rows[-1], flush=True)

        t_restore = timed(lambda: bare_restore(pg, work / "bare.dump", "bench_bare_restore"))[0]
        t_verify = timed(lambda: module_verify(pg, backup))[0]
        rows.append(("verified restore_check vs bare pg_restore", f"{t_verify:.1f}s", f"{t_restore:.1f}s",
                     f"time {t_verify / t_restore:.2f}x (goal <= 1.3)", "checksum + --list + restore + counts + drop"))
        print(rows[-1], flush=True)

        python = find_community_python(args.community_python)
        t_c, why = community_dump(pg, work / "community.pgc", python)
        if t_c is None:
            rows.append(("community.postgresql_db dump vs db_backup", "n/a", f"{t_mod:.1f}s", "n/a", why[:120]))
        else:
            rows.append(("community.postgresql_db dump vs db_backup", f"{t_c:.1f}s", f"{t_mod:.1f}s",
                         f"db_backup time {t_mod / t_c:.2f} of community's", why + "; community time includes ansible-playbook start-up"))
        print(rows[-1], flush=True)
        rows.append(("ansible-playbook start-up (ping), not in the ratios", f"{ansible_overhead():.1f}s", "", "", ""))
    finally:
        pg.stop("immediate")
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
    print(f"\ndb_backup bench, {mb:.0f} MB clinic database, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    header = ("comparison", "db_backup", "baseline", "ratio", "note")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(5)]
    for row in [header] + rows:
        print(" | ".join(str(cell).ljust(w) for cell, w in zip(row, widths)))
    print(json.dumps({"size_mb": round(mb), "rows": rows}))


if __name__ == "__main__":
    main()
