// What every page shares: who is logged in (GET /me), the console config, the taxonomy, the colours.
export const state = { me: null, config: null, taxonomy: null, openRead: false };

// the same colours as the evidence images (inference/evidence.py COLOURS, BGR there)
const CATEGORY_COLOURS = {
  street_stall: '#ffa500',
  garbage: '#00c800',
  illegal_construction: '#0050ff',
  billboard_hazard: '#c800c8',
};
const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324'];

export const STATUS_COLOURS = {
  detected: '#d32f2f',
  registered: '#f57c00',
  dispatched: '#1976d2',
  handled: '#7b1fa2',
  verified: '#388e3c',
  closed: '#616161',
  dismissed: '#9e9e9e',
};

export function categoryColour(key) {
  if (CATEGORY_COLOURS[key]) return CATEGORY_COLOURS[key];
  let hash = 0;
  for (const ch of key || '') hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

export const CLOSED = new Set(['closed', 'dismissed']);

// case actions the logged-in role may take on a case in `status` (the server checks again)
export function allowedActions(status) {
  const me = state.me;
  if (!me || !me.role) return [];
  return me.actions.filter((a) => (me.action_from[a] || []).includes(status));
}

export function can(action) { return Boolean(state.me && state.me.actions.includes(action)); }
