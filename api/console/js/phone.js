// The field pages (小屏干), made for a phone: "my cases" nearest first (the phone's position, else the centre of
// the key's district), one case with its evidence and directions (a geo: link), handle with a photo, and
// report a new problem with a photo. Uploads show their progress and can be retried: each carries a client
// reference made once per photo, so a retry after a lost answer changes nothing twice.
import { ApiError, api, blobUrl, query, upload } from './api.js';
import { clear, h, select, toast } from './dom.js';
import { categoryKeys, categoryName, fmtTime, lang, statusName, t } from './i18n.js';
import { allowedActions, can, state } from './state.js';

const WORDS = {
  en: {
    mine: 'My cases', nearest: 'nearest first', from_gps: 'from your position', from_district: 'from the centre of',
    from_nowhere: 'no position: newest first', directions: 'Directions', handle_photo: 'Handle with a photo',
    report_photo: 'Report a problem', retry: 'Retry', uploading: 'Uploading', handled_ok: 'Handled',
    reported_ok: 'Reported', description: 'Description', photo: 'Photo', no_mine: 'No cases for you here.',
    position_needed: 'A report needs your position: allow location, or try again outside.', send: 'Send',
    all_details: 'All details', back: 'My cases', position: 'Position',
  },
  zh: {
    mine: '我的案件', nearest: '由近及远', from_gps: '按当前位置', from_district: '按辖区中心',
    from_nowhere: '无位置：按最新', directions: '导航', handle_photo: '拍照处置', report_photo: '上报问题',
    retry: '重试', uploading: '上传中', handled_ok: '已处置', reported_ok: '已上报', description: '描述', photo: '照片',
    no_mine: '暂无您的案件。', position_needed: '上报需要您的位置：请允许定位，或到室外再试。', send: '提交',
    all_details: '全部详情', back: '我的案件', position: '位置',
  },
};
const w = (key) => (WORDS[lang()] || WORDS.en)[key] || WORDS.en[key] || key;

const GPS_TIMEOUT_MS = 8000;
const MAX_MINE = 200;

// ---- position -------------------------------------------------------------------------------------------------
function gps() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) { resolve(null); return; }
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy, source: 'gps' }),
      () => resolve(null),
      { enableHighAccuracy: true, timeout: GPS_TIMEOUT_MS, maximumAge: 30000 });
  });
}

// the centre of the key's (first) district outline, else the configured map centre
function districtCentre() {
  const names = (state.me && state.me.districts) || [];
  for (const f of (state.config.districts && state.config.districts.features) || []) {
    if (!names.includes(f.properties && f.properties.name)) continue;
    const points = JSON.stringify(f.geometry.coordinates).match(/-?\d+(\.\d+)?(e-?\d+)?,-?\d+(\.\d+)?(e-?\d+)?/g) || [];
    const xy = points.map((p) => p.split(',').map(Number));
    if (!xy.length) continue;
    const lons = xy.map((p) => p[0]); const lats = xy.map((p) => p[1]);
    return { lat: (Math.min(...lats) + Math.max(...lats)) / 2, lon: (Math.min(...lons) + Math.max(...lons)) / 2, source: 'district', district: f.properties.name };
  }
  const c = state.config.center;
  return c ? { lat: c[0], lon: c[1], source: 'district', district: '' } : null;
}

let lastPosition = null;
async function position() {
  const p = await gps();
  if (p) lastPosition = p;
  return p || districtCentre();
}

function metres(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad; const dLon = (b.lon - a.lon) * rad;
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371000 * Math.asin(Math.sqrt(s));
}

function fmtDistance(m) { return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(m < 10000 ? 1 : 0)} km`; }

function geoLink(c) {
  if (c.lat === null || c.lat === undefined) return null;
  const label = encodeURIComponent(`#${c.id} ${categoryName(c.category)}`);
  return h('a', { class: 'button geo', href: `geo:${c.lat},${c.lon}?q=${c.lat},${c.lon}(${label})`, 'data-case-id': c.id }, `➤ ${w('directions')}`);
}

// a random client reference (crypto.getRandomValues works on plain http too, randomUUID does not)
function clientRef(prefix) {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `${prefix}-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

// ---- an upload with progress and a retry button ---------------------------------------------------------------
// `send()` starts (or restarts) the same request; resolves with the answer once one attempt succeeds.
function uploader(path, form, label) {
  const bar = h('progress', { id: 'upload-progress', class: 'progress', max: 1, value: 0 });
  const text = h('span', { id: 'upload-text' }, `${label}…`);
  const retry = h('button', { type: 'button', id: 'upload-retry', class: 'big', hidden: true }, w('retry'));
  const el = h('div', { class: 'upload-box', id: 'upload-box' }, bar, text, retry);
  let settle;
  const done = new Promise((resolve) => { settle = resolve; });
  async function send() {
    retry.hidden = true;
    bar.value = 0;
    text.textContent = `${w('uploading')}… 0%`;
    try {
      const body = await upload(path, form, (f) => { bar.value = f; text.textContent = `${w('uploading')}… ${Math.round(f * 100)}%`; });
      text.textContent = `${label} ✓`;
      settle(body);
    } catch (err) {
      text.textContent = `${t('failed')}: ${err.message}`;
      el.dataset.error = String(err.status ?? '');
      // a refusal (4xx other than a timeout) will be refused again; a lost connection or a 5xx may be retried
      const retriable = !(err instanceof ApiError) || err.status === 0 || err.status === 408 || err.status === 429 || err.status >= 500;
      retry.hidden = !retriable;
    }
  }
  retry.addEventListener('click', send);
  return { el, send, done };
}

function photoButton(id, label, onPhoto) {
  const input = h('input', { type: 'file', accept: 'image/*', capture: 'environment', id, class: 'photo-input' });
  input.addEventListener('change', () => { if (input.files && input.files[0]) onPhoto(input.files[0]); input.value = ''; });
  return h('label', { class: 'button big primary photo-button', for: id }, label, input);
}

// ---- my cases -------------------------------------------------------------------------------------------------
// dispatched cases for roles that handle them, handled ones for inspectors who verify; the server keeps a key
// bound to districts to its districts
function mineStatus() { return can('handled') || !can('verify') ? 'dispatched' : 'handled'; }

async function fetchMine() {
  const items = [];
  const limit = state.config.page_size_max;
  for (let offset = 0; offset < MAX_MINE; offset += limit) {
    const page = await api(`/cases${query({ status: mineStatus(), sort: 'last_seen', limit, offset })}`);
    items.push(...page.items);
    if (offset + limit >= page.total) break;
  }
  return items;
}

function thumb(c, n) {
  const img = h('img', { class: 'mine-thumb', alt: '' });
  blobUrl(`/cases/${c.id}/evidence/${n}`).then((u) => { img.src = u; }).catch(() => img.remove());
  return img;
}

export async function renderMine(root) {
  const where = h('p', { class: 'muted', id: 'mine-where' }, t('loading'));
  const list = h('ul', { class: 'mine-list', id: 'mine-list' });
  const reportLink = mayReport() ? h('a', { class: 'button big', href: '#/report', id: 'mine-report' }, w('report_photo')) : null;
  root.append(h('div', { class: 'phone' }, h('h2', {}, w('mine'), ' ', h('span', { class: 'muted' }, `· ${statusName(mineStatus())}`)), where, reportLink, list));
  const [cases, here] = await Promise.all([fetchMine(), position()]);
  for (const c of cases) c.distance = here && c.lat !== null ? metres(here, c) : null;
  if (here) cases.sort((a, b) => (a.distance ?? Infinity) - (b.distance ?? Infinity));
  where.dataset.source = here ? here.source : 'none';
  where.textContent = !here ? w('from_nowhere')
    : `${w('nearest')}, ${here.source === 'gps' ? `${w('from_gps')} (±${Math.round(here.accuracy)} m)` : `${w('from_district')} ${here.district}`}`;
  if (!cases.length) list.append(h('li', { class: 'muted', id: 'mine-empty' }, w('no_mine')));
  cases.forEach((c, i) => list.append(h('li', { class: `mine-item${c.overdue ? ' overdue' : ''}`, 'data-case-id': c.id, 'data-distance': c.distance ?? '' },
    h('a', { class: 'mine-open', href: `#/mine/${c.id}` },
      i < 12 ? thumb(c, 1) : null,
      h('span', { class: 'mine-text' },
        h('strong', {}, `#${c.id} ${categoryName(c.category)}`),
        h('span', { class: 'mine-distance' }, c.distance !== null ? fmtDistance(c.distance) : t('no_position')),
        h('span', { class: 'muted' }, `${c.district || ''} · ${t('due')} ${fmtTime(c.due_at)}`),
        c.overdue ? h('span', { class: 'badge overdue' }, t('overdue')) : null)),
    geoLink(c))));
  return null;
}

// ---- one case -------------------------------------------------------------------------------------------------
export async function renderMineCase(root, id) {
  async function load() {
    const c = await api(`/cases/${id}`);
    const here = lastPosition;
    const evidence = c.evidence.filter((e) => e.url);
    const panel = h('div', { id: 'handle-panel' });
    if (allowedActions(c.status).includes('handled')) {
      panel.append(photoButton('handle-photo', w('handle_photo'), (file) => handle(c, file, panel)));
    }
    clear(root, h('div', { class: 'phone', id: 'mine-case', 'data-case-id': c.id },
      h('a', { href: '#/mine', class: 'button', id: 'mine-back' }, `← ${w('back')}`),
      h('h2', { id: 'case-title' }, `#${c.id} ${categoryName(c.category)}`),
      h('p', {}, h('span', { class: `badge status-${c.status}`, id: 'case-status', 'data-status': c.status }, statusName(c.status)),
        c.overdue ? h('span', { class: 'badge overdue' }, t('overdue')) : null,
        ` ${c.district || ''} · ${c.department || ''}`),
      h('p', { class: 'muted' }, `${t('due')} ${fmtTime(c.due_at)}`,
        here && c.lat !== null ? ` · ${fmtDistance(metres(here, c))}` : '',
        c.lat !== null ? ` · ${w('position')} ${c.lat.toFixed(5)}, ${c.lon.toFixed(5)}` : ''),
      h('div', { class: 'buttons' }, geoLink(c)),
      panel,
      h('h3', {}, t('evidence')),
      h('div', { class: 'mine-evidence', id: 'evidence' }, evidence.map((e) => {
        const img = h('img', { class: 'evidence-photo', alt: `${e.n}. ${e.kind}`, 'data-kind': e.kind, 'data-n': e.n });
        blobUrl(e.url).then((u) => { img.src = u; }).catch((err) => toast(err.message, 'error'));
        return h('figure', { class: `evidence ${e.kind}` }, img, h('figcaption', {}, `${e.n}. ${e.kind} · ${fmtTime(e.created_at)}`));
      })),
      h('p', {}, h('a', { href: `#/case/${c.id}`, id: 'mine-details' }, w('all_details')))));
  }

  async function handle(c, file, panel) {
    const taken = new Date().toISOString();
    const here = await gps() || null; // the phone's own position only: a district centre is not where it was taken
    const form = new FormData();
    form.append('photo', file, file.name || 'photo.jpg');
    form.append('version', String(c.version));
    form.append('taken_at', taken);
    form.append('client_ref', clientRef(`handle-${c.id}`));
    if (here) { form.append('lat', String(here.lat)); form.append('lon', String(here.lon)); }
    const up = uploader(`/cases/${c.id}/handled/photo`, form, w('handled_ok'));
    clear(panel, up.el);
    up.send();
    await up.done;
    toast(`#${c.id}: ${w('handled_ok')} ✓`);
    await load();
  }

  await load();
  return null;
}

// ---- report a new problem -------------------------------------------------------------------------------------
function mayReport() { return Boolean(state.me && (state.me.report_actions || []).includes('report')); }

export async function renderReport(root) {
  if (!mayReport()) { root.append(h('p', {}, t('forbidden_page'))); return null; }
  const category = select(categoryKeys().map((k) => [k, categoryName(k)]), categoryKeys()[0], { id: 'report-category', class: 'big' });
  const description = h('textarea', { id: 'report-description', rows: 3, maxlength: 2000 });
  const where = h('p', { class: 'muted', id: 'report-where' }, t('loading'));
  const status = h('div', { id: 'report-status' });
  let here = null;
  const photo = photoButton('report-photo', w('report_photo'), async (file) => {
    here = here || await gps();
    if (!here) { toast(w('position_needed'), 'error'); return; }
    const form = new FormData();
    form.append('category', category.value);
    form.append('lat', String(here.lat));
    form.append('lon', String(here.lon));
    form.append('description', description.value.trim());
    form.append('observed_at', new Date().toISOString());
    form.append('client_ref', clientRef('report'));
    form.append('photo', file, file.name || 'photo.jpg');
    const up = uploader('/reports', form, w('reported_ok'));
    clear(status, up.el);
    up.send();
    const body = await up.done;
    status.append(h('p', { id: 'report-done', 'data-case-id': body.case_id }, `${w('reported_ok')}: `,
      h('a', { href: `#/case/${body.case_id}` }, `#${body.case_id}`)));
  });
  root.append(h('div', { class: 'phone', id: 'report' },
    h('a', { href: '#/mine', class: 'button' }, `← ${w('back')}`),
    h('h2', {}, w('report_photo')), where,
    h('label', { class: 'stack' }, t('category'), category),
    h('label', { class: 'stack' }, w('description'), description),
    photo, status));
  here = await gps();
  where.dataset.source = here ? 'gps' : 'none';
  where.textContent = here ? `${w('position')} ${here.lat.toFixed(5)}, ${here.lon.toFixed(5)} (±${Math.round(here.accuracy)} m)` : w('position_needed');
  return null;
}
