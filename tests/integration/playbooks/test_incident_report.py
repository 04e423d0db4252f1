"""playbooks/incident_report.yml on the lab: one clinic's record, health, queues, masked log errors
and backups in a Markdown file that holds no secret and no response body."""

from __future__ import annotations

import datetime
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from harness.ansible import REPO, run_playbook

pytestmark = pytest.mark.lab


def test_the_report_of_one_clinic_has_every_section_and_no_secret(lab, tmp_path):
    logs = Path(tempfile.mkdtemp(prefix="medops-logs-"))  # readable by the clinic's account
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    (logs / "kin.log").write_text(f"{now},000 kin 1.1.0 ERROR clinic_service.http: export for jane.doe@example.org "
                                  "failed password=hunter2-hunter2\n")
    os.chmod(logs / "kin.log", 0o644)
    os.chmod(logs, 0o755)
    try:
        run = run_playbook(REPO / "playbooks" / "incident_report.yml", inventory=lab.inventory,
                           env={**lab.env, "PWD": str(tmp_path)},
                           extra_vars={"incident_report_hosts": "clinic_kin", "health_check_log_files": [str(logs / "kin.log")]})
    finally:
        shutil.rmtree(logs)
    assert run.rc == 0, run.output[-4000:]
    reports = list((tmp_path / "reports").glob("incident-*.md"))
    assert [r.name.split("-")[1] for r in reports] == ["kin"]  # one clinic asked, one report
    report = reports[0]
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    text = report.read_text()
    for heading in ("# Incident report: kin", "## Health now", "## Queues", "## Log errors over the window",
                    "## Deployments", "## Recent backups"):
        assert heading in text, heading
    assert "| clinic-kin |" in text and "1 error lines." in text
    assert "export for ***" in text and "password=***" in text
    secrets = [value for value in lab.clinic_secrets("kin").values() if isinstance(value, str) and len(value) >= 16]
    assert secrets, "the lab's vault gave no secret to look for"
    for leaked in [*secrets, "jane.doe@example.org", "hunter2"]:
        assert leaked not in text and leaked not in run.output
    # Only the health check's verdict reaches the report, never what an endpoint answered.
    assert '"status"' not in text and '{"' not in text


def test_a_run_that_names_no_clinic_says_how_to(lab, tmp_path):
    run = run_playbook(REPO / "playbooks" / "incident_report.yml", inventory=lab.inventory,
                       env={**lab.env, "PWD": str(tmp_path)})
    assert run.rc != 0
    assert "name the clinic: -e incident_report_hosts=clinic_kin" in run.flat
    assert not (tmp_path / "reports").exists()
