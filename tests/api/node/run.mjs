// Runs calls against the official customerio-node clients and prints what happened.
//
// Input: one JSON array of calls per line on stdin (or a single array as argv[2]).
// Each call is
//   {"client": "track", "auth": {"siteId", "apiKey", "url"}, "method": "identify", "args": [...]}
//   {"client": "app", "auth": {"appKey", "url"}, "method": "getAttributes", "args": [...]}
// Output: for each input array, one line holding a JSON array with, per call,
//   {"ok": true, "result": <resolved value>} or
//   {"ok": false, "error": {"name", "message", "statusCode", "body"}}.
// Calls in an array run one after another; clients are reused across calls.

import { createInterface } from 'node:readline';
import cio from 'customerio-node';

const { TrackClient, APIClient } = cio;
const clients = new Map();

function clientFor(call) {
  const key = JSON.stringify([call.client, call.auth]);
  if (!clients.has(key)) {
    const { auth } = call;
    const client =
      call.client === 'track'
        ? new TrackClient(auth.siteId, auth.apiKey, { url: auth.url })
        : new APIClient(auth.appKey, { url: auth.url });
    clients.set(key, client);
  }
  return clients.get(key);
}

async function runOne(call) {
  try {
    const client = clientFor(call);
    if (typeof client[call.method] !== 'function') {
      throw new Error(`no such method: ${call.client}.${call.method}`);
    }
    const result = await client[call.method](...(call.args ?? []));
    return { ok: true, result: result ?? null };
  } catch (error) {
    return {
      ok: false,
      error: {
        name: error?.name ?? 'Error',
        message: String(error?.message ?? error),
        statusCode: error?.statusCode ?? null,
        body: error?.body ?? null,
      },
    };
  }
}

async function runAll(calls) {
  const results = [];
  for (const call of calls) {
    results.push(await runOne(call));
  }
  return results;
}

async function main() {
  if (process.argv[2]) {
    process.stdout.write(JSON.stringify(await runAll(JSON.parse(process.argv[2]))) + '\n');
    return;
  }
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim()) {
      process.stdout.write(JSON.stringify(await runAll(JSON.parse(line))) + '\n');
    }
  }
}

await main();
