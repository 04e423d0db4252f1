"""The deploy role's observation window (the `observe` step, medops.runbook.release_observe) on a
one-clinic lab of its own, under the lab's load generator: a release that passes health and smoke
but fails a share of its /api/ traffic is caught and rolled back, a good one passes, and a window
that cannot measure fails the clinic as inconclusive.

The tests run in file order and build on each other's versions (1.0.0 -> 1.1.0, then 1.2.0-errors
twice, rolled back to 1.1.0 each time); three deploys in all.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from pathlib import Path

import psycopg2
import pytest

from harness.ansible import REPO, run_playbook

pytestmark = pytest.mark.lab
DEPLOY = REPO / "playbooks" / "deploy.yml"
CODE = "kin"
# A short window with several samples; the latency limit is generous because a busy CI machine is
# slow, and latency is not what these tests are about.
WINDOW = {"deploy_observe_seconds": 12, "deploy_observe_interval": 3, "deploy_observe_max_p95_ms": 5000}
RATE_IN_MESSAGE = re.compile(r"observation window failed: error rate (\d+\.\d)% \((\d+) of (\d+) requests answered 5xx\)")


@pytest.fixture(scope="module")
def lab():
    from medops_lab.testing import LabHandle

    with LabHandle.running(1, prefix="medops-lab-observe-") as handle:
        yield handle


def deploy(lab, version, **extra):
    return run_playbook(DEPLOY, inventory=lab.inventory, env=lab.env, extra_vars={"deploy_version": version, **WINDOW, **extra})


def finished(lab):
    path = Path(lab.clinic(CODE)["app_root"]) / "deployments.jsonl"
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return [entry for entry in entries if entry.get("phase") == "finished"][-1]


def table_checksums(lab):
    with contextlib.closing(psycopg2.connect(**lab.db_params(CODE))) as conn, conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")
        sums = {}
        for (table,) in cur.fetchall():
            cur.execute(f'SELECT md5(coalesce(string_agg(t::text, \'|\' ORDER BY t::text), \'\')) FROM "{table}" t')
            sums[table] = cur.fetchone()[0]
        return sums


def closed_loopback_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_good_release_passes_the_window_under_load(lab):
    assert lab.version(CODE) == "1.0.0"
    with lab.load(CODE, rps=5) as load:
        run = deploy(lab, "1.1.0")
    assert run.rc == 0, run.output[-4000:]
    assert lab.version(CODE) == "1.1.0" and lab.get(CODE, "/api/version")[1]["version"] == "1.1.0"
    entry = finished(lab)
    assert entry["outcome"] == "success"
    assert [s["step"] for s in entry["steps"]][-3:] == ["smoke", "observe", "prune"]
    observation = entry["observation"]
    assert observation["phase"] == "successful", observation
    assert observation["sample_count"] >= 2 and observation["breaches"] == 0 and observation["requests"] > 0
    assert observation["error_rate"] < 0.05
    assert load.stats["by_status"].get("200", 0) > 0


def test_a_release_failing_a_share_of_api_traffic_is_caught_and_rolled_back(lab):
    assert lab.version(CODE) == "1.1.0"
    before = table_checksums(lab)
    with lab.load(CODE, rps=5) as load:
        run = deploy(lab, "1.2.0-errors")
    assert run.rc != 0
    flat = run.flat
    assert f"{CODE}: deploy of 1.2.0-errors failed at step 'observe'" in flat, run.output[-4000:]
    measured = RATE_IN_MESSAGE.search(flat)
    assert measured, run.output[-4000:]
    assert float(measured.group(1)) > 5.0 and int(measured.group(2)) > 0
    assert "Rolled back to 1.1.0" in flat
    # Health and smoke passed before the window caught it.
    entry = finished(lab)
    assert entry["outcome"] == "rolled_back" and entry["failed_step"] == "observe"
    assert {"verify", "smoke"} <= {s["step"] for s in entry["steps"]}
    assert entry["observation"]["phase"] == "failed" and entry["observation"]["error_rate"] > 0.05
    assert "error rate" in entry["reason"]
    # The clinic is back on the previous version, its data untouched; the release really failed requests.
    assert lab.version(CODE) == "1.1.0" and lab.get(CODE, "/api/version")[1]["version"] == "1.1.0"
    assert lab.get(CODE, "/health")[0] == 200
    assert table_checksums(lab) == before
    assert load.stats["by_status"].get("500", 0) > 0


def test_a_window_that_cannot_measure_fails_as_inconclusive(lab):
    assert lab.version(CODE) == "1.1.0"
    # The previous test marked the release bad; as an operator would, clear it.
    (Path(lab.clinic(CODE)["app_root"]) / "releases" / "1.2.0-errors" / ".medops-bad").unlink(missing_ok=True)
    run = deploy(lab, "1.2.0-errors", deploy_observe_metrics_url=f"http://127.0.0.1:{closed_loopback_port()}/metrics")
    assert run.rc != 0
    assert f"{CODE}: deploy of 1.2.0-errors failed at step 'observe': observation window inconclusive" in run.flat, run.output[-4000:]
    assert "metrics: connection refused" in run.flat
    entry = finished(lab)
    assert entry["outcome"] == "rolled_back" and entry["observation"]["phase"] == "inconclusive"
    assert lab.version(CODE) == "1.1.0"
