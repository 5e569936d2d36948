// The page: upload, drop or paste a photo, or type words (or both), see the most similar products, click one
// to search from it; words that became filters show as removable chips; an outfit row completes the look.
const $ = (id) => document.getElementById(id);
const state = { lastQuery: null, text: '', dropFilters: [] };

/** The words part of a search request (none when the text box is empty). */
function words() {
  return state.text ? { text: state.text, dropFilters: state.dropFilters } : {};
}

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
  if (!res.ok) throw Object.assign(new Error(body?.error?.message ?? `HTTP ${res.status}`), { code: body?.error?.code });
  return body;
}

// The photo of the last search: by its handle (the server keeps recent photos' embeddings) so that match and outfit
// do not upload or download it again; the upload or URL when the handle has expired.
async function photoCall(path, q) {
  const handle = q.handle;
  if (handle) {
    try {
      return await api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ handle }) });
    } catch (err) {
      if (err.code !== 'input/not-found') throw err;
    }
  }
  if (q.kind === 'file') {
    const form = new FormData();
    form.append('image', q.file);
    return api(path, { method: 'POST', body: form });
  }
  return api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ imageUrl: q.url }) });
}

function showQuery(src, caption) {
  $('query-view').hidden = false;
  $('query-image').src = src;
  $('query-caption').textContent = caption;
  // Matching is for photos; a catalog item is its own exact product.
  $('match-button').hidden = state.lastQuery?.kind === 'id';
  if (state.lastQuery?.kind === 'id') $('match-result').hidden = true;
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
  const predicted = Object.entries(result.predicted ?? {}).map(([f, p]) => `${f}: ${p.value} (predicted)`);
  if (predicted.length) line('predicted', predicted.join(' · '));
  if (result.lookAlike) line('same', 'looks most like your photo');
  if (result.reason) line('reason', result.reason);
  else if (typeof result.score === 'number') line('score', `${state.text && !state.lastQuery ? 'match' : 'similarity'} ${result.score.toFixed(3)}`);
  el.append(img, meta);
  el.addEventListener('click', () => searchById(result.id, m.productDisplayName ?? result.id));
  return el;
}

function chip(text, onRemove) {
  const el = document.createElement('span');
  el.className = onRemove ? 'chip' : 'chip note';
  el.dataset.testid = 'chip';
  el.textContent = text;
  if (onRemove) {
    const x = document.createElement('button');
    x.type = 'button';
    x.textContent = '×';
    x.title = 'Remove this filter';
    x.setAttribute('aria-label', `Remove filter ${text}`);
    x.addEventListener('click', onRemove);
    el.append(x);
  }
  return el;
}

function renderChips(info) {
  const chips = [];
  for (const f of info?.filters ?? []) {
    const c = chip(`${f.field}: ${f.values.join(' or ')} (“${f.words}”)`, () => { state.dropFilters.push(f.field); rerun(); });
    c.dataset.field = f.field;
    chips.push(c);
  }
  for (const f of info?.relaxed ?? []) chips.push(chip(`no item has every word; ignored ${f.field}: ${f.values.join(' or ')}`));
  if (info?.unmatchedWords?.length) chips.push(chip(`no item has: ${info.unmatchedWords.join(', ')}`));
  $('chips').replaceChildren(...chips);
}

// Auto-categorisation of an uploaded photo, shown beside it: what the shop's labels say it most likely is.
function renderPrediction(predicted) {
  const el = $('query-predicted');
  if (!el) return;
  if (!predicted) {
    el.hidden = true;
    return;
  }
  const parts = ['articleType', 'baseColour', 'gender'].filter((f) => predicted[f]).map((f) => `${predicted[f].value} (${Math.round(predicted[f].confidence * 100)}%)`);
  el.textContent = `Looks like: ${parts.join(' · ')}`;
  el.hidden = parts.length === 0;
}

// The product as isolation cut it out of the photo (backdrop to white, cropped), beside the photo itself.
function renderIsolated(query) {
  const iso = query && query.isolated;
  $('query-isolated-view').hidden = !iso;
  if (!iso) return;
  $('query-isolated').src = iso.imageUrl;
  // A photo on a light-grey backdrop may have been read as a studio shot under other light (its colours corrected).
  const captions = {
    balanced: 'What the search sees (light corrected: the grey backdrop taken as white)',
    // The cut-out explained the photo less well than the photo itself (a cut into the product, a fringe of the backdrop).
    unchanged: 'What the search sees (the photo as it is: it matched the shop better than the cut-out)',
  };
  $('query-isolated-caption').textContent = captions[iso.method] ?? 'What the search sees';
}

function thumb(item, caption) {
  const fig = document.createElement('figure');
  fig.className = 'thumb';
  fig.dataset.id = item.id;
  const img = document.createElement('img');
  img.src = item.imageUrl;
  img.alt = caption;
  img.loading = 'lazy';
  const cap = document.createElement('figcaption');
  cap.textContent = caption;
  fig.append(img, cap);
  return fig;
}

// Second-hand matching: the exact catalog product in the photo, or a clear "no confident match".
async function matchPhoto() {
  const q = state.lastQuery;
  const box = $('match-result');
  if (!q || q.kind === 'id') return;
  box.hidden = false;
  box.textContent = 'Looking for this exact product…';
  box.classList.remove('error');
  try {
    const body = await photoCall('/api/match', q);
    const line = document.createElement('p');
    line.dataset.testid = body.match ? 'match-found' : 'no-match';
    if (body.match) {
      line.textContent = `Match: ${body.match.metadata.productDisplayName ?? body.match.id} (confidence ${body.confidence.toFixed(3)})`;
      box.replaceChildren(line, thumb(body.match, `Item ${body.match.id}`));
    } else {
      line.textContent = `No confident match (confidence ${body.confidence.toFixed(3)}, needs ${body.threshold}): the shop does not seem to carry this exact product. Closest:`;
      box.replaceChildren(line, ...body.candidates.slice(0, 3).map((c) => thumb(c, `Item ${c.id}`)));
    }
  } catch (err) {
    box.textContent = `Could not match: ${err.message}`;
    box.classList.add('error');
  }
}

// Duplicates in the catalog: exact (same pixels) and near-duplicate groups. The near-duplicate scan is a background
// job on the server: PUT starts it (or joins the one running; a GET never starts it), then GET answers 202 with a
// Retry-After while it runs and 200 with the groups once it is done, at any threshold.
async function findDuplicates() {
  const status = $('duplicates-status');
  const button = $('duplicates-button');
  button.disabled = true;
  status.textContent = 'Scanning the catalog for duplicate photos…';
  try {
    const started = await fetch('/api/duplicates/scan', { method: 'PUT' });
    if (!started.ok) await failure(started);
    let res = await fetch('/api/duplicates');
    while (res.status === 202) {
      const scan = await res.json();
      status.textContent = `Scanning ${scan.items} photos for duplicates… (${Math.round((scan.elapsedMs ?? 0) / 1000)} s)`;
      const wait = Math.min(Math.max(Number(res.headers.get('retry-after')) || 1, 1), 10);
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      res = await fetch('/api/duplicates');
    }
    if (!res.ok) await failure(res);
    showDuplicates(await res.json());
  } catch (err) {
    status.textContent = `Could not look for duplicates: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

async function failure(res) {
  const body = await res.json().catch(() => ({}));
  throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
}

function showDuplicates(body) {
  const groups = [...body.exact, ...body.near];
  $('duplicates-status').textContent = `${body.exact.length} exact and ${body.near.length} near-duplicate groups (similarity ≥ ${body.threshold})${groups.length > 30 ? '; the first 30:' : ''}`;
  $('duplicates-list').replaceChildren(...groups.slice(0, 30).map((g) => {
    const row = document.createElement('div');
    row.className = 'duplicate-group';
    row.dataset.testid = 'duplicate-group';
    row.dataset.kind = g.kind;
    const label = document.createElement('p');
    label.className = 'caption';
    label.textContent = `${g.kind === 'exact' ? 'Exact duplicates' : `Near-duplicates (similarity ${g.similarity.toFixed(3)})`}: ${g.ids.join(', ')}`;
    row.append(label, ...g.items.slice(0, 6).map((it) => thumb(it, it.name)));
    return row;
  }));
}

function render(body, label) {
  renderIsolated(body.query);
  const box = $('results');
  box.replaceChildren(...body.results.map(card));
  renderChips(body.text);
  renderPrediction(body.predicted);
  const t = body.timings ?? {};
  const ms = t.embedMs !== undefined ? ` in ${(t.decodeMs + t.embedMs + t.searchMs).toFixed(0)} ms` : '';
  const what = state.lastQuery ? `similar to ${label}${state.text ? ` matching “${state.text}”` : ''}` : `for “${state.text}”`;
  setStatus(body.results.length ? `${body.results.length} products ${what}${ms}` : `No products match ${state.text ? 'the words and ' : ''}the filters for ${label}.`);
}

/** The outfit row: for the query item or photo, or for the first result of a words-only search. */
async function loadOutfit(body) {
  const q = state.lastQuery;
  const section = $('outfit');
  let request;
  let title;
  if (q?.kind === 'id') {
    request = () => api(`/api/items/${encodeURIComponent(q.id)}/outfit`);
    title = `Complete the look for “${q.name}”`;
  } else if (q?.kind === 'file' || q?.kind === 'url') {
    request = () => photoCall('/api/outfit', q);
    title = q.kind === 'file' ? 'Complete the look for your photo' : 'Complete the look for the linked photo';
  } else if (body?.results?.length) {
    const top = body.results[0];
    request = () => api(`/api/items/${encodeURIComponent(top.id)}/outfit`);
    title = `Complete the look for “${top.metadata?.productDisplayName ?? top.id}”`;
  } else {
    section.hidden = true;
    return;
  }
  const seq = searchSeq;
  try {
    const outfit = await request();
    if (seq !== searchSeq) return;
    $('outfit-title').textContent = title;
    $('outfit-message').textContent = outfit.message ?? (outfit.unfilled?.length ? `Nothing in the shop fits for: ${outfit.unfilled.join(', ')}` : '');
    $('outfit-row').replaceChildren(...outfit.picks.map((p) => {
      const el = card({ ...p, score: undefined });
      el.dataset.testid = 'outfit-pick';
      el.dataset.group = p.group;
      return el;
    }));
    section.hidden = false;
  } catch (err) {
    $('outfit-message').textContent = `No outfit: ${err.message}`;
    $('outfit-row').replaceChildren();
    section.hidden = false;
  }
}

// Searches overlap when a shopper clicks or types quickly: only the newest one may draw the page, so a slow
// earlier answer (or the browse list loading at start) never replaces the results of a later search.
let searchSeq = 0;

async function run(label, request) {
  const seq = ++searchSeq;
  setStatus(`Searching for ${label}…`);
  try {
    const body = await request();
    if (seq !== searchSeq) return;
    if (state.lastQuery && body.query?.handle) state.lastQuery.handle = body.query.handle;
    render(body, label);
    loadOutfit(body);
  } catch (err) {
    if (seq === searchSeq) setStatus(`Could not search: ${err.message}`, true);
  }
}

function searchFile(file) {
  if (!file) return;
  state.lastQuery = { kind: 'file', file };
  $('match-result').hidden = true;
  showQuery(URL.createObjectURL(file), file.name);
  const form = new FormData();
  form.append('image', file);
  form.append('k', $('k-select').value);
  form.append('filters', JSON.stringify(filters()));
  if (state.text) {
    form.append('text', state.text);
    form.append('dropFilters', JSON.stringify(state.dropFilters));
  }
  return run('your photo', () => api('/api/search', { method: 'POST', body: form }));
}

function searchUrl(url) {
  if (!url) return;
  state.lastQuery = { kind: 'url', url };
  $('match-result').hidden = true;
  showQuery(url, url);
  return run('the linked photo', () => api('/api/search', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ imageUrl: url, k: Number($('k-select').value), filters: filters(), ...words() }),
  }));
}

function searchById(id, name) {
  state.lastQuery = { kind: 'id', id, name };
  showQuery(`/api/images/${encodeURIComponent(id)}`, name);
  return run(`“${name}”`, () => api('/api/search', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, k: Number($('k-select').value), filters: filters(), ...words() }),
  }));
}

/** Words alone (no photo), or words with the current photo. */
function searchText(text) {
  if (text !== undefined) {
    state.text = text.trim();
    state.dropFilters = [];
  }
  if (state.lastQuery) return rerun();
  if (!state.text) return;
  return run(`“${state.text}”`, () => api('/api/search', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ k: Number($('k-select').value), filters: filters(), ...words() }),
  }));
}

function rerun() {
  const q = state.lastQuery;
  if (!q) return searchText();
  if (q.kind === 'file') searchFile(q.file);
  else if (q.kind === 'url') searchUrl(q.url);
  else searchById(q.id, q.name);
}

/** What the catalog is and how it is searched; while it is being indexed, how far that has come. */
function describeCatalog(info, job) {
  const space = info.refinement ? 'refined search' : 'backbone search (the refinement trains once the catalog is complete)';
  if (!job) return `${info.items.toLocaleString()} products · ${space}`;
  const p = job.progress ?? {};
  const stage = p.stage === 'embed' && p.total ? `indexed ${p.done.toLocaleString()} of ${p.total.toLocaleString()} photos`
    : p.stage === 'copies' ? `making training copies (${p.done.toLocaleString()} of ${p.total.toLocaleString()})`
    : p.stage === 'refinement' ? `training the refinement${p.message ? `: ${p.message}` : ''}`
    : 'looking for photos';
  return `Indexing the catalog: ${stage}. Search covers the ${info.items.toLocaleString()} products indexed so far · ${space}`;
}

let indexing = false;
/** Follows a running index job (npm start's first run): the status line says how far it is; when it ends, the page reloads its facets. */
async function watchCatalog() {
  try {
    const [info, jobs] = await Promise.all([api('/api/info'), api('/api/jobs?kind=ingest&status=running&limit=1')]);
    const job = jobs.jobs[0] ?? null;
    const line = $('catalog-status');
    line.textContent = describeCatalog(info, job);
    line.classList.toggle('busy', !!job);
    if (job) {
      indexing = true;
      setTimeout(watchCatalog, 3000);
    } else if (indexing) {
      indexing = false;
      loadFacets();
    }
  } catch {
    // The status line is a courtesy: the searches say when the server does not answer.
  }
}

async function loadFacets() {
  try {
    const info = await api('/api/info');
    for (const sel of document.querySelectorAll('select[data-field]')) sel.querySelectorAll('option:not([value=""])').forEach((o) => o.remove());
    for (const sel of document.querySelectorAll('select[data-field]')) {
      for (const { value, count } of info.facets?.[sel.dataset.field] ?? []) {
        const opt = document.createElement('option');
        opt.value = value;
        opt.textContent = `${value} (${count})`;
        sel.append(opt);
      }
    }
    if (!info.items) {
      setStatus(indexing ? 'The catalog is being indexed: its first products appear in a few seconds.' : 'The catalog is empty: index some photos with `fashion index` first.', !indexing);
      if (indexing) setTimeout(loadFacets, 5000);
      return;
    }
    const seq = searchSeq;
    const browse = await api('/api/items?limit=12');
    if (seq === searchSeq) $('results').replaceChildren(...browse.items.map(card));
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
for (const sel of document.querySelectorAll('select')) sel.addEventListener('change', () => rerun());
$('text-button').addEventListener('click', () => searchText($('text-input').value));
$('text-input').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); searchText($('text-input').value); } });
$('match-button').addEventListener('click', matchPhoto);
$('duplicates-button').addEventListener('click', findDuplicates);
$('clear-photo').addEventListener('click', () => {
  state.lastQuery = null;
  $('query-view').hidden = true;
  searchText($('text-input').value);
});
watchCatalog().then(loadFacets);
