"""Fixtures of the queue_pause tests: real BullMQ workers as subprocesses, a steady producer,
and helpers that read the workers' logs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("bullmq_worker.py")


class WorkerProcess:
    def __init__(self, redis_server, queue, logfile: Path, concurrency=1, prefix="bull"):
        self.logfile = logfile
        env = dict(os.environ, QP_REDIS_URL=redis_server.url, QP_PREFIX=prefix)
        self.proc = subprocess.Popen([sys.executable, str(WORKER), queue, str(logfile), str(concurrency)],
                                     env=env, stdout=subprocess.DEVNULL, stderr=open(f"{logfile}.err", "w"))
        self.wait_for(lambda events: events["ready"], "the worker to start")

    def events(self) -> dict[str, list[tuple[str, float]]]:
        """event -> [(job id, time.time())] in log order."""
        out = defaultdict(list)
        if self.logfile.exists():
            for line in self.logfile.read_text().splitlines():
                event, job_id, stamp = line.split()
                out[event].append((job_id, float(stamp)))
        return out

    def wait_for(self, predicate, what, timeout=60.0):
        deadline = time.monotonic() + timeout
        while not predicate(self.events()):
            if self.proc.poll() is not None:
                raise AssertionError(f"the worker exited ({self.proc.returncode}) while waiting for {what}: "
                                     f"{Path(f'{self.logfile}.err').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; log: {self.logfile.read_text()[-2000:]}")
            time.sleep(0.05)

    def starts(self) -> Counter:
        return Counter(job_id for job_id, _stamp in self.events()["start"])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture()
def bullmq_worker(tmp_path):
    """Factory: ``w = bullmq_worker(redis_server, "q", concurrency=2)`` starts a worker subprocess."""
    started: list[WorkerProcess] = []

    def factory(redis_server, queue, concurrency=1, prefix="bull"):
        worker = WorkerProcess(redis_server, queue, tmp_path / f"worker-{queue}-{len(started)}.log", concurrency, prefix)
        started.append(worker)
        return worker

    yield factory
    for worker in started:
        worker.stop()
