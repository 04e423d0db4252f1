"""Seed and inspect the lab clinic's database and Redis from inside a scenario's container.

    python3 clinic_db.py CONNECTION.json seed|counts|scratch

``scratch`` lists the scratch databases a restore check (db_backup_verify_*) left on the server.

CONNECTION.json (0600) holds the clinic's connection settings, so no secret is on a command line.
Uses the container's own psycopg2 and redis, as the collection's modules do.
"""

import json
import sys

import psycopg2
import redis

TABLE = "molecule_audit_log"


def main(path, action):
    with open(path, encoding="utf-8") as handle:
        c = json.load(handle)
    # The clinic's secrets are under the vault names, as every inventory reads them.
    code = c["clinic_code"]
    conn = psycopg2.connect(host=c["clinic_db_host"], port=c["clinic_db_port"], dbname=c["clinic_db_name"],
                            user=c["clinic_db_user"], password=c["vault_clinic_db_passwords"][code])
    rds = redis.Redis(host=c["clinic_redis_host"], port=c["clinic_redis_port"], db=c["clinic_redis_db"],
                      password=c["vault_clinic_redis_passwords"][code])
    with conn, conn.cursor() as cur:
        if action == "scratch":
            cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 'db\\_backup\\_verify\\_%' ORDER BY 1")
            print(json.dumps({"scratch_databases": [row[0] for row in cur.fetchall()]}))
            return 0
        if action == "seed":
            cur.execute("DROP TABLE IF EXISTS %s" % TABLE)
            cur.execute("CREATE TABLE %s (id serial PRIMARY KEY, created_at timestamptz NOT NULL)" % TABLE)
            cur.execute("INSERT INTO %s (created_at) SELECT now() - interval '90 days' FROM generate_series(1, 23)" % TABLE)
            cur.execute("INSERT INTO %s (created_at) SELECT now() FROM generate_series(1, 5)" % TABLE)
            for key in rds.scan_iter("molecule:*"):
                rds.delete(key)
            for i in range(4):
                rds.set("molecule:sess:%d" % i, "user-%d" % i)
            rds.set("molecule:keep:1", "not a session")
            print(json.dumps({"seeded": True}))
            return 0
        cur.execute("SELECT count(*) FILTER (WHERE created_at < now() - interval '30 days'),"
                    " count(*) FILTER (WHERE created_at >= now() - interval '30 days') FROM %s" % TABLE)
        old, recent = cur.fetchone()
    print(json.dumps({"old_rows": old, "recent_rows": recent,
                      "sessions": sorted(k.decode() for k in rds.scan_iter("molecule:sess:*")),
                      "kept": sorted(k.decode() for k in rds.scan_iter("molecule:keep:*"))}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
