// One form per case action (the inputs each action needs), used by the case page and the queue's bulk actions.
import { api } from './api.js';
import { h, select } from './dom.js';
import { actionName, t, verdictKeys, verdictName } from './i18n.js';

// the action's extra inputs; returns {el, value()} where value() is the request body (without version)
export function actionInputs(action) {
  if (action === 'dispatch') {
    const input = h('input', { name: 'department', required: true, placeholder: t('department'), list: 'departments' });
    return { el: h('label', {}, t('department'), ' ', input), value: () => ({ department: input.value.trim() }), valid: () => input.value.trim() !== '' };
  }
  if (action === 'verify') {
    const sel = select(verdictKeys().map((v) => [v, verdictName(v)]), 'confirmed', { name: 'verdict' });
    return { el: h('label', {}, t('verdict'), ' ', sel), value: () => ({ verdict: sel.value }), valid: () => true };
  }
  if (action === 'register') {
    const input = h('input', { name: 'district', placeholder: t('district') });
    return { el: h('label', {}, t('district'), ' ', input), value: () => (input.value.trim() ? { district: input.value.trim() } : {}), valid: () => true };
  }
  if (action === 'merge') {
    const target = h('input', { name: 'target_id', type: 'number', min: 1, required: true, placeholder: '#', size: 6 });
    return { el: h('label', {}, `${actionName('merge')} → #`, target), value: () => ({ target_id: Number(target.value) }), valid: () => Number(target.value) >= 1 };
  }
  const required = action === 'dismiss' || action === 'note';
  const note = h('input', { name: 'note', placeholder: `${t('note')}${required ? ` (${t('required')})` : ''}`, size: 30 });
  return { el: h('label', {}, t('note'), ' ', note), value: () => (note.value.trim() ? { note: note.value.trim() } : {}), valid: () => !required || note.value.trim() !== '' };
}

// POST the action for one case at the version the caller read; resolves to the updated case
export function act(caseId, action, version, body) {
  if (action === 'merge') return api('/cases/merge', { method: 'POST', body: { ...body, source_id: caseId, version } });
  const path = action === 'note' ? `/cases/${caseId}/notes` : `/cases/${caseId}/${action}`;
  return api(path, { method: 'POST', body: action === 'note' ? body : { ...body, version } });
}
