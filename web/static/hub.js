/* hub.js - the script of the flist hub pages. It fills the pages from the
 * JSON API and drives the forms. Every value from the server or the user
 * reaches the page through textContent, attribute setters and URL encoding:
 * never parsed as HTML. Readmes go through a small Markdown renderer that
 * builds DOM nodes (no raw HTML; links only to http(s) and relative URLs).
 */
'use strict';

const body = document.body;
const page = body.dataset.page;

/* ---------- DOM helpers ---------- */

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else if (k === 'href') e.setAttribute('href', v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }

function seg(s) { return encodeURIComponent(s); }

function fmtSize(v) {
  if (typeof v === 'string') return v;
  if (typeof v !== 'number') return '';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(2) : String(v)) + ' ' + u[i];
}

function fmtDate(t) {
  if (!t) return '';
  return new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' ');
}

async function getJSON(url) {
  const r = await fetch(url, { credentials: 'same-origin' });
  let v = null;
  try { v = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) throw new Error((v && v.message) || ('HTTP ' + r.status));
  return v;
}

function debounce(fn, ms) {
  let t = null;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

/* Resolves once the page shell has been painted: data that arrives
 * earlier waits for it, so the first paint never waits for a list. */
const painted = new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));

/* Marks the moment the page's data is drawn (benchmarks read it with the
 * Performance API: tests/bench/bench_web.mjs). */
function ready() {
  if (performance.getEntriesByName('hub:ready').length === 0) performance.mark('hub:ready');
}

function csrf() {
  const m = document.querySelector('meta[name="csrf-token"]');
  return m ? m.getAttribute('content') : '';
}

/* ---------- top bar: the active repository switcher ---------- */

function initAccount() {
  const sel = document.getElementById('active-user');
  if (!sel || !body.dataset.user) return;
  let accounts = [];
  try { accounts = JSON.parse(body.dataset.accounts || '[]'); } catch (e) { accounts = []; }
  if (!accounts.includes(body.dataset.user)) accounts.push(body.dataset.user);
  clear(sel);
  for (const a of accounts) {
    const o = el('option', { value: a, text: a });
    if (a === body.dataset.user) o.selected = true;
    sel.append(o);
  }
  sel.addEventListener('change', () => {
    document.cookie = 'active-user=' + encodeURIComponent(sel.value) + '; path=/; SameSite=Lax';
    location.reload();
  });
}

/* ---------- the repository list ---------- */

async function initHome() {
  const off = document.getElementById('official');
  const con = document.getElementById('contributors');
  const filter = document.getElementById('repo-filter');
  let repos = [];
  try {
    repos = await getJSON('/api/repositories');
    await painted;
  } catch (e) {
    clear(off).append(el('li', { class: 'error', text: 'Cannot list the repositories: ' + e.message }));
    clear(con);
    return;
  }
  function render() {
    const q = filter.value.trim().toLowerCase();
    const f1 = document.createDocumentFragment(), f2 = document.createDocumentFragment();
    let n1 = 0, n2 = 0;
    for (const r of repos) {
      if (q && !r.name.toLowerCase().includes(q)) continue;
      const li = el('li', null, el('a', { href: '/' + seg(r.name), text: r.name }));
      if (r.official) { f1.append(li); n1++; } else { f2.append(li); n2++; }
    }
    clear(off).append(n1 ? f1 : el('li', { class: 'hint', text: 'None.' }));
    clear(con).append(n2 ? f2 : el('li', { class: 'hint', text: 'None.' }));
  }
  filter.addEventListener('input', debounce(render, 80));
  render();
  ready();
}

/* ---------- repository and tag pages (HUB-API.md §9.1) ---------- */

function linkTargetUrl(repo, target) {
  let u = target.includes('/') ? '/' + target.split('/').map(seg).join('/') : '/' + seg(repo) + '/' + seg(target);
  if (!target.includes('/tags/')) u += '.md';
  return u;
}

function fileRow(repo, e, tag) {
  const name = tag ? el('a', { href: '/' + seg(repo) + '/tags/' + seg(tag) + '/' + seg(e.name), text: e.name })
    : e.type === 'taglink' ? el('span', { text: e.name })
    : el('a', { href: '/' + seg(repo) + '/' + seg(e.name), text: e.name });
  const cell = el('td', null, name);
  if (!tag && (e.type === 'symlink' || e.type === 'taglink') && e.target) {
    cell.append(' ➔ ', el('a', { href: linkTargetUrl(repo, e.target), text: e.target }));
  }
  let preview;
  if (tag) preview = '/' + (e.target || '').split('/').map(seg).join('/') + '.md';
  else if (e.type === 'taglink') preview = '/' + (e.target || '').split('/').map(seg).join('/');
  else preview = '/' + seg(repo) + '/' + seg(e.name) + '.md';
  return el('tr', null, cell,
    el('td', null, el('a', { href: preview, text: 'preview', 'aria-label': 'Preview ' + e.name })),
    el('td', { class: 'num', text: fmtSize(e.size) }),
    el('td', { text: fmtDate(e.updated) }));
}

async function initRepo() {
  const repo = body.dataset.repo;
  const files = document.getElementById('files');
  const tags = document.getElementById('tags');
  const filter = document.getElementById('file-filter');
  let list = [];
  try {
    list = await getJSON('/api/flist/' + seg(repo));
    await painted;
  } catch (e) {
    clear(files).append(el('tr', null, el('td', { colspan: 4, class: 'error', text: e.message })));
    return;
  }
  const tagList = list.filter((e) => e.type === 'tag');
  if (tagList.length) {
    document.getElementById('tags-section').hidden = false;
    for (const t of tagList)
      tags.append(el('tr', null, el('td', null, el('a', { href: '/' + seg(repo) + '/tags/' + seg(t.name), text: t.name })),
        el('td', { text: fmtDate(t.updated) })));
  }
  const entries = list.filter((e) => e.type === 'regular' || e.type === 'symlink' || e.type === 'taglink');
  function render() {
    const q = filter.value.trim().toLowerCase();
    const f = document.createDocumentFragment();
    let n = 0;
    for (const e of entries) {
      if (q && !e.name.toLowerCase().includes(q)) continue;
      f.append(fileRow(repo, e, null));
      n++;
    }
    clear(files).append(n ? f : el('tr', null, el('td', { colspan: 4, class: 'hint', text: 'No flist here.' })));
  }
  filter.addEventListener('input', debounce(render, 80));
  render();
  ready();
}

async function initTag() {
  const repo = body.dataset.repo, tag = body.dataset.tag;
  const files = document.getElementById('files');
  try {
    const list = await getJSON('/api/flist/' + seg(repo) + '/tags/' + seg(tag));
    const f = document.createDocumentFragment();
    for (const e of list) f.append(fileRow(repo, e, tag));
    clear(files).append(list.length ? f : el('tr', null, el('td', { colspan: 4, class: 'hint', text: 'This tag is empty.' })));
  } catch (e) {
    clear(files).append(el('tr', null, el('td', { colspan: 4, class: 'error', text: e.message })));
  }
}

/* ---------- search as you type ---------- */

function initSearch() {
  const q = document.getElementById('q');
  const status = document.getElementById('search-status');
  const results = document.getElementById('results');
  let seq = 0;
  async function run() {
    const text = q.value.trim();
    const my = ++seq;
    history.replaceState(null, '', text ? '/search?q=' + encodeURIComponent(text) : '/search');
    if (!text) { clear(results); status.textContent = 'Type a name to search every flist.'; return; }
    let v;
    try {
      v = await getJSON('/api/search?limit=100&q=' + encodeURIComponent(text));
    } catch (e) {
      if (my === seq) status.textContent = 'Search failed: ' + e.message;
      return;
    }
    if (my !== seq) return; /* a newer query is on its way */
    const p = v.payload || { results: [], total: 0 };
    const f = document.createDocumentFragment();
    for (const r of p.results) {
      f.append(el('tr', null,
        el('td', null, el('a', { href: '/' + seg(r.repository), text: r.repository })),
        el('td', null, el('a', { href: '/' + seg(r.repository) + '/' + seg(r.name) + '.md', text: r.name })),
        el('td', { class: 'num', text: fmtSize(r.size) }),
        el('td', { text: fmtDate(r.updated) })));
    }
    clear(results).append(f);
    status.textContent = p.total === 0 ? 'No flist matches "' + text + '".'
      : p.total > p.results.length ? p.total + ' flists match; the first ' + p.results.length + ' are shown.'
      : p.total + (p.total === 1 ? ' flist matches.' : ' flists match.');
  }
  document.getElementById('search-form').addEventListener('submit', (ev) => { ev.preventDefault(); run(); });
  q.addEventListener('input', debounce(run, 150));
  run();
}

/* ---------- Markdown (sanitised: DOM nodes only, no raw HTML) ---------- */

function safeUrl(u) {
  u = u.trim();
  if (/^https?:\/\//i.test(u)) return u;
  if (/^[a-z][a-z0-9+.-]*:/i.test(u)) return null; /* javascript:, data:, ... */
  if (u.startsWith('//')) return null;
  return u; /* relative */
}

function inline(text) {
  const f = document.createDocumentFragment();
  const re = /(`+)([\s\S]*?)\1|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|_([^_\s][^_]*)_|\[([^\]]+)\]\(([^)\s]+)(?:\s+"[^"]*")?\)|<(https?:\/\/[^>\s]+)>/g;
  let last = 0, m;
  while ((m = re.exec(text))) {
    if (m.index > last) f.append(text.slice(last, m.index));
    if (m[1]) f.append(el('code', { text: m[2] }));
    else if (m[3] || m[4]) f.append(el('strong', null, inline(m[3] || m[4])));
    else if (m[5] || m[6]) f.append(el('em', null, inline(m[5] || m[6])));
    else if (m[7]) {
      const u = safeUrl(m[8]);
      f.append(u ? el('a', { href: u, rel: 'nofollow noopener' }, inline(m[7])) : document.createTextNode(m[7]));
    } else if (m[9]) f.append(el('a', { href: m[9], rel: 'nofollow noopener', text: m[9] }));
    last = re.lastIndex;
  }
  if (last < text.length) f.append(text.slice(last));
  return f;
}

function markdown(src) {
  const out = document.createDocumentFragment();
  const lines = String(src).replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (/^\s*$/.test(line)) { i++; continue; }
    if ((m = /^\s*(```|~~~)/.exec(line))) {
      const fence = m[1], code = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence)) code.push(lines[i++]);
      i++;
      out.append(el('pre', null, el('code', { text: code.join('\n') })));
      continue;
    }
    if ((m = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line))) {
      out.append(el('h' + Math.min(6, m[1].length + 2), null, inline(m[2])));
      i++;
      continue;
    }
    if (/^ {0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) { out.append(el('hr')); i++; continue; }
    if (/^\s*([-*+]|\d+[.)])\s+/.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const list = el(ordered ? 'ol' : 'ul');
      while (i < lines.length && (m = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(lines[i]))) {
        let item = m[2];
        i++;
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !/^\s*([-*+]|\d+[.)])\s+/.test(lines[i])) item += ' ' + lines[i++].trim();
        list.append(el('li', null, inline(item)));
      }
      out.append(list);
      continue;
    }
    if (/^ {4}|\t/.test(line)) {
      const code = [];
      while (i < lines.length && (/^ {4}|\t/.test(lines[i]) || /^\s*$/.test(lines[i]))) code.push(lines[i++].replace(/^ {4}|\t/, ''));
      out.append(el('pre', null, el('code', { text: code.join('\n').replace(/\n+$/, '') })));
      continue;
    }
    if (/^\s*>/.test(line)) {
      const q = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) q.push(lines[i++].replace(/^\s*>\s?/, ''));
      out.append(el('blockquote', null, markdown(q.join('\n'))));
      continue;
    }
    const para = [];
    while (i < lines.length && !/^\s*$/.test(lines[i]) && !/^(#{1,6}\s|\s*(```|~~~)|\s*([-*+]|\d+[.)])\s+|\s*>)/.test(lines[i])) para.push(lines[i++].trim());
    out.append(el('p', null, inline(para.join(' '))));
  }
  return out;
}

/* ---------- the preview page ---------- */

function metaValue(v) {
  if (v === null || v === undefined) return '(unreadable)';
  if (typeof v !== 'object') return String(v);
  return JSON.stringify(v);
}

function backendText(b) {
  if (!b || typeof b !== 'object') return metaValue(b);
  return 'zdb://' + b.host + ':' + b.port + (b.namespace ? '/' + b.namespace : '');
}

async function initPreview() {
  const repo = body.dataset.repo, name = body.dataset.name;
  const base = '/api/flist/' + seg(repo) + '/' + seg(name);
  const readme = document.getElementById('readme');
  const metaBox = document.getElementById('metadata');
  getJSON(base + '/metadata').then(async (meta) => {
    await painted;
    clear(metaBox);
    const add = (k, v) => metaBox.append(el('dt', { text: k }), el('dd', { text: v }));
    const r = meta.readme;
    clear(readme);
    if (r && typeof r === 'object' && typeof r.readme === 'string' && r.readme.trim()) readme.append(markdown(r.readme));
    else readme.append(el('p', { class: 'hint', text: 'This flist has no readme.' }));
    if (r && typeof r === 'object' && r.license) add('License', String(r.license));
    const e = meta.entrypoint;
    if (e !== undefined) add('Entrypoint', e && typeof e === 'object' ? [e.entrypoint || e.path || '', ...(e.args || [])].join(' ').trim() || metaValue(e) : metaValue(e));
    const env = meta.environ;
    if (env !== undefined) add('Environment', env && typeof env === 'object' ? Object.entries(env).map(([k, v]) => k + '=' + v).join('\n') : metaValue(env));
    if (meta.port !== undefined) add('Ports', metaValue(meta.port));
    if (meta.volume !== undefined) add('Volumes', metaValue(meta.volume));
    if (meta.backend !== undefined) add('Backend', backendText(meta.backend));
    if (meta['backend-forced'] !== undefined) add('Backend', backendText(meta['backend-forced']) + ' (hub default)');
    for (const [k, v] of Object.entries(meta))
      if (!['readme', 'entrypoint', 'environ', 'port', 'volume', 'backend', 'backend-forced'].includes(k)) add(k, metaValue(v));
    if (!metaBox.firstChild) add('(none)', '');
  }).catch((err) => {
    clear(metaBox).append(el('dd', { class: 'error', text: 'Cannot read the metadata: ' + err.message }));
    clear(readme).append(el('p', { class: 'error', text: err.message }));
  });
  loadTree(base);
}

/* The contents as a browsable tree: directories open on demand, so a
 * 10,000-entry flist only renders what is looked at. */
async function loadTree(base) {
  const box = document.getElementById('tree');
  const summary = document.getElementById('tree-summary');
  const filter = document.getElementById('tree-filter');
  let v;
  try { v = await getJSON(base); await painted; } catch (e) {
    clear(box).append(el('p', { class: 'error', text: 'Cannot read the contents: ' + e.message }));
    return;
  }
  summary.textContent = (v.directory || 0) + ' directories, ' + (v.regular || 0) + ' regular files, ' +
    (v.symlink || 0) + ' symlinks and ' + (v.special || 0) + ' special files (' + fmtSize(v.fullsize || 0) + ').';
  const root = { dirs: new Map(), files: [] };
  const content = v.content || [];
  for (const c of content) {
    const parts = String(c.path).split('/').filter((p) => p);
    let node = root;
    for (let k = 0; k < parts.length - 1; k++) {
      if (!node.dirs.has(parts[k])) node.dirs.set(parts[k], { dirs: new Map(), files: [] });
      node = node.dirs.get(parts[k]);
    }
    if (!parts.length) continue;
    const last = parts[parts.length - 1];
    if (node.dirs.has(last)) continue;
    if (c.type === 'directory' || c.directory) node.dirs.set(last, node.dirs.get(last) || { dirs: new Map(), files: [] });
    else node.files.push({ name: last, size: c.size });
  }
  /* a path listed as a file that also has children is a directory */
  function list(node) {
    const ul = el('ul');
    const names = [...node.dirs.keys()].sort();
    for (const n of names) {
      const d = el('details', null, el('summary', { text: n + '/' }));
      const child = node.dirs.get(n);
      d.addEventListener('toggle', () => { if (d.open && d.children.length === 1) d.append(list(child)); });
      ul.append(el('li', null, d));
    }
    node.files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const f of node.files) {
      if (node.dirs.has(f.name)) continue;
      ul.append(el('li', null, el('span', { text: f.name }), el('span', { class: 'size', text: fmtSize(f.size) })));
    }
    return ul;
  }
  clear(box).append(content.length ? list(root) : el('p', { class: 'hint', text: 'Empty.' }));
  ready();
  filter.addEventListener('input', debounce(() => {
    const q = filter.value.trim().toLowerCase();
    if (!q) { clear(box).append(list(root)); return; }
    const ul = el('ul');
    let n = 0;
    for (const c of content) {
      if (!String(c.path).toLowerCase().includes(q)) continue;
      if (++n > 500) break;
      ul.append(el('li', null, el('span', { text: c.path }), el('span', { class: 'size', text: fmtSize(c.size) })));
    }
    clear(box).append(n ? ul : el('p', { class: 'hint', text: 'No path matches.' }));
  }, 120));
}

/* ---------- forms that become jobs ---------- */

function jobUi() {
  return {
    box: document.getElementById('job'),
    bar: document.getElementById('bar'),
    barText: document.getElementById('bar-text'),
    state: document.getElementById('job-state'),
    log: document.getElementById('job-log'),
    error: document.getElementById('job-error'),
    done: document.getElementById('job-done'),
    layers: document.getElementById('layers'),
  };
}

function showError(ui, msg) {
  ui.error.hidden = false;
  ui.error.textContent = msg;
  ui.state.textContent = 'Failed.';
}

function resetUi(ui) {
  ui.box.hidden = false;
  ui.error.hidden = true;
  ui.done.hidden = true;
  ui.bar.value = 0;
  ui.barText.textContent = '';
  ui.state.textContent = '';
  clear(ui.log);
  if (ui.layers) clear(ui.layers);
  const oops = document.getElementById('form-oops');
  if (oops) oops.textContent = '';
}

/* The reply of a form POST: 202 with the job, or an error to show. */
function replyOf(xhr) {
  if (xhr.responseURL && /\/login-method\/?$/.test(new URL(xhr.responseURL).pathname))
    return { error: 'Your session has ended: log in again (Log in, top right).' };
  if (xhr.responseURL && /\/readonly\/?$/.test(new URL(xhr.responseURL).pathname))
    return { error: 'This hub is read-only.' };
  let v = null;
  try { v = JSON.parse(xhr.responseText); } catch (e) { v = null; }
  if (xhr.status === 202 && v && v.payload && v.payload.job) return { job: v.payload };
  if (xhr.status === 503 && v && v.message) return { error: v.message + ' (HTTP 503)' };
  return { error: (v && v.message) || ('The hub answered HTTP ' + xhr.status) };
}

function layerRow(ui, id, label) {
  let row = ui.layers.querySelector('li[data-layer="' + CSS.escape(id) + '"]');
  if (!row) {
    row = el('li', { 'data-layer': id }, el('span', { class: 'layer-id', text: label }),
      el('progress', { max: 100, value: 0, 'aria-label': label }), el('span', { class: 'layer-msg' }));
    ui.layers.append(row);
  }
  return row;
}

function setLayer(ui, id, label, pct, msg) {
  const row = layerRow(ui, id, label);
  if (typeof pct === 'number' && !Number.isNaN(pct)) row.querySelector('progress').value = Math.max(0, Math.min(100, pct));
  if (msg !== undefined) row.querySelector('.layer-msg').textContent = msg;
}

/* Progress per layer of a Docker conversion, from the events' own fields
 * (layer, layer_progress or current/total) or from the original's messages
 * (HUB-API.md §13.4): "Downloading layers [<done> / <total>]" (with the
 * worker's "(layer <i>/<n>: <bytes> / <bytes> bytes)": one row per layer) and
 * "Extracting layer <i> / <n> [<x> MB / <y> MB]". */
function layerProgress(ui, ev) {
  const msg = ev.message || '';
  let m;
  if (ev.layer !== undefined && ev.layer !== null) {
    const id = String(ev.layer);
    let pct = ev.layer_progress;
    if (typeof pct !== 'number' && typeof ev.current === 'number' && ev.total > 0) pct = (ev.current * 100) / ev.total;
    setLayer(ui, 'l-' + id, 'Layer ' + id.slice(0, 19), pct, msg);
  } else if ((m = /^Downloading layers \[(.+) \/ (.+)\]/.exec(msg))) {
    setLayer(ui, 'download', 'Download', undefined, m[1] + ' of ' + m[2]);
    const l = /\(layer (\d+)\/(\d+): (\d+) \/ (\d+) bytes\)/.exec(msg);
    if (l) {
      const got = Number(l[3]), size = Number(l[4]);
      setLayer(ui, 'd-' + l[1], 'Layer ' + l[1] + ' of ' + l[2], size > 0 ? (got * 100) / size : undefined,
        got + ' of ' + size + ' bytes');
    }
  } else if ((m = /^Extracting layer (\d+) \/ (\d+)(?: \[(\d+) MB \/ (\d+) MB\])?/.exec(msg))) {
    const done = Number(m[1]), n = Number(m[2]);
    for (let i = 1; i <= n; i++) {
      let pct = i <= done ? 100 : 0, text = i <= done ? 'extracted' : 'waiting';
      if (i === done + 1) {
        text = 'extracting';
        if (m[3] !== undefined && Number(m[4]) > 0) { pct = (Number(m[3]) * 100) / Number(m[4]); text += ' ' + m[3] + ' MB of ' + m[4] + ' MB'; }
      }
      setLayer(ui, 'x-' + i, 'Layer ' + i + ' of ' + n, pct, text);
    }
  }
}

/* Shows one job event (HUB-API.md §10). Returns 'done' with the result,
 * 'error', or null while the job goes on. */
function applyJobEvent(ui, ev) {
  if (ev.status === 'update') {
    if (typeof ev.progress === 'number') { ui.bar.value = ev.progress; ui.barText.textContent = ev.progress + ' %'; }
    ui.state.textContent = ev.message || '';
    ui.log.append(el('li', { text: ev.message || '' }));
    if (ui.layers) layerProgress(ui, ev);
    return null;
  }
  if (ev.status === 'info') {
    ui.bar.value = 100;
    ui.barText.textContent = '100 %';
    ui.state.textContent = 'Done.';
    return 'done';
  }
  if (ev.status === 'error') {
    showError(ui, ev.message || 'The job failed.');
    return 'error';
  }
  return null;
}

/* Follows a job's events (/listen/<id>, HUB-API.md §10) until its end;
 * falls back to /api/jobs/<id> when the stream ends without a result. */
function followJob(ui, job, kind, onDone) {
  ui.state.textContent = 'Job ' + job.job + ' queued…';
  let finished = false;
  const es = new EventSource(job.events_url);
  const finish = () => { finished = true; es.close(); };
  es.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch (e) { return; }
    const end = applyJobEvent(ui, ev);
    if (end) finish();
    if (end === 'done') onDone(ev.info || {});
  };
  es.onerror = async () => {
    if (finished) return;
    es.close();
    try {
      const st = await getJSON(job.status_url);
      const p = st.payload || {};
      if (p.state === 'failed') { finished = true; showError(ui, p.error || 'The job failed.'); }
      else if (p.state === 'done') { finished = true; ui.bar.value = 100; ui.state.textContent = 'Done.'; onDone(p.result || {}); }
      else setTimeout(() => followJob(ui, job, kind, onDone), 1000);
    } catch (e) {
      if (!finished) showError(ui, 'Lost the job: ' + e.message);
    }
  };
}

function doneMessage(ui, file) {
  const me = body.dataset.me;
  ui.done.hidden = false;
  clear(ui.done).append('Your flist ', el('a', { href: '/' + seg(me) + '/' + seg(file) + '.md', id: 'result-link', text: me + '/' + file }),
    ' is available.');
}

function post(ui, route, data, ctype, onUploadProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', route);
    xhr.setRequestHeader('X-CSRF-Token', csrf());
    if (ctype) xhr.setRequestHeader('Content-Type', ctype);
    if (onUploadProgress) xhr.upload.onprogress = onUploadProgress;
    xhr.onload = () => resolve(replyOf(xhr));
    xhr.onerror = () => resolve({ error: 'The connection to the hub failed.' });
    xhr.send(data);
  });
}

function initUpload(form) {
  const ui = jobUi();
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const input = form.querySelector('input[type=file]');
    if (!input.files.length) return;
    const file = input.files[0];
    resetUi(ui);
    const btn = form.querySelector('button');
    btn.disabled = true;
    const fd = new FormData();
    fd.append('file', file, file.name);
    ui.state.textContent = 'Sending ' + file.name + '…';
    const r = await post(ui, form.dataset.route, fd, null, (p) => {
      if (!p.lengthComputable) return;
      const pct = Math.floor((p.loaded * 100) / p.total);
      ui.bar.value = pct;
      ui.barText.textContent = fmtSize(p.loaded) + ' of ' + fmtSize(p.total) + ' sent';
    });
    btn.disabled = false;
    if (r.error) { showError(ui, r.error); return; }
    ui.bar.value = 0;
    ui.barText.textContent = 'building';
    followJob(ui, r.job, form.dataset.kind, (info) => doneMessage(ui, info.filename || info.name || file.name));
  });
}

function initMerge(form) {
  const ui = jobUi();
  const search = document.getElementById('merge-search');
  const cands = document.getElementById('merge-candidates');
  const sources = document.getElementById('merge-sources');
  const chosen = [];
  function renderSources() {
    clear(sources);
    if (!chosen.length) { sources.append(el('li', { class: 'empty', text: 'No source yet: add some from the search above.' })); return; }
    chosen.forEach((s, i) => {
      const up = el('button', { type: 'button', class: 'small secondary', text: '↑', 'aria-label': 'Move ' + s + ' up' });
      const down = el('button', { type: 'button', class: 'small secondary', text: '↓', 'aria-label': 'Move ' + s + ' down' });
      const rm = el('button', { type: 'button', class: 'small secondary', text: 'Remove', 'aria-label': 'Remove ' + s });
      up.disabled = i === 0;
      down.disabled = i === chosen.length - 1;
      up.addEventListener('click', () => { [chosen[i - 1], chosen[i]] = [chosen[i], chosen[i - 1]]; renderSources(); sources.children[i - 1].querySelector('button').focus(); });
      down.addEventListener('click', () => { [chosen[i + 1], chosen[i]] = [chosen[i], chosen[i + 1]]; renderSources(); sources.children[i + 1].querySelectorAll('button')[1].focus(); });
      rm.addEventListener('click', () => { chosen.splice(i, 1); renderSources(); });
      sources.append(el('li', { 'data-source': s }, el('span', { class: 'source', text: s }), up, down, rm));
    });
  }
  const find = debounce(async () => {
    const q = search.value.trim();
    clear(cands);
    if (!q) return;
    let v;
    try { v = await getJSON('/api/search?limit=20&q=' + encodeURIComponent(q)); } catch (e) {
      cands.append(el('li', { class: 'error', text: e.message }));
      return;
    }
    for (const r of v.payload.results) {
      const id = r.repository + '/' + r.name;
      const add = el('button', { type: 'button', class: 'small', text: 'Add', 'aria-label': 'Add ' + id });
      add.addEventListener('click', () => { if (!chosen.includes(id)) { chosen.push(id); renderSources(); } });
      cands.append(el('li', null, el('span', { text: id }), add));
    }
    if (!v.payload.results.length) cands.append(el('li', { class: 'hint', text: 'Nothing matches.' }));
  }, 150);
  search.addEventListener('input', find);
  search.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') ev.preventDefault(); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    resetUi(ui);
    const name = document.getElementById('merge-name').value.trim();
    if (!chosen.length) { showError(ui, 'Add at least one source.'); return; }
    const r = await post(ui, form.dataset.route, JSON.stringify({ name, sources: chosen }), 'application/json');
    if (r.error) { showError(ui, r.error); return; }
    const file = name.endsWith('.flist') ? name : name + '.flist';
    followJob(ui, r.job, 'merge', () => doneMessage(ui, file));
  });
}

function initDocker(form) {
  const ui = jobUi();
  /* the progress page of the original's docker form post (HUB-API.md
   * §9.5): the server queued the job, follow it */
  const queued = form.dataset.job;
  if (queued) {
    resetUi(ui);
    followJob(ui, { job: queued, events_url: '/listen/' + queued, status_url: '/api/jobs/' + queued }, 'docker',
      (info) => doneMessage(ui, info.file || info.filename || info.name || queued));
  }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    resetUi(ui);
    const image = document.getElementById('docker-image').value.trim();
    const r = await post(ui, form.dataset.route, 'image=' + encodeURIComponent(image), 'application/x-www-form-urlencoded');
    if (r.error) { showError(ui, r.error); return; }
    followJob(ui, r.job, 'docker', (info) => doneMessage(ui, info.file || info.filename || info.name || image));
  });
}

/* ---------- token page ---------- */

function initToken() {
  for (const b of document.querySelectorAll('button.copy')) {
    b.addEventListener('click', async () => {
      const t = document.getElementById(b.dataset.copy).textContent;
      try { await navigator.clipboard.writeText(t); b.textContent = 'Copied'; } catch (e) { b.textContent = 'Select and copy the text above'; }
    });
  }
}

/* ---------- start ---------- */

initAccount();
const starts = {
  home: initHome, repo: initRepo, tag: initTag, search: initSearch, preview: initPreview, token: initToken,
};
if (starts[page]) starts[page]();
const jobForm = document.querySelector('form.job-form');
if (jobForm) {
  if (jobForm.dataset.kind === 'merge') initMerge(jobForm);
  else if (jobForm.dataset.kind === 'docker') initDocker(jobForm);
  else initUpload(jobForm);
}
