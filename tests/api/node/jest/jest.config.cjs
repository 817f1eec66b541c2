// Jest starts one `tidings emulate` for the whole run (docs/emulator.md).
module.exports = {
  globalSetup: './globalSetup.cjs',
  globalTeardown: './globalTeardown.cjs',
};
