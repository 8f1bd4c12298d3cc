// One case (小屏干): evidence images with the boxes drawn, the observations timeline, score reasons (when the
// server scores cases), the audit log, and the actions the logged-in role may take from the case's status.
import { ApiError, api, blobUrl } from './api.js';
import { clear, fmtPriority, h, svg, toast } from './dom.js';
import { actionName, categoryCode, categoryName, fmtTime, roleName, statusName, t, verdictName } from './i18n.js';
import { act, actionInputs } from './actions.js';
import { allowedActions, categoryColour, state } from './state.js';

// an evidence image with its observation's box drawn over it (SVG in the image's own pixel coordinates)
function evidenceFigure(c, e, observations) {
  const obs = observations.find((o) => o.id === e.observation_id);
  const img = svg('image', { x: 0, y: 0, width: e.width, height: e.height });
  const pic = svg('svg', { viewBox: `0 0 ${e.width} ${e.height}`, class: 'evidence-img', 'data-n': e.n }, img);
  if ((e.kind === 'snapshot' || e.kind === 'frame') && obs) {
    const [x1, y1, x2, y2] = obs.bbox;
    const colour = categoryColour(c.category);
    const stroke = Math.max(2, Math.round(Math.min(e.width, e.height) / 150));
    pic.append(svg('g', { class: 'box' },
      svg('rect', { x: x1, y: y1, width: x2 - x1, height: y2 - y1, fill: 'none', stroke: colour, 'stroke-width': stroke }),
      svg('text', { x: x1 + stroke, y: Math.max(y1 - stroke * 2, stroke * 8), fill: colour, 'font-size': stroke * 8, 'font-weight': 'bold', stroke: '#fff', 'stroke-width': stroke / 3, 'paint-order': 'stroke' },
        `${obs.class_name} ${obs.confidence.toFixed(2)}`)));
  }
  if (e.url) blobUrl(e.url).then((u) => img.setAttribute('href', u)).catch((err) => toast(err.message, 'error'));
  // click: the picture at full size (the same SVG, boxes included), click again to close
  pic.addEventListener('click', () => {
    const big = pic.cloneNode(true);
    big.setAttribute('width', e.width);
    big.setAttribute('height', e.height);
    const box = h('div', { class: 'lightbox', onclick: () => box.remove() }, big);
    document.body.append(box);
  });
  return h('figure', { class: `evidence ${e.kind}` }, pic,
    h('figcaption', {}, `${e.n}. ${e.kind} · ${fmtTime(e.created_at)}`, e.pruned_at ? ` · pruned ${fmtTime(e.pruned_at)}` : ''));
}

function timeline(observations) {
  const sorted = [...observations].sort((a, b) => (a.start < b.start ? -1 : 1));
  return h('ol', { class: 'timeline', id: 'observations' }, sorted.map((o) => h('li', {},
    h('time', {}, fmtTime(o.start)), ' → ', h('time', {}, fmtTime(o.end)),
    h('div', {}, h('strong', {}, o.class_name), ` ${o.confidence.toFixed(2)} (${t('confidence')}), ${o.frames_seen} ${t('frames')}`),
    h('div', { class: 'muted' }, `${t('source')}: ${o.source_id} · ${t('model')}: ${o.model_version}`,
      o.lat !== null && o.lat !== undefined ? ` · ${o.lat.toFixed(5)}, ${o.lon.toFixed(5)}` : ''))));
}

// the score (when the server scores cases): P(confirmed) × severity × SLA urgency, and the reasons behind P
function reasons(c) {
  const score = c.score;
  if (!score) return null;
  const parts = [
    ['P(confirmed)', score.p_confirmed], [t('severity'), score.severity], [t('sla_urgency'), score.sla_urgency],
    [t('priority'), score.priority], [t('hours_left'), score.hours_left],
  ].filter(([, v]) => typeof v === 'number');
  return h('section', { id: 'score-reasons' }, h('h3', {}, t('score_reasons')),
    h('table', { class: 'props' }, parts.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, Number.isInteger(v) ? v : v.toFixed(2))))),
    h('ul', {}, (score.reasons || []).map((r) => h('li', {}, r.text || r.feature))),
    score.scorer_version ? h('p', { class: 'muted' }, `${t('model')}: ${score.scorer_version} · ${fmtTime(score.scored_at)}`) : null);
}

function auditTable(audit) {
  return h('table', { class: 'grid', id: 'audit' },
    h('thead', {}, h('tr', {}, h('th', {}, t('when')), h('th', {}, t('who')), h('th', {}, t('action')), h('th', {}, t('from_to')), h('th', {}, t('note')))),
    h('tbody', {}, audit.map((a) => h('tr', { dataset: { action: a.action } },
      h('td', {}, fmtTime(a.at)),
      h('td', {}, `${a.actor} (${roleName(a.role)})`),
      h('td', {}, actionName(a.action)),
      h('td', {}, a.from_status ? statusName(a.from_status) : '', a.to_status && a.to_status !== a.from_status ? ` → ${statusName(a.to_status)}` : ''),
      h('td', {}, a.note, Object.keys(a.detail || {}).length ? h('span', { class: 'muted' }, ` ${Object.entries(a.detail).map(([k, v]) => `${k}=${k === 'verdict' ? verdictName(v) : v}`).join(', ')}`) : null)))));
}

function actionPanel(c, reload) {
  const actions = [...allowedActions(c.status), ...(state.me.actions.includes('note') ? ['note'] : [])];
  const panel = h('section', { id: 'actions' }, h('h3', {}, t('actions')));
  if (!actions.length) return panel;
  const form = h('div', { class: 'action-form', hidden: true });
  const buttons = h('div', { class: 'buttons' }, [...new Set(actions)].map((a) => h('button', { 'data-action': a, class: `action action-${a}`, onclick: () => open(a) }, actionName(a))));
  function open(action) {
    const inputs = actionInputs(action);
    const submit = h('button', { type: 'submit', id: 'action-submit', 'data-action': action }, `${actionName(action)} · ${t('submit')}`);
    const f = h('form', {}, h('strong', {}, actionName(action)), ' ', inputs.el, ' ', submit, ' ',
      h('button', { type: 'button', onclick: () => { form.hidden = true; } }, t('cancel')));
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!inputs.valid()) { toast(t('required'), 'error'); return; }
      submit.disabled = true;
      try {
        await act(c.id, action, c.version, inputs.value());
        toast(`#${c.id}: ${actionName(action)} ✓`);
      } catch (err) {
        toast(err.message, 'error');
        if (!(err instanceof ApiError && err.status === 409)) { submit.disabled = false; return; }
      }
      reload();
    });
    clear(form).append(f);
    form.hidden = false;
    const first = f.querySelector('input, select');
    if (first) first.focus();
  }
  panel.append(buttons, form);
  return panel;
}

export async function renderCase(root, id) {
  async function load() {
    const c = await api(`/cases/${id}`);
    clear(root);
    const facts = [
      [t('status'), h('span', { class: `badge status-${c.status}`, id: 'case-status', 'data-status': c.status }, statusName(c.status))],
      [t('priority'), h('span', {}, fmtPriority(c.priority), c.overdue ? h('span', { class: 'badge overdue' }, t('overdue')) : null)],
      [t('due'), fmtTime(c.due_at)],
      [t('district'), c.district || t('none')],
      [t('department'), c.department || t('none')],
      [t('verdict'), c.verdict ? verdictName(c.verdict) : t('none')],
      [t('confidence'), c.max_confidence.toFixed(2)],
      [t('first_seen'), fmtTime(c.first_seen)],
      [t('last_seen'), fmtTime(c.last_seen)],
      [t('source'), c.source_id],
      ['lat, lon', c.lat !== null ? `${c.lat.toFixed(6)}, ${c.lon.toFixed(6)}` : t('none')],
      [t('version'), c.version],
    ];
    if (c.duplicate_of) facts.push([t('duplicate_of'), h('a', { href: `#/case/${c.duplicate_of}`, id: 'duplicate-of' }, `#${c.duplicate_of}`)]);
    if (c.repeat_of) facts.push([t('repeat_of'), h('a', { href: `#/case/${c.repeat_of}`, id: 'repeat-of' }, `#${c.repeat_of}`)]);
    if (c.reopen_count) facts.push([t('reopened'), c.reopen_count]);
    root.append(
      h('div', { class: 'case-head' },
        h('h2', { id: 'case-title' }, `${t('case')} #${c.id} · ${categoryName(c.category)} `, h('span', { class: 'muted' }, categoryCode(c.category))),
        h('a', { href: '#/queue' }, `← ${t('queue')}`)),
      h('div', { class: 'case-layout' },
        h('div', { class: 'case-main' },
          h('section', {}, h('h3', {}, t('evidence')), h('div', { class: 'gallery', id: 'evidence' }, c.evidence.map((e) => evidenceFigure(c, e, c.observations)))),
          h('section', {}, h('h3', {}, `${t('observations')} (${c.observations.length})`), timeline(c.observations)),
          h('section', {}, h('h3', {}, t('audit')), auditTable(c.audit))),
        h('div', { class: 'case-side' },
          h('table', { class: 'props' }, facts.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))),
          reasons(c),
          actionPanel(c, load))));
  }
  await load();
  return null;
}
