"""Every AWX job template in awx/controller_config.yml runs, as AWX would launch it, against the lab.

AWX runs a job template through ansible-runner: the project checkout as the working directory,
the template's playbook, the inventory, and the survey's answers as extra vars. These tests do the
same with the survey's default answers (what a scheduled run uses) and the session lab, and also
check that the data itself is something AWX accepts (survey answers typed as AWX types them,
schedules pointing at templates that exist, secrets only in secret fields).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import ansible_runner
import pytest
import yaml

from harness.ansible import REPO
from harness.awx import load_config, runner_envvars, survey_defaults

# Launch order: rollback goes back from what deploy installed, backup takes and copies off the host,
# backup_verify checks the backups that deploy and backup took, maintenance, health_check and incident_report run on the result.
ORDER = ["playbooks/deploy.yml", "playbooks/rollback.yml", "playbooks/backup.yml", "playbooks/backup_verify.yml",
         "playbooks/maintenance.yml", "playbooks/health_check.yml", "playbooks/incident_report.yml"]
# The job templates launched on their own; the rollout workflow's jobs (run by a workflow, with its
# survey) are tested in test_slicing.py.
IN_WORKFLOWS = {node["unified_job_template"]["name"] for node in load_config()["medops_awx_rollout_nodes"]}
TEMPLATES = sorted((t for t in load_config()["controller_templates"] if t["name"] not in IN_WORKFLOWS),
                   key=lambda t: ORDER.index(t["playbook"]))


def missing_modules(playbook: Path) -> list[str]:
    """medops.runbook modules the playbook (and the roles it uses) calls that the collection lacks
    (its roles and filters are not modules)."""
    roles = {p.name for p in (REPO / "roles").iterdir() if p.is_dir()}
    texts = [playbook.read_text(encoding="utf-8")]
    used_roles = set(re.findall(r"medops\.runbook\.(\w+)", texts[0])) & roles
    seen: set[str] = set()
    while used_roles - seen:
        role = (used_roles - seen).pop()
        seen.add(role)
        for path in sorted((REPO / "roles" / role).rglob("*.yml")):
            text = path.read_text(encoding="utf-8")
            texts.append(text)
            used_roles |= set(re.findall(r"medops\.runbook\.(\w+)", text)) & roles
    # The collection's filters (medops.runbook.health_verdict...) are named the same way; each filter
    # file maps its names in FilterModule.filters().
    filters = {name for path in (REPO / "plugins" / "filter").glob("*.py")
               for name in re.findall(r'"(\w+)":\s*\w+', path.read_text(encoding="utf-8"))}
    # module_defaults name action groups (group/medops.runbook.postgresql): meta/runtime.yml must define them.
    groups = set(yaml.safe_load((REPO / "meta" / "runtime.yml").read_text(encoding="utf-8")).get("action_groups", {}))
    used_groups = set(re.findall(r"group/medops\.runbook\.(\w+)", "\n".join(texts)))
    names = set(re.findall(r"medops\.runbook\.(\w+)", "\n".join(texts))) - roles - filters - groups
    return sorted([n for n in names if not (REPO / "plugins" / "modules" / f"{n}.py").exists()]
                  + [f"group/{g}" for g in used_groups - groups])


# -- the data ------------------------------------------------------------------------------------

def test_one_template_per_playbook_with_a_survey():
    assert [t["playbook"] for t in TEMPLATES] == ORDER
    for template in TEMPLATES:
        assert template["survey_enabled"] is True, template["name"]
        assert template["ask_limit_on_launch"] is True, template["name"]
        variables = [q["variable"] for q in template["survey_spec"]["spec"]]
        assert len(variables) == len(set(variables)), template["name"]
        # The play's host pattern is a survey answer, so "which clinics" is asked on every launch.
        hosts_var = Path(template["playbook"]).stem + "_hosts"
        assert hosts_var in variables, f"{template['name']}: no {hosts_var} question"
        if (REPO / template["playbook"]).exists():  # backup_verify.yml lands later; its run test says so
            assert hosts_var in (REPO / template["playbook"]).read_text(encoding="utf-8"), template["name"]


def test_survey_questions_are_valid_awx_questions():
    for template in TEMPLATES:
        for q in template["survey_spec"]["spec"]:
            label = f"{template['name']}: {q['variable']}"
            assert q["type"] in {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}, label
            assert q["question_name"] and re.fullmatch(r"[a-z_][a-z0-9_]*", q["variable"]), label
            if q["type"] == "multiplechoice":
                assert q["default"] in q["choices"], label
                assert all(isinstance(c, str) for c in q["choices"]), label
            if q["type"] == "integer":
                assert isinstance(q["default"], int) and q["min"] <= q["default"] <= q["max"], label
            if q["type"] == "text" and q.get("default"):
                assert len(q["default"]) <= q.get("max", 1024), label


def test_deploy_survey_asks_version_clinics_and_database_restore():
    deploy = next(t for t in TEMPLATES if t["playbook"] == "playbooks/deploy.yml")
    answers = survey_defaults(deploy)
    assert {"deploy_version", "deploy_hosts", "deploy_rollback_restore_db"} <= set(answers)
    version = next(q for q in deploy["survey_spec"]["spec"] if q["variable"] == "deploy_version")
    assert version["required"] is True


def test_schedules_point_at_templates():
    config = load_config()
    names = {t["name"] for t in config["controller_templates"]}
    schedules = {s["unified_job_template"]: s for s in config["controller_schedules"]}
    assert set(schedules) <= names
    assert "FREQ=DAILY" in schedules["medops backup verify"]["rrule"]
    assert "FREQ=DAILY" in schedules["medops backup"]["rrule"]
    assert "FREQ=MONTHLY" in schedules["medops maintenance"]["rrule"]
    for schedule in config["controller_schedules"]:
        assert re.fullmatch(r"DTSTART;TZID=[\w/]+:\d{8}T\d{6} RRULE:FREQ=\w+(;[A-Z]+=[\w,]+)*", schedule["rrule"]), schedule


def test_clinic_secrets_type_keeps_every_field_secret_and_injects_what_the_inventory_reads():
    config = load_config()
    ctype = next(c for c in config["controller_credential_types"] if c["name"] == "medops clinic secrets")
    fields = ctype["inputs"]["fields"]
    assert all(f.get("secret") is True for f in fields), [f["id"] for f in fields if not f.get("secret")]
    injected = ctype["injectors"]["extra_vars"]
    # Every field reaches the job, and every injected template names a real field.
    field_ids = {f["id"] for f in fields}
    assert field_ids == {re.search(r"\{\{\s*(\w+)", v).group(1) for v in injected.values()}
    inventory_vars = config["controller_inventories"][0]["variables"]
    for name in ("medops_clinic_db_passwords", "medops_clinic_redis_passwords", "medops_clinic_api_tokens"):
        assert any(name in v for v in inventory_vars.values()), name
    # inventories/production reads the vault_* mappings the AWX inventory builds from the credential.
    production = (REPO / "inventories" / "production" / "group_vars" / "clinics.yml").read_text(encoding="utf-8")
    for name in ("vault_clinic_db_passwords", "vault_clinic_redis_passwords"):
        assert name in inventory_vars and name in production, name
    # The secret-bearing credential inputs all come from the (vaulted) secrets variable.
    for cred in config["controller_credentials"]:
        for value in cred["inputs"].values():
            assert "medops_awx_secrets" in value or "medops_awx_ssh_user" in value, cred["name"]


def test_configure_playbook_loads_every_kind_of_object():
    text = (REPO / "awx" / "configure.yml").read_text(encoding="utf-8")
    for key in load_config():
        if key.startswith("controller_"):
            assert f'"{{{{ {key} }}}}"' in text, f"awx/configure.yml does not load {key}"


# -- the runs ------------------------------------------------------------------------------------

@pytest.mark.lab
@pytest.mark.slow
@pytest.mark.parametrize("template", TEMPLATES, ids=[t["name"].replace(" ", "_") for t in TEMPLATES])
def test_job_template_runs_against_the_lab(template, lab):
    playbook = REPO / template["playbook"]
    assert playbook.exists(), f"{template['name']}: {template['playbook']} does not exist yet"
    missing = missing_modules(playbook)
    assert not missing, f"{template['name']}: the collection lacks module(s) {', '.join(missing)}"

    private = Path(tempfile.mkdtemp(prefix="medops-awx-"))
    try:
        run = ansible_runner.run(
            private_data_dir=str(private),
            project_dir=str(REPO),
            playbook=str(playbook),
            inventory=str(lab.inventory),
            extravars=survey_defaults(template),
            # The playbooks write reports under $PWD/reports: runner_envvars keeps them out of the checkout.
            envvars=runner_envvars(private, lab.env),
            quiet=True,
            timeout=600,
        )
        output = run.stdout.read() if run.stdout else ""
        assert run.status == "successful", (
            f"{template['name']}: {run.status} (rc {run.rc}), stats {run.stats}\n{output[-6000:]}")
        # Every clinic of the lab took part: the survey's host pattern reached the play.
        assert set(run.stats["ok"]) >= {c["code"] for c in lab.clinics}, run.stats
        assert not run.stats["failures"] and not run.stats["dark"], run.stats
    finally:
        shutil.rmtree(private, ignore_errors=True)
