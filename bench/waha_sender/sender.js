// hookwire's benchmark, second baseline: WAHA's webhook sender stack, written for the
// benchmark (not WAHA's code). What WAHA does, per webhook: one axios instance with default
// headers (content-type JSON, its User-Agent) over agentkeepalive's HttpAgent, and for each
// event `axios.post(url, object, {headers: {X-Webhook-Request-Id, ...}})`: axios serialises
// the object. No store, no retry, no signing. Here `concurrency` requests are kept in flight
// (WAHA fires and forgets; the agent's socket limit is what bounds it), over that many sockets.
//
//   node sender.js BODIES_JSONL URL CONCURRENCY
// prints one JSON line: {"sent": n, "failed": n, "seconds": s}
'use strict';

const fs = require('fs');
const crypto = require('crypto');
const axios = require('axios');
const HttpAgent = require('agentkeepalive');

async function main() {
  const [bodiesPath, url, concurrencyText] = process.argv.slice(2);
  const concurrency = Number.parseInt(concurrencyText || '32', 10);
  // The events as objects, the way WAHA holds them before sending.
  const events = fs.readFileSync(bodiesPath, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  const client = axios.create({
    headers: { 'content-type': 'application/json', 'User-Agent': 'WAHA/bench' },
    httpAgent: new HttpAgent({ maxSockets: concurrency }),
  });
  let next = 0;
  let sent = 0;
  let failed = 0;
  const started = process.hrtime.bigint();
  async function worker() {
    while (next < events.length) {
      const event = events[next++];
      const headers = {
        'X-Webhook-Request-Id': crypto.randomUUID(),
        'X-Webhook-Timestamp': String(Date.now()),
      };
      try {
        await client.post(url, event, { headers });
        sent += 1;
      } catch (error) {
        failed += 1;
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(JSON.stringify({ sent, failed, seconds }) + '\n');
}

main().catch((error) => {
  process.stderr.write(`waha sender failed: ${error.stack || error}\n`);
  process.exit(1);
});
