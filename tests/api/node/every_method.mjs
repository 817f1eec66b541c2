// Any APIClient method of customerio-node, called as the test names it, with the
// error's raw body kept so the test can tell an unknown route from a missing id.
//
// Input: one JSON array per line on stdin, either of scenarios
//   {"auth": {"appKey", "url"}, "calls": [{"name", "method", "args": [...]}]}
// (an argument {"$request": "SendEmailRequest", "options": {...}} is built as
// that request class, which the send methods insist on) or of one string
// "methods", asking for the names on APIClient's prototype chain.
// Output: one line per array: for scenarios [{name: {"ok": true, "result"} |
//   {"ok": false, "statusCode", "message", "body"}}]; for "methods" [[names]].

import { createInterface } from 'node:readline';
import cio from 'customerio-node';

const { APIClient } = cio;

function methodNames() {
  const names = new Set();
  for (let proto = APIClient.prototype; proto && proto !== Object.prototype; ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (name !== 'constructor' && typeof descriptor.value === 'function') {
        names.add(name);
      }
    }
    proto = Object.getPrototypeOf(proto);
  }
  return [...names].sort();
}

function build(arg) {
  if (arg && typeof arg === 'object' && typeof arg.$request === 'string') {
    return new cio[arg.$request](arg.options);
  }
  return arg;
}

async function runOne(s) {
  const api = new APIClient(s.auth.appKey, { url: s.auth.url });
  const seen = {};
  for (const call of s.calls) {
    try {
      const result = await api[call.method](...call.args.map(build));
      seen[call.name] = { ok: true, result: result ?? null };
    } catch (error) {
      seen[call.name] = {
        ok: false,
        statusCode: error?.statusCode ?? null,
        message: String(error?.message ?? error),
        body: typeof error?.body === 'string' ? error.body : null,
      };
    }
  }
  return seen;
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (line.trim()) {
    const results = [];
    for (const item of JSON.parse(line)) {
      results.push(item === 'methods' ? methodNames() : await runOne(item));
    }
    process.stdout.write(JSON.stringify(results) + '\n');
  }
}
