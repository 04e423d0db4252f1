#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: notify
short_description: Announce a run's start, a clinic's result or a fleet summary to webhooks, Slack and PagerDuty
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.attributes.check_full
description:
  - "Sends one event to every configured target: a generic JSON webhook (O(webhook_url)), a Slack-format
    incoming webhook (O(slack_webhook_url)) and PagerDuty Events v2 (O(pagerduty_routing_key)). A target
    whose option is empty is skipped."
  - "Events: V(start) (a run begins on O(clinics)), V(result) (one clinic's O(outcome)) and V(summary)
    (every clinic's outcome, once per run). PagerDuty gets V(result) events only: a failed outcome
    triggers an incident with the dedup key C(medops:<clinic>:<playbook>), a good one (V(success),
    V(unchanged), V(passed)) resolves that key. PagerDuty ignores a resolve for an incident that is not open."
  - "Payloads are built in the module from an allow-list of fields (versions, outcome, failed step,
    reason, backup name, seconds, C(database_kept), C(rows_since_backup) counts): whatever else
    O(details) holds, response bodies included, is never sent. URLs and the routing key are never
    returned or logged."
  - "A target that fails (refused, timeout, non-2xx answer) is a warning and a line in RV(notifications);
    the task fails only with O(fail_on_error=true). Bad options always fail."
  - Never reports changed (a notification changes nothing on the host). In check mode nothing is sent.
author:
  - medops.runbook contributors (@medops-runbook)
options:
  event:
    description: What to announce.
    type: str
    required: true
    choices: [start, result, summary]
  playbook:
    description: The runbook this is about, in texts and in the PagerDuty dedup key.
    type: str
    default: deploy
  run_id:
    description: The run's id, shown in every message.
    type: str
  version:
    description: The release being deployed or rolled back to, when there is one.
    type: str
  clinic:
    description: The clinic of a V(result) event.
    type: str
  outcome:
    description:
      - The clinic's outcome for a V(result) event, for example V(success), V(unchanged), V(passed), V(failed),
        V(rolled_back), V(rollback_failed), V(smoke_failed) (a rollback whose target fails its smoke tests).
    type: str
  details:
    description:
      - Facts about the clinic's run for a V(result) event. Only C(version), C(version_before), C(version_after),
        C(backup), C(seconds), C(failed_step), C(reason), C(queues_resumed), C(database_kept),
        C(rows_since_backup) (table to row count), C(operator), C(target) and C(rollback_smoke) (the smoke
        tests' verdict on a release rolled back to, quoted in the text unless V(passed)) are sent; strings are
        cut to 300 characters.
    type: dict
    default: {}
  clinics:
    description:
      - For V(start), the clinics the run covers (names); for V(summary), one dict per clinic with C(clinic),
        C(outcome) (V(not_reached) when missing) and any of the O(details) fields.
    type: list
    elements: raw
    default: []
  source:
    description: PagerDuty C(source) of a triggered incident (default the clinic).
    type: str
  webhook_url:
    description: Generic webhook that receives the event as JSON. Empty skips it.
    type: str
  slack_webhook_url:
    description: Slack-format incoming webhook (C({"text"})). Empty skips it.
    type: str
  pagerduty_routing_key:
    description: PagerDuty Events v2 integration (routing) key. Empty skips PagerDuty.
    type: str
  pagerduty_url:
    description: The Events v2 endpoint.
    type: str
    default: https://events.pagerduty.com/v2/enqueue
  pagerduty_severity:
    description: Severity of a triggered incident.
    type: str
    default: error
    choices: [critical, error, warning, info]
  timeout:
    description: Seconds to wait for each target's answer.
    type: float
    default: 10
  validate_certs:
    description: Verify the receivers' TLS certificates.
    type: bool
    default: true
  fail_on_error:
    description: Fail the task when a target could not be notified (by default that is only a warning).
    type: bool
    default: false
  announce_success:
    description:
      - Send a good V(result) (V(success), V(unchanged), V(passed)) to the webhook and Slack too. With V(false)
        only PagerDuty hears of it (the resolve), for runs that should speak only when something is wrong,
        such as a nightly backup verification.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Tell the team a deploy starts
  medops.runbook.notify:
    event: start
    run_id: "{{ deploy_run_id }}"
    version: "1.1.0"
    clinics: "{{ ansible_play_hosts_all }}"
    slack_webhook_url: "{{ vault_slack_webhook_url }}"

- name: Report one clinic's result (PagerDuty triggers on failure, resolves on success)
  medops.runbook.notify:
    event: result
    clinic: kin
    outcome: rolled_back
    version: 1.2.0
    details:
      version_before: 1.1.0
      failed_step: verify
      reason: "http://127.0.0.1:8081/health/ready: last status 503"
    webhook_url: "{{ vault_deploy_webhook_url }}"
    pagerduty_routing_key: "{{ vault_pagerduty_routing_key }}"
  register: notified
"""

RETURN = r"""
notifications:
  description:
    - One line per target notified, with C(target) (V(webhook), V(slack), V(pagerduty)), C(event), C(ok),
      C(status) (the HTTP status, or null without an answer) and C(error) (null, or why it failed; never a
      URL or an answer's body). PagerDuty lines also carry C(action) (V(trigger) or V(resolve)) and
      C(dedup_key). In check mode each line has C(skipped).
  returned: always
  type: list
  elements: dict
sent:
  description: Targets that accepted the event.
  returned: always
  type: int
  sample: 2
failed_targets:
  description: Targets that could not be notified.
  returned: always
  type: list
  elements: str
msg:
  description: What happened, in one line.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medops.runbook.plugins.module_utils.notify import EVENTS, NotifyConfigError, notify


def argument_spec():
    return dict(
        event=dict(type="str", required=True, choices=list(EVENTS)),
        playbook=dict(type="str", default="deploy"),
        run_id=dict(type="str"),
        version=dict(type="str"),
        clinic=dict(type="str"),
        outcome=dict(type="str"),
        details=dict(type="dict", default={}),
        clinics=dict(type="list", elements="raw", default=[]),
        source=dict(type="str"),
        webhook_url=dict(type="str", no_log=True),
        slack_webhook_url=dict(type="str", no_log=True),
        pagerduty_routing_key=dict(type="str", no_log=True),
        pagerduty_url=dict(type="str", default="https://events.pagerduty.com/v2/enqueue"),
        pagerduty_severity=dict(type="str", default="error", choices=["critical", "error", "warning", "info"]),
        timeout=dict(type="float", default=10),
        validate_certs=dict(type="bool", default=True),
        fail_on_error=dict(type="bool", default=False),
        announce_success=dict(type="bool", default=True),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = notify(module.params, check_mode=module.check_mode)
    except NotifyConfigError as exc:
        module.fail_json(msg=str(exc), changed=False)
    lines, failed = result["notifications"], result["failed_targets"]
    for line in lines:
        if not line["ok"]:
            module.warn("notify: the %s %s notification failed: %s" % (line["target"], line["event"], line["error"]))
    if not lines:
        msg = "no notification target is configured for a %s event" % module.params["event"]
    elif module.check_mode:
        msg = "check mode: would notify %s" % ", ".join(line["target"] for line in lines)
    else:
        msg = "notified %d of %d target(s)%s" % (result["sent"], len(lines), "; failed: " + ", ".join(failed) if failed else "")
    result.update(changed=False, msg=msg)
    if failed and module.params["fail_on_error"]:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
