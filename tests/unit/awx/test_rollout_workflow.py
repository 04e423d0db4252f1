"""The rollout workflow in awx/controller_config.yml holds together, with the approval on and off.

What AWX would be given: every node runs a job template that exists, the canary starts the workflow
and is never sliced, only the fleet job may be, and the canary group the jobs name is in the
inventories. tests/integration/awx/test_slicing.py runs the workflow's jobs on a lab.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.awx import load_config, render

REPO = Path(__file__).resolve().parents[3]
CONFIG = load_config()
TEMPLATES = {t["name"]: t for t in CONFIG["controller_templates"]}


def workflow(**settings) -> dict:
    return render(CONFIG["controller_workflows"][0], **settings)


def links(node: dict) -> list[tuple[str, str]]:
    """(kind, identifier) of every link from a node."""
    related = node.get("related", {})
    return [(kind, target["identifier"]) for kind in ("success_nodes", "failure_nodes", "always_nodes")
            for target in related.get(kind, [])]


def slice_count(name: str, **settings) -> int:
    return int(render(TEMPLATES[name], **settings).get("job_slice_count", 1))


@pytest.mark.parametrize("approval", [True, False], ids=["approval", "no-approval"])
def test_canary_then_fleet_on_success_only(approval):
    nodes = workflow(medops_awx_rollout_approval=approval)["workflow_nodes"]
    by_id = {node["identifier"]: node for node in nodes}
    assert len(by_id) == len(nodes), "identifiers must be unique in a workflow"
    for node in nodes:
        ujt = node["unified_job_template"]
        if ujt["type"] == "job_template":
            assert ujt["name"] in TEMPLATES, ujt["name"]
        else:
            assert ujt["type"] == "workflow_approval" and int(ujt["timeout"]) > 0, node
        for link in links(node):
            assert link[1] in by_id, (node["identifier"], link)
    # One start: a node nobody links to runs when the workflow starts, beside the canary.
    targets = {link[1] for node in nodes for link in links(node)}
    assert [node["identifier"] for node in nodes if node["identifier"] not in targets] == ["canary"]
    # A straight line followed on success only: a failed canary or a denied approval ends the rollout.
    path, here = [], "canary"
    while True:
        path.append(here)
        nexts = links(by_id[here])
        assert {link[0] for link in nexts} <= {"success_nodes"}, nexts
        if not nexts:
            break
        assert len(nexts) == 1, nexts
        here = nexts[0][1]
    assert path == (["canary", "approval", "fleet"] if approval else ["canary", "fleet"])
    assert len(path) == len(nodes)


def test_the_approval_is_on_by_default_and_turning_it_off_rebuilds_the_nodes():
    assert CONFIG["medops_awx_rollout_approval"] is True
    assert [n["identifier"] for n in workflow()["workflow_nodes"]] == ["canary", "approval", "fleet"]
    # Nodes left out of workflow_nodes stay in AWX: an approval node from an earlier load would
    # remain, unlinked, as a second start. Without the approval the nodes are rebuilt.
    assert workflow()["destroy_current_nodes"] is False
    assert workflow(medops_awx_rollout_approval=False)["destroy_current_nodes"] is True


def test_only_the_fleet_job_is_ever_sliced():
    nodes = {n["identifier"]: n["unified_job_template"]["name"] for n in workflow()["workflow_nodes"]}
    canary, fleet = nodes["canary"], nodes["fleet"]
    for slices in (1, 2, 8):
        assert slice_count(fleet, medops_awx_fleet_slices=slices) == slices
        assert slice_count(canary, medops_awx_fleet_slices=slices) == 1
        # The standalone templates keep their batches, run_once and failure limit fleet-wide.
        assert {name: slice_count(name, medops_awx_fleet_slices=slices) for name in TEMPLATES if name != fleet} == \
            dict.fromkeys(set(TEMPLATES) - {fleet}, 1)
    assert CONFIG["medops_awx_fleet_slices"] == 1


def test_the_canary_job_is_the_canary_group_and_the_fleet_job_everything_else():
    group = CONFIG["medops_awx_canary_group"]
    nodes = {n["identifier"]: n["unified_job_template"]["name"] for n in workflow()["workflow_nodes"]}
    canary, fleet = render(TEMPLATES[nodes["canary"]]), render(TEMPLATES[nodes["fleet"]])
    for jt in (canary, fleet):
        assert jt["playbook"] == "playbooks/deploy.yml"
        # Nothing asked at launch: the workflow's survey answers are all a job gets.
        assert not jt.get("survey_enabled") and not any(k.startswith("ask_") and v for k, v in jt.items()), jt["name"]
    # The canary: a limit (a limit matching no host fails the job), one clinic at a time.
    assert canary["limit"] == group and canary["extra_vars"]["deploy_serial"] == [1]
    assert "deploy_hosts" not in canary["extra_vars"]
    # The fleet: a host pattern without the canary (a slice holding only the canary deploys nothing
    # and succeeds) and no limit (a limit matching none of a slice's hosts fails the slice).
    assert fleet["extra_vars"]["deploy_hosts"] == f"clinics:!{group}" and "limit" not in fleet
    assert fleet["extra_vars"]["deploy_serial"] == CONFIG["medops_awx_fleet_waves"]


def test_the_workflow_asks_what_the_deploy_template_asks_but_the_clinics():
    spec = workflow()["survey_spec"]["spec"]
    deploy = {q["variable"]: q for q in TEMPLATES["medops deploy"]["survey_spec"]["spec"]}
    assert [q["variable"] for q in spec] == [v for v in deploy if v != "deploy_hosts"]
    assert all(q == deploy[q["variable"]] for q in spec)
    assert deploy["deploy_version"]["required"] is True


@pytest.mark.parametrize("name", ["production", "staging"])
def test_the_inventories_name_a_canary_among_their_clinics(name):
    document = yaml.safe_load((REPO / "inventories" / name / "hosts.yml").read_text(encoding="utf-8"))
    groups = document["all"]["children"]
    canary = set(groups[CONFIG["medops_awx_canary_group"]]["children"])
    assert canary and canary <= set(groups["clinics"]["children"]), canary
