// Runs calls against the official Pipelines clients and prints what happened.
//
// Input: one JSON array of calls per line on stdin. Each call is
//   {"client": "pipelines", "auth": {"writeKey", "url", "strictMode"}, "method": "track", "args": [...]}
//     customerio-node's PipelinesClient: each call is one request, awaited.
//   {"client": "analytics", "auth": {"writeKey", "host"}, "method": "track", "args": [{...}]}
//     @customerio/cdp-analytics-node: calls are queued and sent in batches to
//     /v1/batch; the call answers at once with {"queued": true}. The method
//     "flush" waits until every queued call of that client was delivered (or
//     failed) and answers with the errors, one per failed call.
// Output: for each input array, one line holding a JSON array with, per call,
//   {"ok": true, "result": <value>} or {"ok": false, "error": {"name", "message", "statusCode", "body"}}.

import { createInterface } from 'node:readline';
import cio from 'customerio-node';
import { Analytics } from '@customerio/cdp-analytics-node';

const { PipelinesClient } = cio;
const clients = new Map();
const pending = new Map(); // analytics client -> promises of its queued calls' errors

function clientFor(call) {
  const key = JSON.stringify([call.client, call.auth]);
  if (!clients.has(key)) {
    const { auth } = call;
    const client =
      call.client === 'pipelines'
        ? new PipelinesClient(auth.writeKey, {
            url: auth.url,
            strictMode: Boolean(auth.strictMode),
            retry: { maxRetries: 0 },
          })
        : new Analytics({
            writeKey: auth.writeKey,
            host: auth.host,
            flushInterval: 50,
            maxRetries: 0,
          });
    clients.set(key, client);
    pending.set(client, []);
  }
  return clients.get(key);
}

function describe(error) {
  return {
    name: error?.name ?? 'Error',
    message: String(error?.message ?? error),
    statusCode: error?.statusCode ?? null,
    body: error?.body ?? null,
  };
}

async function runAnalytics(client, call) {
  const queued = pending.get(client);
  if (call.method === 'flush') {
    pending.set(client, []);
    const errors = (await Promise.all(queued)).filter((error) => error);
    return errors.map(describe);
  }
  if (typeof client[call.method] !== 'function') {
    throw new Error(`no such method: analytics.${call.method}`);
  }
  queued.push(new Promise((resolve) => client[call.method](call.args[0], (err) => resolve(err))));
  return { queued: true };
}

async function runOne(call) {
  try {
    const client = clientFor(call);
    if (call.client === 'analytics') {
      return { ok: true, result: await runAnalytics(client, call) };
    }
    if (typeof client[call.method] !== 'function') {
      throw new Error(`no such method: pipelines.${call.method}`);
    }
    const result = await client[call.method](...(call.args ?? []));
    return { ok: true, result: result ?? null };
  } catch (error) {
    return { ok: false, error: describe(error) };
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (line.trim()) {
    const results = [];
    for (const call of JSON.parse(line)) {
      results.push(await runOne(call));
    }
    process.stdout.write(JSON.stringify(results) + '\n');
  }
}
for (const client of clients.values()) {
  if (client instanceof Analytics) {
    await client.closeAndFlush({ timeout: 2000 });
  }
}
