// The page: upload, drop or paste a photo, see the most similar products, click one to search from it.
const $ = (id) => document.getElementById(id);
const state = { lastQuery: null };

function filters() {
  const out = {};
  for (const sel of document.querySelectorAll('select[data-field]')) if (sel.value) out[sel.dataset.field] = sel.value;
  return out;
}

function setStatus(text, isError = false) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', isError);
}

async function api(path, init) {
  const res = await fetch(path, init);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
  return body;
}

function showQuery(src, caption) {
  $('query-view').hidden = false;
  $('query-image').src = src;
  $('query-caption').textContent = caption;
}

function card(result) {
  const m = result.metadata ?? {};
  const el = document.createElement('button');
  el.type = 'button';
  el.className = 'card';
  el.dataset.id = result.id;
  el.dataset.testid = 'result';
  el.title = 'Find items similar to this one';
  const img = document.createElement('img');
  img.src = result.imageUrl;
  img.alt = m.productDisplayName ?? `Item ${result.id}`;
  img.loading = 'lazy';
  const meta = document.createElement('div');
  meta.className = 'meta';
  const line = (cls, text) => {
    const d = document.createElement('div');
    d.className = cls;
    d.textContent = text;
    meta.append(d);
  };
  line('name', m.productDisplayName ?? `Item ${result.id}`);
  line('sub', [m.articleType, m.gender].filter(Boolean).join(' · '));
  line('sub', m.baseColour ?? '');
  if (typeof result.score === 'number') line('score', `similarity ${result.score.toFixed(3)}`);
  el.append(img, meta);
  el.addEventListener('click', () => searchById(result.id, m.productDisplayName ?? result.id));
  return el;
}

function render(body, label) {
  const box = $('results');
  box.replaceChildren(...body.results.map(card));
  const t = body.timings ?? {};
  const ms = t.embedMs !== undefined ? ` in ${(t.decodeMs + t.embedMs + t.searchMs).toFixed(0)} ms` : '';
  setStatus(body.results.length ? `${body.results.length} products similar to ${label}${ms}` : `No products match the filters for ${label}.`);
}

async function run(label, request) {
  setStatus(`Searching for ${label}…`);
  try {
    const body = await request();
    render(body, label);
  } catch (err) {
    setStatus(`Could not search: ${err.message}`, true);
  }
}

function searchFile(file) {
  if (!file) return;
  state.lastQuery = { kind: 'file', file };
  showQuery(URL.createObjectURL(file), file.name);
  const form = new FormData();
  form.append('image', file);
  form.append('k', $('k-select').value);
  form.append('filters', JSON.stringify(filters()));
  return run('your photo', () => api('/api/search', { method: 'POST', body: form }));
}

function searchUrl(url) {
  if (!url) return;
  state.lastQuery = { kind: 'url', url };
  showQuery(url, url);
  return run('the linked photo', () => api('/api/search', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ imageUrl: url, k: Number($('k-select').value), filters: filters() }),
  }));
}

function searchById(id, name) {
  state.lastQuery = { kind: 'id', id, name };
  showQuery(`/api/images/${encodeURIComponent(id)}`, name);
  return run(`“${name}”`, () => api('/api/search', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, k: Number($('k-select').value), filters: filters() }),
  }));
}

function rerun() {
  const q = state.lastQuery;
  if (!q) return;
  if (q.kind === 'file') searchFile(q.file);
  else if (q.kind === 'url') searchUrl(q.url);
  else searchById(q.id, q.name);
}

async function loadFacets() {
  try {
    const info = await api('/api/info');
    for (const sel of document.querySelectorAll('select[data-field]')) {
      for (const { value, count } of info.facets?.[sel.dataset.field] ?? []) {
        const opt = document.createElement('option');
        opt.value = value;
        opt.textContent = `${value} (${count})`;
        sel.append(opt);
      }
    }
    if (!info.items) {
      setStatus('The catalog is empty: index some photos with `fashion index` first.', true);
      return;
    }
    const browse = await api('/api/items?limit=12');
    $('results').replaceChildren(...browse.items.map(card));
  } catch (err) {
    setStatus(`The server is not answering: ${err.message}`, true);
  }
}

const drop = $('drop-zone');
$('file-input').addEventListener('change', (e) => searchFile(e.target.files[0]));
drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') $('file-input').click(); });
for (const ev of ['dragenter', 'dragover']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('dragging'); });
for (const ev of ['dragleave', 'drop']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove('dragging'); });
drop.addEventListener('drop', (e) => searchFile(e.dataTransfer.files[0]));
$('url-button').addEventListener('click', () => searchUrl($('url-input').value.trim()));
$('url-input').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); searchUrl($('url-input').value.trim()); } });
document.addEventListener('paste', (e) => {
  const file = [...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
  if (file) searchFile(file);
});
for (const sel of document.querySelectorAll('select')) sel.addEventListener('change', rerun);
loadFacets();
