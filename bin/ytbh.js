#!/usr/bin/env node
// Runs the compiled CLI; `npm run build` (done by `npm run setup`) produces dist/.
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    console.error('ytbh is not built yet: run `npm run build` (or `npm run setup`).');
    process.exit(1);
  }
  throw err;
});
