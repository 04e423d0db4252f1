"""Helpers of the queue_pause integration tests (a steady producer, module arguments)."""

from __future__ import annotations

import asyncio
import threading
import time

from bullmq import Queue


class Producer:
    """Adds a job every ``interval`` seconds from its own thread; ``added`` = [(id, time.time())]."""

    def __init__(self, url, queue, interval=0.02, sleep=0.01, prefix="bull"):
        self.url, self.queue, self.interval, self.sleep, self.prefix = url, queue, interval, sleep, prefix
        self.added: list[tuple[str, float]] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self):
        queue = Queue(self.queue, {"connection": self.url, "prefix": self.prefix})
        try:
            n = 0
            while not self._stop.is_set():
                job = await queue.add("visit", {"sleep": self.sleep, "n": n})
                self.added.append((job.id, time.time()))
                n += 1
                await asyncio.sleep(self.interval)
        except BaseException as exc:  # a dead producer proves nothing: stop() raises it
            self.error = exc
        finally:
            await queue.close()

    def ids_between(self, start, end):
        return [job_id for job_id, stamp in self.added if start <= stamp <= end]

    def __enter__(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=30)
        if self.error:
            raise AssertionError(f"the producer failed: {self.error!r}")

    def __exit__(self, *exc):
        self.stop()


def bullmq_call(coro_factory):
    """Run one short async BullMQ call (Queue API) from a synchronous test."""
    return asyncio.run(coro_factory())


def redis_args(redis_server, **extra):
    args = dict(backend="bullmq", redis_host="127.0.0.1", redis_port=redis_server.port,
                redis_password=redis_server.password)
    args.update(extra)
    return args
