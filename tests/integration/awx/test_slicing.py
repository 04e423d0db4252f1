"""The rollout workflow of awx/controller_config.yml (medops rollout) run as AWX runs it, on a lab of its own.

The canary job deploys the canary clinic alone. Then the fleet job runs sliced: each slice is an
ansible-runner job of its own (its own private data dir, its own localhost) on the slice of the
inventory AWX would give it, with the canary's artifacts as extra vars, and all slices start side by
side. tests/harness/awx.py says which parts of AWX's source each step follows. The approval node
between the two jobs is AWX's own and runs nothing.

Four clinics, three slices: AWX orders the hosts by name (c04, gom, kin, lub), so slice 1 holds c04
and lub (two waves of deploy_serial), slice 2 gom, and slice 3 only kin, the canary, which the fleet
job's host pattern leaves out: that slice deploys nothing and must still succeed.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import ansible_runner
import pytest

from harness.ansible import REPO, run_module_cases
from harness.awx import (awx_slice, export_inventory, inventory_hosts, job_artifacts, load_config, render,
                         runner_envvars, survey_defaults, write_job_inventory)

pytestmark = pytest.mark.lab
SLICES = 3
CANARY = "kin"
OLD, NEW = "1.0.0", "1.1.0"


def template(name: str, **settings) -> dict:
    return render(next(t for t in load_config()["controller_templates"] if t["name"] == name), **settings)


def start_job(private: Path, jt: dict, inventory: dict, extravars: dict, env: dict):
    """Start one AWX job of ``jt`` with ansible-runner: the project checkout as the working directory,
    the inventory script AWX writes, the template's limit; returns (thread, runner)."""
    write_job_inventory(private, inventory)
    return ansible_runner.run_async(
        private_data_dir=str(private),
        project_dir=str(REPO),
        playbook=jt["playbook"],
        inventory=str(private / "inventory" / "hosts"),
        limit=jt.get("limit"),
        extravars=extravars,
        envvars=runner_envvars(private, env),
        quiet=True,
        timeout=600,
    )


def finish(job):
    thread, runner = job
    thread.join()
    return runner


def output(runner) -> str:
    return runner.stdout.read()[-6000:] if runner.stdout else ""


@pytest.fixture(scope="module")
def lab():
    from medops_lab.testing import LabHandle

    with LabHandle.running(4, prefix="medops-lab-slices-") as handle:
        yield handle


@pytest.fixture(scope="module")
def rollout(lab):
    """The workflow's jobs, launched with the survey's defaults (deploy_version 1.1.0)."""
    workflow = render(load_config()["controller_workflows"][0])
    answers = survey_defaults(workflow)
    assert answers["deploy_version"] == NEW
    canary_jt = template("medops rollout canary")
    fleet_jt = template("medops rollout fleet", medops_awx_fleet_slices=SLICES)
    inventory = export_inventory(lab.inventory, lab.env)
    privates = [Path(tempfile.mkdtemp(prefix=f"medops-awx-job{number}-")) for number in range(SLICES + 1)]
    try:
        # Root node: the template's extra vars, then the workflow's (the survey answers) over them.
        canary = finish(start_job(privates[0], canary_jt, inventory, {**canary_jt["extra_vars"], **answers}, lab.env))
        assert canary.status == "successful", f"canary: {canary.status} {canary.stats}\n{output(canary)}"
        after_canary = {code: lab.version(code) for code in inventory_hosts(inventory)}
        artifacts = job_artifacts(canary)

        # After the (approved) canary: the template's extra vars, the canary's artifacts, the survey answers.
        fleet_vars = {**fleet_jt["extra_vars"], **artifacts, **answers}
        slices = [awx_slice(inventory, number, fleet_jt["job_slice_count"]) for number in range(1, SLICES + 1)]
        jobs = [start_job(private, fleet_jt, part, fleet_vars, lab.env) for private, part in zip(privates[1:], slices)]
        runners = [finish(job) for job in jobs]
        yield {"inventory": inventory, "fleet_jt": fleet_jt, "canary": canary, "after_canary": after_canary,
               "artifacts": artifacts, "slices": slices, "runners": runners,
               "records": records(lab, inventory_hosts(inventory))}
    finally:
        for private in privates:
            shutil.rmtree(private, ignore_errors=True)


def deployed(runner) -> set[str]:
    """The clinics a job ran tasks on."""
    return set(runner.stats["ok"]) | set(runner.stats["failures"]) | set(runner.stats["dark"])


def records(lab, codes) -> dict:
    """Each clinic's deployment record, read by medops.runbook.deploy_record (state=read verifies the chain)."""
    cases = [{"path": str(Path(lab.clinic(code)["app_root"]) / "deployments.jsonl")} for code in codes]
    results = run_module_cases("deploy_record", cases, shared={"state": "read", "recent": 20})
    return dict(zip(codes, results))


def test_the_canary_job_deploys_the_canary_alone_and_publishes_its_run_id(rollout):
    assert deployed(rollout["canary"]) == {CANARY}
    assert rollout["after_canary"] == {"c04": OLD, "gom": OLD, "kin": NEW, "lub": OLD}
    assert rollout["artifacts"]["deploy_run_id"], rollout["artifacts"]


def test_awx_slices_the_whole_inventory_by_name_and_the_canary_slice_deploys_nothing(rollout):
    assert rollout["fleet_jt"]["job_slice_count"] == SLICES
    assert [inventory_hosts(part) for part in rollout["slices"]] == [["c04", "lub"], ["gom"], ["kin"]]
    for number, runner in enumerate(rollout["runners"], 1):
        assert runner.status == "successful", f"slice {number}: {runner.status} {runner.stats}\n{output(runner)}"
    assert [deployed(runner) for runner in rollout["runners"]] == [{"c04", "lub"}, {"gom"}, set()]


def test_the_fleet_ends_on_one_version(rollout, lab):
    codes = inventory_hosts(rollout["inventory"])
    assert {code: lab.version(code) for code in codes} == dict.fromkeys(codes, NEW)
    assert {code: lab.get(code, "/api/version")[1].get("version") for code in codes} == dict.fromkeys(codes, NEW)


def test_every_record_is_intact_and_names_the_canary_run(rollout):
    run_id = rollout["artifacts"]["deploy_run_id"]
    assert sorted(rollout["records"]) == inventory_hosts(rollout["inventory"])
    for code, record in rollout["records"].items():
        assert record["chain_valid"] is True and record["chain_broken_at"] is None, (code, record)
        assert record["interrupted"] == [], (code, record["interrupted"])
        ours = [entry for entry in record["recent_entries"] if entry.get("phase") in ("started", "finished")]
        assert [(e["phase"], e["run_id"], e["version_to"]) for e in ours] == [
            ("started", run_id, NEW), ("finished", run_id, NEW)], (code, ours)
        assert ours[-1]["outcome"] == "success", (code, ours[-1])


def test_slices_run_side_by_side_each_in_its_own_waves(rollout):
    spans = {}
    for code in ("c04", "lub", "gom"):
        at = {entry["phase"]: entry["recorded_at"] for entry in rollout["records"][code]["recent_entries"]
              if entry.get("run_id") == rollout["artifacts"]["deploy_run_id"]}
        spans[code] = (at["started"], at["finished"])
    # Slice 1's two clinics went in two waves (deploy_serial ["25%", "100%"] of its two hosts): one
    # finished before the other started.
    first, second = sorted([spans["c04"], spans["lub"]])
    assert first[1] <= second[0], spans
    # Slice 2 did not wait for slice 1: gom's deploy overlaps slice 1's.
    assert spans["gom"][0] <= second[1] and first[0] <= spans["gom"][1], spans
