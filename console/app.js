// The console's shell: sign-in, the pages a token's scopes allow, and hash routing between them.
import { ApiError, get, token } from './api.js';
import { h } from './dom.js';
import { overview } from './overview.js';
import { compliance } from './compliance.js';
import { reports } from './reports.js';
import { rules } from './rules.js';

/** Each page and the scopes that may see it (`scopes` lists an admin token's as all of them). */
const PAGES = [
  { id: 'overview', title: 'Overview', allowed: () => true, render: overview },
  { id: 'rules', title: 'Rules', allowed: (s) => s.has('compliance') || s.has('analyst'), render: rules },
  { id: 'compliance', title: 'Compliance', allowed: (s) => s.has('compliance'), render: compliance },
  { id: 'reports', title: 'Reports', allowed: (s) => s.has('analyst'), render: reports },
];

const $ = (id) => document.getElementById(id);
let scopes = null;

function showSignIn(message) {
  scopes = null;
  $('nav').hidden = true;
  $('nav').replaceChildren();
  $('sign-out').hidden = true;
  $('page').hidden = true;
  $('page').replaceChildren();
  $('sign-in').hidden = false;
  const error = $('sign-in-error');
  error.hidden = !message;
  error.textContent = message || '';
  document.title = 'Sign in · personify console';
  $('token').focus();
}

async function signIn() {
  try {
    const me = await get('/v1/admin/whoami');
    scopes = new Set(me.scopes);
  } catch (e) {
    token.clear();
    const why = e instanceof ApiError && e.status === 401 ? 'This token was refused' : 'Signing in failed';
    showSignIn(`${why}: ${e.message}. Nothing else was loaded.`);
    return;
  }
  $('sign-in').hidden = true;
  $('sign-out').hidden = false;
  const nav = $('nav');
  nav.replaceChildren(
    h('ul', {}, PAGES.filter((p) => p.allowed(scopes)).map((p) => h('li', {}, h('a', { href: `#/${p.id}`, id: `nav-${p.id}` }, p.title)))),
    h('p', { class: 'scopes', id: 'scopes' }, `Scopes: ${[...scopes].join(', ')}`),
  );
  nav.hidden = false;
  route();
}

let rendering = 0;
async function route() {
  if (!scopes) return;
  const wanted = location.hash.replace(/^#\//, '') || 'overview';
  const page = PAGES.find((p) => p.id === wanted && p.allowed(scopes)) || PAGES[0];
  for (const a of $('nav').querySelectorAll('a')) {
    if (a.id === `nav-${page.id}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const root = h('section', { id: `page-${page.id}`, class: 'page', 'data-page': page.id, 'aria-busy': 'true' });
  const container = $('page');
  container.replaceChildren(root);
  container.hidden = false;
  document.title = `${page.title} · personify console`;
  const mine = ++rendering;
  try {
    await page.render(root, { scopes });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      token.clear();
      showSignIn(`The token is no longer accepted: ${e.message}.`);
      return;
    }
    root.append(h('p', { class: 'error', role: 'alert' }, `This page could not be loaded: ${e.message}`));
  }
  if (mine === rendering) {
    root.setAttribute('aria-busy', 'false');
    root.dataset.loaded = 'true';
  }
}

$('sign-in-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const value = $('token').value.trim();
  $('token').value = '';
  if (!value) return;
  token.set(value);
  signIn();
});
$('sign-out').addEventListener('click', () => {
  token.clear();
  history.replaceState(null, '', location.pathname);
  showSignIn();
});
window.addEventListener('hashchange', route);

if (token.get()) signIn();
else showSignIn();
