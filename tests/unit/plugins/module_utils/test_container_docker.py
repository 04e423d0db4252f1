"""The pure logic of the container_release module: port choice, pruning, names, references,
configuration hashing, create arguments, connection error messages, and what each state does,
driven with a fake backend (the Docker API itself is exercised by tests/integration/container_release)."""

import pytest

from harness.fakes import FakeClock
from ansible_collections.medops.runbook.plugins.module_utils import container_docker as cd
from ansible_collections.medops.runbook.plugins.module_utils.container_docker import (
    ContainerError, ReleaseRun, check_params, choose_port, config_digest, container_name, create_kwargs,
    desired_config, digest_matches, explain_connect_error, image_reference, select_prune, summarize)

IMAGE_ID = "sha256:" + "a" * 64
OTHER_ID = "sha256:" + "b" * 64


def box(version, port, running=True, created="2026-01-01T00:00:00Z", name=None, clinic="kin", config=None,
        image_id=IMAGE_ID, status=None, started_at="t0"):
    return dict(name=name or container_name(clinic, version), id=version, clinic=clinic, version=version, port=port,
                status=status or ("running" if running else "exited"), running=running, exit_code=0,
                image="repo:" + version, image_id=image_id, created=created, started_at=started_at, config=config)


def params(**extra):
    base = dict(state="started", clinic="kin", version="1.1.0", image="registry.example.org/clinic", tag=None, digest=None,
                pull="missing", registry_username=None, registry_password=None, ports=[8101, 8102], live_version=None,
                env={}, port_env="PORT", network_mode="host", container_port=None, bind_address="127.0.0.1", volumes=[],
                command=None, restart_policy="unless-stopped", stop_timeout=30, start_timeout=10.0, others=False, keep=3,
                protect=[], docker_host="unix:///var/run/docker.sock", api_version="auto", timeout=60, tls=False,
                validate_certs=True, ca_path=None, client_cert=None, client_key=None)
    base.update(extra)
    return base


# -- choose_port ------------------------------------------------------------------------------------

def test_a_running_container_of_the_version_keeps_its_port():
    assert choose_port([8101, 8102], [box("1.1.0", 8102)], "1.1.0", "1.0.0") == (8102, [])


def test_the_new_version_takes_the_port_the_live_one_does_not_use():
    containers = [box("1.0.0", 8101)]
    assert choose_port([8101, 8102], containers, "1.1.0", "1.0.0") == (8102, [])
    containers = [box("1.0.0", 8102)]
    assert choose_port([8101, 8102], containers, "1.1.0", "1.0.0") == (8101, [])


def test_a_stopped_container_gets_its_old_port_back_when_free():
    containers = [box("1.0.0", 8102, running=False), box("1.1.0", 8101)]
    assert choose_port([8101, 8102], containers, "1.0.0", "1.1.0") == (8102, [])


def test_a_stopped_container_whose_port_the_live_one_holds_moves_to_the_other_port():
    containers = [box("1.0.0", 8101, running=False), box("1.1.0", 8101)]
    assert choose_port([8101, 8102], containers, "1.0.0", "1.1.0") == (8102, [])


def test_a_stray_container_on_the_idle_port_is_stopped_but_never_the_live_one():
    containers = [box("1.0.0", 8101), box("1.2.0-bad", 8102)]
    assert choose_port([8101, 8102], containers, "1.1.0", "1.0.0") == (8102, ["kin-1.2.0-bad"])


def test_no_live_version_takes_the_first_free_port():
    assert choose_port([8101, 8102], [], "1.0.0") == (8101, [])
    assert choose_port([8101, 8102], [box("0.9.0", 8101)], "1.0.0") == (8102, [])


def test_one_port_held_by_the_live_version_is_refused():
    with pytest.raises(ContainerError, match="the live version 1.0.0 runs on 8101"):
        choose_port([8101], [box("1.0.0", 8101)], "1.1.0", "1.0.0")


def test_a_stopped_live_version_does_not_hold_its_port():
    containers = [box("1.0.0", 8101, running=False)]
    assert choose_port([8101, 8102], containers, "1.1.0", "1.0.0") == (8101, [])


# -- select_prune -----------------------------------------------------------------------------------

def test_prune_keeps_the_newest_stopped_and_never_running_or_protected():
    containers = [box("1.0.0", 1, False, "2026-01-01"), box("1.1.0", 1, False, "2026-01-02"),
                  box("1.2.0", 1, False, "2026-01-03"), box("1.3.0", 2, True, "2026-01-04"),
                  box("0.9.0", 2, False, "2025-12-01")]
    assert select_prune(containers, 1, {"1.3.0"}) == ["kin-1.1.0", "kin-1.0.0", "kin-0.9.0"]
    assert select_prune(containers, 1, {"1.0.0"}) == ["kin-1.1.0", "kin-0.9.0"]
    assert select_prune(containers, 0, set()) == ["kin-1.2.0", "kin-1.1.0", "kin-1.0.0", "kin-0.9.0"]
    assert select_prune(containers, 10, set()) == []


# -- names, references, digests -----------------------------------------------------------------------

def test_container_names_are_valid_docker_names():
    assert container_name("kin", "1.1.0") == "kin-1.1.0"
    assert container_name("kin", "1.1.0+build.7") == "kin-1.1.0_build.7"


@pytest.mark.parametrize("image, tag, expected", [
    ("registry.example.org/clinic", "1.1.0", "registry.example.org/clinic:1.1.0"),
    ("registry.example.org:5000/clinic", "1.1.0", "registry.example.org:5000/clinic:1.1.0"),
    ("registry.example.org:5000/clinic:stable", "1.1.0", "registry.example.org:5000/clinic:stable"),
    ("clinic@sha256:" + "c" * 64, "1.1.0", "clinic@sha256:" + "c" * 64),
    (" localhost/clinic ", "2.0", "localhost/clinic:2.0"),
])
def test_image_reference(image, tag, expected):
    assert image_reference(image, tag) == expected


def test_digest_matches_the_id_or_a_registry_digest():
    image = dict(id=IMAGE_ID, repo_digests=["registry.example.org/clinic@" + OTHER_ID])
    assert digest_matches(IMAGE_ID, image) and digest_matches(OTHER_ID, image)
    assert not digest_matches("sha256:" + "d" * 64, image)


# -- configuration and create arguments ---------------------------------------------------------------

def test_the_config_hash_changes_with_image_port_env_and_settings_only():
    base = config_digest(desired_config(params(), IMAGE_ID, 8101))
    assert base == config_digest(desired_config(params(), IMAGE_ID, 8101))
    assert base == config_digest(desired_config(params(stop_timeout=99, keep=0), IMAGE_ID, 8101))
    for changed in (desired_config(params(), OTHER_ID, 8101), desired_config(params(), IMAGE_ID, 8102),
                    desired_config(params(env={"A": "1"}), IMAGE_ID, 8101),
                    desired_config(params(volumes=["/a:/b"]), IMAGE_ID, 8101),
                    desired_config(params(restart_policy="always"), IMAGE_ID, 8101)):
        assert config_digest(changed) != base
    assert config_digest(desired_config(params(env={"A": 1}), IMAGE_ID, 8101)) == \
        config_digest(desired_config(params(env={"A": "1"}), IMAGE_ID, 8101))


def test_host_network_tells_the_service_its_port_and_publishes_nothing():
    kwargs = create_kwargs(params(env={"A": 1}), "kin-1.1.0", "repo:1.1.0", 8102, {"l": "v"})
    assert kwargs["environment"] == {"A": "1", "PORT": "8102"}
    assert kwargs["network_mode"] == "host" and "ports" not in kwargs
    assert kwargs["restart_policy"] == {"Name": "unless-stopped"} and kwargs["labels"] == {"l": "v"}
    assert "command" not in kwargs and "volumes" not in kwargs


def test_a_bridge_network_publishes_the_container_port_on_loopback_only():
    kwargs = create_kwargs(params(network_mode="bridge", container_port=8080, volumes=["/s:/s:ro"], command=["serve"]),
                           "kin-1.1.0", "repo:1.1.0", 8102, {})
    assert kwargs["ports"] == {"8080/tcp": ("127.0.0.1", 8102)}
    assert kwargs["environment"] == {"PORT": "8080"}
    assert kwargs["volumes"] == ["/s:/s:ro"] and kwargs["command"] == ["serve"]
    no_port_env = create_kwargs(params(port_env=""), "n", "r", 8102, {})
    assert no_port_env["environment"] == {}


def test_summary_reads_labels_and_never_the_environment():
    attrs = {"Name": "/kin-1.1.0", "Id": "0123456789abcdef", "Image": IMAGE_ID, "Created": "2026",
             "Config": {"Image": "repo:1.1.0", "Env": ["DB_PASSWORD=secret"],
                        "Labels": {cd.LABEL_CLINIC: "kin", cd.LABEL_VERSION: "1.1.0", cd.LABEL_PORT: "8102", cd.LABEL_CONFIG: "h"}},
             "State": {"Status": "running", "ExitCode": 0, "StartedAt": "t1"}}
    summary = summarize(attrs)
    assert summary["name"] == "kin-1.1.0" and summary["id"] == "0123456789ab" and summary["port"] == 8102
    assert summary["running"] and summary["config"] == "h" and summary["started_at"] == "t1"
    assert "secret" not in repr(summary)
    assert summarize({"Config": {"Labels": {cd.LABEL_PORT: "x"}}, "State": {"Status": "created"}})["port"] is None


@pytest.mark.parametrize("text, expected", [
    ("Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))",
     "no socket at /run/x.sock"),
    ("('Connection aborted.', PermissionError(13, 'Permission denied'))", "permission denied"),
    ("ConnectionRefusedError(111, 'Connection refused')", "connection refused"),
    ("Read timed out. (read timeout=5)", "no answer within the timeout"),
    ("something else", "cannot reach the Docker API at unix:///run/x.sock: something else"),
])
def test_connection_errors_are_explained(text, expected):
    assert expected in explain_connect_error("unix:///run/x.sock", text)


@pytest.mark.parametrize("extra, message", [
    ({"clinic": "-kin"}, "clinic must start with a letter or digit"),
    ({"version": "1.0/../2"}, "version must be a release name"),
    ({"version": None}, "state=started needs version"),
    ({"image": None}, "needs image"),
    ({"ports": None}, "needs ports"),
    ({"ports": [1, 1]}, "twice"),
    ({"ports": [0, 1]}, "between 1 and 65535"),
    ({"container_port": 70000}, "between 1 and 65535"),
    ({"digest": "sha256:abc"}, "64 lowercase hex"),
    ({"env": {"1X": "v"}}, "invalid variable name"),
    ({"port_env": "A-B"}, "port_env must be a variable name"),
    ({"keep": -1}, "keep must be 0 or more"),
    ({"start_timeout": 0}, "start_timeout must be more than 0"),
    ({"registry_password": "x"}, "go together"),
    ({"client_key": "/k.pem"}, "client_key needs client_cert"),
    ({"state": "absent", "version": None}, "state=absent needs version"),
])
def test_bad_params_are_named(extra, message):
    with pytest.raises(ContainerError, match=message.replace("(", r"\(")):
        check_params(params(**extra))


def test_pruned_and_read_need_no_version():
    check_params(params(state="pruned", version=None, image=None, ports=None))
    check_params(params(state="read", version=None, image=None, ports=None))


# -- ReleaseRun with a fake backend ---------------------------------------------------------------------

class FakeBackend:
    """In-memory engine: containers by name; records every change it is asked for."""

    where = "the Docker API at unix:///fake.sock"

    def __init__(self, images=None, containers=(), exits=None):
        self.images = dict(images if images is not None else {"registry.example.org/clinic:1.1.0": IMAGE_ID})
        self.boxes = {c["name"]: dict(c) for c in containers}
        self.calls = []
        self.exits = exits or {}
        self.clock = 0

    def image(self, ref):
        if ref not in self.images:
            return None
        return dict(ref=ref, id=self.images[ref], repo_digests=[], tags=[ref])

    def pull(self, ref, username=None, password=None):
        self.calls.append(("pull", ref))
        self.images[ref] = OTHER_ID

    def containers(self, clinic):
        return sorted((dict(c) for c in self.boxes.values() if c["clinic"] == clinic), key=lambda c: c["created"])

    def get(self, name):
        box_ = self.boxes.get(name)
        return dict(box_) if box_ else None

    def create(self, kwargs):
        self.calls.append(("create", kwargs["name"]))
        labels = kwargs["labels"]
        self.clock += 1
        self.boxes[kwargs["name"]] = box(labels[cd.LABEL_VERSION], int(labels[cd.LABEL_PORT]), running=False,
                                         created="2026-02-%02d" % self.clock, name=kwargs["name"],
                                         clinic=labels[cd.LABEL_CLINIC], config=labels[cd.LABEL_CONFIG], status="created")

    def start(self, name):
        self.calls.append(("start", name))
        exit_code = self.exits.get(name)
        self.boxes[name].update(running=exit_code is None, status="running" if exit_code is None else "exited",
                                exit_code=exit_code or 0)

    def stop(self, name, timeout):
        self.calls.append(("stop", name, timeout))
        self.boxes[name].update(running=False, status="exited")

    def remove(self, name):
        self.calls.append(("remove", name))
        del self.boxes[name]

    def logs_tail(self, name, lines=15):
        return "line one\nKeyError: 'DATABASE_URL'"


def run(backend, check_mode=False, **extra):
    clock = FakeClock()
    return ReleaseRun(backend, params(**extra), check_mode=check_mode, sleep=clock.sleep, clock=clock).run()


def configured(version, port, **extra):
    """A container exactly as ReleaseRun would have made it for ``version`` on ``port``."""
    return box(version, port, config=config_digest(desired_config(params(version=version, **extra), IMAGE_ID, port)),
               **{k: v for k, v in extra.items() if k in ("running", "created")})


def test_started_creates_then_changes_nothing():
    backend = FakeBackend()
    first = run(backend, live_version="1.0.0")
    assert first["changed"] and first["action"] == "created" and first["port"] == 8101
    assert backend.calls == [("create", "kin-1.1.0"), ("start", "kin-1.1.0")]
    assert first["container"]["running"] and first["image"]["id"] == IMAGE_ID and first["pulled"] is False
    backend.calls.clear()
    again = run(backend, live_version="1.0.0")
    assert not again["changed"] and again["action"] == "unchanged" and backend.calls == []


def test_started_in_check_mode_only_predicts():
    backend = FakeBackend(containers=[configured("1.0.0", 8101)])
    result = run(backend, check_mode=True, live_version="1.0.0")
    assert result["changed"] and result["action"] == "created" and result["port"] == 8102
    assert backend.calls == [] and set(backend.boxes) == {"kin-1.0.0"}


def test_a_stopped_unchanged_container_is_started_not_recreated():
    backend = FakeBackend(containers=[dict(configured("1.1.0", 8101), running=False, status="exited"), box("1.2.0", 8102)])
    result = run(backend, live_version="1.2.0")
    assert result["action"] == "started" and result["reasons"] == []
    assert backend.calls == [("start", "kin-1.1.0")]


def test_a_changed_container_is_stopped_removed_and_recreated_with_reasons():
    backend = FakeBackend(containers=[configured("1.1.0", 8101)])
    result = run(backend, env={"FEATURE": "on"})
    assert result["action"] == "recreated" and result["reasons"] == ["settings changed (environment, volumes, command, network or restart policy)"]
    assert backend.calls == [("stop", "kin-1.1.0", 30), ("remove", "kin-1.1.0"), ("create", "kin-1.1.0"), ("start", "kin-1.1.0")]
    moved = FakeBackend(images={"registry.example.org/clinic:1.1.0": OTHER_ID},
                        containers=[dict(configured("1.1.0", 8101), running=False, status="exited"), box("1.0.0", 8101)])
    result = run(moved, live_version="1.0.0")
    assert result["port"] == 8102 and result["reasons"][0].startswith("image registry.example.org/clinic:1.1.0 now points at")
    assert result["reasons"][1] == "port 8101 -> 8102"


def test_a_stray_on_the_idle_port_is_stopped_before_the_start():
    backend = FakeBackend(containers=[box("1.0.0", 8101), box("1.2.0-bad", 8102)])
    result = run(backend, live_version="1.0.0")
    assert result["stopped"] == ["kin-1.2.0-bad"] and result["port"] == 8102
    assert backend.calls[0] == ("stop", "kin-1.2.0-bad", 30)
    assert backend.boxes["kin-1.0.0"]["running"]


def test_a_container_that_exits_fails_with_its_exit_code_and_output():
    backend = FakeBackend(exits={"kin-1.1.0": 3})
    with pytest.raises(ContainerError) as err:
        run(backend)
    assert "kin-1.1.0 did not keep running (status exited, exit code 3): line one | KeyError: 'DATABASE_URL'" in str(err.value)


def test_a_container_restarted_by_the_engine_fails():
    class Restarting(FakeBackend):
        def get(self, name):
            current = super().get(name)
            if current and current["running"]:
                self.clock += 1
                current["started_at"] = "t%d" % self.clock  # a new start every time it is looked at
            return current

    with pytest.raises(ContainerError, match="status restarted by the engine"):
        run(Restarting())


def test_a_name_taken_by_a_foreign_container_is_refused():
    backend = FakeBackend(containers=[box("1.1.0", 8101, clinic="other", name="kin-1.1.0")])
    with pytest.raises(ContainerError, match="was not made by medops.runbook"):
        run(backend)


def test_missing_image_with_pull_never_is_refused_and_pull_missing_pulls():
    backend = FakeBackend(images={})
    with pytest.raises(ContainerError, match="is not on the Docker host unix:///fake.sock and pull=never"):
        run(backend, pull="never")
    result = run(backend, state="present")
    assert result["pulled"] and result["changed"] and backend.calls == [("pull", "registry.example.org/clinic:1.1.0")]


def test_pull_in_check_mode_is_only_predicted():
    backend = FakeBackend(images={})
    result = run(backend, state="present", check_mode=True)
    assert result["pulled"] and result["changed"] and result["image"]["present"] is False and backend.calls == []


def test_a_digest_mismatch_is_refused():
    with pytest.raises(ContainerError, match="not the expected sha256:b"):
        run(FakeBackend(), state="present", digest=OTHER_ID)
    assert run(FakeBackend(), state="present", digest=IMAGE_ID)["changed"] is False


def test_stopped_with_others_stops_every_other_running_container():
    backend = FakeBackend(containers=[box("1.0.0", 8101), box("1.1.0", 8102), box("0.9.0", 8101, running=False)])
    result = run(backend, state="stopped", others=True)
    assert result["stopped"] == ["kin-1.0.0"] and backend.calls == [("stop", "kin-1.0.0", 30)]
    assert run(backend, state="stopped", others=True)["changed"] is False


def test_absent_stops_then_removes_and_pruned_protects():
    backend = FakeBackend(containers=[box("1.0.0", 8101, created="1"), box("1.1.0", 8102, running=False, created="2")])
    result = run(backend, state="absent", version="1.0.0")
    assert result["removed"] == ["kin-1.0.0"] and backend.calls == [("stop", "kin-1.0.0", 30), ("remove", "kin-1.0.0")]
    backend = FakeBackend(containers=[box("1.0.0", 8101, running=False, created="1"), box("1.1.0", 8102, running=False, created="2")])
    result = run(backend, state="pruned", version=None, keep=0, protect=["1.0.0"])
    assert result["removed"] == ["kin-1.1.0"] and set(backend.boxes) == {"kin-1.0.0"}


def test_read_changes_nothing_and_lists_the_clinics_containers():
    backend = FakeBackend(containers=[box("1.0.0", 8101), box("2.0.0", 8102, clinic="other")])
    result = run(backend, state="read", version=None, image=None)
    assert not result["changed"] and [c["name"] for c in result["containers"]] == ["kin-1.0.0"] and backend.calls == []
