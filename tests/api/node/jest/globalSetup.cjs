// Jest globalSetup: start `tidings emulate` on free ports and hand its URLs and
// keys to the tests through process.env, which Jest's workers inherit.
// TIDINGS_COMMAND is how to run Tidings ("tidings" unless set, split on spaces).
const { spawn } = require('node:child_process');
const readline = require('node:readline');

const START_SECONDS = 60;

module.exports = async function globalSetup() {
  const [command, ...args] = (process.env.TIDINGS_COMMAND || 'tidings').split(' ');
  const child = spawn(command, [...args, 'emulate', '--port', '0', '--tls-port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  globalThis.tidingsEmulator = child; // for globalTeardown, which runs in this process
  const info = JSON.parse(await firstLine(child, START_SECONDS * 1000));
  Object.assign(process.env, {
    TIDINGS_URL: info.url,
    TIDINGS_HTTPS_URL: info.https_url,
    TIDINGS_CA_FILE: info.ca_file,
    TIDINGS_SITE_ID: info.site_id,
    TIDINGS_TRACK_API_KEY: info.track_api_key,
    TIDINGS_APP_API_KEY: info.app_api_key,
    TIDINGS_CDP_WRITE_KEY: info.cdp_write_key,
  });
};

// The first line the emulator prints (its JSON); an error if it exits or stays
// silent for `ms` first.
function firstLine(child, ms) {
  return new Promise((resolve, reject) => {
    const fail = (error) => {
      clearTimeout(timer);
      child.kill('SIGTERM');
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error(`tidings emulate did not answer in ${ms} ms`)), ms);
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`tidings emulate exited (${code}) before answering`)));
    readline.createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
  });
}
