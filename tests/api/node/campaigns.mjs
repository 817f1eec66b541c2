// Campaigns, broadcasts and segment usage through customerio-node's APIClient,
// asserting the answers' shapes as it goes (node:assert).
//
// Input: one JSON array of scenarios per line on stdin; each scenario is
//   {"auth": {"appKey", "url"}, "campaignId", "actionId", "cursor",
//    "broadcastId", "broadcastActionId", "segmentId"}
// where `actionId` and `broadcastActionId` are email actions and `cursor` a
// `next` from a page of the campaign's actions.
// Output: one line per array: [{"ok": true, "result": {method: answer}} |
//   {"ok": false, "error": {"message", "statusCode"}}].

import assert from 'node:assert/strict';
import { createInterface } from 'node:readline';
import cio from 'customerio-node';

const { APIClient } = cio;

async function campaigns(api, s, seen) {
  seen.listCampaigns = await api.listCampaigns();
  assert.ok(seen.listCampaigns.campaigns.some((c) => c.id === s.campaignId));
  seen.getCampaign = await api.getCampaign(s.campaignId);
  assert.equal(seen.getCampaign.campaign.id, s.campaignId);
  assert.equal(typeof seen.getCampaign.campaign.deduplicate_id, 'string');
  seen.getCampaignActions = await api.getCampaignActions(s.campaignId);
  assert.equal(seen.getCampaignActions.next, '');
  seen.getCampaignActionsFrom = await api.getCampaignActions(s.campaignId, { start: s.cursor });
  assert.ok(seen.getCampaignActionsFrom.actions.length < seen.getCampaignActions.actions.length);
  seen.getCampaignAction = await api.getCampaignAction(s.campaignId, s.actionId);
  assert.equal(seen.getCampaignAction.action.campaign_id, s.campaignId);
  seen.updateCampaignAction = await api.updateCampaignAction(s.campaignId, s.actionId, {
    subject: 'From Node',
  });
  assert.equal(seen.updateCampaignAction.action.subject, 'From Node');
  seen.updateCampaignActionLanguage = await api.updateCampaignActionLanguage(
    s.campaignId,
    s.actionId,
    'fr',
    { subject: 'Depuis Node' },
  );
  seen.getCampaignActionLanguage = await api.getCampaignActionLanguage(
    s.campaignId,
    s.actionId,
    'fr',
  );
  assert.deepEqual(seen.getCampaignActionLanguage, seen.updateCampaignActionLanguage);
  assert.equal(seen.getCampaignActionLanguage.action.language, 'fr');
}

async function broadcasts(api, s, seen) {
  seen.listBroadcasts = await api.listBroadcasts();
  assert.ok(seen.listBroadcasts.broadcasts.some((b) => b.id === s.broadcastId));
  seen.getBroadcast = await api.getBroadcast(s.broadcastId);
  assert.equal(seen.getBroadcast.broadcast.type, 'triggered_broadcast');
  seen.getBroadcastActions = await api.getBroadcastActions(s.broadcastId);
  assert.ok(seen.getBroadcastActions.actions.length > 0);
  seen.getBroadcastAction = await api.getBroadcastAction(s.broadcastId, s.broadcastActionId);
  assert.equal(seen.getBroadcastAction.action.broadcast_id, s.broadcastId);
  seen.updateBroadcastAction = await api.updateBroadcastAction(
    s.broadcastId,
    s.broadcastActionId,
    { body: 'From Node', sending_state: 'draft' },
  );
  assert.equal(seen.updateBroadcastAction.action.sending_state, 'draft');
  seen.updateBroadcastActionLanguage = await api.updateBroadcastActionLanguage(
    s.broadcastId,
    s.broadcastActionId,
    'es',
    { subject: 'Desde Node' },
  );
  seen.getBroadcastActionLanguage = await api.getBroadcastActionLanguage(
    s.broadcastId,
    s.broadcastActionId,
    'es',
  );
  assert.deepEqual(seen.getBroadcastActionLanguage, seen.updateBroadcastActionLanguage);
}

async function missing(api, s, seen) {
  await assert.rejects(api.getCampaign(s.broadcastId), (error) => {
    seen.getCampaignOfABroadcast = { statusCode: error.statusCode, message: error.message };
    return error.statusCode === 404;
  });
  await assert.rejects(api.getCampaignActionLanguage(s.campaignId, s.actionId, 'de'), (error) => {
    seen.getCampaignActionLanguageMissing = { statusCode: error.statusCode };
    return error.statusCode === 404;
  });
}

async function runOne(s) {
  const seen = {};
  try {
    const api = new APIClient(s.auth.appKey, { url: s.auth.url });
    await campaigns(api, s, seen);
    await broadcasts(api, s, seen);
    seen.getSegmentUsedBy = await api.getSegmentUsedBy(s.segmentId);
    assert.ok(seen.getSegmentUsedBy.used_by.campaigns.includes(s.campaignId));
    await missing(api, s, seen);
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
