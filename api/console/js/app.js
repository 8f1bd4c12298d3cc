// The console shell: login, navigation (hash routes), language switch. Pages live in their own modules.
import { api, ApiError, getKey, onUnauthorized, setKey } from './api.js';
import { clear, h, toast } from './dom.js';
import { lang, onLangChange, roleName, setCategories, setLang, t } from './i18n.js';
import { state } from './state.js';
import { renderMap } from './map.js';
import { renderQueue } from './queue.js';
import { renderCase } from './case.js';
import { renderModels } from './models.js';
import { renderCameras } from './cameras.js';
import { renderSurveys } from './surveys.js';
import { renderMine, renderMineCase, renderReport } from './phone.js';

const view = () => document.getElementById('view');
let cleanup = null;

// a phone-sized screen opens on "my cases" (the field pages) instead of the map
const PHONE = window.matchMedia('(max-width: 600px)');
const home = () => (PHONE.matches && state.me && state.me.role ? 'mine' : 'map');

const PAGES = [
  { id: 'mine', render: renderMine, show: () => Boolean(state.me && state.me.role) },
  { id: 'map', render: renderMap, show: () => true },
  { id: 'queue', render: renderQueue, show: () => true },
  { id: 'cameras', render: renderCameras, show: () => state.config.features.cameras },
  { id: 'surveys', render: renderSurveys, show: () => state.config.features.surveys },
  { id: 'models', render: renderModels, show: () => state.config.features.models },
];

async function loadSession() {
  state.me = await api('/me');
  if (!state.taxonomy) {
    state.taxonomy = await api('/taxonomy');
    setCategories(state.taxonomy.categories);
  }
}

function renderTopbar() {
  const nav = clear(document.getElementById('nav'));
  const route = location.hash.replace(/^#\/?/, '').split('/')[0] || home();
  if (state.me) {
    for (const page of PAGES) {
      if (!page.show()) continue;
      nav.append(h('a', { href: `#/${page.id}`, id: `nav-${page.id}`, class: route === page.id ? 'active' : '' }, t(page.id)));
    }
  }
  const who = clear(document.getElementById('who'));
  if (state.me) {
    who.append(state.me.role
      ? h('span', { id: 'whoami', 'data-role': state.me.role }, `${state.me.name} · ${roleName(state.me.role)}`)
      : h('span', { id: 'whoami', 'data-role': '' }, t('guest')));
  }
  document.getElementById('brand').textContent = t('brand');
  document.getElementById('lang-toggle').textContent = t('language');
  const logout = document.getElementById('logout');
  logout.textContent = state.me && state.me.role ? t('logout') : t('login');
  logout.hidden = !state.me;
}

function renderLogin(message) {
  const root = clear(view());
  const input = h('input', { id: 'login-key', type: 'password', autocomplete: 'off', placeholder: 'ce_…', size: 60 });
  const error = h('p', { id: 'login-error', class: 'error' }, message || '');
  const form = h('form', { id: 'login-form', class: 'card login' },
    h('h2', {}, t('login')),
    h('p', {}, t('login_hint')),
    h('label', {}, t('api_key'), ' ', input),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', id: 'login-submit' }, t('login'))),
    state.openRead
      ? h('p', {}, h('a', { href: '#/map', id: 'login-guest', onclick: (e) => { e.preventDefault(); browseAsGuest(); } },
        t('browse_without_key')))
      : null,
    error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setKey(input.value.trim());
    try {
      await loadSession();
      if (location.hash.startsWith('#/login') || !location.hash) location.hash = `#/${home()}`;
      else route();
    } catch (err) {
      setKey(null);
      error.textContent = err.message;
    }
  });
  root.append(form);
  input.focus();
}

async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  if (!state.me) { renderTopbar(); renderLogin(); return; }
  renderTopbar();
  const [name, arg] = location.hash.replace(/^#\/?/, '').split('/');
  const root = clear(view());
  try {
    if (name === 'login') { renderLogin(); return; }
    if (name === 'case' && arg) { cleanup = await renderCase(root, Number(arg)); return; }
    if (name === 'mine' && arg) { cleanup = await renderMineCase(root, Number(arg)); return; }
    if (name === 'report') { cleanup = await renderReport(root); return; }
    const page = PAGES.find((p) => p.id === (name || home())) || PAGES.find((p) => p.id === 'map');
    if (!page.show()) { root.append(h('p', {}, t('not_available'))); return; }
    cleanup = await page.render(root);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { logout(err.message); return; }
    root.append(h('p', { class: 'error' }, `${t('error')}: ${err.message}`));
  }
}

function logout(message) {
  if (cleanup) { cleanup(); cleanup = null; } // the page's polling stops with the session
  setKey(null);
  state.me = null;
  renderTopbar();
  renderLogin(message);
}

async function start() {
  document.documentElement.lang = lang();
  document.getElementById('lang-toggle').addEventListener('click', () => setLang(lang() === 'zh' ? 'en' : 'zh'));
  document.getElementById('logout').addEventListener('click', () => {
    if (state.me && state.me.role) logout();
    else { state.me = null; renderTopbar(); renderLogin(); }
  });
  onLangChange(() => route());
  onUnauthorized((message) => { if (state.me) logout(message); }); // a key revoked or expired while in use
  window.addEventListener('hashchange', route);
  state.config = await api('/console/config');
  if (!getKey() && state.config.reads_need_key) { renderTopbar(); renderLogin(); return; }
  try {
    await loadSession(); // a key from this tab's session, or open reads without one
    if (!getKey() && !state.me.role) { // reads are open but nobody logged in: offer the login first
      state.openRead = true;
      state.me = null;
    }
  } catch (err) {
    state.me = null;
    if (getKey()) { setKey(null); toast(err.message, 'error'); }
  }
  if (!state.me) { renderTopbar(); renderLogin(); return; }
  route();
}

// open reads, no key: the login form has a way in without one
async function browseAsGuest() {
  setKey(null);
  await loadSession();
  if (!location.hash || location.hash.startsWith('#/login')) location.hash = '#/map';
  else route();
}

start().catch((err) => { view().textContent = `${t('error')}: ${err.message}`; });
