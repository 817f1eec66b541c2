// ESP suppression and the data index through customerio-node's APIClient,
// asserting the answers' shapes as it goes (node:assert).
//
// Input: one JSON array of scenarios per line on stdin; each scenario is
//   {"auth": {"appKey", "url"}, "email", "bounced", "domain"}
// where `email` is suppressed by nothing yet and `bounced` hard-bounced a
// message sent from `domain`.
// Output: one line per array: [{"ok": true, "result": {method: answer}} |
//   {"ok": false, "error": {"message", "statusCode", "seen"}}].

import assert from 'node:assert/strict';
import { createInterface } from 'node:readline';
import cio from 'customerio-node';

const { APIClient } = cio;

function entryOf(answer, email) {
  return answer.suppressions.find((s) => s.email === email);
}

async function suppressions(api, s, seen) {
  seen.createSuppression = await api.createSuppression('blocks', s.email);
  seen.getSuppressions = await api.getSuppressions('blocks');
  assert.equal(seen.getSuppressions.category, 'blocks');
  const entry = entryOf(seen.getSuppressions, s.email);
  assert.equal(typeof entry.created, 'number');
  assert.equal(entry.status, '550');
  seen.getSuppressionsFiltered = await api.getSuppressions('blocks', {
    email: s.email,
    limit: 10,
    offset: 0,
  });
  seen.searchSuppression = await api.searchSuppression(s.email);
  assert.equal(seen.searchSuppression.category, 'blocks');
  seen.getBounces = await api.getSuppressions('bounces', { domain: s.domain });
  seen.getDomainSuppressions = await api.getDomainSuppressions(s.domain, 'bounces', { limit: 1 });
  seen.getDomainSuppressionsByEmail = await api.getDomainSuppressions(s.domain, 'bounces', {
    email: s.bounced,
  });
  seen.deleteSuppression = await api.deleteSuppression('blocks', s.email);
  seen.searchAfterDelete = await api.searchSuppression(s.email);
  await assert.rejects(api.deleteSuppression('blocks', s.email), (error) => {
    seen.deleteSuppressionAgain = { statusCode: error.statusCode, message: error.message };
    return error.statusCode === 404;
  });
  await assert.rejects(api.getSuppressions('unsubscribes'), (error) => {
    seen.getSuppressionsOfAnUnknownType = { statusCode: error.statusCode, message: error.message };
    return error.statusCode === 400;
  });
}

async function dataIndex(api, seen) {
  seen.batchUpdateAttributes = await api.batchUpdateAttributes([
    { name: 'plan', description: 'What they pay for', privacy_level: 0 },
    { name: 'plan', object_type_id: 1, description: "The company's plan" },
  ]);
  seen.batchUpdateEvents = await api.batchUpdateEvents([
    { name: 'purchase', description: 'A completed checkout' },
  ]);
  await assert.rejects(api.batchUpdateEvents([{ description: 'no name' }]), (error) => {
    seen.batchUpdateEventsWithoutAName = { statusCode: error.statusCode, message: error.message };
    return error.statusCode === 400;
  });
}

async function runOne(s) {
  const seen = {};
  try {
    const api = new APIClient(s.auth.appKey, { url: s.auth.url });
    await suppressions(api, s, seen);
    await dataIndex(api, seen);
    return { ok: true, result: seen };
  } catch (error) {
    return {
      ok: false,
      error: {
        message: String(error?.message ?? error),
        statusCode: error?.statusCode ?? null,
        seen: Object.keys(seen),
      },
    };
  }
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
