"""Every role refuses bad variables at the start, with a readable message, before any task runs.

All the cases of one role run in one ansible-playbook call: each case includes the role inside a
block whose rescue records the failure message, so the table costs one Ansible start per role.
"""

import json

import pytest
import yaml

from harness.ansible import run_playbook

# A clinic's inventory variables, as the lab inventory provides them (values are placeholders:
# argument validation fails before anything connects to them).
CLINIC = {
    "clinic_code": "kin", "clinic_db_host": "127.0.0.1", "clinic_db_port": 1, "clinic_db_user": "u",
    "clinic_db_password": "x" * 40, "clinic_db_name": "clinic_kin", "clinic_redis_host": "127.0.0.1",
    "clinic_redis_port": 1, "clinic_queues": ["clinic-kin"], "clinic_base_url": "http://127.0.0.1:1",
    "clinic_health_urls": {"ready": "http://127.0.0.1:1/health/ready"}, "clinic_app_root": "/nonexistent/app",
    "clinic_backup_dir": "/nonexistent/backups", "clinic_restart_command": ["true"],
}

CASES = {
    "deploy": [
        ({}, "deploy_version"),
        ({"deploy_version": "1.1.0", "deploy_keep_releases": [5]}, "deploy_keep_releases"),
        ({"deploy_version": "1.1.0", "deploy_strategy": "ftp"}, "deploy_strategy"),
        ({"deploy_version": "1.1.0", "deploy_keep_releases": "many"}, "deploy_keep_releases"),
        ({"deploy_version": "1.1.0", "deploy_smoke_tests": "GET /"}, "deploy_smoke_tests"),
        ({"deploy_version": "1.1.0", "deploy_restart_command": {"cmd": "x"}}, "deploy_restart_command"),
        ({"deploy_version": "1.1.0", "deploy_require_healthy": "perhaps"}, "deploy_require_healthy"),
        ({"deploy_version": "1.1.0", "deploy_lock_stale_minutes": "soon"}, "deploy_lock_stale_minutes"),
        ({"deploy_version": "1.1.0", "deploy_clinic_hours": "9-17"}, "deploy_clinic_hours"),
        ({"deploy_version": "1.1.0", "deploy_health_interval": "fast"}, "deploy_health_interval"),
        ({"deploy_version": "1.1.0", "deploy_secret_vars": "clinic_db_password"}, None),  # a string becomes a list
        ({"deploy_version": "1.1.0", "deploy_min_free_disk_mb": [1]}, "deploy_min_free_disk_mb"),
        ({"deploy_version": "1.1.0", "deploy_container_pull": "sometimes"}, "deploy_container_pull"),
        ({"deploy_version": "1.1.0", "deploy_container_ports": ["http", "https"]}, "deploy_container_ports"),
        ({"deploy_version": "1.1.0", "deploy_container_env": ["DB_PASSWORD=x"]}, "deploy_container_env"),
        ({"deploy_version": "1.1.0", "deploy_container_keep": "a few"}, "deploy_container_keep"),
        ({"deploy_version": "1.1.0", "deploy_maintenance_page": "sometimes"}, "deploy_maintenance_page"),
        ({"deploy_version": "1.1.0", "deploy_restore_free_space_check": "maybe"}, "deploy_restore_free_space_check"),
        ({"deploy_version": "1.1.0", "deploy_restore_min_free_bytes": "lots"}, "deploy_restore_min_free_bytes"),
    ],
    "rollback": [
        ({"rollback_restore_db": [True]}, "rollback_restore_db"),
        ({"rollback_restore_db": "maybe"}, "rollback_restore_db"),
        ({"rollback_queue_drain": "sometimes"}, "rollback_queue_drain"),
        ({"rollback_queue_drain_timeout": "long"}, "rollback_queue_drain_timeout"),
        ({"rollback_health_wait_timeout": "forever"}, "rollback_health_wait_timeout"),
        ({"rollback_break_stale_lock": "please"}, "rollback_break_stale_lock"),
        ({"rollback_health_wait_timeout": [90]}, "rollback_health_wait_timeout"),
        ({"rollback_break_stale_lock": ["yes"]}, "rollback_break_stale_lock"),
        ({"rollback_restore_db": {"from": "x"}}, "rollback_restore_db"),
        ({"rollback_queue_drain_timeout": [1]}, "rollback_queue_drain_timeout"),
    ],
    "maintenance": [
        ({"maintenance_page": "sometimes"}, "maintenance_page"),
        ({"maintenance_vacuum": "weekly"}, "maintenance_vacuum"),
        ({"maintenance_reindex": "yes please"}, "maintenance_reindex"),
        ({"maintenance_purge": "audit_log"}, "maintenance_purge"),
        ({"maintenance_session_idle_seconds": "a week"}, "maintenance_session_idle_seconds"),
        ({"maintenance_log_max_age_days": "old"}, "maintenance_log_max_age_days"),
        ({"maintenance_disk_max_percent": "ninety"}, "maintenance_disk_max_percent"),
        ({"maintenance_reload_command": {"cmd": "nginx -s reload"}}, "maintenance_reload_command"),
        ({"maintenance_tls_min_days": "21d"}, "maintenance_tls_min_days"),
        ({"maintenance_log_paths": {"a": 1}}, "maintenance_log_paths"),
        ({"maintenance_drop_kept_databases": "when full"}, "maintenance_drop_kept_databases"),
        ({"maintenance_kept_databases_max_age_days": "two weeks"}, "maintenance_kept_databases_max_age_days"),
    ],
    "backup_verify": [
        ({"backup_verify_take_backup": "tonight"}, "backup_verify_take_backup"),
        ({"backup_verify_restore_check": "maybe"}, "backup_verify_restore_check"),
        ({"backup_verify_prune": "later"}, "backup_verify_prune"),
        ({"backup_verify_keep_last": "seven"}, "backup_verify_keep_last"),
        ({"backup_verify_max_age_days": "a month"}, "backup_verify_max_age_days"),
        ({"backup_verify_fail_host": "loudly"}, "backup_verify_fail_host"),
        ({"backup_verify_take_backup": [True]}, "backup_verify_take_backup"),
        ({"backup_verify_restore_check": {"tables": "all"}}, "backup_verify_restore_check"),
        ({"backup_verify_keep_last": [7]}, "backup_verify_keep_last"),
        ({"backup_verify_max_age_days": {"days": 30}}, "backup_verify_max_age_days"),
    ],
    "health_check": [
        ({"health_check_timeout": "5s"}, "health_check_timeout"),
        ({"health_check_wait_timeout": "10s"}, "health_check_wait_timeout"),
        ({"health_check_database": "sure"}, "health_check_database"),
        ({"health_check_redis": "sure"}, "health_check_redis"),
        ({"health_check_queues": "sure"}, "health_check_queues"),
        ({"health_check_backup_max_age_hours": "a day"}, "health_check_backup_max_age_hours"),
        ({"health_check_tls_min_days": "two weeks"}, "health_check_tls_min_days"),
        ({"health_check_urls": {"a": "b"}}, "health_check_urls"),
        ({"health_check_tls_endpoints": {"a": "b"}}, "health_check_tls_endpoints"),
        ({"health_check_backup_patterns": {"a": "b"}}, "health_check_backup_patterns"),
    ],
}


def _playbook(role, cases, result_path):
    tasks = [{"name": "Collect failures", "ansible.builtin.set_fact": {"spec_failures": {}}}]
    for index, case in enumerate(cases):
        variables = case[0]
        tasks.append({
            "name": f"Case {index}",
            "block": [{"name": "Include the role", "ansible.builtin.include_role": {"name": f"medops.runbook.{role}"},
                       "vars": variables}],
            "rescue": [{"name": "Record the message", "ansible.builtin.set_fact": {
                "spec_failures": "{{ spec_failures | combine({'%d': ansible_failed_result.msg | default('')}) }}" % index}}],
        })
    save = {"content": "{{ spec_failures | to_json }}", "dest": str(result_path), "mode": "0600"}
    tasks.append({"name": "Save", "ansible.builtin.copy": save})
    return [{"name": "Bad variables", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": CLINIC, "tasks": tasks}]


@pytest.mark.parametrize("role", sorted(CASES))
def test_role_refuses_bad_variables(role, tmp_path):
    cases = CASES[role]
    playbook = tmp_path / "cases.yml"
    result_path = tmp_path / "failures.json"
    playbook.write_text(yaml.safe_dump(_playbook(role, cases, result_path), sort_keys=False))
    run = run_playbook(playbook, inventory="localhost,")
    assert result_path.exists(), run.output[-3000:]
    failures = json.loads(result_path.read_text())
    assert "Traceback" not in run.output
    for index, (variables, option) in enumerate(cases):
        message = failures.get(str(index))
        if option is None:
            continue
        assert message, f"{role} accepted {variables}"
        assert "Validation of arguments failed" in message and option in message, (variables, message)
