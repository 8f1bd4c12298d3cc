// Drone surveys: create a survey, upload its files with a progress bar, watch processing progress, then the
// report: per-file results and the findings on a map.
import { api, blobUrl, upload } from './api.js';
import { clear, h, toast } from './dom.js';
import { categoryName, fmtTime, t } from './i18n.js';
import { categoryColour, state } from './state.js';

const POLL_MS = 1000;

function bar(id, fraction) {
  const pct = Math.round(Math.max(0, Math.min(1, fraction || 0)) * 100);
  return h('div', { class: 'progress-wrap' }, h('progress', { id, class: 'progress', max: 100, value: pct }), h('span', { id: `${id}-pct`, class: 'pct' }, `${pct}%`));
}

function mayUpload() { return Boolean(state.me && state.me.survey_actions && state.me.survey_actions.includes('upload')); }

function findingsMap(el, geojson) {
  const map = L.map(el);
  const layer = L.geoJSON(geojson, {
    pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 7, color: '#000', weight: 1, fillColor: categoryColour(f.properties.category), fillOpacity: 0.85, className: 'finding-marker' }),
    style: (f) => ({ color: categoryColour(f.properties.category), weight: 2 }),
    onEachFeature: (f, l) => l.bindTooltip(`${categoryName(f.properties.category) || f.properties.class_name} ${(f.properties.confidence || 0).toFixed(2)}`),
  }).addTo(map);
  if (state.config.tile_url) L.tileLayer(state.config.tile_url, { maxZoom: state.config.tile_max_zoom, attribution: state.config.tile_attribution }).addTo(map);
  const bounds = layer.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20], maxZoom: 18 });
  else map.setView(state.config.center || [0, 0], state.config.center ? 13 : 2);
  return map;
}

export async function renderSurveys(root) {
  let timer = null;
  let map = null;
  let lastUpload = null;
  const detail = h('div', { id: 'survey-detail' });
  const table = h('table', { class: 'grid', id: 'surveys' });

  async function loadList() {
    const items = await api('/surveys');
    const list = Array.isArray(items) ? items : (items.items || []);
    clear(table,
      h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, t('area')), h('th', {}, t('name')), h('th', {}, t('state')),
        h('th', {}, t('progress')), h('th', {}, t('findings')), h('th', {}, t('created_at')))),
      h('tbody', {}, list.map((s) => h('tr', { class: 'survey-row case-row', 'data-survey': s.id, onclick: () => open(s.id) },
        h('td', {}, s.id), h('td', {}, s.area), h('td', {}, s.name || ''), h('td', {}, s.status),
        h('td', { class: 'num' }, `${Math.round(s.percent || 0)}%`), h('td', { class: 'num' }, s.findings_count ?? ''),
        h('td', {}, fmtTime(s.created_at))))));
  }

  async function open(id) {
    stop();
    if (map) { map.remove(); map = null; }
    const s = await api(`/surveys/${id}`);
    const progress = bar('survey-progress', (s.percent || 0) / 100);
    const files = h('table', { class: 'grid', id: 'survey-files' });
    const report = h('div', { id: 'survey-report' });
    const uploadBox = mayUpload() && ['created', 'done', 'failed'].includes(s.status) ? uploadForm(s) : null;
    const uploadedNote = lastUpload && lastUpload.id === s.id
      ? h('p', { id: 'upload-result' }, `${t('uploaded')}: `, bar('upload-done', lastUpload.fraction), ` ${lastUpload.files} ${t('files')}`) : null;
    clear(detail, h('h3', {}, `#${s.id} ${s.area} ${s.name || ''}`),
      h('p', {}, `${t('state')}: `, h('strong', { id: 'survey-status', 'data-status': s.status }, s.status),
        s.current_file ? ` · ${t('current_file')}: ${s.current_file}` : '', s.error ? h('span', { class: 'error' }, ` ${s.error}`) : null),
      h('div', {}, `${t('processing')} `, progress), uploadedNote, uploadBox, files, report);
    renderFiles(files, s.files || []);
    if (s.status === 'queued' || s.status === 'processing') {
      timer = setTimeout(() => open(id).catch((err) => toast(err.message, 'error')), POLL_MS);
    } else if (s.status === 'done') {
      const rep = await api(`/surveys/${id}/report`);
      const geo = rep.findings;
      const feats = geo.features || [];
      const unplacedCount = (geo.properties && geo.properties.unplaced) || 0;
      const mapEl = feats.length ? h('div', { id: 'survey-map', class: 'small-map' }) : null;
      const overview = (rep.assets || []).includes('overview.jpg') ? h('img', { class: 'overview', id: 'survey-overview', alt: 'overview' }) : null;
      clear(report,
        h('h4', {}, `${t('report')}: ${s.findings_count} ${t('findings')} (${feats.length} ${t('on_map')}, ${unplacedCount} ${t('no_position')})`),
        mapEl,
        h('table', { class: 'grid', id: 'survey-findings' },
          h('thead', {}, h('tr', {}, h('th', {}, t('category')), h('th', {}, t('confidence')), h('th', {}, t('files')), h('th', {}, 'lat, lon'), h('th', {}, t('case')))),
          h('tbody', {}, feats.map((f) => h('tr', {},
            h('td', {}, f.properties.category ? categoryName(f.properties.category) : f.properties.class_name, f.properties.kind === 'change' ? ` (${t('change')})` : ''),
            h('td', { class: 'num' }, (f.properties.confidence || 0).toFixed(2)),
            h('td', {}, f.properties.file || ''),
            h('td', {}, `${f.geometry.coordinates[1].toFixed(6)}, ${f.geometry.coordinates[0].toFixed(6)}`),
            h('td', {}, f.properties.case_id ? h('a', { href: `#/case/${f.properties.case_id}` }, `#${f.properties.case_id}`) : (f.properties.permit ? `${t('permit')}: ${f.properties.permit}` : t('none'))))))),
        overview);
      if (mapEl) map = findingsMap(mapEl, geo);
      if (overview) blobUrl(`/surveys/${id}/report/overview.jpg`).then((u) => { overview.src = u; }).catch(() => overview.remove());
    }
    loadList().catch(() => {});
  }

  function renderFiles(el, files) {
    clear(el, h('thead', {}, h('tr', {}, h('th', {}, t('files')), h('th', {}, t('size')), h('th', {}, t('state')), h('th', {}, t('findings')), h('th', {}, t('error')))),
      h('tbody', {}, files.map((f) => h('tr', { 'data-file': f.name }, h('td', {}, f.name), h('td', { class: 'num' }, f.size),
        h('td', {}, f.status), h('td', { class: 'num' }, f.findings ?? ''), h('td', { class: 'error' }, f.error || '')))));
  }

  function uploadForm(s) {
    const input = h('input', { type: 'file', multiple: true, id: 'survey-files-input' });
    const up = bar('upload-progress', 0);
    const button = h('button', { type: 'submit', id: 'survey-upload' }, t('upload'));
    const form = h('form', { class: 'card', id: 'survey-upload-form' }, h('label', {}, `${t('files')} `, input), ' ', button, h('div', {}, `${t('uploaded')} `, up));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!input.files.length) { toast(t('required'), 'error'); return; }
      button.disabled = true;
      const data = new FormData();
      for (const file of input.files) data.append('files', file, file.name);
      const setUp = (f) => { up.querySelector('progress').value = Math.round(f * 100); up.querySelector('.pct').textContent = `${Math.round(f * 100)}%`; };
      try {
        const stored = await upload(`/surveys/${s.id}/files`, data, setUp);
        lastUpload = { id: s.id, fraction: 1, files: (stored || []).length };
        await api(`/surveys/${s.id}/process`, { method: 'POST' });
        open(s.id);
      } catch (err) { toast(err.message, 'error'); button.disabled = false; }
    });
    return form;
  }

  const area = h('input', { id: 'survey-area', required: true, placeholder: t('area') });
  const name = h('input', { id: 'survey-name', placeholder: t('name') });
  const create = h('form', { id: 'survey-create', class: 'toolbar' }, h('strong', {}, t('upload_survey')), area, name, h('button', { type: 'submit', id: 'survey-create-submit' }, t('submit')));
  create.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const s = await api('/surveys', { method: 'POST', body: { area: area.value.trim(), name: name.value.trim() } });
      await loadList();
      open(s.id);
    } catch (err) { toast(err.message, 'error'); }
  });
  function stop() { if (timer) { clearTimeout(timer); timer = null; } }
  clear(root, h('h2', {}, t('surveys')), mayUpload() ? create : null, table, detail);
  await loadList();
  return () => { stop(); if (map) map.remove(); };
}
