// The map (大屏观): cases as circles coloured by category (fill) and status (ring), sized by priority; district
// outlines; base tiles from the configured URL, or a plain coordinate grid offline; optional layers for the
// hotspot forecast and survey findings when the server has those APIs. Click a case → its card.
import { api, blobUrl, query } from './api.js';
import { clear, fmtPriority, h, select, toast } from './dom.js';
import { categoryKeys, categoryName, fmtTime, statusKeys, statusName, t } from './i18n.js';
import { CLOSED, STATUS_COLOURS, categoryColour, state } from './state.js';

const MAX_MAP_CASES = 5000;
const REFRESH_MS = 30000;

function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}

// A latitude/longitude grid redrawn for the visible area: the base map when no tile server is configured.
function graticule(map) {
  const group = L.layerGroup();
  function draw() {
    group.clearLayers();
    const b = map.getBounds();
    const span = Math.max(b.getEast() - b.getWest(), b.getNorth() - b.getSouth());
    if (!(span > 0)) return;
    const step = niceStep(span / 6);
    const decimals = Math.max(0, -Math.floor(Math.log10(step)));
    const line = { color: '#b0b7bf', weight: 1, interactive: false };
    for (let x = Math.ceil(b.getWest() / step) * step; x <= b.getEast(); x += step) {
      group.addLayer(L.polyline([[b.getSouth(), x], [b.getNorth(), x]], line));
      group.addLayer(L.marker([b.getSouth(), x], { interactive: false, icon: L.divIcon({ className: 'grid-label', html: `${x.toFixed(decimals)}°`, iconSize: null, iconAnchor: [-3, 16] }) }));
    }
    for (let y = Math.ceil(b.getSouth() / step) * step; y <= b.getNorth(); y += step) {
      group.addLayer(L.polyline([[y, b.getWest()], [y, b.getEast()]], line));
      group.addLayer(L.marker([y, b.getWest()], { interactive: false, icon: L.divIcon({ className: 'grid-label', html: `${y.toFixed(decimals)}°`, iconSize: null }) }));
    }
  }
  group.on('add', () => { map.on('moveend', draw); draw(); });
  group.on('remove', () => map.off('moveend', draw));
  return group;
}

function radiusFor(priority) { return 5 + 2 * Math.min(priority || 1, 10); }

// all cases matching the filters, page by page (the server caps a page at api.page_size_max)
async function fetchCases(filters) {
  const features = [];
  let total = 0;
  const limit = state.config.page_size_max;
  for (let offset = 0; offset < MAX_MAP_CASES; offset += limit) {
    const page = await api(`/cases.geojson${query({ ...filters, sort: 'priority', limit, offset })}`);
    features.push(...page.features);
    total = page.total;
    if (offset + limit >= page.total) break;
  }
  return { features, total };
}

function legend() {
  const control = L.control({ position: 'bottomright' });
  control.onAdd = () => h('div', { class: 'legend' },
    h('strong', {}, t('category')),
    categoryKeys().map((k) => h('div', {}, h('span', { class: 'swatch', style: `background:${categoryColour(k)}` }), categoryName(k))),
    h('strong', {}, t('status')),
    statusKeys().map((s) => h('div', {}, h('span', { class: 'ring', style: `border-color:${STATUS_COLOURS[s]}` }), statusName(s))));
  return control;
}

function valueOf(props) {
  for (const k of ['total', 'expected', 'expected_count', 'risk', 'probability', 'score', 'value', 'count']) {
    if (typeof props[k] === 'number') return props[k];
  }
  return null;
}

function fmtValue(v) { return typeof v === 'number' ? +v.toFixed(4) : String(v); }

// a feature's properties as a table; a per-category mapping (a forecast's `expected`) as one row per category
function propsTable(props) {
  const rows = [];
  for (const [k, v] of Object.entries(props || {})) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [cat, x] of Object.entries(v)) rows.push([`${k}: ${categoryName(cat)}`, fmtValue(x)]);
    } else if (!Array.isArray(v)) {
      rows.push([k, v === null ? t('none') : fmtValue(v)]);
    }
  }
  return h('table', { class: 'props' }, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))));
}

// GeoJSON from an optional API, shaded by its numeric value (forecast cells) or drawn as points (findings)
function geoLayer(url, colour, transform = (x) => x, markerClass = 'overlay-marker') {
  const layer = L.geoJSON(null, {
    style: (f) => {
      const v = valueOf(f.properties || {});
      const max = layer.maxValue || 1;
      return { color: colour, weight: 1, fillColor: colour, fillOpacity: v === null ? 0.25 : 0.1 + 0.6 * Math.min(v / max, 1) };
    },
    pointToLayer: (f, latlng) => L.circleMarker(latlng, {
      radius: 6, color: colour, weight: 2, fillOpacity: 0.7, className: markerClass,
      fillColor: f.properties && f.properties.category ? categoryColour(f.properties.category) : colour,
    }),
    onEachFeature: (f, l) => l.bindPopup(() => propsTable(f.properties)),
  });
  let loaded = false;
  layer.on('add', async () => {
    if (loaded) return;
    loaded = true;
    try {
      const data = await transform(await api(url));
      const values = (data.features || []).map((f) => valueOf(f.properties || {})).filter((v) => v !== null);
      layer.maxValue = values.length ? Math.max(...values) : 1;
      layer.addData(data);
    } catch (err) {
      loaded = false;
      toast(`${url}: ${err.message}`, 'error');
    }
  });
  return layer;
}

// the findings of the latest finished surveys, as one FeatureCollection
const SURVEYS_ON_MAP = 10;
async function surveyFindings(list) {
  const done = (Array.isArray(list) ? list : list.items || []).filter((sv) => sv.status === 'done').slice(0, SURVEYS_ON_MAP);
  const reports = await Promise.all(done.map((sv) => api(`/surveys/${sv.id}/report`).catch(() => null)));
  const features = [];
  reports.forEach((r, i) => {
    if (!r) return;
    for (const f of r.findings.features || []) features.push({ ...f, properties: { survey: `#${done[i].id} ${done[i].area}`, ...f.properties } });
  });
  return { type: 'FeatureCollection', features };
}

// cameras with a position, as points with their live state
function cameraPoints(list) {
  const features = (Array.isArray(list) ? list : []).filter((c) => c.config.geo).map((c) => ({
    type: 'Feature',
    geometry: { type: 'Point', coordinates: [c.config.geo.lon, c.config.geo.lat] },
    properties: { camera: c.config.id, name: c.config.name, state: (c.status && c.status.state) || t('none'), fps: c.status ? c.status.fps : null },
  }));
  return { type: 'FeatureCollection', features };
}

async function showCard(card, id) {
  clear(card).hidden = false;
  card.append(h('p', {}, t('loading')));
  const c = await api(`/cases/${id}`);
  const snap = c.evidence.find((e) => e.kind === 'snapshot' && e.url) || c.evidence.find((e) => e.url);
  const img = h('img', { class: 'thumb', alt: '' });
  clear(card,
    h('button', { class: 'close', onclick: () => { card.hidden = true; } }, '×'),
    h('h3', {}, `#${c.id} ${categoryName(c.category)}`),
    h('p', {}, h('span', { class: `badge status-${c.status}`, id: 'card-status' }, statusName(c.status)),
      ' ', c.overdue ? h('span', { class: 'badge overdue' }, t('overdue')) : null),
    snap ? img : null,
    h('table', { class: 'props' },
      h('tr', {}, h('th', {}, t('priority')), h('td', {}, fmtPriority(c.priority))),
      h('tr', {}, h('th', {}, t('district')), h('td', {}, c.district || t('none'))),
      h('tr', {}, h('th', {}, t('department')), h('td', {}, c.department || t('none'))),
      h('tr', {}, h('th', {}, t('confidence')), h('td', {}, c.max_confidence.toFixed(2))),
      h('tr', {}, h('th', {}, t('last_seen')), h('td', {}, fmtTime(c.last_seen))),
      h('tr', {}, h('th', {}, t('due')), h('td', {}, fmtTime(c.due_at)))),
    h('a', { href: `#/case/${c.id}`, class: 'button', id: 'card-open' }, t('open_case')));
  card.dataset.caseId = c.id;
  if (snap) blobUrl(snap.url).then((u) => { img.src = u; }).catch(() => img.remove());
}

export async function renderMap(root) {
  const filters = { category: '', status: '', hideClosed: true };
  const count = h('span', { id: 'map-count', class: 'muted' });
  const toolbar = h('div', { class: 'toolbar' },
    h('label', {}, t('category'), ' ', select([['', t('all')], ...categoryKeys().map((k) => [k, categoryName(k)])], '', {
      id: 'map-category', onchange: (e) => { filters.category = e.target.value; load(); } })),
    h('label', {}, t('status'), ' ', select([['', t('all')], ...statusKeys().map((s) => [s, statusName(s)])], '', {
      id: 'map-status', onchange: (e) => { filters.status = e.target.value; load(); } })),
    h('label', {}, h('input', { type: 'checkbox', checked: true, id: 'map-hide-closed', onchange: (e) => { filters.hideClosed = e.target.checked; load(); } }), ' ', t('hide_closed')),
    count);
  const mapEl = h('div', { id: 'map' });
  const card = h('aside', { id: 'case-card', class: 'card', hidden: true });
  // cases no source gave a position for (e.g. uploaded pictures without GPS) are listed beside the map
  const unplaced = h('details', { id: 'unplaced', class: 'card', hidden: true });
  root.append(toolbar, h('div', { class: 'map-wrap' }, mapEl, card, unplaced));

  const cfg = state.config;
  const map = L.map(mapEl, { worldCopyJump: true });
  if (cfg.tile_url) {
    L.tileLayer(cfg.tile_url, { maxZoom: cfg.tile_max_zoom, attribution: cfg.tile_attribution }).addTo(map);
  } else {
    mapEl.classList.add('no-tiles');
  }
  const grid = graticule(map);
  if (!cfg.tile_url) grid.addTo(map);
  const districts = L.geoJSON(cfg.districts, {
    style: { color: '#37474f', weight: 2, fill: true, fillOpacity: 0.03, dashArray: '6 4' },
    onEachFeature: (f, l) => { if (f.properties && f.properties.name) l.bindTooltip(String(f.properties.name), { sticky: true }); },
  }).addTo(map);
  const cases = L.featureGroup().addTo(map);
  const overlays = { [t('districts')]: districts, [t('grid')]: grid };
  if (cfg.features.forecast) overlays[t('forecast')] = geoLayer('/forecast', '#e65100');
  if (cfg.features.surveys) overlays[t('survey_findings')] = geoLayer('/surveys', '#00838f', surveyFindings, 'finding-marker');
  if (cfg.features.cameras) overlays[t('cameras')] = geoLayer('/cameras', '#37474f', cameraPoints, 'camera-marker');
  // on a phone the layer switch is a button, not a panel over the map
  L.control.layers(null, overlays, { collapsed: window.matchMedia('(max-width: 600px)').matches }).addTo(map);
  legend().addTo(map);
  L.control.scale().addTo(map);

  let fitted = false;
  async function load() {
    const { features, total } = await fetchCases({ category: filters.category, status: filters.status });
    cases.clearLayers();
    let placed = 0;
    for (const f of features) {
      const p = f.properties;
      if (!f.geometry || (filters.hideClosed && CLOSED.has(p.status))) continue;
      const [lon, lat] = f.geometry.coordinates;
      const marker = L.circleMarker([lat, lon], {
        radius: radiusFor(p.priority),
        fillColor: categoryColour(p.category),
        fillOpacity: CLOSED.has(p.status) ? 0.3 : 0.85,
        color: STATUS_COLOURS[p.status] || '#000',
        weight: p.overdue ? 5 : 3,
        className: `case-marker case-${p.id} status-${p.status}`,
      });
      marker.bindTooltip(`#${p.id} ${categoryName(p.category)} · ${statusName(p.status)}`);
      marker.on('click', () => showCard(card, p.id).catch((err) => toast(err.message, 'error')));
      cases.addLayer(marker);
      placed += 1;
    }
    const noGeo = features.filter((f) => !f.geometry && !(filters.hideClosed && CLOSED.has(f.properties.status)));
    const withoutPosition = noGeo.length;
    clear(unplaced, h('summary', {}, `${withoutPosition} ${t('no_position')}`),
      h('ul', {}, noGeo.map((f) => h('li', {}, h('a', {
        href: `#/case/${f.properties.id}`,
        class: 'unplaced-case',
        'data-case-id': f.properties.id,
        onclick: (e) => { e.preventDefault(); showCard(card, f.properties.id).catch((err) => toast(err.message, 'error')); },
      }, `#${f.properties.id} ${categoryName(f.properties.category)}`), ' ',
      h('span', { class: `badge status-${f.properties.status}` }, statusName(f.properties.status))))));
    unplaced.hidden = withoutPosition === 0;
    count.textContent = `${placed} ${t('cases_on_map')} (${t('total')} ${total}; ${withoutPosition} ${t('no_position')})`;
    count.dataset.placed = placed;
    if (!fitted) {
      fitted = true;
      const bounds = cases.getBounds();
      if (districts.getLayers().length) bounds.extend(districts.getBounds());
      if (bounds.isValid()) map.fitBounds(bounds, { padding: [30, 30], maxZoom: 17 });
      else if (cfg.center) map.setView(cfg.center, 13);
      else map.setView([0, 0], 2);
    }
  }
  await load();
  // the wall screen keeps itself current: new cases and status changes appear without a reload
  const timer = setInterval(() => load().catch((err) => toast(err.message, 'error')), REFRESH_MS);
  return () => { clearInterval(timer); map.remove(); };
}
