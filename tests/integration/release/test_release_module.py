"""release and release_info against a real release tree, with tarballs served over HTTP on loopback."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile

import pytest

from harness.ansible import run_module, run_module_cases
from harness.http import Reply


def make_tarball(version: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in {"VERSION": version + "\n", "public/uploads/.keep": ""}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


TARBALLS = {v: make_tarball(v) for v in ("1.0.0", "1.1.0")}
SHA = {v: hashlib.sha256(data).hexdigest() for v, data in TARBALLS.items()}


@pytest.fixture()
def artifacts(http_service):
    routes = {f"/clinic-{v}.tar.gz": (lambda request, v=v: Reply(200, TARBALLS[v])) for v in TARBALLS}
    routes.update({f"/clinic-{v}.tar.gz.sha256": (lambda request, v=v: Reply(200, f"{SHA[v]}  clinic-{v}.tar.gz\n"))
                   for v in TARBALLS})
    return http_service(routes)


@pytest.fixture()
def app_root(tmp_path):
    for sub in ("releases", "shared/uploads"):
        (tmp_path / sub).mkdir(parents=True)
    (tmp_path / "shared" / ".env").write_text("A=1\n")
    return tmp_path


def ship_args(app_root, artifacts, version, **extra):
    return {"app_root": str(app_root), "version": version, "url": artifacts.url(f"/clinic-{version}.tar.gz"),
            "checksum": "sha256:" + SHA[version],
            "shared_paths": [{"src": ".env", "dest": ".env"}, {"src": "uploads", "dest": "public/uploads"}], **extra}


def test_ship_is_whole_checked_idempotent_and_leaves_nothing_behind(app_root, artifacts):
    planned = run_module("release", ship_args(app_root, artifacts, "1.1.0"), check=True)
    assert planned["changed"] is True and planned["shipped"] is True and os.listdir(app_root / "releases") == []
    shipped = run_module("release", ship_args(app_root, artifacts, "1.1.0"))
    assert shipped["changed"] is True and shipped["shipped"] is True, shipped
    assert shipped["linked"] == [".env", "public/uploads"]
    release = app_root / "releases" / "1.1.0"
    assert (release / "VERSION").read_text() == "1.1.0\n"
    assert (release / ".medops-complete").read_text() == SHA["1.1.0"] + "\n"
    assert os.readlink(release / "public" / "uploads") == str(app_root / "shared" / "uploads")
    assert os.listdir(app_root / "releases") == ["1.1.0"], "no download or staging directory may stay"
    again = run_module("release", ship_args(app_root, artifacts, "1.1.0"))
    assert again["changed"] is False and again["shipped"] is False and again["linked"] == []
    assert len(artifacts.requests) == 1, "a release already shipped whole is not downloaded again"


def test_a_wrong_checksum_or_a_missing_artifact_changes_nothing(app_root, artifacts):
    wrong = run_module("release", ship_args(app_root, artifacts, "1.1.0", checksum="sha256:" + SHA["1.0.0"]))
    assert wrong["failed"] is True and "does not match the expected " + SHA["1.0.0"] in wrong["msg"]
    missing = run_module("release", ship_args(app_root, artifacts, "1.1.0", url=artifacts.url("/clinic-9.9.9.tar.gz")))
    assert missing["failed"] is True and "cannot download" in missing["msg"] and "Not Found" in missing["msg"]
    assert os.listdir(app_root / "releases") == []


def test_live_switches_by_rename_runs_the_restart_and_info_reads_the_tree(app_root, artifacts, tmp_path_factory):
    assert not run_module("release", ship_args(app_root, artifacts, "1.1.0")).get("failed")
    published = ship_args(app_root, artifacts, "1.0.0", checksum=None, checksum_url=artifacts.url("/clinic-1.0.0.tar.gz.sha256"))
    assert run_module("release", published)["shipped"] is True, "the checksum read from the .sha256 beside the artifact"
    assert (app_root / "releases" / "1.0.0" / ".medops-complete").read_text() == SHA["1.0.0"] + "\n"
    restarts = tmp_path_factory.mktemp("restart") / "log"
    restart = ["sh", "-c", f"echo restarted >> {restarts}"]
    live = run_module("release", {"app_root": str(app_root), "state": "live", "version": "1.1.0", "restart_command": restart})
    assert live["changed"] is True and live["activated"] is True and live["restarted"] is True and live["version_before"] == ""
    assert os.readlink(app_root / "current") == "releases/1.1.0"
    assert restarts.read_text() == "restarted\n"
    relinked = run_module("release", {"app_root": str(app_root), "state": "live", "version": "1.1.0"})
    assert relinked["changed"] is False and relinked["activated"] is False and relinked["version_before"] == "1.1.0"
    failing = run_module("release", {"app_root": str(app_root), "state": "live", "version": "1.0.0",
                                     "restart_command": ["sh", "-c", "echo unit failed >&2; exit 3"]})
    assert failing["failed"] is True and "exited 3: unit failed" in failing["msg"]

    (app_root / "releases" / "1.1.0" / ".medops-bad").write_text("run 9 failed at verify\n")
    info = run_module("release_info", {"app_root": str(app_root), "version": "1.1.0", "disk_paths": [str(app_root)] * 2,
                                       "min_free_mb": 1 << 40})
    assert info["changed"] is False and info["live"] == "1.0.0"
    assert info["release"] == {"exists": True, "complete": True, "bad": "run 9 failed at verify"}
    assert list(info["free_mb"]) == [str(app_root)] and info["free_mb"][str(app_root)] > 0
    assert [low["path"] for low in info["low_space"]] == [str(app_root)] and "MiB free under" in info["low_space"][0]["msg"]


def test_pruned_keeps_the_newest_and_the_protected(app_root):
    for age, version in enumerate(["1.3.0", "1.2.0", "1.1.0", "1.0.0"]):
        (app_root / "releases" / version).mkdir()
        os.utime(app_root / "releases" / version, (1000 - age, 1000 - age))
    args = {"app_root": str(app_root), "state": "pruned", "keep": 1, "protect": ["1.0.0"]}
    assert run_module("release", args, check=True)["removed"] == ["1.2.0", "1.1.0"]
    assert run_module("release", args)["removed"] == ["1.2.0", "1.1.0"]
    assert sorted(os.listdir(app_root / "releases")) == ["1.0.0", "1.3.0"]
    assert run_module("release", args)["changed"] is False


BAD_INPUTS = [
    ({"version": "../1.0.0"}, "version must be a release name"),
    ({"state": "live"}, "version is required with state=live"),
    ({"version": "1.0.0", "url": "http://127.0.0.1:9/x.tar.gz"}, "url needs checksum or checksum_url"),
    ({"version": "1.0.0", "src": "/tmp/x.tar.gz"}, "missing parameter(s) required by 'src': checksum"),
    ({"version": "1.0.0", "url": "http://127.0.0.1:9/x", "src": "/tmp/x", "checksum": "0" * 64}, "mutually exclusive"),
    ({"version": "1.0.0", "url": "http://127.0.0.1:9/x", "checksum": "md5:1"}, "64 hex digits"),
    ({"version": "1.0.0"}, "is not shipped yet: give url or src"),
    ({"state": "pruned", "keep": 0}, "keep must be at least 1"),
    ({"version": "1.0.0", "shared_paths": [{"src": "../etc", "dest": "x"}]}, "relative paths without '..'"),
    ({"version": "1.0.0", "shared_paths": [{"src": "a"}]}, "exactly src and dest"),
]


@pytest.fixture(scope="module")
def bad_input_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    (root / "releases").mkdir()
    results = run_module_cases("release", [args for args, _message in BAD_INPUTS], shared={"app_root": str(root)})
    return results, root


@pytest.mark.parametrize("case", range(len(BAD_INPUTS)), ids=[message for _args, message in BAD_INPUTS])
def test_bad_input_is_a_clear_error_and_changes_nothing(bad_input_results, case):
    results, root = bad_input_results
    result = results[case]
    assert result["failed"] is True and BAD_INPUTS[case][1] in result["msg"], result["msg"]
    assert "Traceback" not in result["_run"].output
    assert os.listdir(root / "releases") == []


def test_info_without_an_app_root_reports_disk_space_only(tmp_path):
    """The maintenance role's disk check: free MiB and the usage in percent, as df prints them."""
    disks, versioned = run_module_cases("release_info", [{"disk_paths": [str(tmp_path)]},
                                                         {"disk_paths": [str(tmp_path)], "version": "1.1.0"}])
    assert disks["live"] == "" and disks["release"] == {} and disks["low_space"] == []
    assert disks["free_mb"][str(tmp_path)] > 0 and 0 <= disks["used_percent"][str(tmp_path)] <= 100
    assert versioned["failed"] is True and "app_root" in versioned["msg"]
