// Fanka office page script: calls the JSON API under /api/v1 with the
// session cookie and the CSRF token, and shows the answers. Every text from
// the server is put on the page with textContent, never as HTML.
'use strict';

const $ = (sel, root) => (root || document).querySelector(sel);
const MSG = JSON.parse($('#i18n').textContent);
const CSRF = $('meta[name="csrf-token"]').content;

function t(key) { return MSG[key] || key; }

// api calls the JSON API; it throws an Error with .code and .status on a
// failure, carrying the API's own message.
async function api(method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: { 'Accept': 'application/json' } };
  if (method !== 'GET') opts.headers['X-CSRF-Token'] = CSRF;
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch('/api/v1' + path, opts);
  let data = null;
  try { data = await resp.json(); } catch (e) { /* not JSON */ }
  if (resp.status === 401) {
    // The session ended (expired, or signed out elsewhere): sign in again.
    location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search));
  }
  if (!resp.ok) {
    const e = (data && data.error) || { code: 'HTTP ' + resp.status, message: resp.statusText };
    const err = new Error(e.message);
    err.code = e.code; err.status = resp.status; err.field = e.field;
    throw err;
  }
  return data;
}

// el makes an element with text children (escaped by the DOM).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (k.startsWith('data-')) e.setAttribute(k, v); else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? '' : String(c)));
  return e;
}

// yuan formats integer fen as yuan with two decimals, without floats.
function yuan(fen) {
  if (typeof fen !== 'number') return '';
  const neg = fen < 0; const n = Math.abs(fen);
  return (neg ? '-' : '') + Math.floor(n / 100) + '.' + String(n % 100).padStart(2, '0');
}

// parseYuan reads "12", "12.5" or "12.50" as fen, or returns null.
function parseYuan(s) {
  const m = /^\s*(\d{1,9})(?:\.(\d{1,2}))?\s*$/.exec(s || '');
  if (!m) return null;
  return parseInt(m[1], 10) * 100 + parseInt((m[2] || '').padEnd(2, '0'), 10);
}

function when(s) {
  if (!s) return '';
  const d = new Date(s);
  return isNaN(d) ? String(s) : d.toLocaleString(document.documentElement.lang);
}

function show(id, text) {
  const e = $(id); if (!e) return;
  e.textContent = text || ''; e.hidden = !text;
}

// showError shows err: what its code means in the page's language, the
// code, and the API's own message.
function showError(id, err) {
  if (!err) { show(id, ''); return; }
  const meaning = err.code && MSG['err.' + err.code] ? MSG['err.' + err.code] + ' ' : '';
  show(id, t('error') + ': ' + meaning + (err.code ? '(' + err.code + ') ' : '') + err.message);
}

function rid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, x => x.toString(16).padStart(2, '0')).join('');
}

// confirmBox asks the person to confirm text; resolves true or false.
function confirmBox(text) {
  const d = $('#confirm');
  $('#confirm-text').textContent = text;
  return new Promise(resolve => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.returnValue = '';
    d.showModal();
  });
}

function fillRows(table, rows) {
  const tb = $(table + ' tbody');
  tb.replaceChildren(...rows);
}

// genericTable fills a table from objects, one column per key.
function genericTable(table, objs) {
  const thead = $(table + ' thead'), tbody = $(table + ' tbody');
  objs = objs || [];
  const keys = [];
  for (const o of objs) for (const k of Object.keys(o)) if (!keys.includes(k)) keys.push(k);
  thead.replaceChildren(el('tr', {}, ...keys.map(k => el('th', {}, t('col.' + k) === 'col.' + k ? k : t('col.' + k)))));
  tbody.replaceChildren(...objs.map(o => el('tr', {}, ...keys.map(k => {
    const v = o[k];
    const money = /amount|balance|fen|held|deposit/.test(k) && typeof v === 'number';
    return el('td', money ? { class: 'num' } : {}, money ? yuan(v) : (typeof v === 'object' && v !== null ? JSON.stringify(v) : v));
  }))));
}

function statusText(s) { return t('status.' + s) === 'status.' + s ? s : t('status.' + s); }

// --- dashboard -------------------------------------------------------------

function today() {
  const d = new Date();
  return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0');
}

function registerState(r) {
  if (r.disabled) return t('disabled');
  if (!r.enrolled) return t('not_enrolled');
  if (r.status) return r.status.online ? t('online') : t('offline');
  const seen = r.last_seen ? new Date(r.last_seen) : null;
  return seen && Date.now() - seen.getTime() < 120000 ? t('online') : t('offline');
}

// age says how long ago, from seconds.
function age(s) {
  if (s < 90) return s + ' ' + t('unit.s');
  if (s < 90 * 60) return Math.round(s / 60) + ' ' + t('unit.min');
  return Math.round(s / 3600) + ' ' + t('unit.h');
}

// statusCells returns a register's reported status as three cells: its
// backlog (entries and yuan waiting, and since when), its offline exposure
// (offline sales the server has not settled, against its limit) and its
// devices as badges. A stale status (the register stopped reporting) keeps
// its last figures, flagged with their age.
function statusCells(x) {
  const s = x.status;
  if (!s || !s.reported_at) return [el('td', { class: 'muted' }, t('reg.nostatus')), el('td', {}), el('td', {})];
  const backlog = el('td', { class: 'num backlog' + (s.unsynced ? ' warn' : '') }, s.unsynced + ' / ' + yuan(s.unsynced_amount));
  if (s.oldest_unsynced) backlog.append(el('div', { class: 'sub' }, t('reg.oldest') + ' ' + when(s.oldest_unsynced)));
  const exposure = el('td', { class: 'num exposure' + (s.offline_sales ? ' warn' : '') }, s.offline_sales + ' / ' + yuan(s.offline_amount));
  if (s.limit_unsynced) exposure.append(el('div', { class: 'sub' }, t('reg.limit') + ' ' + yuan(s.limit_unsynced)));
  const devices = el('td', { class: 'devices' });
  for (const name of ['reader', 'keypad', 'display', 'printer']) {
    const d = (s.devices || {})[name];
    if (!d) continue;
    devices.append(el('span', { class: 'badge dev-' + d.state, title: d.detail || '', 'data-device': name, 'data-state': d.state },
      t('dev.' + name) + ' ' + t('dev.' + d.state)), ' ');
  }
  if (Math.abs(s.clock_skew_ms) > 120000) devices.append(el('div', { class: 'sub warn' }, t('reg.skew') + ' ' + age(Math.round(Math.abs(s.clock_skew_ms) / 1000))));
  if (s.stale) {
    for (const c of [backlog, exposure, devices]) c.classList.add('stale');
    devices.append(el('div', { class: 'sub stale-note' }, t('reg.stale') + ' ' + age(s.age_seconds) + ' ' + t('ago')));
  }
  return [backlog, exposure, devices];
}

// dashRefresh is how often the dashboard asks again, in ms.
const dashRefresh = 15000;

async function dashboardOnce() {
  const date = today();
  $('#dash-chart').src = '/charts/daily.svg?date=' + date;
  $('#dash-minutes').src = '/charts/minutes.svg?date=' + date + '&last=60&t=' + Date.now();
  api('GET', '/reports/daily?date=' + date).then(rep => {
    $('#dash-sales').textContent = rep.sales;
    $('#dash-amount').textContent = yuan(rep.amount);
    showError('#dash-error', null);
  }).catch(err => showError('#dash-error', err));
  try {
    const [r, regs] = await Promise.all([api('GET', '/terminals'), api('GET', '/reports/registers?date=' + date)]);
    const today = new Map((regs.registers || []).map(x => [x.terminal_id, x]));
    fillRows('#dash-registers', (r.terminals || []).map(x => {
      const d = today.get(x.id);
      return el('tr', {},
        el('td', {}, x.id), el('td', {}, x.name), el('td', {}, registerState(x)), el('td', {}, when(x.last_seen)), el('td', {}, x.last_seq),
        el('td', { class: 'num' }, d ? d.sales + ' / ' + yuan(d.amount) : '0 / 0.00'),
        ...statusCells(x));
    }));
    showError('#dash-reg-error', null);
  } catch (err) { showError('#dash-reg-error', err); }
  if ($('#dash-alarms')) {
    api('GET', '/alarms?limit=20').then(r => {
      fillRows('#dash-alarms', (r.alarms || []).map(a => el('tr', {},
        el('td', {}, when(a.time)), el('td', {}, a.code), el('td', {}, a.terminal || ''), el('td', {}, a.message))));
    }).catch(err => showError('#dash-alarm-error', err));
  }
}

function dashboard() {
  dashboardOnce();
  setInterval(() => { if (!document.hidden) dashboardOnce(); }, dashRefresh);
}

// --- cards -----------------------------------------------------------------

let card = null; // the open card

// pending keeps the request id of an action that got no answer (network
// down, server error): asking again for the same thing reuses it, so the
// server books it once. An answer from the API, good or bad, ends it.
let pending = { key: '', id: '' };

function requestID(key) {
  if (pending.key !== key) pending = { key, id: rid() };
  return pending.id;
}

function answered(err) {
  if (!err || (err.status && err.status < 500)) pending = { key: '', id: '' };
}

function showCard(c) {
  card = c;
  $('#card-detail').hidden = false;
  $('#cd-name').textContent = c.name;
  $('#cd-no').textContent = c.card_no;
  $('#cd-status').textContent = statusText(c.status) + (c.reason ? ' (' + c.reason + ')' : '');
  $('#cd-balance').textContent = yuan(c.balance);
  $('#cd-spendable').textContent = c.spendable == null ? '' : yuan(c.spendable);
  $('#cd-phone').textContent = c.phone || '';
  $('#cd-held').textContent = yuan(c.held || 0);
  $('#cd-today').textContent = c.today_count == null ? '' : c.today_count;
  $('#cd-person').textContent = c.person_id || '';
  $('#cd-class').textContent = c.user_class || '';
}

async function openCard(no) {
  showError('#card-error', null);
  try {
    showCard(await api('GET', '/cards/' + encodeURIComponent(no)));
  } catch (err) { showError('#card-error', err); }
}

async function cardAction(action) {
  if (!card) return;
  showError('#card-error', null); show('#card-notice', '');
  const body = {};
  let what = t('card.' + action) + ' · ' + card.card_no + ' ' + card.name;
  if (action === 'recharge' || action === 'refund') {
    const fen = parseYuan($('#cd-amount').value);
    if (fen === null || fen <= 0) { show('#card-error', t('card.badamount')); return; }
    body.amount = fen;
    what += ' · ' + yuan(fen) + ' ' + t('yuan');
  }
  if (action === 'replace') {
    body.new_card_no = $('#cd-newno').value.trim();
    what += ' → ' + body.new_card_no;
  }
  const printer = $('#cd-printer') ? $('#cd-printer').value : '';
  if (printer && (action === 'recharge' || action === 'refund' || action === 'close')) {
    body.print = printer;
    what += ' · ' + t('print') + ' → ' + printer;
  }
  if (!await confirmBox(what)) return;
  body.request_id = requestID(JSON.stringify([card.card_no, action, body]));
  try {
    const c = await api('POST', '/cards/' + encodeURIComponent(card.card_no) + '/' + action, body);
    answered(null);
    showCard(c);
    show('#card-notice', t('done') + ': ' + t('card.' + action) + (c.print_error ? ' · ' + t('card.printerr') + ': ' + c.print_error : ''));
    if (action === 'recharge' || action === 'refund') $('#cd-amount').value = '';
  } catch (err) { answered(err); showError('#card-error', err); }
}

function cards() {
  $('#card-search').addEventListener('submit', async ev => {
    ev.preventDefault();
    showError('#card-error', null); show('#card-notice', '');
    const q = $('#card-q').value.trim();
    try {
      const r = await api('GET', '/cards?q=' + encodeURIComponent(q) + '&limit=50');
      const list = r.cards || [];
      $('#card-results').hidden = false;
      fillRows('#card-results', list.map(c => el('tr', {},
        el('td', {}, c.card_no), el('td', { class: 'cardname' }, c.name), el('td', {}, statusText(c.status)),
        el('td', { class: 'num' }, yuan(c.balance)),
        el('td', {}, el('button', { type: 'button', class: 'open', onclick: () => showCard(c) }, t('card.show'))))));
      if (list.length === 1) showCard(list[0]);
      if (list.length === 0) show('#card-notice', t('card.noresults'));
    } catch (err) {
      // Until the search is on the server, a card number still opens the card.
      if (err.status === 404 || err.status === 405) { await openCard(q); return; }
      showError('#card-error', err);
    }
  });
  for (const b of document.querySelectorAll('#card-detail [data-action]')) {
    b.addEventListener('click', () => cardAction(b.dataset.action));
  }
  const pr = $('#cd-print');
  if (pr) pr.addEventListener('click', () => window.print());
  const sel = $('#cd-printer');
  if (sel) {
    api('GET', '/printers').then(r => {
      for (const p of r.printers || []) sel.append(el('option', { value: p.name }, p.name + ' (' + p.status + ')'));
    }).catch(() => { /* no printers to offer */ });
  }
  const form = $('#card-open');
  if (form) {
    form.addEventListener('submit', async ev => {
      ev.preventDefault();
      showError('#card-error', null); show('#card-notice', '');
      const deposit = parseYuan($('#open-deposit').value);
      if (deposit === null || deposit <= 0) { show('#card-error', t('card.badamount')); return; }
      const body = { person_id: $('#open-person').value.trim(), name: $('#open-name').value.trim(), deposit };
      for (const [k, id] of [['card_no', '#open-cardno'], ['phone', '#open-phone'], ['user_class', '#open-class']]) {
        const v = $(id).value.trim(); if (v) body[k] = v;
      }
      if (!await confirmBox(t('card.open') + ' · ' + body.name + ' · ' + yuan(deposit) + ' ' + t('yuan'))) return;
      body.request_id = requestID(JSON.stringify(['open', body]));
      try {
        const c = await api('POST', '/cards', body);
        answered(null);
        form.reset();
        show('#card-notice', t('card.opened') + ': ' + c.card_no);
        await openCard(c.card_no);
      } catch (err) { answered(err); showError('#card-error', err); }
    });
  }
  const q = new URLSearchParams(location.search).get('card');
  if (q) openCard(q);
}

// --- registers -------------------------------------------------------------

// canteenSelect is a select of the canteens, with id selected.
function canteenSelect(canteens, id, attrs) {
  const s = el('select', attrs || {});
  for (const c of canteens) s.append(el('option', { value: String(c.id), selected: c.id === id }, c.name));
  return s;
}

async function loadRegisters() {
  try {
    const [r, c] = await Promise.all([api('GET', '/terminals'), api('GET', '/canteens')]);
    const canteens = c.canteens || [];
    const admin = document.body.dataset.role === 'admin';
    fillRows('#canteen-list', canteens.map(x => el('tr', {}, el('td', {}, x.id), el('td', {}, x.name), el('td', { class: 'num' }, yuan(x.revenue)))));
    const create = $('#reg-canteen');
    if (create) create.replaceChildren(...canteenSelect(canteens, canteens.length ? canteens[0].id : 0).children);
    const name = id => (canteens.find(x => x.id === id) || { name: String(id) }).name;
    fillRows('#reg-list', (r.terminals || []).map(x => el('tr', {},
      el('td', {}, x.id), el('td', {}, x.name),
      el('td', {}, admin ? canteenSelect(canteens, x.canteen_id, { ariaLabel: t('reg.move'), onchange: ev => moveRegister(x, ev.target) }) : name(x.canteen_id)),
      el('td', {}, registerState(x)), el('td', {}, when(x.last_seen)), el('td', {}, x.last_seq),
      ...statusCells(x),
      el('td', {}, admin ? el('button', { type: 'button', onclick: () => toggleRegister(x) }, x.disabled ? t('reg.enable') : t('reg.disable')) : ''))));
  } catch (err) { showError('#reg-error', err); }
}

async function moveRegister(x, select) {
  const to = parseInt(select.value, 10);
  if (!await confirmBox(t('reg.move') + ' · ' + x.id + ' ' + x.name + ' → ' + select.selectedOptions[0].textContent)) {
    select.value = String(x.canteen_id);
    return;
  }
  try {
    await api('POST', '/terminals/' + x.id + '/move', { canteen_id: to });
    show('#reg-notice', t('done'));
  } catch (err) { showError('#reg-error', err); }
  await loadRegisters();
}

async function toggleRegister(x) {
  const action = x.disabled ? 'enable' : 'disable';
  if (!await confirmBox(t('reg.' + action) + ' · ' + x.id + ' ' + x.name)) return;
  try {
    await api('POST', '/terminals/' + x.id + '/' + action);
    show('#reg-notice', t('done'));
    await loadRegisters();
  } catch (err) { showError('#reg-error', err); }
}

function registers() {
  const form = $('#reg-create');
  if (form) {
    form.addEventListener('submit', async ev => {
      ev.preventDefault();
      showError('#reg-error', null);
      const name = $('#reg-name').value.trim();
      if (!await confirmBox(t('reg.create') + ' · ' + name)) return;
      try {
        const r = await api('POST', '/terminals', { name, canteen_id: parseInt($('#reg-canteen').value, 10) || 0 });
        $('#reg-code').textContent = r.enrol_code;
        $('#reg-code-box').hidden = false;
        form.reset();
        await loadRegisters();
      } catch (err) { showError('#reg-error', err); }
    });
  }
  const cform = $('#canteen-create');
  if (cform) {
    cform.addEventListener('submit', async ev => {
      ev.preventDefault();
      showError('#reg-error', null);
      const name = $('#canteen-name').value.trim();
      if (!await confirmBox(t('canteen.create') + ' · ' + name)) return;
      try {
        await api('POST', '/canteens', { name });
        show('#reg-notice', t('done'));
        cform.reset();
        await loadRegisters();
      } catch (err) { showError('#reg-error', err); }
    });
  }
  loadRegisters();
}

// --- live sales ------------------------------------------------------------

const seenSales = new Set();

function saleRow(s) {
  const voided = s.kind === 'void';
  const outcome = (t('outcome.' + s.outcome) === 'outcome.' + s.outcome ? s.outcome : t('outcome.' + s.outcome)) + (s.note ? ' — ' + s.note : '');
  return el('tr', { 'data-id': String(s.id), class: voided ? 'void' : (s.outcome === 'settled' ? '' : 'flag') },
    el('td', {}, when(s.time)), el('td', {}, s.terminal_id), el('td', {}, s.seq), el('td', {}, s.card_no),
    el('td', { class: 'num' }, (voided ? '-' : '') + yuan(s.amount)), el('td', {}, (voided ? t('sales.void') + ' · ' : '') + outcome));
}

function addSale(s, top) {
  if (s.id != null && seenSales.has(s.id)) return;
  if (s.id != null) seenSales.add(s.id);
  const tb = $('#sales-feed tbody');
  if (top) tb.prepend(saleRow(s)); else tb.append(saleRow(s));
  while (tb.rows.length > 500) tb.deleteRow(tb.rows.length - 1);
}

function liveFeed(delay) {
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/v1/sales/live');
  ws.onopen = () => { show('#sales-status', t('sales.connected')); delay = 1000; };
  ws.onmessage = ev => { try { addSale(JSON.parse(ev.data), true); } catch (e) { /* not a sale */ } };
  ws.onclose = () => {
    show('#sales-status', t('sales.lost'));
    setTimeout(() => liveFeed(Math.min(delay * 2, 30000)), delay);
  };
}

async function sales() {
  try {
    const r = await api('GET', '/sales?limit=100');
    const list = (r.sales || []).slice().sort((a, b) => b.id - a.id);
    for (const s of list) addSale(s, false);
  } catch (err) { showError('#sales-error', err); }
  liveFeed(1000);
}

// --- reports ---------------------------------------------------------------

function periodName(p) { return p === 'other' ? t('rep.other') : p; }

async function loadReport(date) {
  showError('#rep-error', null);
  const d = encodeURIComponent(date);
  $('#rep-chart').src = '/charts/daily.svg?date=' + d;
  $('#rep-period-chart').src = '/charts/periods.svg?date=' + d;
  $('#rep-reg-chart').src = '/charts/registers.svg?date=' + d;
  for (const [id, kind] of [['#rep-csv', 'daily'], ['#rep-period-csv', 'periods'], ['#rep-reg-csv', 'registers']]) {
    $(id).href = '/api/v1/reports/' + kind + '.csv?date=' + d;
    $(id).setAttribute('download', 'fanka-' + kind + '-' + date + '.csv');
  }
  try {
    const rep = await api('GET', '/reports/daily?date=' + d);
    $('#rep-sales').textContent = rep.sales;
    $('#rep-amount').textContent = yuan(rep.amount);
    const more = [];
    if (rep.voids) more.push(t('rep.voids') + ' ' + rep.voids + ' / ' + yuan(rep.void_amount));
    if (rep.flagged) more.push(t('col.flagged') + ' ' + rep.flagged + ' / ' + yuan(rep.flagged_amount));
    if (rep.refunds) more.push(t('rep.refunds') + ' ' + rep.refunds + ' / ' + yuan(rep.refund_amount));
    show('#rep-more', more.join(' · '));
    fillRows('#rep-bycanteen', (rep.by_canteen || []).map(c => el('tr', {},
      el('td', {}, c.canteen_id), el('td', {}, c.name), el('td', { class: 'num' }, c.registers), el('td', { class: 'num' }, c.sales),
      el('td', { class: 'num' }, yuan(c.amount)), el('td', { class: 'num' }, c.voids), el('td', { class: 'num' }, c.flagged))));
  } catch (err) { showError('#rep-error', err); }
  try {
    const r = await api('GET', '/reports/periods?date=' + d);
    fillRows('#rep-byperiod', r.periods.map(p => el('tr', {},
      el('td', {}, periodName(p.period)), el('td', {}, p.start ? p.start + '–' + p.end : ''), el('td', { class: 'num' }, p.sales),
      el('td', { class: 'num' }, yuan(p.amount)), el('td', { class: 'num' }, p.voids), el('td', { class: 'num' }, p.flagged))));
    $('#rep-zperiod').replaceChildren(...r.periods.filter(p => p.period !== 'other').map(p => el('option', { value: p.period }, p.period)));
  } catch (err) { showError('#rep-error', err); }
  try {
    const r = await api('GET', '/reports/registers?date=' + d);
    fillRows('#rep-byreg', r.registers.map(x => el('tr', {},
      el('td', {}, x.terminal_id), el('td', {}, x.name), el('td', {}, x.canteen),
      el('td', {}, x.by_cashier.map(c => (c.cashier || '–') + ': ' + c.sales).join('; ')),
      el('td', { class: 'num' }, x.sales), el('td', { class: 'num' }, yuan(x.amount)), el('td', { class: 'num' }, x.voids),
      el('td', { class: 'num' }, x.flagged), el('td', {}, x.first_seq ? x.first_seq + '–' + x.last_seq : ''))));
  } catch (err) { showError('#rep-error', err); }
}

// printReport queues the chosen report of the shown day on the chosen
// printer.
async function printReport(ev) {
  ev.preventDefault();
  showError('#rep-print-error', null); show('#rep-print-notice', '');
  const kind = $('#rep-kind').value;
  const body = { printer: $('#rep-printer').value, report: kind, date: $('#rep-date').value };
  if (kind === 'z') body.period = $('#rep-zperiod').value;
  if (kind === 'shift') body.terminal_id = parseInt($('#rep-shiftreg').value, 10);
  try {
    const r = await api('POST', '/reports/print', body);
    show('#rep-print-notice', t('rep.queued') + ': ' + r.title + ' → ' + body.printer);
  } catch (err) { showError('#rep-print-error', err); }
}

function reports() {
  const d = new URLSearchParams(location.search).get('date') || today();
  $('#rep-date').value = d;
  $('#rep-form').addEventListener('submit', ev => { ev.preventDefault(); loadReport($('#rep-date').value); });
  $('#rep-print').addEventListener('click', () => window.print());
  const kind = $('#rep-kind');
  kind.addEventListener('change', () => {
    $('#rep-zperiod-label').hidden = kind.value !== 'z';
    $('#rep-shiftreg-label').hidden = kind.value !== 'shift';
  });
  $('#rep-print-form').addEventListener('submit', printReport);
  api('GET', '/printers').then(r => {
    const list = r.printers || [];
    $('#rep-printer').replaceChildren(...list.map(p => el('option', { value: p.name }, p.name + ' (' + p.status + ')')));
    if (!list.length) { show('#rep-print-notice', t('rep.noprinter')); $('#rep-print-printer').disabled = true; }
  }).catch(err => showError('#rep-print-error', err));
  api('GET', '/terminals').then(r => {
    $('#rep-shiftreg').replaceChildren(...(r.terminals || []).map(x => el('option', { value: String(x.id) }, x.id + ' ' + x.name)));
  }).catch(err => showError('#rep-print-error', err));
  loadReport(d);
}

// --- rules -----------------------------------------------------------------

// A field of the rules form is an input with data-field, named as the API
// names it in its errors ("max_sale", "periods.1.end", "offline.max_hours");
// data-kind says how to read it: int, yuan, presets or text.

// parseYuanSigned reads an amount as fen, a minus sign allowed (the server
// says why a negative one is refused), or returns null.
function parseYuanSigned(s) {
  const m = /^\s*(-?)(\d{1,9})(?:\.(\d{1,2}))?\s*$/.exec(s || '');
  if (!m) return null;
  const fen = parseInt(m[2], 10) * 100 + parseInt((m[3] || '').padEnd(2, '0'), 10);
  return m[1] ? -fen : fen;
}

function fieldValue(input) {
  const v = input.value.trim();
  switch (input.dataset.kind) {
    case 'int':
      if (v === '') return 0;
      if (!/^-?\d{1,9}$/.test(v)) throw fieldProblem(input, t('rules.badnumber'));
      return parseInt(v, 10);
    case 'yuan': {
      if (v === '') return 0;
      const fen = parseYuanSigned(v);
      if (fen === null) throw fieldProblem(input, t('rules.badyuan'));
      return fen;
    }
    case 'presets': {
      if (v === '') return [];
      const list = v.split(/[,，]/).map(p => parseYuanSigned(p.trim() === '' ? '0' : p));
      if (list.some(p => p === null)) throw fieldProblem(input, t('rules.badpresets'));
      return list;
    }
  }
  return input.value;
}

function fieldProblem(input, message) {
  const e = new Error(message);
  e.field = input.dataset.field;
  return e;
}

function clearFieldErrors() {
  for (const e of document.querySelectorAll('#rules-form .field-error')) { e.textContent = ''; e.hidden = true; }
  for (const e of document.querySelectorAll('#rules-form [aria-invalid]')) e.removeAttribute('aria-invalid');
}

// showFieldError puts message next to the field the API named, or the
// nearest one it has ("periods.1.presets.2" → the presets of period 1 →
// the periods).
function showFieldError(field, message) {
  let parts = (field || '').split('.');
  while (parts.length) {
    const name = parts.join('.');
    const input = document.querySelector('#rules-form [data-field="' + CSS.escape(name) + '"]');
    const slot = document.querySelector('#rules-form [data-error-for="' + CSS.escape(name) + '"]');
    if (input || slot) {
      let box = slot;
      if (!box) {
        box = input.parentElement.querySelector(':scope > .field-error[data-error-for="' + CSS.escape(name) + '"]');
        if (!box) {
          box = el('span', { class: 'field-error', role: 'alert', 'data-error-for': name });
          input.after(box);
        }
      }
      if (input) input.setAttribute('aria-invalid', 'true');
      box.textContent = message; box.hidden = false;
      return;
    }
    parts = parts.slice(0, -1);
  }
}

function cellInput(field, kind, value, attrs) {
  return el('td', {}, el('input', Object.assign({ value: value == null ? '' : String(value), 'data-field': field, 'data-kind': kind }, attrs || {})));
}

function removeButton(row) {
  if (document.body.dataset.role !== 'admin') return el('td', {});
  return el('td', {}, el('button', { type: 'button', class: 'remove', onclick: () => { row.remove(); renumberPeriods(); } }, t('rules.remove')));
}

function periodRow(p) {
  const row = el('tr', { class: 'period' });
  row.append(
    cellInput('', 'text', p.name, { maxLength: 32, className: 'p-name' }),
    cellInput('', 'text', p.start, { maxLength: 5, size: 5, placeholder: 'HH:MM', className: 'p-start' }),
    cellInput('', 'text', p.end, { maxLength: 5, size: 5, placeholder: 'HH:MM', className: 'p-end' }),
    cellInput('', 'int', p.max_sales || '', { maxLength: 3, size: 3, inputMode: 'numeric', className: 'p-max_sales' }),
    cellInput('', 'presets', (p.presets || []).map(yuan).join(', '), { maxLength: 700, className: 'p-presets' }),
    removeButton(row));
  return row;
}

// renumberPeriods names each period's inputs after its place, as the API
// names them in its errors.
function renumberPeriods() {
  [...document.querySelectorAll('#rules-periods tbody tr')].forEach((row, i) => {
    for (const f of ['name', 'start', 'end', 'max_sales', 'presets']) row.querySelector('.p-' + f).dataset.field = 'periods.' + i + '.' + f;
  });
}

function classRow(name, c) {
  const row = el('tr', { class: 'class' });
  // The name's input carries the class's field, for the API's errors
  // about its limits ("classes.staff"); a bad name is "classes".
  const nameCell = cellInput('classes.' + name, 'text', name, { maxLength: 32, className: 'c-name' });
  const input = nameCell.firstChild;
  input.addEventListener('input', () => { input.dataset.field = 'classes.' + input.value.trim(); });
  row.append(
    nameCell,
    cellInput('classes.' + name + '.max_sales_per_day', 'int', c.max_sales_per_day || '', { maxLength: 3, size: 3, className: 'c-max_sales_per_day' }),
    cellInput('classes.' + name + '.max_sale', 'yuan', c.max_sale ? yuan(c.max_sale) : '', { maxLength: 13, size: 8, className: 'c-max_sale' }),
    cellInput('classes.' + name + '.max_day', 'yuan', c.max_day ? yuan(c.max_day) : '', { maxLength: 13, size: 8, className: 'c-max_day' }),
    removeButton(row));
  return row;
}

function showRules(r) {
  const rules = r.rules;
  $('#rules-version').textContent = r.version ? '(' + t('rules.version') + ' ' + r.version + ')' : '(' + t('rules.defaults') + ')';
  for (const input of document.querySelectorAll('#rules-form .grid input[data-field]')) {
    const path = input.dataset.field.split('.');
    const v = path.reduce((o, k) => (o == null ? undefined : o[k]), rules);
    if (input.type === 'checkbox') input.checked = !!v;
    else if (input.dataset.kind === 'yuan') input.value = v ? yuan(v) : '0';
    else input.value = v == null ? '0' : String(v);
  }
  fillRows('#rules-periods', (rules.periods || []).map(periodRow));
  renumberPeriods();
  fillRows('#rules-classes', Object.entries(rules.classes || {}).sort(([a], [b]) => a < b ? -1 : 1).map(([n, c]) => classRow(n, c)));
}

// readRules reads the form as the API's rules; a field it cannot read
// throws an error naming it.
function readRules() {
  const rules = { periods: [], classes: {}, offline: {} };
  for (const input of document.querySelectorAll('#rules-form .grid input[data-field]')) {
    const path = input.dataset.field.split('.');
    const v = input.type === 'checkbox' ? input.checked : fieldValue(input);
    if (path.length === 2) rules[path[0]][path[1]] = v; else rules[path[0]] = v;
  }
  for (const row of document.querySelectorAll('#rules-periods tbody tr')) {
    const p = {};
    for (const f of ['name', 'start', 'end', 'max_sales', 'presets']) p[f] = fieldValue(row.querySelector('.p-' + f));
    if (!p.presets.length) delete p.presets;
    rules.periods.push(p);
  }
  for (const row of document.querySelectorAll('#rules-classes tbody tr')) {
    const c = {};
    for (const f of ['max_sales_per_day', 'max_sale', 'max_day']) c[f] = fieldValue(row.querySelector('.c-' + f));
    rules.classes[row.querySelector('.c-name').value.trim()] = c;
  }
  return rules;
}

async function loadRules() {
  showError('#rules-error', null);
  clearFieldErrors();
  try {
    showRules(await api('GET', '/rules'));
  } catch (err) { showError('#rules-error', err); }
}

function rulesPage() {
  const add = $('#rules-add-period');
  if (add) add.addEventListener('click', () => { $('#rules-periods tbody').append(periodRow({})); renumberPeriods(); });
  const addClass = $('#rules-add-class');
  if (addClass) addClass.addEventListener('click', () => $('#rules-classes tbody').append(classRow('', {})));
  const reload = $('#rules-reload');
  if (reload) reload.addEventListener('click', () => { show('#rules-notice', ''); loadRules(); });
  $('#rules-form').addEventListener('submit', async ev => {
    ev.preventDefault();
    showError('#rules-error', null); show('#rules-notice', '');
    clearFieldErrors();
    let rules;
    try {
      rules = readRules();
    } catch (err) {
      showFieldError(err.field, err.message);
      show('#rules-error', t('rules.fix'));
      return;
    }
    if (!await confirmBox(t('rules.save'))) return;
    try {
      const r = await api('PUT', '/rules', { rules });
      showRules(r);
      show('#rules-notice', t('rules.saved') + ' · ' + t('rules.version') + ' ' + r.version);
    } catch (err) {
      showError('#rules-error', err);
      if (err.field) showFieldError(err.field, err.message);
    }
  });
  loadRules();
}

// --- audit -----------------------------------------------------------------

async function audit() {
  $('#audit-verify').addEventListener('click', async () => {
    showError('#audit-error', null); show('#audit-result', '');
    try {
      const r = await api('POST', '/audit/verify');
      show('#audit-result', r.ok ? t('audit.ok').replace('%d', r.checked)
        : t('audit.bad') + String(r.first_bad) + (r.problem ? ' — ' + r.problem : ''));
    } catch (err) { showError('#audit-error', err); }
  });
  try {
    const r = await api('GET', '/audit?limit=200');
    fillRows('#audit-log', (r.entries || r.audit || []).map(e => el('tr', {}, el('td', {}, e.id), el('td', {}, when(e.time)), el('td', {}, e.user),
      el('td', {}, e.action), el('td', {}, typeof e.detail === 'object' ? JSON.stringify(e.detail) : e.detail),
      el('td', { class: 'hash' }, String(e.hash || '').slice(0, 16)))));
  } catch (err) { showError('#audit-error', err); }
}

// --- users -----------------------------------------------------------------

async function loadUsers() {
  try {
    const r = await api('GET', '/users');
    fillRows('#user-list', (r.users || []).map(u => el('tr', {}, el('td', {}, u.name), el('td', {}, t('role.' + u.role)), el('td', {}, when(u.created)))));
  } catch (err) { showError('#user-error', err); }
}

function users() {
  const form = $('#user-create');
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    showError('#user-error', null); show('#user-notice', '');
    const body = { name: $('#new-user').value.trim(), password: $('#new-password').value, role: $('#new-role').value };
    if (!await confirmBox(t('user.create') + ' · ' + body.name + ' (' + t('role.' + body.role) + ')')) return;
    try {
      await api('POST', '/users', body);
      form.reset();
      show('#user-notice', t('done') + ': ' + body.name);
      await loadUsers();
    } catch (err) { showError('#user-error', err); }
  });
  loadUsers();
}

const pages = { dashboard, cards, registers, sales, reports, rules: rulesPage, audit, users };
const init = pages[document.body.dataset.page];
if (init) init();
