#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: queue_pause
short_description: Pause, drain or resume job queues (BullMQ on Redis, or an admin HTTP API)
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.attributes.check_full
  - medops.runbook.redis
description:
  - Replaces the runbook steps C(curl -X POST .../admin/queue/pause) and C(watch ... jobs_active) before a
    deploy, and the resume afterwards, with one idempotent, check-mode safe task.
  - O(state=paused) stops workers from taking new jobs; jobs already running go on. O(state=drained) pauses,
    then waits until no job of the O(queues) is active (at most O(drain_timeout) seconds, polling every
    O(poll_interval) seconds) and reports how long that took. O(state=resumed) lets workers take jobs again.
  - "With O(backend=bullmq) the module works on Redis directly and does, in one Lua script per queue (EVALSHA),
    what BullMQ's own C(Queue.pause) and C(Queue.resume) do: set or remove the C(paused) field of the queue's
    C(meta) hash, delete the worker wake-up C(marker) on pause and restore it on resume (or a delay marker for
    the next delayed job), move job ids between the C(wait) and C(paused) lists where the BullMQ version uses a
    paused list, and add a C(paused) or C(resumed) event to the queue's C(events) stream. Running BullMQ workers
    therefore stop taking jobs while the queue is paused, and take every job, once, after the resume."
  - "Supported BullMQ versions: npm C(bullmq) 5.1.10 to 5.81.x (the Python C(bullmq) releases built on them),
    whose paused queues keep their jobs in a C(paused) list, and npm C(bullmq) 6.0.0 to 6.2.x (Python C(bullmq)
    3.x), whose paused queues keep them in C(wait). Their pause scripts are unchanged within each range. BullMQ
    5.0.0 to 5.1.9 differ only in the name of the delay marker's member; BullMQ 4 and older (markers inside the
    wait list) are not supported."
  - Pausing a paused queue, or resuming a running one, changes nothing and reports C(changed=false) (BullMQ's
    own calls would rewrite the flag and add an event again).
  - A queue with no key under C(<prefix>:<name>:) is an error unless O(missing_ok=true); every queue is checked
    before any is changed.
  - A drain that times out fails, and leaves the queues B(paused); the message and C(queues) say so, and the
    calling play decides when to resume (typically in an C(always) section).
  - In check mode nothing is written (no pause, no event, no marker); the result says what would change.
    O(state=drained) in check mode does not wait; C(drained) tells whether no job is active right now.
  - With O(backend=http) the module calls O(pause_url) or O(resume_url) and reads the counts from a JSON
    O(stats_url) or from a Prometheus O(metrics_url). The paused state comes from O(stats_paths) key C(paused) or
    O(metrics) key C(paused); without either the module cannot know it and always calls the URL (C(changed=true)
    and a warning).
author:
  - medops.runbook contributors (@medops-runbook)
requirements:
  - redis (Python library) 4.1 or later, for O(backend=bullmq)
options:
  backend:
    description: How the queues are reached.
    type: str
    choices: [bullmq, http]
    default: bullmq
  state:
    description: What the queues should be at the end of the task.
    type: str
    choices: [paused, drained, resumed]
    required: true
  queues:
    description:
      - Queue names (BullMQ queue names, or the names substituted for C({queue}) in the HTTP URLs and labels).
    type: list
    elements: str
    required: true
  prefix:
    description: BullMQ key prefix (the C(prefix) option of BullMQ's Queue and Worker).
    type: str
    default: bull
  bullmq_version:
    description:
      - Which BullMQ storage layout the queues use. V(auto) reads the C(version) field that Node's BullMQ writes
        into the queue's C(meta) hash (C(bullmq:5.x) means 5) and takes 6 when there is none (the Python
        library does not write it).
      - Give V(5) explicitly when BullMQ 5 producers and workers are written by the Python library 2.x.
    type: str
    choices: [auto, "5", "6"]
    default: auto
  missing_ok:
    description: Skip queues that do not exist instead of failing.
    type: bool
    default: false
  drain_timeout:
    description: With O(state=drained), seconds to wait for the active jobs to finish.
    type: float
    default: 300
  poll_interval:
    description: With O(state=drained), seconds between two looks at the active jobs.
    type: float
    default: 1
  pause_url:
    description: With O(backend=http), URL that pauses the queue. C({queue}) is replaced by the queue name.
    type: str
  resume_url:
    description: With O(backend=http), URL that resumes the queue. C({queue}) is replaced by the queue name.
    type: str
  method:
    description: With O(backend=http), HTTP method of O(pause_url) and O(resume_url).
    type: str
    choices: [POST, PUT, PATCH, GET, DELETE]
    default: POST
  headers:
    description: With O(backend=http), extra request headers.
    type: dict
    default: {}
  token:
    description: "With O(backend=http), token sent as C(Authorization: Bearer ...). Never logged or returned."
    type: str
  stats_url:
    description: With O(backend=http), URL of a JSON document with the queue's counts. A 404 means no such queue.
    type: str
  stats_paths:
    description:
      - Dotted paths (C(queues.0.active)) in the O(stats_url) document, per count. Keys among C(waiting),
        C(active), C(delayed), C(prioritized), C(failed), C(completed) and C(paused) (a boolean).
      - Missing keys default to a path equal to the key (C(active) at C(active)); a path absent from the
        document gives a null count.
    type: dict
    default: {}
  metrics_url:
    description: With O(backend=http), URL of Prometheus text metrics. Mutually exclusive with O(stats_url).
    type: str
  metrics:
    description:
      - "With O(metrics_url), the metric name of each count, for example C({active: holi_queue_jobs_active,
        waiting: holi_queue_jobs_waiting}); same keys as O(stats_paths). A C(paused) gauge is non-zero when paused."
      - Samples of a metric that match O(metrics_labels) are summed (several instances of one service).
    type: dict
    default: {}
  metrics_labels:
    description: With O(metrics_url), labels a sample must carry; C({queue}) in a value is replaced by the queue name.
    type: dict
    default: {}
  timeout:
    description: With O(backend=http), seconds per request.
    type: float
    default: 10
  validate_certs:
    description: With O(backend=http), verify HTTPS certificates.
    type: bool
    default: true
  ca_path:
    description: With O(backend=http), PEM file of the CA that signed the service's certificate.
    type: path
notes:
  - Pausing is global, like BullMQ's C(Queue.pause); a worker's own local pause is not touched.
  - Counts follow BullMQ's C(getJobCounts); C(waiting) counts the C(wait) list, C(paused) the C(paused) list
    (where BullMQ 5 keeps the jobs of a paused queue).
seealso:
  - name: BullMQ, pausing queues
    description: BullMQ's description of the global pause this module reproduces.
    link: https://docs.bullmq.io/guide/queues/pausing-queues
"""

EXAMPLES = r"""
- name: Drain the clinic's queue before the deploy
  medops.runbook.queue_pause:
    backend: bullmq
    state: drained
    queues: [clinic-kin]
    redis_host: 127.0.0.1
    redis_password: "{{ vault_kin_redis_password }}"
    drain_timeout: 120
    poll_interval: 0.5
  register: drain

- name: Resume it afterwards, whatever happened
  medops.runbook.queue_pause:
    state: resumed
    queues: [clinic-kin]
    redis_url: "{{ vault_kin_redis_url }}"

- name: Holi Labs admin API, counts from Prometheus metrics
  medops.runbook.queue_pause:
    backend: http
    state: drained
    queues: [fhir-sync]
    pause_url: https://api.example.org/admin/queue/pause
    metrics_url: https://api.example.org/metrics
    metrics:
      active: holi_queue_jobs_active
      waiting: holi_queue_jobs_waiting
      failed: holi_queue_jobs_failed
    metrics_labels:
      queue: "{queue}"
    token: "{{ vault_admin_token }}"
"""

RETURN = r"""
changed:
  description: Whether any queue was (or in check mode would be) paused or resumed.
  returned: always
  type: bool
state:
  description: The O(state) asked for.
  returned: always
  type: str
queues:
  description: Per queue name, what was seen before and after.
  returned: always
  type: dict
  contains:
    exists:
      description: Whether the queue was found.
      type: bool
    changed:
      description: Whether this queue was (or would be) paused or resumed.
      type: bool
    paused_before:
      description: Paused when the task started (null when the HTTP backend cannot tell).
      type: bool
    paused:
      description: Paused when the task ended (predicted in check mode).
      type: bool
    counts:
      description:
        - Job counts at the end, like BullMQ getJobCounts (waiting, paused, active, delayed, prioritized, failed,
          completed, waiting_children); the HTTP backend gives those it can read.
      type: dict
    layout:
      description: With O(backend=bullmq), the BullMQ storage layout used, C(5) or C(6).
      type: str
    bullmq_version:
      description: With O(backend=bullmq), the C(version) field of the queue's meta hash, if any.
      type: str
  sample:
    clinic-kin:
      exists: true
      changed: true
      paused_before: false
      paused: true
      layout: "6"
      bullmq_version: null
      counts: {waiting: 12, paused: 0, active: 0, delayed: 1, prioritized: 0, failed: 0, completed: 340, waiting_children: 0}
missing:
  description: Queues that were not found (skipped with O(missing_ok=true)).
  returned: always
  type: list
  elements: str
drained:
  description: With O(state=drained), whether no job was active at the end.
  returned: when O(state=drained)
  type: bool
  sample: true
timed_out:
  description: With O(state=drained), whether O(drain_timeout) passed first (the queues stay paused).
  returned: when O(state=drained)
  type: bool
  sample: false
drain_elapsed:
  description: With O(state=drained), seconds spent waiting for active jobs.
  returned: when O(state=drained)
  type: float
  sample: 4.2
polls:
  description: With O(state=drained), how many times the active jobs were counted.
  returned: when O(state=drained)
  type: int
  sample: 9
drain_started_at:
  description: With O(state=drained), epoch time (seconds) when the wait began; null in check mode.
  returned: when O(state=drained)
  type: float
  sample: 1764547200.0
drain_last_busy_at:
  description:
    - With O(state=drained), epoch time just before the last poll that still saw an active job (null if
      none was active). The next poll, one O(poll_interval) later, is the one that found the queues idle.
  returned: when O(state=drained)
  type: float
drain_finished_at:
  description: With O(state=drained), epoch time just after the final poll.
  returned: when O(state=drained)
  type: float
elapsed:
  description: Seconds the whole task took.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.medops.runbook.plugins.module_utils.queue_common import QueueError, QueueRun
from ansible_collections.medops.runbook.plugins.module_utils.redis_connect import (
    REDIS_IMPORT_ERROR, RedisConnectError, connect, redis_argument_spec)
from ansible_collections.medops.runbook.plugins.module_utils.queue_bullmq import BullMQError, BullMQQueues
from ansible_collections.medops.runbook.plugins.module_utils.queue_http import HttpQueueError, HttpQueues, validate

_QUEUE_NAME_FORBIDDEN = ("\n", "\r", "\0")


def argument_spec():
    spec = dict(
        backend=dict(type="str", choices=["bullmq", "http"], default="bullmq"),
        state=dict(type="str", choices=["paused", "drained", "resumed"], required=True),
        queues=dict(type="list", elements="str", required=True),
        prefix=dict(type="str", default="bull"),
        bullmq_version=dict(type="str", choices=["auto", "5", "6"], default="auto"),
        missing_ok=dict(type="bool", default=False),
        drain_timeout=dict(type="float", default=300),
        poll_interval=dict(type="float", default=1),
        pause_url=dict(type="str"),
        resume_url=dict(type="str"),
        method=dict(type="str", choices=["POST", "PUT", "PATCH", "GET", "DELETE"], default="POST"),
        headers=dict(type="dict", default={}),
        token=dict(type="str", no_log=True),
        stats_url=dict(type="str"),
        stats_paths=dict(type="dict", default={}),
        metrics_url=dict(type="str"),
        metrics=dict(type="dict", default={}),
        metrics_labels=dict(type="dict", default={}),
        timeout=dict(type="float", default=10),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
    )
    spec.update(redis_argument_spec())
    return spec


def check_common(params):
    """The problems every backend shares; a message, or None."""
    queues = params["queues"]
    if not queues:
        return "queues must name at least one queue"
    for name in queues:
        if not name or not name.strip() or any(c in name for c in _QUEUE_NAME_FORBIDDEN):
            return "queue name %r is empty or holds a control character" % name
    if len(set(queues)) != len(queues):
        return "queues lists a name twice: %s" % ", ".join(sorted(set(q for q in queues if queues.count(q) > 1)))
    if params["drain_timeout"] < 0:
        return "drain_timeout must be 0 or more seconds, got %s" % params["drain_timeout"]
    if params["poll_interval"] <= 0:
        return "poll_interval must be more than 0 seconds, got %s" % params["poll_interval"]
    if params["timeout"] <= 0:
        return "timeout must be more than 0 seconds, got %s" % params["timeout"]
    if params["backend"] == "bullmq" and not params["prefix"].strip():
        return "prefix must not be empty (BullMQ's default is 'bull')"
    return None


def make_backend(module):
    params = module.params
    if params["backend"] == "http":
        validate(params, params["queues"], params["state"])
        return HttpQueues(params)
    if REDIS_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("redis"), exception=REDIS_IMPORT_ERROR)
    return BullMQQueues(connect(params), prefix=params["prefix"], layout=params["bullmq_version"])


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[("stats_url", "metrics_url")])
    params = module.params
    problem = check_common(params)
    if problem:
        module.fail_json(msg=problem)
    backend = None
    try:
        backend = make_backend(module)
        result = QueueRun(backend, params["queues"], params["state"], check_mode=module.check_mode,
                          missing_ok=params["missing_ok"], drain_timeout=params["drain_timeout"],
                          poll_interval=params["poll_interval"]).run()
    except QueueError as exc:
        _warn(module, backend)
        module.fail_json(msg=str(exc), **exc.result)
    except (RedisConnectError, BullMQError, HttpQueueError) as exc:
        _warn(module, backend)
        module.fail_json(msg=str(exc), changed=False)
    _warn(module, backend)
    module.exit_json(**result)


def _warn(module, backend):
    for warning in getattr(backend, "warnings", []):
        module.warn(warning)


if __name__ == "__main__":
    main()
