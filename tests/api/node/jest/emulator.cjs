// The emulator's control API for tests (docs/emulator.md), with the App API key
// globalSetup put in process.env.

async function control(method, path, body) {
  const response = await fetch(process.env.TIDINGS_URL + path, {
    method,
    headers: {
      Authorization: `Bearer ${process.env.TIDINGS_APP_API_KEY}`,
      'Content-Type': 'application/json',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  }
  return response.status === 204 ? null : response.json();
}

// The captured messages, in the order they were sent. Filters: recipient,
// channel, template, campaign, delivery_id.
async function outbox(filters = {}) {
  const found = [];
  let start = '';
  do {
    const query = new URLSearchParams({ ...filters, limit: '1000', ...(start && { start }) });
    const page = await control('GET', `/_emulator/outbox?${query}`);
    found.push(...page.messages);
    start = page.next;
  } while (start);
  return found.reverse();
}

// Returns once segments, journeys, deliveries, webhooks and jobs have nothing due.
const drain = (timeout = 30) => control('POST', '/_emulator/drain', { timeout });

// Moves the clock forward, running what comes due on the way; the new time (unix seconds).
async function advance({ seconds = 0, minutes = 0, hours = 0, days = 0 } = {}) {
  const step = seconds + 60 * minutes + 3600 * hours + 86400 * days;
  return (await control('POST', '/_emulator/clock', { advance: step })).now;
}

// Forgets people, events, messages and jobs; with everything, the set-up too.
const reset = ({ everything = false } = {}) =>
  control('POST', '/_emulator/reset', { everything });

module.exports = { outbox, drain, advance, reset, control };
