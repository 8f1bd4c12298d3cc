// Cameras: live status (state, fps, reconnects, last error), the latest snapshot with the zones drawn; add or
// edit a camera and draw its zones on the snapshot (click to add points, close the polygon, name it, save).
import { api, blobUrl } from './api.js';
import { clear, h, select, svg, toast } from './dom.js';
import { fmtTime, t } from './i18n.js';
import { state } from './state.js';

const ZONE_KINDS = ['mask', 'no_vending', 'construction_watch'];
const ZONE_COLOURS = { mask: '#616161', no_vending: '#e65100', construction_watch: '#1565c0' };
const REFRESH_MS = 5000;

// the camera's configuration and its status, whichever way the list nests them
function split(item) {
  const config = item.config || item;
  return { config, status: item.status || {} };
}

function zoneShapes(zones, width, height) {
  return zones.map((z) => svg('g', { class: `zone zone-${z.kind}`, 'data-zone': z.name },
    svg('polygon', { points: z.points.map((p) => p.join(',')).join(' '), fill: ZONE_COLOURS[z.kind] || '#000', 'fill-opacity': 0.2, stroke: ZONE_COLOURS[z.kind] || '#000', 'stroke-width': Math.max(2, width / 300) }),
    svg('text', { x: z.points[0][0] + 4, y: z.points[0][1] + Math.max(14, height / 30), fill: ZONE_COLOURS[z.kind] || '#000', 'font-size': Math.max(14, height / 30), 'font-weight': 'bold', stroke: '#fff', 'stroke-width': 0.5, 'paint-order': 'stroke' }, `${z.name} (${t(`zone_${z.kind}`)})`)));
}

// the latest snapshot as an SVG (image + zones); resolves to {el, width, height} once the image is known
async function snapshotSvg(cameraId, zones) {
  const url = await blobUrl(`/cameras/${encodeURIComponent(cameraId)}/snapshot`);
  const size = await new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve([img.naturalWidth, img.naturalHeight]);
    img.onerror = () => reject(new Error('snapshot is not an image'));
    img.src = url;
  });
  const [width, height] = size;
  const el = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'snapshot' }, svg('image', { href: url, x: 0, y: 0, width, height }), ...zoneShapes(zones, width, height));
  return { el, width, height };
}

function statusCells(status) {
  return [
    h('td', {}, h('span', { class: `badge cam-${status.state || 'unknown'}` }, status.state || t('none'))),
    h('td', { class: 'num' }, typeof status.fps === 'number' ? status.fps.toFixed(1) : t('none')),
    h('td', { class: 'num' }, status.reconnects ?? t('none')),
    h('td', {}, status.last_frame_at ? fmtTime(status.last_frame_at) : t('none')),
    h('td', { class: 'error' }, status.last_error || ''),
  ];
}

function mayEdit() { return Boolean(state.me && state.me.camera_actions && state.me.camera_actions.includes('edit')); }

// the camera form: id, name, URL, fps, position, enabled, and the zone editor on the snapshot
function editor(root, item, reload) {
  const existing = item ? split(item).config : null;
  const cfg = existing ? JSON.parse(JSON.stringify(existing)) : { id: '', name: '', url: '', fps: 2, enabled: true, zones: [] };
  cfg.zones = cfg.zones || [];
  const field = (name, attrs = {}) => h('input', { name, value: cfg[name] ?? '', ...attrs });
  const id = field('id', { required: true, disabled: Boolean(existing), placeholder: 'cam-1' });
  const name = field('name');
  const url = field('url', { required: true, size: 50, placeholder: 'rtsp://…' });
  const fps = field('fps', { type: 'number', min: 0.1, max: 60, step: 0.1 });
  const lat = h('input', { name: 'lat', type: 'number', step: 'any', value: cfg.geo ? cfg.geo.lat : '' });
  const lon = h('input', { name: 'lon', type: 'number', step: 'any', value: cfg.geo ? cfg.geo.lon : '' });
  const enabled = h('input', { name: 'enabled', type: 'checkbox', checked: cfg.enabled !== false });
  const zoneList = h('ul', { id: 'zone-list' });
  const canvas = h('div', { class: 'zone-canvas', id: 'zone-canvas' });
  const zoneName = h('input', { id: 'zone-name', placeholder: t('name'), size: 12 });
  const zoneKind = select(ZONE_KINDS.map((k) => [k, t(`zone_${k}`)]), 'no_vending', { id: 'zone-kind' });
  let drawing = [];
  let pic = null;

  function renderZones() {
    clear(zoneList, cfg.zones.map((z, i) => h('li', { 'data-zone': z.name }, `${z.name} · ${t(`zone_${z.kind}`)} · ${z.points.length} ${t('points')} `,
      h('button', { type: 'button', onclick: () => { cfg.zones.splice(i, 1); redraw(); } }, '×'))));
  }
  function redraw() {
    renderZones();
    if (!pic) return;
    pic.el.querySelectorAll('g.zone, g.drawing').forEach((g) => g.remove());
    zoneShapes(cfg.zones, pic.width, pic.height).forEach((g) => pic.el.append(g));
    if (drawing.length) {
      const r = Math.max(3, pic.width / 200);
      pic.el.append(svg('g', { class: 'drawing' },
        svg('polyline', { points: drawing.map((p) => p.join(',')).join(' '), fill: 'none', stroke: '#d50000', 'stroke-width': r / 1.5 }),
        ...drawing.map(([x, y]) => svg('circle', { cx: x, cy: y, r, fill: '#d50000' }))));
    }
  }
  function addPoint(event) {
    const box = pic.el.getBoundingClientRect();
    const x = Math.round(((event.clientX - box.left) / box.width) * pic.width);
    const y = Math.round(((event.clientY - box.top) / box.height) * pic.height);
    drawing.push([Math.max(0, x), Math.max(0, y)]);
    redraw();
  }
  const closeZone = h('button', { type: 'button', id: 'zone-close', onclick: () => {
    const zname = zoneName.value.trim();
    if (drawing.length < 3 || !zname) { toast(`${t('zone_needs')}`, 'error'); return; }
    cfg.zones.push({ name: zname, kind: zoneKind.value, points: drawing });
    drawing = [];
    zoneName.value = '';
    redraw();
  } }, t('zone_close'));
  const undo = h('button', { type: 'button', onclick: () => { drawing.pop(); redraw(); } }, t('undo'));

  const form = h('form', { id: 'camera-form', class: 'card' },
    h('h3', {}, existing ? `${t('edit_camera')} ${existing.id}` : t('add_camera')),
    h('div', { class: 'toolbar' }, h('label', {}, 'id ', id), h('label', {}, `${t('name')} `, name), h('label', {}, 'URL ', url)),
    h('div', { class: 'toolbar' }, h('label', {}, `${t('fps')} `, fps), h('label', {}, 'lat ', lat), h('label', {}, 'lon ', lon), h('label', {}, enabled, ` ${t('enabled')}`)),
    h('h4', {}, t('zones')),
    existing ? h('div', { class: 'toolbar' }, h('span', { class: 'muted' }, t('zone_hint')), zoneName, zoneKind, closeZone, undo) : h('p', { class: 'muted' }, t('zone_after_save')),
    canvas, zoneList,
    h('div', { class: 'buttons' }, h('button', { type: 'submit', id: 'camera-save' }, t('save')), ' ',
      h('button', { type: 'button', onclick: () => reload() }, t('cancel'))));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { ...cfg, id: id.value.trim(), name: name.value.trim(), url: url.value.trim(), fps: Number(fps.value), enabled: enabled.checked };
    if (lat.value !== '' && lon.value !== '') body.geo = { ...(cfg.geo || {}), lat: Number(lat.value), lon: Number(lon.value) };
    else delete body.geo;
    try {
      if (existing) await api(`/cameras/${encodeURIComponent(existing.id)}`, { method: 'PUT', body });
      else await api('/cameras', { method: 'POST', body });
      toast(`${body.id} ✓`);
      reload();
    } catch (err) { toast(err.message, 'error'); }
  });
  clear(root, form);
  renderZones();
  if (existing) {
    snapshotSvg(existing.id, []).then((p) => {
      pic = p;
      pic.el.classList.add('drawable');
      pic.el.addEventListener('click', addPoint);
      canvas.append(pic.el);
      redraw();
    }).catch((err) => canvas.append(h('p', { class: 'muted' }, `${t('snapshot')}: ${err.message}`)));
  }
}

export async function renderCameras(root) {
  const detail = h('div', { id: 'camera-detail' });
  const table = h('table', { class: 'grid', id: 'cameras' });
  let timer = null;
  async function load() {
    const items = await api('/cameras');
    const list = Array.isArray(items) ? items : (items.items || items.cameras || []);
    clear(table,
      h('thead', {}, h('tr', {}, h('th', {}, 'id'), h('th', {}, t('name')), h('th', {}, t('status')), h('th', {}, t('fps')),
        h('th', {}, t('reconnects')), h('th', {}, t('last_frame')), h('th', {}, t('last_error')), h('th', {}, ''))),
      h('tbody', {}, list.map((item) => {
        const { config, status } = split(item);
        return h('tr', { class: 'camera-row', 'data-camera': config.id },
          h('td', {}, h('strong', {}, config.id)), h('td', {}, config.name || ''), ...statusCells(status),
          h('td', {},
            h('button', { class: 'camera-view', onclick: () => show(item) }, t('snapshot')), ' ',
            mayEdit() ? h('button', { class: 'camera-edit', onclick: () => { stop(); editor(detail, item, reload); } }, t('edit')) : null));
      })));
    return list;
  }
  async function show(item) {
    const { config } = split(item);
    clear(detail, h('h3', {}, `${config.id} ${config.name || ''}`), h('p', {}, t('loading')));
    try {
      const pic = await snapshotSvg(config.id, config.zones || []);
      clear(detail, h('h3', {}, `${config.id} ${config.name || ''}`), h('div', { class: 'zone-canvas' }, pic.el));
    } catch (err) {
      clear(detail, h('h3', {}, config.id), h('p', { class: 'muted' }, `${t('snapshot')}: ${err.message}`));
    }
  }
  function stop() { if (timer) { clearInterval(timer); timer = null; } }
  async function reload() {
    clear(detail);
    await load();
    stop();
    timer = setInterval(() => load().catch(() => {}), REFRESH_MS);
  }
  clear(root, h('h2', {}, t('cameras')),
    mayEdit() ? h('div', { class: 'toolbar' }, h('button', { id: 'camera-add', onclick: () => { stop(); editor(detail, null, reload); } }, t('add_camera'))) : null,
    table, detail);
  await reload();
  return stop;
}
