"""medops.runbook.container_release against podman's Docker-compatible API (a real
``podman system service`` and real containers from locally built images), through ansible-playbook."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

from harness.ansible import run_module, run_module_cases
from harness.podman import clinic_containers, remove_containers
from medops_lab.servers import free_port, wait_for_port

pytestmark = pytest.mark.slow


@pytest.fixture()
def clinic():
    """A clinic code of this test's own; its containers are removed afterwards, whatever happened."""
    code = "ct" + uuid.uuid4().hex[:8]
    yield code
    remove_containers(code)


@pytest.fixture()
def ports():
    first = free_port()
    second = free_port()
    while second == first:
        second = free_port()
    return [first, second]


def args(podman_api, release_images, clinic, **extra):
    base = {"clinic": clinic, "image": release_images["repository"], "docker_host": podman_api.url, "stop_timeout": 5}
    base.update(extra)
    return base


def served_version(port: int):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/version", timeout=5) as resp:
            return json.load(resp)["version"]
    except (urllib.error.URLError, OSError):
        return None


def test_started_runs_the_version_on_the_first_free_port_and_a_second_call_changes_nothing(
        podman_api, release_images, clinic, ports):
    first = run_module("container_release", args(podman_api, release_images, clinic, version="1.0.0", ports=ports))
    assert not first.get("failed"), first.get("msg")
    assert first["changed"] and first["action"] == "created" and first["port"] == ports[0]
    assert first["container"]["name"] == f"{clinic}-1.0.0" and first["container"]["running"]
    assert first["image"]["id"] == release_images["ids"]["1.0.0"]
    wait_for_port(ports[0])
    assert served_version(ports[0]) == "1.0.0"

    again = run_module("container_release", args(podman_api, release_images, clinic, version="1.0.0", ports=ports))
    assert not again.get("failed"), again.get("msg")
    assert again["changed"] is False and again["action"] == "unchanged" and again["port"] == ports[0]
    assert again["container"]["id"] == first["container"]["id"]
    assert [c["version"] for c in again["containers"]] == ["1.0.0"]


def test_new_version_starts_beside_the_live_one_then_the_old_one_stops_and_can_start_again(
        podman_api, release_images, clinic, ports):
    client = podman_api.client()
    old = run_module("container_release", args(podman_api, release_images, clinic, version="1.0.0", ports=ports))
    assert old["port"] == ports[0], old.get("msg")
    new = run_module("container_release", args(podman_api, release_images, clinic, version="1.1.0", ports=ports,
                                               live_version="1.0.0"))
    assert new["changed"] and new["port"] == ports[1], new.get("msg")
    wait_for_port(ports[1])
    assert (served_version(ports[0]), served_version(ports[1])) == ("1.0.0", "1.1.0")
    assert clinic_containers(client, clinic) == {"1.0.0": "running", "1.1.0": "running"}

    stop = run_module("container_release", args(podman_api, release_images, clinic, state="stopped", version="1.1.0",
                                                others=True))
    assert stop["changed"] and stop["stopped"] == [f"{clinic}-1.0.0"], stop.get("msg")
    assert clinic_containers(client, clinic) == {"1.0.0": "exited", "1.1.0": "running"}
    assert served_version(ports[1]) == "1.1.0"
    stop_again = run_module("container_release", args(podman_api, release_images, clinic, state="stopped",
                                                      version="1.1.0", others=True))
    assert stop_again["changed"] is False and stop_again["stopped"] == []

    # A rollback: the stopped 1.0.0 gets its old port back (free) and starts unchanged, not recreated.
    back = run_module("container_release", args(podman_api, release_images, clinic, version="1.0.0", ports=ports,
                                                live_version="1.1.0"))
    assert back["action"] == "started" and back["port"] == ports[0], back.get("msg")
    assert back["container"]["id"] == old["container"]["id"]
    wait_for_port(ports[0])
    assert served_version(ports[0]) == "1.0.0"


def test_a_stopped_version_whose_port_the_live_one_took_is_recreated_on_the_other_port(
        podman_api, release_images, clinic, ports):
    first = run_module("container_release", args(podman_api, release_images, clinic, version="1.0.0", ports=ports))
    run_module("container_release", args(podman_api, release_images, clinic, state="stopped", version="1.0.0"))
    # 1.1.0 starts while nothing is live: it gets the first port, the one 1.0.0 had.
    live = run_module("container_release", args(podman_api, release_images, clinic, version="1.1.0", ports=ports))
    assert live["port"] == ports[0], live.get("msg")
    back = run_module("container_release", args(podman_api, release_images, clinic, version="1.0.0", ports=ports,
                                                live_version="1.1.0"))
    assert back["action"] == "recreated" and back["port"] == ports[1], back.get("msg")
    assert back["reasons"] == [f"port {ports[0]} -> {ports[1]}"]
    assert back["container"]["id"] != first["container"]["id"]
    wait_for_port(ports[1])
    assert (served_version(ports[0]), served_version(ports[1])) == ("1.1.0", "1.0.0")


def test_check_mode_predicts_and_changes_nothing(podman_api, release_images, clinic, ports):
    client = podman_api.client()
    predicted = run_module("container_release", args(podman_api, release_images, clinic, version="1.0.0", ports=ports),
                           check=True)
    assert predicted["changed"] and predicted["action"] == "created" and predicted["port"] == ports[0], predicted.get("msg")
    assert clinic_containers(client, clinic) == {}
    run_module("container_release", args(podman_api, release_images, clinic, version="1.0.0", ports=ports))
    for state in ("stopped", "absent"):
        result = run_module("container_release", args(podman_api, release_images, clinic, state=state, version="1.0.0"),
                            check=True)
        assert result["changed"], result.get("msg")
        assert clinic_containers(client, clinic) == {"1.0.0": "running"}
    assert served_version(ports[0]) == "1.0.0"


def test_absent_and_pruned_remove_only_what_they_should(podman_api, release_images, clinic, ports):
    client = podman_api.client()
    for version in ("1.0.0", "1.1.0"):
        run_module("container_release", args(podman_api, release_images, clinic, version=version, ports=ports))
        run_module("container_release", args(podman_api, release_images, clinic, state="stopped", version=version))
    run_module("container_release", args(podman_api, release_images, clinic, version="1.0.0", ports=ports))
    # Two containers: 1.0.0 running, 1.1.0 stopped; keep=0 prunes only the stopped one.
    pruned = run_module("container_release", args(podman_api, release_images, clinic, state="pruned", keep=0))
    assert pruned["changed"] and pruned["removed"] == [f"{clinic}-1.1.0"], pruned.get("msg")
    assert clinic_containers(client, clinic) == {"1.0.0": "running"}
    gone = run_module("container_release", args(podman_api, release_images, clinic, state="absent", version="1.0.0"))
    assert gone["changed"] and gone["removed"] == [f"{clinic}-1.0.0"]
    assert clinic_containers(client, clinic) == {}
    again = run_module("container_release", args(podman_api, release_images, clinic, state="absent", version="1.0.0"))
    assert again["changed"] is False


def test_a_container_that_exits_at_once_fails_with_its_output(podman_api, release_images, clinic, ports):
    result = run_module("container_release", args(podman_api, release_images, clinic, version="1.0.0", ports=ports,
                                                  command=["python3", "-c", "print('no config here'); raise SystemExit(3)"],
                                                  restart_policy="no"))
    assert result.get("failed")
    assert f"container {clinic}-1.0.0 did not keep running" in result["msg"]
    assert "exit code 3" in result["msg"] and "no config here" in result["msg"]
    assert "Traceback" not in result["_run"].output


def test_missing_image_fails_clearly_and_changes_nothing(podman_api, release_images, clinic, ports):
    client = podman_api.client()
    never = run_module("container_release", args(podman_api, release_images, clinic, version="9.9.9", ports=ports,
                                                 pull="never"))
    assert never.get("failed") and never["changed"] is False
    assert f"image {release_images['repository']}:9.9.9 is not on the Docker host" in never["msg"]
    assert "pull=never" in never["msg"]
    # pull=missing tries the registry the name points at (loopback here: nothing listens) and says why it failed.
    pulled = run_module("container_release", args(podman_api, release_images, clinic, version="9.9.9", state="present"))
    assert pulled.get("failed") and pulled["msg"].startswith(f"pulling {release_images['repository']}:9.9.9 failed: ")
    assert "Traceback" not in never["_run"].output + pulled["_run"].output
    assert clinic_containers(client, clinic) == {}


def test_digest_is_checked_against_the_image_id(podman_api, release_images, clinic):
    good = run_module("container_release", args(podman_api, release_images, clinic, state="present", version="1.1.0",
                                                digest=release_images["ids"]["1.1.0"]))
    assert not good.get("failed") and good["changed"] is False, good.get("msg")
    bad = run_module("container_release", args(podman_api, release_images, clinic, state="present", version="1.1.0",
                                               digest=release_images["ids"]["1.0.0"]))
    assert bad.get("failed")
    assert f"not the expected {release_images['ids']['1.0.0']}" in bad["msg"]


def test_unreachable_docker_api_fails_clearly(release_images, clinic, ports, tmp_path):
    missing = f"unix://{tmp_path}/nothing.sock"
    result = run_module("container_release", {"clinic": clinic, "image": release_images["repository"], "version": "1.0.0",
                                              "ports": ports, "docker_host": missing})
    assert result.get("failed") and result["changed"] is False
    assert f"cannot reach the Docker API at {missing}: no socket at {tmp_path}/nothing.sock" in result["msg"]
    assert "Traceback" not in result["_run"].output
    refused = run_module("container_release", {"clinic": clinic, "state": "read",
                                               "docker_host": f"tcp://127.0.0.1:{free_port()}", "timeout": 5})
    assert refused.get("failed") and "connection refused" in refused["msg"], refused["msg"]


def test_bad_input_fails_before_any_call(podman_api, release_images, clinic):
    cases = [
        ({"version": "../1.0.0", "ports": [1, 2]}, "version must be a release name"),
        ({"version": "1.0.0"}, "state=started needs ports"),
        ({"version": "1.0.0", "ports": [8000, 8000]}, "ports lists a port twice"),
        ({"version": "1.0.0", "ports": [70000, 8001]}, "between 1 and 65535"),
        ({"version": "1.0.0", "ports": [8000, 8001], "digest": "md5:abc"}, "digest must be 'sha256:'"),
        ({"version": "1.0.0", "ports": [8000, 8001], "env": {"BAD NAME": "x"}}, "invalid variable name"),
        ({"state": "stopped"}, "state=stopped needs version"),
        ({"state": "present", "version": "1.0.0", "image": " "}, "state=present needs image"),
        ({"version": "1.0.0", "ports": [8000, 8001], "registry_username": "ops"}, "go together"),
    ]
    results = run_module_cases("container_release", [extra for extra, _message in cases],
                               shared=args(podman_api, release_images, clinic))
    for (extra, message), result in zip(cases, results):
        assert result.get("failed") and message in result["msg"], (extra, result.get("msg"))
        assert "Traceback" not in result["_run"].output


def test_registry_password_and_env_values_never_reach_the_output(podman_api, release_images, clinic, ports):
    secret = "s3cret-" + uuid.uuid4().hex
    result = run_module("container_release", args(podman_api, release_images, clinic, version="9.9.9", ports=ports,
                                                  registry_username="ops", registry_password=secret,
                                                  env={"DB_PASSWORD": secret + "-db"}),
                        "-vvv")
    assert result.get("failed")
    assert secret not in result["_run"].output and secret not in json.dumps({k: v for k, v in result.items() if k != "_run"})
