"""Jobs for the lab's BullMQ queues: a producer that enqueues steadily while something else runs
(a deploy, a rollback), and a way to read back which jobs each clinic's worker processed."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter

import psycopg2
from bullmq import Queue


class JobProducer:
    """``with JobProducer(lab, ["kin", "lub"]) as producer: ...``; ``producer.ids[code]`` afterwards."""

    def __init__(self, lab, codes, interval: float = 0.05, sleep: float = 0.02):
        self.lab = lab
        self.codes = list(codes)
        self.interval = interval
        self.sleep = sleep
        self.ids: dict[str, list[str]] = {code: [] for code in self.codes}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._produce()), daemon=True)
        self.error: BaseException | None = None

    async def _produce(self) -> None:
        queues = {code: Queue(f"clinic-{code}", {"connection": self.lab.redis_connection(), "prefix": "bull"})
                  for code in self.codes}
        try:
            n = 0
            while not self._stop.is_set():
                for code, queue in queues.items():
                    job = await queue.add("visit", {"sleep": self.sleep, "n": n})
                    self.ids[code].append(job.id)
                n += 1
                await asyncio.sleep(self.interval)
        except BaseException as exc:  # surfaced by stop(): a producer that died proves nothing
            self.error = exc
        finally:
            for queue in queues.values():
                await queue.close()

    def __enter__(self) -> "JobProducer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self.error:
            raise AssertionError(f"the job producer failed: {self.error!r}")


def processed(lab, code: str) -> Counter:
    """How many times each job id was processed by the clinic's worker."""
    with contextlib.closing(psycopg2.connect(**lab.db_params(code))) as conn, conn.cursor() as cur:
        cur.execute("SELECT job_id FROM processed_jobs")
        return Counter(row[0] for row in cur.fetchall())


def wait_until_processed(lab, code: str, ids, timeout: float = 120.0) -> Counter:
    """Wait until every id in ``ids`` was processed at least once; return the counts."""
    wanted = set(ids)
    deadline = time.monotonic() + timeout
    while True:
        counts = processed(lab, code)
        missing = wanted - set(counts)
        if not missing:
            return counts
        if time.monotonic() > deadline:
            raise AssertionError(f"{code}: {len(missing)} of {len(wanted)} jobs never processed, e.g. {sorted(missing)[:5]}")
        time.sleep(0.2)
