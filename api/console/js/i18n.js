// Chinese and English labels. Category names come from the server's taxonomy (name_zh / name_en).
const STRINGS = {
  en: {
    brand: 'cityeye console', map: 'Map', queue: 'Case queue', models: 'Models', cameras: 'Cameras', surveys: 'Surveys', mine: 'My cases',
    login: 'Log in', logout: 'Log out', api_key: 'API key', login_hint: 'Paste the API key you were given (cityeye keys create).',
    guest: 'guest (read only)', browse_without_key: 'Browse without a key',
    category: 'Category', status: 'Status', district: 'District', department: 'Department', priority: 'Priority',
    overdue: 'Overdue', overdue_only: 'Overdue only', all: 'All', sort: 'Sort', sort_priority: 'Priority',
    sort_last_seen: 'Last seen', sort_due: 'Due', last_seen: 'Last seen', first_seen: 'First seen', due: 'Due',
    confidence: 'Confidence', observations: 'Observations', evidence: 'Evidence', audit: 'Audit log',
    score_reasons: 'Score reasons', actions: 'Actions', open_case: 'Open case', case: 'Case', no_cases: 'No cases.',
    no_position: 'without position', cases_on_map: 'cases on the map', source: 'Source', model: 'Model',
    frames: 'frames', when: 'When', who: 'Who', action: 'Action', from_to: 'From → to', note: 'Note',
    verdict: 'Verdict', version: 'Version', submit: 'Submit', cancel: 'Cancel', selected: 'selected',
    bulk_apply: 'Apply to selected', prev: 'Previous', next: 'Next', of: 'of', reload: 'Reload',
    boxes: 'Boxes', layers: 'Layers', forecast: 'Hotspot forecast', survey_findings: 'Survey findings',
    districts: 'Districts', grid: 'Coordinate grid', legend: 'Legend', done: 'done', failed: 'failed',
    stage: 'Stage', created: 'Created', promoted: 'Promoted', dataset: 'Dataset', metrics: 'Per-category metrics (mAP50)',
    promote: 'Promote', rollback: 'Roll back', production: 'production', candidate: 'candidate', archived: 'archived',
    delta_vs_prod: 'vs production', loading: 'Loading…', error: 'Error', forbidden_page: 'Your role cannot use this page.',
    hide_closed: 'Hide closed and dismissed', role: 'Role', none: '—', yes: 'yes', no: 'no', size: 'Size',
    required: 'required', not_available: 'This server does not offer this yet.', language: '中文',
    upload: 'Upload', area: 'Area', files: 'Files', progress: 'Progress', report: 'Report', findings: 'Findings',
    zone_mask: 'mask', zone_no_vending: 'no vending', zone_construction_watch: 'construction watch', points: 'points',
    zone_needs: 'a zone needs a name and at least 3 points', zone_close: 'Close zone', undo: 'Undo last point',
    edit_camera: 'Edit camera', add_camera: 'Add camera', enabled: 'enabled', edit: 'Edit', save: 'Save',
    zone_hint: 'Click on the snapshot to place points, then:', zone_after_save: 'Save the camera first; zones are drawn on its snapshot.',
    last_frame: 'Last frame', upload_survey: 'Upload a survey', processing: 'Processing', uploaded: 'Uploaded',
    current_file: 'Current file', state: 'State', created_at: 'Created', on_map: 'on the map', change: 'new structure', permit: 'permit',
    severity: 'Severity', sla_urgency: 'SLA urgency', hours_left: 'Hours left',
    total: 'total', duplicate_of: 'Duplicate of', repeat_of: 'Repeat of', reopened: 'Reopened', min_confidence: 'Min. confidence', name: 'Name', fps: 'FPS', reconnects: 'Reconnects', last_error: 'Last error', snapshot: 'Snapshot', zones: 'Zones',
  },
  zh: {
    brand: 'cityeye 城管智能平台', map: '地图', queue: '案件队列', models: '模型', cameras: '摄像头', surveys: '航拍巡查', mine: '我的案件',
    login: '登录', logout: '退出', api_key: 'API 密钥', login_hint: '请粘贴分配给您的 API 密钥（cityeye keys create）。',
    guest: '访客（只读）', browse_without_key: '无密钥浏览',
    category: '类别', status: '状态', district: '区域', department: '处置部门', priority: '优先级',
    overdue: '超期', overdue_only: '仅超期', all: '全部', sort: '排序', sort_priority: '优先级',
    sort_last_seen: '最近发现', sort_due: '截止时间', last_seen: '最近发现', first_seen: '首次发现', due: '截止时间',
    confidence: '置信度', observations: '观测记录', evidence: '证据', audit: '操作日志',
    score_reasons: '评分依据', actions: '操作', open_case: '打开案件', case: '案件', no_cases: '没有案件。',
    no_position: '无位置', cases_on_map: '件案件在地图上', source: '来源', model: '模型',
    frames: '帧', when: '时间', who: '操作人', action: '操作', from_to: '状态变化', note: '备注',
    verdict: '核查结论', version: '版本', submit: '提交', cancel: '取消', selected: '已选',
    bulk_apply: '批量执行', prev: '上一页', next: '下一页', of: '/', reload: '刷新',
    boxes: '检测框', layers: '图层', forecast: '热点预测', survey_findings: '巡查发现',
    districts: '区域边界', grid: '坐标网格', legend: '图例', done: '完成', failed: '失败',
    stage: '阶段', created: '创建', promoted: '上线', dataset: '数据集', metrics: '各类别指标（mAP50）',
    promote: '上线', rollback: '回滚', production: '生产', candidate: '候选', archived: '归档',
    delta_vs_prod: '对比生产', loading: '加载中…', error: '错误', forbidden_page: '您的角色不能使用此页面。',
    hide_closed: '隐藏已结案和作废', role: '角色', none: '—', yes: '是', no: '否', size: '大小',
    required: '必填', not_available: '此服务器尚未提供该功能。', language: 'English',
    upload: '上传', area: '区域', files: '文件', progress: '进度', report: '报告', findings: '发现',
    zone_mask: '屏蔽区', zone_no_vending: '禁止摆摊区', zone_construction_watch: '违建监控区', points: '个点',
    zone_needs: '区域需要名称和至少 3 个点', zone_close: '闭合区域', undo: '撤销上一点',
    edit_camera: '编辑摄像头', add_camera: '添加摄像头', enabled: '启用', edit: '编辑', save: '保存',
    zone_hint: '在快照上点击放置顶点，然后：', zone_after_save: '请先保存摄像头，再在其快照上绘制区域。',
    last_frame: '最近帧', upload_survey: '上传航拍', processing: '处理进度', uploaded: '已上传',
    current_file: '当前文件', state: '状态', created_at: '创建时间', on_map: '在地图上', change: '新增建筑', permit: '许可',
    severity: '严重程度', sla_urgency: '时限紧迫度', hours_left: '剩余小时',
    total: '共', duplicate_of: '重复于', repeat_of: '复发自', reopened: '重新打开次数', min_confidence: '最低置信度', name: '名称', fps: '帧率', reconnects: '重连次数', last_error: '最近错误', snapshot: '快照', zones: '区域',
  },
};

const STATUS = {
  detected: { en: 'Detected', zh: '发现' },
  registered: { en: 'Registered', zh: '立案' },
  dispatched: { en: 'Dispatched', zh: '派遣' },
  handled: { en: 'Handled', zh: '处置' },
  verified: { en: 'Verified', zh: '核查' },
  closed: { en: 'Closed', zh: '结案' },
  dismissed: { en: 'Dismissed', zh: '作废' },
};

const ACTIONS = {
  register: { en: 'Register', zh: '立案' },
  dispatch: { en: 'Dispatch', zh: '派遣' },
  handled: { en: 'Report handled', zh: '处置完成' },
  verify: { en: 'Verify', zh: '核查' },
  close: { en: 'Close', zh: '结案' },
  dismiss: { en: 'Dismiss', zh: '作废' },
  note: { en: 'Add note', zh: '添加备注' },
  merge: { en: 'Merge', zh: '合并' },
};

const ROLES = {
  inspector: { en: 'Inspector', zh: '监督员' },
  operator: { en: 'Operator', zh: '受理员' },
  shift_lead: { en: 'Shift lead', zh: '值班长' },
  dispatcher: { en: 'Dispatcher', zh: '派遣员' },
  department: { en: 'Department', zh: '专业部门' },
  data_team: { en: 'Data team', zh: '数据团队' },
  admin: { en: 'Administrator', zh: '管理员' },
};

const VERDICTS = {
  confirmed: { en: 'Confirmed', zh: '属实' },
  false_positive: { en: 'False positive', zh: '误报' },
  duplicate: { en: 'Duplicate', zh: '重复' },
};

const LANG_KEY = 'cityeye.lang';
let current = localStorage.getItem(LANG_KEY) || ((navigator.language || '').startsWith('zh') ? 'zh' : 'en');
let categories = {};
const listeners = [];

export function lang() { return current; }
export function setLang(value) {
  current = value === 'zh' ? 'zh' : 'en';
  localStorage.setItem(LANG_KEY, current);
  document.documentElement.lang = current;
  listeners.forEach((fn) => fn(current));
}
export function onLangChange(fn) { listeners.push(fn); }
export function setCategories(taxonomyCategories) { categories = taxonomyCategories || {}; }
export function categoryKeys() { return Object.keys(categories); }

export function t(key) { return (STRINGS[current] && STRINGS[current][key]) || STRINGS.en[key] || key; }
function pick(table, key) { return (table[key] && table[key][current]) || key || ''; }
export function statusName(s) { return pick(STATUS, s); }
export function actionName(a) { return pick(ACTIONS, a); }
export function roleName(r) { return pick(ROLES, r); }
export function verdictName(v) { return pick(VERDICTS, v); }
export function statusKeys() { return Object.keys(STATUS); }
export function verdictKeys() { return Object.keys(VERDICTS); }
export function categoryName(key) {
  const c = categories[key];
  if (!c) return key || '';
  return current === 'zh' ? c.name_zh : c.name_en;
}
export function categoryCode(key) { return (categories[key] && categories[key].code) || ''; }

export function fmtTime(iso) {
  if (!iso) return t('none');
  const d = new Date(iso.endsWith('Z') || /[+-]\d\d:\d\d$/.test(iso) ? iso : iso + 'Z');
  return d.toLocaleString(current === 'zh' ? 'zh-CN' : 'en-GB', { dateStyle: 'short', timeStyle: 'short' });
}
