// customerio-node against the emulator globalSetup started: a person signs up,
// gets a welcome email through the App API, and the test reads it in the outbox.
const { TrackClient, APIClient, SendEmailRequest } = require('customerio-node');
const emulator = require('./emulator.cjs');

const env = process.env;
const track = new TrackClient(env.TIDINGS_SITE_ID, env.TIDINGS_TRACK_API_KEY, {
  url: `${env.TIDINGS_URL}/api/v1`,
});
const api = new APIClient(env.TIDINGS_APP_API_KEY, { url: `${env.TIDINGS_URL}/v1` });

beforeEach(() => emulator.reset());

test('a welcome email with the person’s name', async () => {
  await track.identify('ada', { email: 'ada@example.com', first_name: 'Ada' });
  await track.track('ada', { name: 'signed_up', data: { plan: 'free' } });
  await api.sendEmail(
    new SendEmailRequest({
      to: 'ada@example.com',
      identifiers: { id: 'ada' },
      from: 'hello@example.com',
      subject: 'Welcome, {{ customer.first_name }}',
      body: '<p>Your plan: {{ trigger.plan }}</p>',
      message_data: { plan: 'free' },
    }),
  );
  await emulator.drain();

  const [email] = await emulator.outbox({ recipient: 'ada@example.com' });
  expect(email.subject).toBe('Welcome, Ada');
  expect(email.message.html).toContain('Your plan: free');
});

test('reset forgets the messages and the clock moves forward', async () => {
  await api.sendEmail(
    new SendEmailRequest({
      to: 'bob@example.com',
      identifiers: { email: 'bob@example.com' },
      from: 'hello@example.com',
      subject: 'Hello',
      body: '<p>Hello</p>',
    }),
  );
  await emulator.drain();
  expect(await emulator.outbox()).toHaveLength(1);

  await emulator.reset();
  expect(await emulator.outbox()).toEqual([]);
  const before = (await emulator.control('GET', '/_emulator/clock')).now;
  const after = await emulator.advance({ days: 1 });
  expect(after - before).toBeGreaterThanOrEqual(86400);
});
