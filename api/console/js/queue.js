// The case queue (中屏管): filters, sort by priority, overdue highlighted, bulk actions for the role.
import { api, query } from './api.js';
import { clear, fmtPriority, h, select, toast } from './dom.js';
import { actionName, categoryKeys, categoryName, fmtTime, statusKeys, statusName, t, verdictKeys, verdictName } from './i18n.js';
import { act, actionInputs } from './actions.js';
import { state } from './state.js';

const REFRESH_MS = 30000;
const BULK = ['register', 'dispatch', 'handled', 'verify', 'close', 'dismiss'];
const saved = { category: '', status: '', district: '', verdict: '', min_confidence: '', overdue: '', sort: 'priority', offset: 0 };

export async function renderQueue(root) {
  const filters = saved;
  const limit = Math.min(50, state.config.page_size_max);
  const bulkActions = BULK.filter((a) => state.me.actions.includes(a));
  const selected = new Map(); // id -> version
  const table = h('table', { id: 'queue', class: 'grid' });
  const pager = h('div', { class: 'pager' });
  const bulkBar = h('div', { class: 'toolbar bulk', id: 'bulk-bar' });

  const change = (key) => (e) => { filters[key] = e.target.type === 'checkbox' ? (e.target.checked ? 'true' : '') : e.target.value; filters.offset = 0; selected.clear(); load(); };
  const toolbar = h('div', { class: 'toolbar' },
    h('label', {}, t('category'), ' ', select([['', t('all')], ...categoryKeys().map((k) => [k, categoryName(k)])], filters.category, { id: 'q-category', onchange: change('category') })),
    h('label', {}, t('status'), ' ', select([['', t('all')], ...statusKeys().map((s) => [s, statusName(s)])], filters.status, { id: 'q-status', onchange: change('status') })),
    h('label', {}, t('district'), ' ', h('input', { id: 'q-district', value: filters.district, size: 10, onchange: change('district') })),
    h('label', {}, t('verdict'), ' ', select([['', t('all')], ...verdictKeys().map((v) => [v, verdictName(v)])], filters.verdict, { id: 'q-verdict', onchange: change('verdict') })),
    h('label', {}, t('min_confidence'), ' ', h('input', { id: 'q-min-confidence', type: 'number', min: 0, max: 1, step: 0.05, value: filters.min_confidence, style: 'width:5em', onchange: change('min_confidence') })),
    h('label', {}, h('input', { type: 'checkbox', id: 'q-overdue', checked: filters.overdue === 'true', onchange: change('overdue') }), ' ', t('overdue_only')),
    h('label', {}, t('sort'), ' ', select([['priority', t('sort_priority')], ['last_seen', t('sort_last_seen')], ['due', t('sort_due')]], filters.sort, { id: 'q-sort', onchange: change('sort') })),
    h('button', { onclick: () => load() }, t('reload')));
  clear(root, toolbar, bulkActions.length ? bulkBar : null, table, pager);

  function renderBulk() {
    clear(bulkBar);
    const actionSel = select(bulkActions.map((a) => [a, actionName(a)]), bulkActions[0], { id: 'bulk-action' });
    const slot = h('span', {});
    let inputs = actionInputs(actionSel.value);
    slot.append(inputs.el);
    actionSel.addEventListener('change', () => { inputs = actionInputs(actionSel.value); clear(slot).append(inputs.el); });
    const apply = h('button', { id: 'bulk-apply', disabled: selected.size === 0 }, `${t('bulk_apply')} (${selected.size})`);
    apply.addEventListener('click', async () => {
      if (!inputs.valid()) { toast(t('required'), 'error'); return; }
      apply.disabled = true;
      const results = await Promise.allSettled([...selected].map(([id, version]) => act(id, actionSel.value, version, inputs.value())));
      const failed = results.map((r, i) => [r, [...selected.keys()][i]]).filter(([r]) => r.status === 'rejected');
      const ok = results.length - failed.length;
      toast(`${actionName(actionSel.value)}: ${ok} ${t('done')}` + (failed.length ? `, ${failed.length} ${t('failed')}: ${failed.map(([r, id]) => `#${id} ${r.reason.message}`).join('; ')}` : ''), failed.length ? 'error' : 'info');
      selected.clear();
      load();
    });
    bulkBar.append(h('span', { id: 'bulk-count' }, `${selected.size} ${t('selected')}`), actionSel, slot, apply);
  }

  async function load() {
    const page = await api(`/cases${query({ category: filters.category, status: filters.status, district: filters.district, verdict: filters.verdict, min_confidence: filters.min_confidence, overdue: filters.overdue, sort: filters.sort, limit, offset: filters.offset })}`);
    clear(table);
    const all = h('input', { type: 'checkbox', id: 'q-select-all', onchange: (e) => {
      for (const c of page.items) { if (e.target.checked) selected.set(c.id, c.version); else selected.delete(c.id); }
      table.querySelectorAll('input.row-select').forEach((box) => { box.checked = e.target.checked; });
      renderBulk();
    } });
    table.append(h('thead', {}, h('tr', {},
      bulkActions.length ? h('th', {}, all) : null,
      h('th', {}, '#'), h('th', {}, t('category')), h('th', {}, t('status')), h('th', {}, t('priority')),
      h('th', {}, t('due')), h('th', {}, t('district')), h('th', {}, t('department')), h('th', {}, t('confidence')),
      h('th', {}, t('observations')), h('th', {}, t('last_seen')))));
    const body = h('tbody', {});
    for (const c of page.items) {
      const box = h('input', { type: 'checkbox', class: 'row-select', checked: selected.has(c.id), onclick: (e) => e.stopPropagation(), onchange: (e) => {
        if (e.target.checked) selected.set(c.id, c.version); else selected.delete(c.id);
        renderBulk();
      } });
      body.append(h('tr', { class: `case-row${c.overdue ? ' overdue' : ''}`, dataset: { caseId: c.id, status: c.status }, onclick: () => { location.hash = `#/case/${c.id}`; } },
        bulkActions.length ? h('td', {}, box) : null,
        h('td', {}, h('a', { href: `#/case/${c.id}` }, c.id)),
        h('td', {}, categoryName(c.category), ' ', h('span', { class: 'muted' }, c.code)),
        h('td', {}, h('span', { class: `badge status-${c.status}` }, statusName(c.status))),
        h('td', { class: 'num' }, fmtPriority(c.priority)),
        h('td', {}, fmtTime(c.due_at), c.overdue ? h('span', { class: 'badge overdue' }, t('overdue')) : null),
        h('td', {}, c.district || t('none')),
        h('td', {}, c.department || t('none')),
        h('td', { class: 'num' }, c.max_confidence.toFixed(2)),
        h('td', { class: 'num' }, c.observation_count),
        h('td', {}, fmtTime(c.last_seen))));
    }
    if (!page.items.length) body.append(h('tr', {}, h('td', { colspan: 11 }, t('no_cases'))));
    table.append(body);
    clear(pager).append(
      h('button', { disabled: filters.offset === 0, onclick: () => { filters.offset = Math.max(0, filters.offset - limit); load(); } }, t('prev')),
      h('span', { id: 'queue-total' }, ` ${page.total ? filters.offset + 1 : 0}–${filters.offset + page.items.length} ${t('of')} ${page.total} `),
      h('button', { disabled: filters.offset + limit >= page.total, onclick: () => { filters.offset += limit; load(); } }, t('next')));
    table.dataset.total = page.total;
    if (bulkActions.length) renderBulk();
  }
  await load();
  // refresh while nobody is in the middle of a selection
  const timer = setInterval(() => { if (!selected.size) load().catch((err) => toast(err.message, 'error')); }, REFRESH_MS);
  return () => clearInterval(timer);
}
