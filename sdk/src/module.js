// ES module entry: `import { init } from 'https://personify.example/sdk/personify.mjs'`.
// The endpoint defaults to where the module came from; a bundled copy must pass `endpoint`.
import { start } from './personify.js';

/** Starts the SDK: `init({ endpoint, deadlineMs, site, policyVersion, category })`. */
export function init(options) {
  return start(Object.assign({ endpoint: new URL('..', import.meta.url).href }, options));
}
