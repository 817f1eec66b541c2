// Transactional sends through customerio-node's APIClient, which only takes
// request objects (SendEmailRequest, ...), never plain JSON.
//
// Input: one JSON array of calls per line on stdin; each call is
//   {"appKey", "url", "kind": "email" | "push" | "sms", "options": {...},
//    "attachments": {"name": "text"}}
// Output: one line per array: [{"ok": true, "result"} | {"ok": false, "error"}].

import { createInterface } from 'node:readline';
import cio from 'customerio-node';

const { APIClient, SendEmailRequest, SendPushRequest, SendSMSRequest } = cio;
const builders = { email: SendEmailRequest, push: SendPushRequest, sms: SendSMSRequest };
const methods = { email: 'sendEmail', push: 'sendPush', sms: 'sendSMS' };

async function runOne(call) {
  try {
    const api = new APIClient(call.appKey, { url: call.url });
    const request = new builders[call.kind](call.options);
    for (const [name, text] of Object.entries(call.attachments ?? {})) {
      request.attach(name, Buffer.from(text));
    }
    return { ok: true, result: (await api[methods[call.kind]](request)) ?? null };
  } catch (error) {
    return {
      ok: false,
      error: {
        message: String(error?.message ?? error),
        statusCode: error?.statusCode ?? null,
      },
    };
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
