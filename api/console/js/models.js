// The model registry (data team): versions, per-category metrics, candidate vs production, promote / roll back.
import { api } from './api.js';
import { clear, h, toast } from './dom.js';
import { fmtTime, t } from './i18n.js';
import { state } from './state.js';

function metricKeys(versions) {
  const keys = new Set();
  for (const v of versions) for (const k of Object.keys(v.metrics || {})) if (k.startsWith('mAP50/')) keys.add(k);
  return [...keys].sort((a, b) => (a === 'mAP50/all' ? -1 : b === 'mAP50/all' ? 1 : a.localeCompare(b)));
}

function delta(value, prod) {
  if (typeof value !== 'number' || typeof prod !== 'number') return null;
  const d = value - prod;
  if (Math.abs(d) < 0.0005) return null;
  return h('span', { class: d > 0 ? 'better' : 'worse' }, ` ${d > 0 ? '+' : ''}${d.toFixed(3)}`);
}

export async function renderModels(root) {
  async function load() {
    const versions = await api('/models');
    const prod = versions.find((v) => v.stage === 'production');
    const mayPromote = state.config.model_promotion && state.me.model_actions.includes('promote');
    const mayRollback = state.config.model_promotion && state.me.model_actions.includes('rollback');
    const keys = metricKeys(versions);
    async function run(path, label) {
      try {
        await api(path, { method: 'POST', body: {} });
        toast(`${label} ✓`);
      } catch (err) { toast(err.message, 'error'); }
      load();
    }
    clear(root,
      h('h2', {}, t('models')),
      h('table', { class: 'grid', id: 'models' },
        h('thead', {}, h('tr', {}, h('th', {}, t('version')), h('th', {}, t('stage')), h('th', {}, t('dataset')),
          h('th', {}, t('created')), h('th', {}, t('promoted')), h('th', {}, 'mAP50'), mayPromote || mayRollback ? h('th', {}, t('actions')) : null)),
        h('tbody', {}, [...versions].reverse().map((v) => h('tr', { dataset: { version: v.version, stage: v.stage } },
          h('td', {}, h('strong', {}, v.version), v.parent ? h('span', { class: 'muted' }, ` ← ${v.parent}`) : null),
          h('td', {}, h('span', { class: `badge stage-${v.stage}` }, t(v.stage))),
          h('td', {}, v.dataset || t('none')),
          h('td', {}, fmtTime(v.created_at)),
          h('td', {}, fmtTime(v.promoted_at)),
          h('td', { class: 'num' }, typeof v.metrics['mAP50/all'] === 'number' ? v.metrics['mAP50/all'].toFixed(3) : t('none'), prod && v !== prod ? delta(v.metrics['mAP50/all'], prod.metrics['mAP50/all']) : null),
          mayPromote || mayRollback ? h('td', {},
            mayPromote && v.stage === 'candidate' ? h('button', { class: 'promote', 'data-version': v.version, onclick: () => run(`/models/${encodeURIComponent(v.version)}/promote`, `${t('promote')} ${v.version}`) }, t('promote')) : null,
            mayRollback && v === prod ? h('button', { class: 'rollback', 'data-version': v.version, onclick: () => run('/models/rollback', `${t('rollback')} ${v.version}`) }, t('rollback')) : null) : null)))),
      h('h3', {}, t('metrics'), prod ? h('span', { class: 'muted' }, ` (${t('delta_vs_prod')} ${prod.version})`) : null),
      h('table', { class: 'grid', id: 'model-metrics' },
        h('thead', {}, h('tr', {}, h('th', {}, ''), versions.map((v) => h('th', {}, v.version, ' ', h('span', { class: `badge stage-${v.stage}` }, t(v.stage)))))),
        h('tbody', {}, keys.map((k) => h('tr', {}, h('th', {}, k.replace('mAP50/', '')),
          versions.map((v) => h('td', { class: 'num' }, typeof v.metrics[k] === 'number' ? v.metrics[k].toFixed(3) : t('none'), prod && v !== prod ? delta(v.metrics[k], prod.metrics[k]) : null)))))),
      versions.some((v) => v.notes) ? h('div', {}, versions.filter((v) => v.notes).map((v) => h('p', { class: 'muted' }, `${v.version}: ${v.notes}`))) : null);
  }
  await load();
  return null;
}
