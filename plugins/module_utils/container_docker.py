# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container releases of a clinic through the Docker API (the ``docker`` Python SDK), for
medops.runbook.container_release and the deploy role's container strategy.

One container per (clinic, version), named ``<clinic>-<version>`` and labelled with both, so the
clinic's releases are found by label whatever else runs on the host. Two parts:

- ``DockerBackend``: the only class that calls the Docker API (works with Docker and with podman's
  Docker-compatible API). Every SDK error leaves it as a ContainerError with a readable message.
- ``ReleaseRun``: what each state means (image present, version started on a free port, others
  stopped, old ones pruned), deciding from plain dictionaries, so unit tests drive it with a fake
  backend. The pure helpers below it (``choose_port``, ``select_prune``...) are tested alone.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re
import time
import traceback

from ansible.module_utils.basic import env_fallback

from ansible_collections.medops.runbook.plugins.module_utils.release import is_release_name

DOCKER_IMPORT_ERROR = None
try:
    import docker
    from docker import errors as docker_errors
    from docker.tls import TLSConfig
    from requests import exceptions as requests_errors
except ImportError:
    DOCKER_IMPORT_ERROR = traceback.format_exc()
    docker = docker_errors = TLSConfig = requests_errors = None

LABEL_CLINIC = "medops.runbook.clinic"
LABEL_VERSION = "medops.runbook.version"
LABEL_PORT = "medops.runbook.port"
LABEL_CONFIG = "medops.runbook.config"
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"

_CLINIC_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Podman reports "configured" or "created" for a container that was made but never started.
_RUNNING = ("running",)
_FAILED = ("exited", "dead", "stopped", "restarting")
# A started container must keep running this long before it counts as started: a service that
# dies on a missing setting usually does so within its first second.
SETTLE_SECONDS = 1.0


def docker_argument_spec():
    """The connection options, matching doc fragment ``medops.runbook.docker``."""
    return dict(
        docker_host=dict(type="str", default=DEFAULT_DOCKER_HOST, fallback=(env_fallback, ["DOCKER_HOST"])),
        api_version=dict(type="str", default="auto"),
        timeout=dict(type="int", default=60),
        tls=dict(type="bool", default=False),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        client_cert=dict(type="path"),
        client_key=dict(type="path"),
    )


class ContainerError(Exception):
    """A failure meant for the user: the message names the cause and holds no secret.

    ``result`` carries what the module should still return (for example the clinic's containers)."""

    def __init__(self, msg, **result):
        super(ContainerError, self).__init__(msg)
        self.result = result


# -- pure helpers ---------------------------------------------------------------------------------

def check_params(params):
    """Values the argument spec's types cannot reject; raise ContainerError naming the option."""
    state = params["state"]
    if not _CLINIC_RE.match(params["clinic"] or ""):
        raise ContainerError("clinic must start with a letter or digit and hold only letters, digits, '_', '.' and '-' "
                             "(got %r)" % params["clinic"])
    version = params.get("version")
    if version is not None and not is_release_name(version):
        raise ContainerError("version must be a release name (letters, digits, '.', '_', '+', '-'; got %r)" % version)
    if state in ("present", "started") and not version:
        raise ContainerError("state=%s needs version" % state)
    if state in ("present", "started") and not (params.get("image") or "").strip():
        raise ContainerError("state=%s needs image (the repository, for example registry.example.org/clinic-service)" % state)
    if state in ("stopped", "absent") and not version:
        raise ContainerError("state=%s needs version (with others=true: the version to leave alone)" % state)
    digest = params.get("digest")
    if digest and not _DIGEST_RE.match(digest):
        raise ContainerError("digest must be 'sha256:' followed by 64 lowercase hex digits (got %r)" % digest)
    if state == "started":
        ports = params.get("ports") or []
        if not ports:
            raise ContainerError("state=started needs ports: the local ports the clinic's versions take turns on "
                                 "(two, so the new version starts beside the live one)")
        if len(set(ports)) != len(ports):
            raise ContainerError("ports lists a port twice: %s" % ports)
        for port in ports + ([params["container_port"]] if params.get("container_port") else []):
            if not 0 < port < 65536:
                raise ContainerError("ports must be between 1 and 65535, got %s" % port)
    for name in params.get("env") or {}:
        if not _ENV_NAME_RE.match(name):
            raise ContainerError("env holds an invalid variable name %r (letters, digits and '_', not starting with a digit)" % name)
    if params.get("port_env") and not _ENV_NAME_RE.match(params["port_env"]):
        raise ContainerError("port_env must be a variable name, got %r" % params["port_env"])
    for option in ("keep", "stop_timeout", "timeout"):
        if params.get(option) is not None and params[option] < 0:
            raise ContainerError("%s must be 0 or more, got %s" % (option, params[option]))
    if params.get("start_timeout") is not None and params["start_timeout"] <= 0:
        raise ContainerError("start_timeout must be more than 0 seconds, got %s" % params["start_timeout"])
    if bool(params.get("registry_username")) != bool(params.get("registry_password")):
        raise ContainerError("registry_username and registry_password go together")
    if params.get("client_key") and not params.get("client_cert"):
        raise ContainerError("client_key needs client_cert")


def container_name(clinic, version):
    """``<clinic>-<version>``; a '+' (allowed in versions, not in container names) becomes '_'."""
    return "%s-%s" % (clinic, re.sub(r"[^A-Za-z0-9_.-]", "_", version))


def image_reference(image, tag):
    """The full reference: ``image`` as given when it already names a tag or a digest, else image:tag."""
    image = image.strip()
    if "@" in image or ":" in image.rsplit("/", 1)[-1]:
        return image
    return "%s:%s" % (image, tag)


def digest_matches(digest, image):
    """Whether ``digest`` is the image's id or one of its registry (manifest) digests."""
    if image.get("id") == digest:
        return True
    return any(ref.split("@", 1)[-1] == digest for ref in image.get("repo_digests") or [])


def desired_config(params, image_id, port):
    """Everything that makes a container what it is; its hash goes into a label, so a change of any
    part (the image a tag points at included) is seen on the next run without reading back
    engine-specific inspect output."""
    return dict(
        image_id=image_id,
        port=port,
        container_port=params.get("container_port") or port,
        network_mode=params["network_mode"],
        bind_address=params["bind_address"],
        env=sorted((str(k), str(v)) for k, v in (params.get("env") or {}).items()),
        port_env=params.get("port_env") or "",
        volumes=list(params.get("volumes") or []),
        command=list(params.get("command") or []),
        restart_policy=params["restart_policy"],
    )


def config_digest(config):
    return hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def create_kwargs(params, name, image_ref, port, labels):
    """Keyword arguments of ``DockerClient.containers.create`` for one version on ``port``."""
    container_port = params.get("container_port") or port
    env = dict((str(k), str(v)) for k, v in (params.get("env") or {}).items())
    if params.get("port_env"):
        env[params["port_env"]] = str(port if params["network_mode"] == "host" else container_port)
    kwargs = dict(image=image_ref, name=name, environment=env, labels=labels,
                  restart_policy={"Name": params["restart_policy"]}, network_mode=params["network_mode"])
    if params["network_mode"] != "host":
        # Published on one address only (loopback by default): the front (nginx) is what the world sees.
        kwargs["ports"] = {"%d/tcp" % container_port: (params["bind_address"], port)}
    if params.get("volumes"):
        kwargs["volumes"] = list(params["volumes"])
    if params.get("command"):
        kwargs["command"] = list(params["command"])
    return kwargs


def summarize(attrs):
    """What the module returns about one container (never its environment: it may hold secrets)."""
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    state = attrs.get("State") or {}
    try:
        port = int(labels.get(LABEL_PORT))
    except (TypeError, ValueError):
        port = None
    status = state.get("Status") or "unknown"
    return dict(
        name=(attrs.get("Name") or "").lstrip("/"),
        id=(attrs.get("Id") or "")[:12],
        clinic=labels.get(LABEL_CLINIC),
        version=labels.get(LABEL_VERSION),
        port=port,
        status=status,
        running=status in _RUNNING,
        exit_code=state.get("ExitCode"),
        image=(attrs.get("Config") or {}).get("Image"),
        image_id=attrs.get("Image"),
        created=attrs.get("Created") or "",
        started_at=state.get("StartedAt"),
        config=labels.get(LABEL_CONFIG),
    )


def choose_port(ports, containers, version, live_version=None):
    """The port ``version`` runs on, and the names of containers to stop first to free it.

    The live version's port is never taken. A running container of ``version`` keeps its port; a
    stopped one gets its old port back when that port is free (so it restarts unchanged). A port
    held by a running container that is neither live nor ``version`` (left by an interrupted run)
    is freed by stopping that container.
    """
    mine = [c for c in containers if c["version"] == version]
    if mine and mine[0]["running"] and mine[0]["port"] in ports:
        return mine[0]["port"], []
    live_ports = set(c["port"] for c in containers
                     if c["running"] and live_version and c["version"] == live_version and c["version"] != version)
    candidates = [p for p in ports if p not in live_ports]
    if not candidates:
        raise ContainerError("no port is free for %s: the live version %s runs on %s; give ports two entries so the new "
                             "version can start beside it" % (version, live_version, ", ".join(str(p) for p in ports)))
    busy = dict((c["port"], c) for c in containers if c["running"] and c["version"] != version)
    free = [p for p in candidates if p not in busy]
    if mine and mine[0]["port"] in free:
        return mine[0]["port"], []
    if free:
        return free[0], []
    return candidates[0], [busy[candidates[0]]["name"]]


def select_prune(containers, keep, protect):
    """Names of the stopped containers to remove: all but the ``keep`` newest, never a running one
    nor a protected version."""
    stopped = [c for c in containers if not c["running"] and c["version"] not in protect]
    stopped.sort(key=lambda c: c["created"], reverse=True)
    return [c["name"] for c in stopped[keep:]]


def explain_connect_error(docker_host, text):
    """A sentence for a failed connection to the Docker API, from the SDK's error text."""
    where = "the Docker API at %s" % docker_host
    socket = docker_host[len("unix://"):] if docker_host.startswith("unix://") else None
    if socket and ("FileNotFoundError" in text or "No such file" in text):
        return ("cannot reach %s: no socket at %s. Start the Docker daemon (or podman's Docker-compatible service: "
                "podman system service --time=0 unix://%s) or set docker_host" % (where, socket, socket))
    if "PermissionError" in text or "Permission denied" in text:
        return "cannot reach %s: permission denied (run as root or as a member of the group owning the socket)" % where
    if "ConnectionRefused" in text or "Connection refused" in text:
        return "cannot reach %s: connection refused (nothing listens there)" % where
    if "timed out" in text or "Timeout" in text:
        return "cannot reach %s: no answer within the timeout" % where
    if "SSL" in text or "certificate" in text.lower():
        return "cannot reach %s: TLS failed (%s)" % (where, text.strip()[:300])
    return "cannot reach %s: %s" % (where, text.strip()[:300])


# -- the Docker API -------------------------------------------------------------------------------

class DockerBackend(object):
    """The Docker API through the docker SDK. Every method raises ContainerError, never an SDK error."""

    def __init__(self, params):
        self.params = params
        self.where = "the Docker API at %s" % params["docker_host"]
        kwargs = dict(base_url=params["docker_host"], version=params["api_version"], timeout=params["timeout"])
        try:
            if params.get("tls") or params.get("client_cert") or params.get("ca_path"):
                verify = (params.get("ca_path") or True) if params.get("validate_certs", True) else False
                cert = (params["client_cert"], params.get("client_key") or params["client_cert"]) if params.get("client_cert") else None
                kwargs["tls"] = TLSConfig(client_cert=cert, ca_cert=params.get("ca_path"), verify=verify)
            self.client = docker.DockerClient(**kwargs)
            self.client.ping()
        except docker_errors.TLSParameterError as exc:
            raise ContainerError("the TLS settings for %s are incomplete: %s" % (self.where, exc))
        except (docker_errors.DockerException, requests_errors.RequestException, OSError) as exc:
            raise ContainerError(explain_connect_error(params["docker_host"], str(exc)))

    def _call(self, what, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except docker_errors.APIError as exc:
            raise ContainerError("%s: %s answered %s: %s" % (what, self.where, exc.status_code, _explanation(exc)))
        except (docker_errors.DockerException, requests_errors.RequestException, OSError) as exc:
            raise ContainerError("%s: %s" % (what, explain_connect_error(self.params["docker_host"], str(exc))))

    def image(self, ref):
        """The local image ``ref`` as {ref, id, repo_digests, tags}, or None when it is not there."""
        try:
            image = self.client.images.get(ref)
        except docker_errors.ImageNotFound:
            return None
        except docker_errors.NotFound:
            return None
        except docker_errors.APIError as exc:
            if exc.status_code == 404:
                return None
            raise ContainerError("looking up image %s: %s answered %s: %s" % (ref, self.where, exc.status_code, _explanation(exc)))
        except (docker_errors.DockerException, requests_errors.RequestException, OSError) as exc:
            raise ContainerError("looking up image %s: %s" % (ref, explain_connect_error(self.params["docker_host"], str(exc))))
        return dict(ref=ref, id=image.id, repo_digests=list(image.attrs.get("RepoDigests") or []),
                    tags=list(image.tags or []))

    def pull(self, ref, username=None, password=None):
        """Pull ``ref``; errors reported inside the progress stream (podman's way) fail too."""
        auth = dict(username=username, password=password) if username else None
        what = "pulling %s" % ref
        try:
            for chunk in self.client.api.pull(ref, stream=True, decode=True, auth_config=auth):
                if isinstance(chunk, dict) and (chunk.get("error") or chunk.get("errorDetail")):
                    detail = chunk.get("error") or (chunk.get("errorDetail") or {}).get("message")
                    raise ContainerError("%s failed: %s" % (what, str(detail).strip()[:500]))
        except docker_errors.APIError as exc:
            raise ContainerError("%s failed: %s answered %s: %s" % (what, self.where, exc.status_code, _explanation(exc)))
        except (docker_errors.DockerException, requests_errors.RequestException, OSError) as exc:
            raise ContainerError("%s failed: %s" % (what, explain_connect_error(self.params["docker_host"], str(exc))))

    def containers(self, clinic):
        """The clinic's containers (by label), oldest first, as summaries."""
        found = self._call("listing the containers of %s" % clinic, self.client.containers.list,
                           all=True, filters={"label": ["%s=%s" % (LABEL_CLINIC, clinic)]})
        result = [summarize(c.attrs) for c in found]
        return sorted((c for c in result if c["clinic"] == clinic), key=lambda c: c["created"])

    def get(self, name):
        """One container's summary by name, or None."""
        try:
            return summarize(self.client.containers.get(name).attrs)
        except docker_errors.NotFound:
            return None
        except docker_errors.APIError as exc:
            raise ContainerError("looking up container %s: %s answered %s: %s" % (name, self.where, exc.status_code, _explanation(exc)))
        except (docker_errors.DockerException, requests_errors.RequestException, OSError) as exc:
            raise ContainerError("looking up container %s: %s" % (name, explain_connect_error(self.params["docker_host"], str(exc))))

    def _container(self, name):
        return self._call("looking up container %s" % name, self.client.containers.get, name)

    def create(self, kwargs):
        self._call("creating container %s" % kwargs["name"], self.client.containers.create, **kwargs)

    def start(self, name):
        container = self._container(name)
        self._call("starting container %s" % name, container.start)

    def stop(self, name, timeout):
        container = self._container(name)
        self._call("stopping container %s" % name, container.stop, timeout=timeout)

    def remove(self, name):
        container = self._container(name)
        self._call("removing container %s" % name, container.remove, force=True)

    def logs_tail(self, name, lines=15):
        try:
            raw = self._container(name).logs(tail=lines)
        except (ContainerError, docker_errors.DockerException, requests_errors.RequestException, OSError):
            return ""
        return raw.decode("utf-8", "replace").strip()[-1500:]


def _explanation(exc):
    return str(getattr(exc, "explanation", None) or exc).strip()[:500]


# -- what each state means ------------------------------------------------------------------------

class ReleaseRun(object):
    """Runs one task of medops.runbook.container_release against a backend (DockerBackend, or a
    fake one in unit tests); ``run()`` returns the module result or raises ContainerError."""

    def __init__(self, backend, params, check_mode=False, sleep=time.sleep, clock=time.monotonic):
        self.backend = backend
        self.params = params
        self.check_mode = check_mode
        self.sleep = sleep
        self.clock = clock
        self.clinic = params["clinic"]
        self.version = params.get("version")
        self.result = dict(changed=False, state=params["state"], clinic=self.clinic, version=self.version,
                           stopped=[], removed=[])

    def run(self):
        state = self.params["state"]
        if state in ("present", "started") or (state == "read" and self.params.get("image") and self.version):
            self.result["image"] = self.ensure_image(look_only=state == "read")
        if state == "started":
            self.start()
        elif state == "stopped":
            self.stop_matching()
        elif state == "absent":
            self.remove_matching()
        elif state == "pruned":
            self.prune()
        self.result["containers"] = self.backend.containers(self.clinic)
        if self.version:
            mine = [c for c in self.result["containers"] if c["version"] == self.version]
            self.result.setdefault("container", mine[0] if mine else None)
        return self.result

    # image ---------------------------------------------------------------------------------------
    def ensure_image(self, look_only=False):
        params = self.params
        ref = image_reference(params["image"], params.get("tag") or self.version)
        image = self.backend.image(ref)
        pulled = False
        if not look_only and (image is None or params["pull"] == "always"):
            if params["pull"] == "never":
                raise ContainerError("image %s is not on %s and pull=never: build or load it there first, or allow pulling"
                                     % (ref, self.backend.where.replace("the Docker API at ", "the Docker host ")))
            if self.check_mode:
                pulled = image is None
            else:
                self.backend.pull(ref, params.get("registry_username"), params.get("registry_password"))
                before = image
                image = self.backend.image(ref)
                if image is None:
                    raise ContainerError("pulling %s reported success but the image is not there afterwards" % ref)
                pulled = before is None or before["id"] != image["id"]
        self.result["pulled"] = pulled
        self.result["changed"] = self.result["changed"] or pulled
        if image is None:
            return dict(ref=ref, present=False, id=None, repo_digests=[], tags=[])
        digest = params.get("digest")
        if digest and not digest_matches(digest, image):
            raise ContainerError("image %s is %s (registry digests: %s), not the expected %s; refusing to use it"
                                 % (ref, image["id"], ", ".join(d.split("@", 1)[-1] for d in image["repo_digests"]) or "none",
                                    digest), image=dict(image, present=True))
        return dict(image, present=True)

    # started -------------------------------------------------------------------------------------
    def start(self):
        params = self.params
        image = self.result["image"]
        name = container_name(self.clinic, self.version)
        containers = self.backend.containers(self.clinic)
        existing = self.backend.get(name)
        if existing and (existing["clinic"] != self.clinic or existing["version"] != self.version):
            raise ContainerError("a container named %s exists but was not made by medops.runbook for %s %s "
                                 "(its labels say clinic=%s version=%s); rename or remove it"
                                 % (name, self.clinic, self.version, existing["clinic"], existing["version"]))
        port, to_stop = choose_port(params["ports"], containers, self.version, params.get("live_version"))
        config = config_digest(desired_config(params, image["id"], port))
        reasons = []
        if existing and existing["config"] != config:
            if image["id"] and existing["image_id"] != image["id"]:
                reasons.append("image %s now points at %s (the container runs %s)" % (image["ref"], image["id"], existing["image_id"]))
            if existing["port"] != port:
                reasons.append("port %s -> %s" % (existing["port"], port))
            if not reasons:
                reasons.append("settings changed (environment, volumes, command, network or restart policy)")
        if existing is None:
            action = "created"
        elif reasons:
            action = "recreated"
        elif not existing["running"]:
            action = "started"
        else:
            action = "unchanged"
        self.result.update(action=action, reasons=reasons, port=port, stopped=list(to_stop),
                           changed=self.result["changed"] or action != "unchanged" or bool(to_stop))
        if self.check_mode or (action == "unchanged" and not to_stop):
            self.result["container"] = existing
            return
        for other in to_stop:
            self.backend.stop(other, params["stop_timeout"])
        if action == "recreated":
            self._remove(existing)
        if action in ("created", "recreated"):
            labels = {LABEL_CLINIC: self.clinic, LABEL_VERSION: self.version, LABEL_PORT: str(port), LABEL_CONFIG: config}
            self.backend.create(create_kwargs(params, name, image["ref"], port, labels))
        if action != "unchanged":
            self.backend.start(name)
            self.result["container"] = self.wait_running(name)

    def wait_running(self, name):
        """Wait until the container has run for SETTLE_SECONDS without exiting or being restarted
        (up to start_timeout to get there); one that exits fails the task with its exit code and
        the end of its output. Whether the service answers is health_wait's job, not this one's."""
        deadline = self.clock() + self.params["start_timeout"] + SETTLE_SECONDS
        running_since = started_at = None
        while True:
            current = self.backend.get(name)
            restarted = current is not None and started_at is not None and current["started_at"] != started_at
            if current and current["running"] and not restarted:
                started_at = current["started_at"]
                running_since = self.clock() if running_since is None else running_since
                if self.clock() - running_since >= SETTLE_SECONDS:
                    return current
            elif current is None or restarted or current["status"] in _FAILED or self.clock() >= deadline:
                status = "restarted by the engine" if restarted else (current["status"] if current else "gone")
                logs = self.backend.logs_tail(name) if current else ""
                raise ContainerError("container %s did not keep running (status %s, exit code %s)%s"
                                     % (name, status, current.get("exit_code") if current else "?",
                                        (": " + " | ".join(logs.splitlines()[-8:])) if logs else ""),
                                     container=current)
            if self.clock() >= deadline:
                raise ContainerError("container %s was not running steadily within %s s (status %s)"
                                     % (name, self.params["start_timeout"], current["status"]), container=current)
            self.sleep(0.2)

    # stopped, absent, pruned ---------------------------------------------------------------------
    def _matching(self, containers):
        if self.params.get("others"):
            return [c for c in containers if c["version"] != self.version]
        return [c for c in containers if c["version"] == self.version]

    def stop_matching(self):
        targets = [c["name"] for c in self._matching(self.backend.containers(self.clinic)) if c["running"]]
        self.result.update(stopped=targets, changed=bool(targets))
        if not self.check_mode:
            for name in targets:
                self.backend.stop(name, self.params["stop_timeout"])

    def remove_matching(self):
        targets = self._matching(self.backend.containers(self.clinic))
        self.result.update(removed=[c["name"] for c in targets], changed=bool(targets))
        if not self.check_mode:
            for container in targets:
                self._remove(container)

    def _remove(self, container):
        # Stopped first, so the service gets its SIGTERM and stop_timeout, as with state=stopped.
        if container["running"]:
            self.backend.stop(container["name"], self.params["stop_timeout"])
        self.backend.remove(container["name"])

    def prune(self):
        protect = set(self.params.get("protect") or [])
        if self.version:
            protect.add(self.version)
        targets = select_prune(self.backend.containers(self.clinic), self.params["keep"], protect)
        self.result.update(removed=targets, changed=bool(targets))
        if not self.check_mode:
            for name in targets:
                self.backend.remove(name)
