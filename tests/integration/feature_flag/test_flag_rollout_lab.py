"""playbooks/flag_rollout.yml on the lab: a real clinic service reads the flag from its shared/flags.env.

The clinic serves ``/dashboard?user=U``: users inside the ``new_ui`` rollout (a sticky bucket per
user) get the new dashboard, the others the classic one; ``/metrics`` counts every answer
(``http_requests_total`` by code, ``http_requests_errors_total`` for 5xx). While the playbook runs, a
thread plays the clinic's users. The breach is the service's own: ``shared/faults/new_ui`` holding 25
makes the new dashboard answer 500 once the rollout the service reads is 25 % or more.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from harness.ansible import REPO, run_playbook
from medops_lab.lab import http_json

pytestmark = pytest.mark.lab
PLAYBOOK = REPO / "playbooks" / "flag_rollout.yml"
CLINIC = "gom"
USERS = [f"user{n:03d}" for n in range(200)]


class Background(threading.Thread):
    """A loop on a thread of its own for the length of a ``with`` block (``run`` stops on ``halt``)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.halt = threading.Event()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.halt.set()
        self.join(10)


class Users(Background):
    """Clinic users opening the dashboard one after another; keeps every answer it got."""

    def __init__(self, lab, code):
        super().__init__()
        self.url = lab.url(code, "/dashboard")
        self.answers: list[tuple[int | None, dict]] = []

    def run(self):
        n = 0
        while not self.halt.is_set():
            self.answers.append(http_json(f"{self.url}?user={USERS[n % len(USERS)]}"))
            n += 1
            time.sleep(0.01)

    def rollouts_seen(self) -> list:
        """The rollouts the service read while the flag was enabled, in order, repeats collapsed."""
        seen: list = []
        for _status, body in self.answers:
            flag = body.get("flag") or {}
            if flag.get("enabled") and (not seen or seen[-1] != flag["rollout"]):
                seen.append(flag["rollout"])
        return seen


@pytest.fixture()
def clinic(lab):
    """The clinic's flags.env and fault switch, both put back as they were afterwards."""
    info = lab.clinic(CLINIC)
    flags = Path(info["flags_file"])
    fault = Path(info["app_root"]) / "shared" / "faults" / "new_ui"
    original = flags.read_bytes()
    lab.wait_for(CLINIC, "/health", 200)
    try:
        yield flags, fault
    finally:
        fault.unlink(missing_ok=True)
        flags.write_bytes(original)


def service_flag(lab):
    status, body = lab.get(CLINIC, "/api/flags")
    assert status == 200, body
    return body["states"]["new_ui"]


def errors_counted(lab) -> int:
    """The service's http_requests_errors_total, from its Prometheus text."""
    with urllib.request.urlopen(lab.url(CLINIC, "/metrics"), timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    return int(re.search(r"^http_requests_errors_total (\d+)$", text, re.M).group(1))


def dashboards(lab):
    """Every user opens the dashboard once: [(status, ui), ...]."""
    answers = [http_json(lab.url(CLINIC, f"/dashboard?user={user}")) for user in USERS]
    return [(status, body.get("ui")) for status, body in answers]


def rollout(lab, **extra):
    settings = {
        "flag_rollout_hosts": CLINIC,
        "flag_rollout_name": "new_ui",
        # where the lab inventory says this clinic's service reads its flags and answers
        "flag_rollout_store": {"path": "{{ clinic_flags_file }}"},
        "flag_rollout_health_url": "{{ clinic_health_urls.health }}",
        "flag_rollout_metrics_url": "{{ clinic_base_url }}/metrics",
        "flag_rollout_soak_seconds": 1.5, "flag_rollout_interval": 0.25, "flag_rollout_max_error_rate": 0.05,
    }
    settings.update(extra)
    return run_playbook(PLAYBOOK, inventory=lab.inventory, env=lab.env, extra_vars=settings)


def test_service_reads_the_rollout_and_counts_its_answers(lab, clinic):
    flags, fault = clinic
    flags.write_text("FEATURE_FLAG_NEW_UI=true\nFEATURE_FLAG_NEW_UI_ROLLOUT=1\nFEATURE_FLAG_BULK=0\n")
    assert service_flag(lab) == {"enabled": True, "rollout": 1}  # "1" is a percentage here, not a boolean
    assert lab.get(CLINIC, "/api/flags")[1]["states"]["bulk"] == {"enabled": False, "rollout": None}
    flags.write_text("FEATURE_FLAG_NEW_UI=true\nFEATURE_FLAG_NEW_UI_ROLLOUT=100\n")
    fault.parent.mkdir(exist_ok=True)
    fault.write_text("50\n")
    before = errors_counted(lab)
    assert {ui for _status, ui in dashboards(lab)} == {"new"}
    assert {status for status, _ui in dashboards(lab)} == {500}
    assert errors_counted(lab) - before == 2 * len(USERS)
    flags.write_text("FEATURE_FLAG_NEW_UI=true\nFEATURE_FLAG_NEW_UI_ROLLOUT=25\n")
    answers = dashboards(lab)
    assert {status for status, _ui in answers} == {200}  # the fault starts at 50 %
    assert 0 < sum(ui == "new" for _status, ui in answers) < len(USERS)
    assert answers == dashboards(lab)  # a user keeps their side of the rollout


def test_healthy_rollout_reaches_100_where_the_service_reads_it(lab, clinic):
    flags, _fault = clinic
    assert service_flag(lab) == {"enabled": False, "rollout": None}  # the lab's flags.env: off, no rollout line
    with Users(lab, CLINIC) as users:
        run = rollout(lab)
    assert run.rc == 0, run.output[-4000:]
    assert "new_ui is at 100% after 4 steps" in run.flat
    for percent in (5, 25, 50, 100):
        assert f"Check the error rate at {percent}%" in run.flat
    assert re.findall(r"^FEATURE_FLAG_NEW_UI\S*$", flags.read_text(), re.M) == [
        "FEATURE_FLAG_NEW_UI=true", "FEATURE_FLAG_NEW_UI_ROLLOUT=100"]
    assert service_flag(lab) == {"enabled": True, "rollout": 100}
    assert set(dashboards(lab)) == {(200, "new")}
    # the users saw every step, in order, and never an error
    assert users.rollouts_seen() == [5, 25, 50, 100]
    assert {status for status, _body in users.answers} == {200}
    assert {body["ui"] for _status, body in users.answers} == {"classic", "new"}


def test_error_breach_at_25_restores_the_start_and_fails(lab, clinic):
    flags, fault = clinic
    start = flags.read_text().replace("FEATURE_FLAG_NEW_UI=false\n", "FEATURE_FLAG_NEW_UI=false\nFEATURE_FLAG_NEW_UI_ROLLOUT=0\n")
    flags.write_text(start)
    assert service_flag(lab) == {"enabled": False, "rollout": 0}
    fault.parent.mkdir(exist_ok=True)
    fault.write_text("25\n")
    with Users(lab, CLINIC) as users:
        run = rollout(lab)
    assert run.rc != 0
    assert flags.read_text() == start
    assert service_flag(lab) == {"enabled": False, "rollout": 0}
    # the fault is still there, but nobody is sent down the failing path any more
    assert set(dashboards(lab)) == {(200, "classic")}

    assert "Rollout of new_ui stopped at 25%: Check the error rate at 25%" in run.flat, run.output[-4000:]
    seen = re.search(r"error rate ([0-9.]+) is above the threshold 0\.05 \((\d+) errors of (\d+) requests during the step "
                     r"\(http_requests_errors_total / http_requests_total\)\)", run.flat)
    assert seen, run.output[-4000:]
    rate, errors, total = float(seen.group(1)), int(seen.group(2)), int(seen.group(3))
    assert rate > 0.05 and errors > 0 and rate == round(errors / total, 6)
    assert "The flag was put back to" in run.flat and "'enabled': False" in run.flat and "'rollout': 0" in run.flat
    # what the playbook saw is what the users got: errors only at 25 %, only on the new dashboard
    failures = [body for status, body in users.answers if status == 500]
    assert len(failures) >= errors
    assert all(body["ui"] == "new" and body["flag"] == {"enabled": True, "rollout": 25} for body in failures)
    assert users.rollouts_seen() == [5, 25]
    assert {status for status, _body in users.answers} == {200, 500}


# -- the fleet: every clinic of the lab inventory, canary first ------------------------------------------
CODES = ["kin", "lub", "gom"]


class FlagWatch(Background):
    """Asks every clinic's service which new_ui it reads, again and again; keeps each change it saw,
    in order: [(code, rollout)] from the moment a clinic's flag is enabled. It asks /dashboard, whose
    answers carry the flag, not /api/flags: /api/ is rate-limited per client for the whole lab."""

    def __init__(self, lab):
        super().__init__()
        self.lab = lab
        self.changes: list[tuple[str, int | None]] = []

    def run(self):
        last: dict = {}
        while not self.halt.is_set():
            for code in CODES:
                _status, body = self.lab.get(code, "/dashboard?user=flag-watch")
                state = body.get("flag")
                if state and state["enabled"] and last.get(code) != state["rollout"]:
                    last[code] = state["rollout"]
                    self.changes.append((code, state["rollout"]))
            time.sleep(0.02)

    def clinics_in_order(self) -> list[str]:
        return list(dict.fromkeys(code for code, _rollout in self.changes))

    def rollouts(self, code: str) -> list:
        return [rollout for seen, rollout in self.changes if seen == code]


@pytest.fixture()
def fleet(lab):
    """Every clinic's flags.env (and lub's fault switch), put back as they were afterwards."""
    files = {code: Path(lab.clinic(code)["flags_file"]) for code in CODES}
    originals = {code: path.read_bytes() for code, path in files.items()}
    fault = Path(lab.clinic("lub")["app_root"]) / "shared" / "faults" / "new_ui"
    for code in CODES:
        lab.wait_for(code, "/health", 200)
    try:
        yield files, fault
    finally:
        fault.unlink(missing_ok=True)
        for code, path in files.items():
            path.write_bytes(originals[code])


def fleet_rollout(lab):
    """The acceptance's command, `-i inventories/lab -e flag_name=new_ui`, with short soaks."""
    timing = {"flag_rollout_soak_seconds": 1, "flag_rollout_interval": 0.25, "flag_rollout_max_error_rate": 0.05}
    return run_playbook(PLAYBOOK, "-e", "flag_name=new_ui", inventory=lab.inventory, env=lab.env, extra_vars=timing)


def test_rollout_goes_clinic_by_clinic_canary_first(lab, fleet):
    files, _fault = fleet
    canary = lab.inventory_list()["clinics_canary"]["children"]
    assert canary == ["clinic_kin"]
    with FlagWatch(lab) as watch:
        run = fleet_rollout(lab)
    assert run.rc == 0, run.output[-4000:]
    reports = [run.flat.index(f"{code}: new_ui is at 100% after 4 steps") for code in CODES]
    assert reports == sorted(reports), "each clinic finishes before the next one, the canary first"
    for code in CODES:
        assert re.findall(r"^FEATURE_FLAG_NEW_UI\S*$", files[code].read_text(), re.M) == [
            "FEATURE_FLAG_NEW_UI=true", "FEATURE_FLAG_NEW_UI_ROLLOUT=100"]
    # what the services read: the canary first, every step in order, one clinic at a time
    assert watch.clinics_in_order() == CODES
    assert watch.changes == [(code, percent) for code in CODES for percent in (5, 25, 50, 100)]

    # the flag is everywhere already: a second run sets no clinic back to 5 % and changes nothing
    again = fleet_rollout(lab)
    assert again.rc == 0, again.output[-4000:]
    assert "changed=0" in again.output and "changed=1" not in again.output
    for code in CODES:
        assert f"{code}: new_ui is at 100% after 0 steps (it was already there)" in again.flat


def test_a_breach_stops_the_rollout_at_that_clinic_and_puts_it_back(lab, fleet):
    files, fault = fleet
    before = {code: path.read_bytes() for code, path in files.items()}
    fault.parent.mkdir(exist_ok=True)
    fault.write_text("25\n")  # lub's new dashboard fails from 25 %
    with FlagWatch(lab) as watch, Users(lab, "lub") as users:
        run = fleet_rollout(lab)
    assert run.rc != 0
    assert "lub: Rollout of new_ui stopped at 25%: Check the error rate at 25%" in run.flat, run.output[-4000:]
    assert "The flag was put back to" in run.flat
    # the canary keeps the flag, the clinic that breached has its file back byte for byte, the clinic
    # after it was never touched: its flags.env and what its service read are as before
    assert re.findall(r"^FEATURE_FLAG_NEW_UI\S*$", files["kin"].read_text(), re.M) == [
        "FEATURE_FLAG_NEW_UI=true", "FEATURE_FLAG_NEW_UI_ROLLOUT=100"]
    assert files["lub"].read_bytes() == before["lub"]
    assert files["gom"].read_bytes() == before["gom"]
    assert lab.get("lub", "/dashboard?user=flag-watch")[1]["flag"] == {"enabled": False, "rollout": None}
    assert watch.clinics_in_order() == ["kin", "lub"]
    assert watch.rollouts("lub") == [5, 25]
    assert "[gom]" not in run.output
    assert any(status == 500 for status, _body in users.answers)
