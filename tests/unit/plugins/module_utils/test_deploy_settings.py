"""deploy_settings: what the deploy's preflight refuses (the filter medops.runbook.deploy_settings_problems)."""

from __future__ import annotations

import pytest

from ansible_collections.medops.runbook.plugins.module_utils.deploy_settings import problems

GOOD = {
    "host": "kin", "version": "1.1.0", "strategy": "release", "artifact_url": "http://a/x.tar.gz", "artifact_path": "",
    "restart_command": ["systemctl", "restart", "x"], "service_unit": "",
    "slots": {"blue": 8081, "green": "8082"}, "slot_restart_command": ["start"], "slot_service_unit": "",
    "front_upstream_file": "/etc/nginx/up.conf", "container_image": "clinic:1", "container_ports": [9001, 9002],
    "container_keep": 3, "required": {"clinic_code": "kin", "clinic_db_name": "kin"},
}


@pytest.mark.parametrize("strategy", ["release", "blue_green", "container"])
def test_good_settings_have_no_problem(strategy):
    assert problems(dict(GOOD, strategy=strategy)) == []


@pytest.mark.parametrize("version", ["../x", "1..2", "", "-1", "1.0/2", " 1.0"])
def test_a_bad_release_name_is_named(version):
    assert problems(dict(GOOD, version=version)) == [
        "deploy_version must be a release name (letters, digits, '.', '_', '+', '-'; got '%s')" % version]


@pytest.mark.parametrize("change, expected", [
    ({"artifact_url": ""}, "The release strategy needs one of deploy_artifact_path or deploy_artifact_url"),
    ({"restart_command": []}, "and one of deploy_restart_command or deploy_service_unit."),
])
def test_the_release_strategy_needs_an_artifact_and_a_restart(change, expected):
    found = problems(dict(GOOD, **change))
    assert len(found) == 1 and expected in found[0]
    assert problems(dict(GOOD, restart_command=[], service_unit="clinic.service")) == []


@pytest.mark.parametrize("slots", [{"blue": 8081}, {"blue": 8081, "green": 8081}, {"blue": 8081, "green": "eighty"},
                                   {"blue": 8081, "../x": 8082}, {"blue": 8081, "green": 70000}, [8081, 8082], "x"])
def test_blue_green_needs_two_named_slots_on_two_ports(slots):
    found = problems(dict(GOOD, strategy="blue_green", slots=slots))
    assert len(found) == 1 and found[0].startswith("deploy_slots (clinic_slot_ports) must name exactly two slots, each with its own local port")
    assert "kin has" in found[0]


def test_blue_green_reports_every_missing_setting_at_once():
    found = problems(dict(GOOD, strategy="blue_green", front_upstream_file="", slots={}, required={"clinic_code": ""}))
    assert [p.split(" ")[:2] for p in found] == [["The", "blue_green"], ["deploy_slots", "(clinic_slot_ports)"], ["clinic_code", "is"]]


@pytest.mark.parametrize("change", [{"container_image": ""}, {"container_ports": [9001]}, {"container_ports": [9001, 9001]},
                                    {"container_ports": [0, 9002]}, {"container_keep": -1}, {"front_upstream_file": ""}])
def test_the_container_strategy_needs_image_ports_front_and_keep(change):
    found = problems(dict(GOOD, strategy="container", **change))
    assert len(found) == 1 and found[0].startswith("The container strategy needs deploy_container_image")


def test_required_variables_are_named_with_the_host():
    found = problems(dict(GOOD, required={"clinic_code": "kin", "clinic_db_name": "", "clinic_backup_dir": None}))
    assert found == ["clinic_db_name is not set for kin: define it in the inventory",
                     "clinic_backup_dir is not set for kin: define it in the inventory"]


def test_an_unknown_strategy_and_bad_input_are_clear():
    assert problems(dict(GOOD, strategy="canary")) == ["deploy_strategy must be one of blue_green, container, release (got 'canary')"]
    with pytest.raises(TypeError, match="expects a dict"):
        problems(["not", "a", "dict"])
