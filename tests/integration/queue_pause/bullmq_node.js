// Node BullMQ (5.x or 6.x) helper for the queue_pause tests. Run with NODE_PATH pointing at a
// node_modules that holds bullmq and ioredis; the Redis URL comes from QP_REDIS_URL (never argv).
//   node bullmq_node.js produce QUEUE N       -> prints the new job ids as JSON
//   node bullmq_node.js worker QUEUE LOGFILE  -> logs "start <id> <epoch seconds>" per job until SIGTERM
//   node bullmq_node.js pause|resume QUEUE    -> BullMQ's own Queue.pause / Queue.resume
//   node bullmq_node.js counts QUEUE          -> {counts, paused, version} as JSON
const { Queue, Worker } = require('bullmq');
const IORedis = require('ioredis');
const fs = require('fs');

const [phase, name, arg] = process.argv.slice(2);
const connection = () => new IORedis(process.env.QP_REDIS_URL, { maxRetriesPerRequest: null });

async function main() {
  if (phase === 'worker') {
    const worker = new Worker(name, async job => {
      fs.appendFileSync(arg, `start ${job.id} ${Date.now() / 1000}\n`);
      await new Promise(resolve => setTimeout(resolve, 20));
    }, { connection: connection(), concurrency: 2 });
    process.on('SIGTERM', async () => { await worker.close(); process.exit(0); });
    return;
  }
  const queue = new Queue(name, { connection: connection() });
  if (phase === 'produce') {
    const ids = [];
    for (let i = 0; i < Number(arg); i++) ids.push((await queue.add('job', { i })).id);
    console.log(JSON.stringify(ids));
  } else if (phase === 'pause') {
    await queue.pause();
  } else if (phase === 'resume') {
    await queue.resume();
  } else if (phase === 'counts') {
    console.log(JSON.stringify({ counts: await queue.getJobCounts(), paused: await queue.isPaused(),
                                 version: await queue.getVersion() }));
  }
  await queue.close();
  process.exit(0);
}

main().catch(err => { console.error(err); process.exit(1); });
