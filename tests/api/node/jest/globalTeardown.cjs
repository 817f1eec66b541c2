// Jest globalTeardown: stop the emulator globalSetup started (SIGTERM; it removes
// its temporary store) and wait for it to exit.
const STOP_SECONDS = 30;

module.exports = async function globalTeardown() {
  const child = globalThis.tidingsEmulator;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_SECONDS * 1000);
  await exited;
  clearTimeout(timer);
};
