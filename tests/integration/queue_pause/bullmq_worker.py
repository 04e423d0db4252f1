"""A real BullMQ worker (the Python ``bullmq`` package) run as a subprocess by the queue_pause tests.

Usage: ``python bullmq_worker.py QUEUE LOGFILE [CONCURRENCY]``; the Redis URL comes from the
environment (``QP_REDIS_URL``) so that its password is never in argv, the prefix from ``QP_PREFIX``.

Each job sleeps ``job.data["sleep"]`` seconds, then, with ``job.data["hold"]``, waits until that
file exists (so a test decides when a long job ends); ``job.data["fail"]`` makes it raise. The log gets one
line per event, ``<event> <job id> <time.time()>``: ``start`` when the processor begins, ``end`` when
it returns, ``completed`` after BullMQ moved the job out of ``active``. ``ready`` is written once
the worker runs. SIGTERM closes the worker gracefully (running jobs finish first).
"""

import asyncio
import os
import signal
import sys
import time

from bullmq import Worker


def main():
    queue, logfile = sys.argv[1], sys.argv[2]
    concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    log = open(logfile, "a", buffering=1)

    def write(event, job_id):
        log.write("%s %s %.6f\n" % (event, job_id, time.time()))
        log.flush()

    async def process(job, _token):
        write("start", job.id)
        await asyncio.sleep(float(job.data.get("sleep", 0)))
        while job.data.get("hold") and not os.path.exists(job.data["hold"]):
            await asyncio.sleep(0.02)
        write("end", job.id)
        if job.data.get("fail"):
            raise RuntimeError("job %s asked to fail" % job.id)
        return "ok"

    async def run():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        worker = Worker(queue, process, {"connection": os.environ["QP_REDIS_URL"],
                                         "prefix": os.environ.get("QP_PREFIX", "bull"),
                                         "concurrency": concurrency})
        worker.on("completed", lambda job, _result: write("completed", job.id))
        worker.on("failed", lambda job, _err: write("failed", job.id))
        write("ready", "-")
        await stop.wait()
        await worker.close()
        write("closed", "-")

    asyncio.run(run())


if __name__ == "__main__":
    main()
