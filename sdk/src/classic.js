// Classic-script entry: `<script src="https://personify.example/sdk/personify.js" async></script>`.
// The endpoint is where the script came from (its `src`, minus `sdk/…`), unless `data-endpoint` says
// otherwise; `data-deadline-ms`, `data-site` and `data-policy-version` set the other options.
import { start } from './personify.js';

const script = document.currentScript;
if (!window.personify || typeof window.personify.status !== 'function') {
  const attr = (name) => (script && script.getAttribute('data-' + name)) || undefined;
  window.personify = start({
    endpoint: attr('endpoint') || (script && script.src ? new URL('..', script.src).href : ''),
    deadlineMs: attr('deadline-ms'),
    site: attr('site'),
    policyVersion: attr('policy-version'),
  });
}
