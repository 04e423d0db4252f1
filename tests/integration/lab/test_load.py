"""The lab's load generator against a scripted service: the clinic's token on every request, its
paths in turn, answers counted by status, a closed port counted as no answer, loopback only."""

from __future__ import annotations

import itertools
import time

import pytest

from harness.http import Reply
from medops_lab.load import Load, require_loopback
from medops_lab.servers import free_port


def test_load_sends_the_token_to_each_path_in_turn_and_counts_answers(http_service):
    calls = itertools.count(1)
    svc = http_service({"/api/patients": lambda request: Reply(200, {"patients": []}),
                        "/api/appointments": lambda request: Reply(500 if next(calls) % 2 == 0 else 200, {})})
    with Load(svc.url("/").rstrip("/") + "/", "tok-123", rps=20) as load:
        deadline = time.monotonic() + 10
        while load.snapshot()["sent"] < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
    stats = load.stats
    assert stats["sent"] >= 8 and stats["no_answer"] == 0
    assert sum(stats["by_status"].values()) == stats["sent"]
    assert stats["by_status"]["500"] >= 2
    paths = [request.path for request in svc.requests]
    assert paths[:4] == ["/api/patients", "/api/appointments", "/api/patients", "/api/appointments"]
    assert all(request.headers.get("Authorization") == "Bearer tok-123" for request in svc.requests)


def test_a_closed_port_counts_as_no_answer():
    with Load(f"http://127.0.0.1:{free_port()}", "tok", rps=20) as load:
        deadline = time.monotonic() + 10
        while load.snapshot()["sent"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert load.stats["no_answer"] == load.stats["sent"] >= 2 and load.stats["by_status"] == {}


@pytest.mark.parametrize("url", ["http://10.1.2.3:8080", "https://clinic.example.org", "not a url"])
def test_only_loopback_urls_are_loaded(url):
    with pytest.raises(ValueError, match="loopback"):
        require_loopback(url)


def test_loopback_names_and_rates():
    assert require_loopback("http://localhost:8080/") == "http://localhost:8080"
    assert require_loopback("http://[::1]:8080") == "http://[::1]:8080"
    with pytest.raises(ValueError, match="rps"):
        Load("http://127.0.0.1:1", "tok", rps=0)
