"""The BullMQ worker, in a thread of its own with its own asyncio loop, inside the service process."""

from __future__ import annotations

import asyncio
import logging
import threading

from bullmq import Worker

from .db import JobRecorder

log = logging.getLogger("clinic_service.worker")


class QueueWorker(threading.Thread):
    """Processes ``cfg.queue``: sleeps ``data.sleep`` seconds, then records the job in processed_jobs."""

    def __init__(self, cfg, version: str):
        super().__init__(name="bullmq-worker", daemon=True)
        self.cfg = cfg
        self.recorder = JobRecorder(cfg.db, cfg.queue, version)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self.worker: Worker | None = None
        self.processed = 0

    async def process(self, job, token):
        delay = float((job.data or {}).get("sleep", 0) or 0)
        if delay > 0:
            await asyncio.sleep(delay)
        await asyncio.to_thread(self.recorder.record, job.id)
        self.processed += 1
        log.info("job %s processed on queue %s", job.id, self.cfg.queue)
        return {"processed_by": self.recorder.version}

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        connection = {key: self.cfg.redis[key] for key in ("host", "port", "db", "password")}
        self.worker = Worker(self.cfg.queue, self.process, {
            "connection": connection, "prefix": self.cfg.queue_prefix,
            "concurrency": self.cfg.worker_concurrency, "name": f"clinic-{self.cfg.clinic}",
        })
        self.worker.on("error", lambda err, *rest: log.warning("worker error: %s", err))
        self.worker.on("failed", lambda job, err, *rest: log.warning("job %s failed: %s", job.id, err))
        self._ready.set()
        await self._stop.wait()
        # close() lets the active job finish, so a drained or stopped worker never abandons one.
        await self.worker.close()
        self.recorder.close()
        log.info("worker closed after %d jobs", self.processed)

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # the HTTP side must keep answering (and report queue: fail)
            log.exception("worker thread died")
        finally:
            self._ready.set()

    def healthy(self) -> bool:
        return self.is_alive() and self.worker is not None and self.worker.running and not self.worker.closing

    def stop(self, timeout: float) -> bool:
        self._ready.wait(5)
        if self.loop is not None and self._stop is not None and self.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self.join(timeout)
        return not self.is_alive()
