// Any APIClient methods of customerio-node, called as the test names them.
//
// Input: one JSON array of scenarios per line on stdin; each scenario is
//   {"auth": {"appKey", "url"}, "calls": [{"name", "method", "args": [...]}]}
// Output: one line per array: [{name: {"ok": true, "result"} |
//   {"ok": false, "statusCode", "message"}}] (a scenario's calls run in order).

import { createInterface } from 'node:readline';
import cio from 'customerio-node';

const { APIClient } = cio;

async function runOne(s) {
  const api = new APIClient(s.auth.appKey, { url: s.auth.url });
  const seen = {};
  for (const call of s.calls) {
    try {
      seen[call.name] = { ok: true, result: await api[call.method](...call.args) };
    } catch (error) {
      seen[call.name] = {
        ok: false,
        statusCode: error?.statusCode ?? null,
        message: String(error?.message ?? error),
      };
    }
  }
  return seen;
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (line.trim()) {
    const results = [];
    for (const scenario of JSON.parse(line)) {
      results.push(await runOne(scenario));
    }
    process.stdout.write(JSON.stringify(results) + '\n');
  }
}
