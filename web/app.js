// The page: upload, drop or paste a photo, or type words (or both), see the most similar products, click one
// to search from it; words that became filters show as removable chips; an outfit row completes the look.
// The "Shop staff" panel adds, edits and removes products with a write key and lists the background jobs.
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
  // Each search of an upload makes a new blob: URL; the previous one would hold its file in memory until the tab closes.
  const old = $('query-image').getAttribute('src');
  if (old?.startsWith('blob:')) URL.revokeObjectURL(old);
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

/**
 * A result in the grid: its card, and the staff's Edit and Remove beside it. Those are always built but shown only
 * while a key is entered (body.has-key), so entering or forgetting the key needs no new search.
 */
function tile(result) {
  const wrap = document.createElement('div');
  wrap.className = 'tile';
  const name = result.metadata?.productDisplayName ?? `Item ${result.id}`;
  const actions = document.createElement('div');
  actions.className = 'staff-actions';
  actions.append(
    actionButton('Edit', `Edit ${name}`, 'edit', result.id, () => openEdit(result.id)),
    actionButton('Remove', `Remove ${name}`, 'remove', result.id, () => removeProduct(result.id, name)),
  );
  wrap.append(card(result), actions);
  return wrap;
}

function actionButton(text, label, testid, id, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'secondary';
  b.textContent = text;
  b.setAttribute('aria-label', label);
  b.dataset.testid = testid;
  b.dataset.id = id;
  b.addEventListener('click', onClick);
  return b;
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
    // A filter read from a corrected slip says so: "articleType: Handbags (from “hanbdag”)".
    const c = chip(`${f.field}: ${f.values.join(' or ')} (${f.corrected ? 'from ' : ''}“${f.words}”)`, () => { state.dropFilters.push(f.field); rerun(); });
    c.dataset.field = f.field;
    chips.push(c);
  }
  for (const f of info?.relaxed ?? []) chips.push(chip(`no item has every word; ignored ${f.field}: ${f.values.join(' or ')}`));
  if (info?.unmatchedWords?.length) chips.push(chip(`no item has: ${info.unmatchedWords.join(', ')}`));
  $('chips').replaceChildren(...chips);
}

/** "Did you mean …": the words as the search read them when some were typing slips; clicking searches them. */
function renderDidYouMean(info) {
  const line = $('did-you-mean');
  line.hidden = !info?.didYouMean;
  $('did-you-mean-words').textContent = info?.didYouMean ?? '';
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
    loadJobs(); // the staff panel's jobs list, when open, follows the scan
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
  box.replaceChildren(...body.results.map(tile));
  renderChips(body.text);
  renderDidYouMean(body.text);
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
// Set by a refresh after a staff edit: the staff is looking at the results already, so the page must not move.
let quietNext = false;

async function run(label, request) {
  const seq = ++searchSeq;
  const quiet = quietNext;
  quietNext = false;
  setStatus(`Searching for ${label}…`);
  try {
    const body = await request();
    if (seq !== searchSeq) return;
    if (state.lastQuery && body.query?.handle) state.lastQuery.handle = body.query.handle;
    render(body, label);
    loadOutfit(body);
  } catch (err) {
    if (seq === searchSeq) {
      setStatus(`Could not search: ${err.message}`, true);
      renderDidYouMean(null);
    }
  }
  // An error is worth seeing too: it is written where the results would be.
  if (seq === searchSeq && !quiet) revealResults();
}

const phone = window.matchMedia('(max-width: 720px)'); // the breakpoint of style.css's one-column layout
const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');

/**
 * On a phone the results sit below the form and the photo, out of sight after a search: bring them up. Desktop shows
 * them beside the form, so nothing moves there.
 */
async function revealResults() {
  if (!phone.matches) return;
  // The photos above the results change their height when they load; scrolling before would stop short of the results.
  // (A photo that does not load within a second is not waited for.)
  const loaded = Promise.all([...document.querySelectorAll('#query-view img[src]')].map((img) => img.decode().catch(() => {})));
  await Promise.race([loaded, new Promise((resolve) => setTimeout(resolve, 1000))]);
  const top = $('status').getBoundingClientRect().top;
  if (top >= 0 && top < window.innerHeight / 3) return; // already near the top of the screen
  $('status').scrollIntoView({ behavior: reducedMotion.matches ? 'auto' : 'smooth', block: 'start' });
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
    await loadBrowse();
  } catch (err) {
    setStatus(`The server is not answering: ${err.message}`, true);
  }
}

/** The first view: a spread of the catalog's products (unless a search has drawn the grid meanwhile). */
async function loadBrowse() {
  const seq = searchSeq;
  const browse = await api('/api/items?limit=12');
  if (seq === searchSeq) $('results').replaceChildren(...browse.items.map(tile));
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
  // A photo pasted while adding a product is that product's photo, not a search.
  if (file && $('staff').contains(e.target)) setProductPhotos([file]);
  else if (file) searchFile(file);
});
for (const sel of document.querySelectorAll('select')) sel.addEventListener('change', () => rerun());
$('text-button').addEventListener('click', () => searchText($('text-input').value));
$('did-you-mean-words').addEventListener('click', () => {
  const corrected = $('did-you-mean-words').textContent ?? '';
  $('text-input').value = corrected;
  searchText(corrected);
});
$('text-input').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); searchText($('text-input').value); } });
$('match-button').addEventListener('click', matchPhoto);
$('duplicates-button').addEventListener('click', findDuplicates);
$('clear-photo').addEventListener('click', () => {
  state.lastQuery = null;
  $('query-view').hidden = true;
  searchText($('text-input').value);
});
watchCatalog().then(loadFacets);

// ---------------------------------------------------------------- shop staff

// The write key lives in this tab's sessionStorage only: it goes when the tab closes (localStorage would keep it on a
// shared shop computer for the next person), and it leaves the page only in the Authorization header of a write.
const KEY_ITEM = 'fashion.writeKey';
const STANDARD_FIELDS = ['productDisplayName', 'gender', 'articleType', 'baseColour', 'usage', 'season'];
const SUGGESTED_FIELDS = ['gender', 'articleType', 'baseColour', 'usage', 'season']; // those with a datalist of the catalog's values
const FIELD_LABELS = { productDisplayName: 'Name', gender: 'Gender', articleType: 'Category', baseColour: 'Colour', usage: 'Usage', season: 'Season' };
const JOB_NAMES = { duplicates: 'Duplicates scan', ingest: 'Indexing photos', feed: 'Product feed', train: 'Training the refinement' };

const ADD_DROP_HINT = [...$('add-drop-text').childNodes].map((n) => n.cloneNode(true)); // the drop zone's words before a photo

let staffKey = storedKey();
let productPhotos = []; // the photos of the product being added (Files; the first is the one lists show)
let editing = null; // the product in the edit dialog: its id and its fields as they were when it opened

function storedKey() {
  try {
    return sessionStorage.getItem(KEY_ITEM) ?? '';
  } catch {
    return ''; // storage switched off: the key then lasts as long as the page
  }
}

function setKey(key) {
  staffKey = key;
  try {
    if (key) sessionStorage.setItem(KEY_ITEM, key);
    else sessionStorage.removeItem(KEY_ITEM);
  } catch {
    // Kept in memory only (see storedKey).
  }
  showKeyState();
}

function showKeyState() {
  const has = Boolean(staffKey);
  document.body.classList.toggle('has-key', has);
  $('forget-key').disabled = !has;
  $('key-status').textContent = has
    ? 'A key is entered: the results have Edit and Remove. It is kept in this tab only, until the tab closes.'
    : 'No key entered: products can be looked at; the server refuses changes without a key.';
}

/** A write (PUT, PATCH or DELETE of /api/items/:id): the only requests that carry the key. */
async function write(method, id, body) {
  const headers = {};
  if (staffKey) headers.authorization = `Bearer ${staffKey}`;
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(`/api/items/${encodeURIComponent(id)}`, { method, headers, body: payload });
  } catch {
    throw new Error('The server did not answer; the change may not have been made (look again before retrying).');
  }
  const answer = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw new Error(writeError(res.status, answer?.error));
  return { status: res.status, item: answer };
}

/** A refused write in words: what went wrong and what to do about it. */
function writeError(status, error) {
  if (status === 401) return 'The key is missing or wrong: enter the shop’s write key under “Shop staff”.';
  if (error?.code === 'catalog/locked') return 'The catalog is being indexed; try again after it.';
  if (status === 429 || status === 503) return `The server is busy; try again in a moment (${error?.message ?? `HTTP ${status}`}).`;
  // Input errors (a bad id, field or photo): the server's message says what it expected.
  if (status < 500) return error?.message ?? `The server refused it (HTTP ${status}).`;
  return `The server could not do it (HTTP ${status}); try again, and tell the operator if it keeps failing.`;
}

function setStaffOpen(open) {
  $('staff').hidden = !open;
  $('staff-toggle').setAttribute('aria-expanded', String(open));
  // #staff in the address opens the panel on reload, and is a link the staff can bookmark.
  history.replaceState(null, '', open ? '#staff' : location.pathname + location.search);
  clearTimeout(jobsTimer);
  if (open) {
    loadJobs();
    loadSuggestions();
  }
}

/** The values the catalog already has, offered in the fields: "Navy Blue", not a new "navy" that no filter groups with it. */
async function loadSuggestions() {
  try {
    const info = await api('/api/info');
    for (const field of SUGGESTED_FIELDS) {
      $(`list-${field}`).replaceChildren(...(info.facets?.[field] ?? []).map(({ value }) => Object.assign(document.createElement('option'), { value })));
    }
  } catch {
    // Suggestions only: the fields work without them.
  }
}

function statusLine(el, text, isError = false) {
  el.textContent = text;
  el.classList.toggle('error', isError);
  el.hidden = !text;
}

/** A free field: its name and value, and a button that takes the row away (focus goes back to `after`). */
function extraRow(after) {
  const row = document.createElement('div');
  row.className = 'extra-row';
  const name = document.createElement('input');
  name.className = 'extra-name';
  name.maxLength = 64;
  name.pattern = '[A-Za-z][A-Za-z0-9_]*';
  name.title = 'Letters, digits or “_”, starting with a letter';
  name.placeholder = 'field name';
  name.autocomplete = 'off';
  name.setAttribute('aria-label', 'Field name');
  const value = document.createElement('input');
  value.className = 'extra-value';
  value.maxLength = 1000;
  value.placeholder = 'value';
  value.autocomplete = 'off';
  value.setAttribute('aria-label', 'Field value');
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'secondary';
  remove.textContent = '×';
  remove.setAttribute('aria-label', 'Remove this field');
  remove.addEventListener('click', () => {
    row.remove();
    after.focus();
  });
  row.append(name, value, remove);
  return row;
}

function addExtraRow(box, button) {
  const row = extraRow(button);
  box.append(row);
  row.querySelector('input').focus();
}

/** The free fields with a value; a value without a name is a mistake worth saying. */
function extraFields(box) {
  const out = {};
  for (const row of box.querySelectorAll('.extra-row')) {
    const name = row.querySelector('.extra-name').value.trim();
    const value = row.querySelector('.extra-value').value.trim();
    if (!value) continue;
    if (!name) throw new Error(`Give the field of “${value}” a name.`);
    out[name] = value;
  }
  return out;
}

/** The product's photos (up to 10): the first is shown; each is embedded, and a search by any finds the product. */
function setProductPhotos(files) {
  const photos = [...(files ?? [])].filter((f) => f.type.startsWith('image/')).slice(0, 10);
  if (photos.length === 0) return;
  productPhotos = photos;
  const img = $('add-preview');
  if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(photos[0]); // shown from memory: the photos are sent only with the product
  img.hidden = false;
  const more = photos.length > 1 ? ` and ${photos.length - 1} more ${photos.length === 2 ? 'photo' : 'photos'}` : '';
  $('add-drop-text').textContent = `${photos[0].name}${more}: drop or choose others to change them`;
}

function resetAddForm() {
  $('add-form').reset();
  $('add-extra').replaceChildren();
  const img = $('add-preview');
  if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
  img.removeAttribute('src');
  img.hidden = true;
  $('add-drop-text').replaceChildren(...ADD_DROP_HINT.map((n) => n.cloneNode(true)));
  productPhotos = [];
}

/** PUT replaces a product of the same id: ask before overwriting one the shop has. */
async function mayReplace(id) {
  const res = await fetch(`/api/items/${encodeURIComponent(id)}`);
  if (!res.ok) return true; // not found: a new product (any other refusal, the PUT will explain)
  const item = await res.json();
  return confirmAction(
    `Replace “${item.metadata.productDisplayName ?? id}”?`,
    `The shop already has a product with the id ${id}. Its photo and fields are replaced by these.`,
    'Replace it',
  );
}

async function addProduct(e) {
  e.preventDefault();
  const status = $('add-status');
  const id = $('add-id').value.trim();
  if (productPhotos.length === 0) return statusLine(status, 'Choose the product’s photo first: drop it (or several) on the box or choose files.', true);
  let metadata;
  try {
    metadata = { ...fieldValues($('add-form')), ...extraFields($('add-extra')) };
  } catch (err) {
    return statusLine(status, err.message, true);
  }
  const button = $('add-submit');
  button.disabled = true;
  try {
    if (!(await mayReplace(id))) return statusLine(status, 'Nothing was sent: the product in the shop is kept as it was.');
    statusLine(status, `Adding ${id}: indexing its photo…`);
    const form = new FormData();
    for (const photo of productPhotos) form.append('image', photo);
    form.append('metadata', JSON.stringify(metadata));
    const { status: code, item } = await write('PUT', id, form);
    statusLine(status, `${code === 201 ? 'Added' : 'Replaced'} “${item.metadata.productDisplayName ?? item.id}” (${item.id}): searches find it now. Its photo’s search is below.`);
    const photo = productPhotos[0];
    resetAddForm();
    searchFile(photo); // the new product first, as a shopper with its photo would find it
    loadJobs();
  } catch (err) {
    statusLine(status, err.message, true);
  } finally {
    button.disabled = false;
  }
}

/** The fields of a form's [data-meta] inputs that have a value. */
function fieldValues(scope) {
  const out = {};
  for (const input of scope.querySelectorAll('input[data-meta]')) if (input.value.trim()) out[input.dataset.meta] = input.value.trim();
  return out;
}

function fieldInput(field, value) {
  const label = document.createElement('label');
  const input = document.createElement('input');
  input.dataset.meta = field;
  input.value = value;
  input.maxLength = 1000;
  input.autocomplete = 'off';
  if (SUGGESTED_FIELDS.includes(field)) input.setAttribute('list', `list-${field}`);
  label.append(`${FIELD_LABELS[field] ?? field} `, input);
  return label;
}

/** The edit dialog, with the product's fields as the server has them now (a result card may be older). */
async function openEdit(id) {
  let item;
  try {
    item = await api(`/api/items/${encodeURIComponent(id)}`);
  } catch (err) {
    return statusLine($('write-status'), `Could not open ${id}: ${err.message}`, true);
  }
  editing = { id, original: { ...item.metadata } };
  $('edit-title').textContent = `Edit “${item.metadata.productDisplayName ?? id}” (${id})`;
  const fields = [...STANDARD_FIELDS, ...Object.keys(item.metadata).filter((f) => !STANDARD_FIELDS.includes(f))];
  $('edit-fields').replaceChildren(...fields.map((f) => fieldInput(f, item.metadata[f] ?? '')));
  $('edit-extra').replaceChildren();
  $('edit-error').textContent = '';
  loadSuggestions();
  $('edit-dialog').showModal();
}

/** What PATCH needs: the changed fields only, an emptied one as null (the server then removes it). */
function changedFields(original) {
  const out = {};
  for (const input of $('edit-fields').querySelectorAll('input[data-meta]')) {
    const field = input.dataset.meta;
    const now = input.value.trim();
    if (now === (original[field] ?? '').trim()) continue;
    out[field] = now === '' ? null : now;
  }
  return out;
}

function describeChanges(changes) {
  return Object.entries(changes).map(([f, v]) => (v === null ? `${f} removed` : `${f} → ${v}`)).join(', ');
}

async function saveEdit(e) {
  e.preventDefault();
  const { id, original } = editing;
  let changes;
  try {
    changes = { ...changedFields(original), ...extraFields($('edit-extra')) };
  } catch (err) {
    $('edit-error').textContent = err.message;
    return;
  }
  if (Object.keys(changes).length === 0) {
    $('edit-dialog').close();
    return statusLine($('write-status'), `Nothing changed in ${id}.`);
  }
  const button = $('edit-save');
  button.disabled = true;
  try {
    const { item } = await write('PATCH', id, { metadata: changes });
    $('edit-dialog').close();
    statusLine($('write-status'), `Saved “${item.metadata.productDisplayName ?? id}” (${id}): ${describeChanges(changes)}.`);
    refreshResults();
  } catch (err) {
    $('edit-error').textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

async function removeProduct(id, name) {
  const sure = await confirmAction(`Remove “${name}”?`, `${id} leaves the shop at once: no search, listing or photo shows it any more. This cannot be undone.`, 'Remove');
  if (!sure) return;
  try {
    await write('DELETE', id);
    statusLine($('write-status'), `Removed “${name}” (${id}).`);
    if (state.lastQuery?.kind === 'id' && state.lastQuery.id === id) {
      state.lastQuery = null; // its "more like this" cannot run again
      $('query-view').hidden = true;
    }
    refreshResults();
  } catch (err) {
    statusLine($('write-status'), `Could not remove ${id}: ${err.message}`, true);
  }
}

/** After a staff change: the same search again, so the grid shows the product as it is now (or no more). */
function refreshResults() {
  if (state.lastQuery || state.text) {
    quietNext = true;
    rerun();
  } else {
    loadBrowse().catch((err) => setStatus(`The server is not answering: ${err.message}`, true));
  }
}

/** A yes/no question in a modal dialog; resolves true for the action, false for Cancel or Escape. */
function confirmAction(title, text, action) {
  const dialog = $('confirm-dialog');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = action;
  dialog.returnValue = ''; // Escape keeps the last returnValue: it must not be an earlier "ok"
  dialog.showModal();
  $('confirm-cancel').focus(); // the safe choice has the focus: a stray Enter changes nothing
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}

let jobsTimer = 0;
let jobsSeq = 0;

/** The jobs list, newest first; read again every 3 s while one is queued or running, every 30 s otherwise, while the panel is open. */
async function loadJobs() {
  clearTimeout(jobsTimer);
  if ($('staff').hidden) return;
  const seq = ++jobsSeq;
  let busy = false;
  try {
    const { jobs } = await api('/api/jobs?limit=10');
    if (seq !== jobsSeq) return; // a newer read (Refresh, a write) draws the list
    $('jobs-list').replaceChildren(...jobs.map(jobItem));
    $('jobs-status').textContent = jobs.length ? '' : 'No background job has run on this catalog yet.';
    busy = jobs.some((j) => j.status === 'running' || j.status === 'queued');
  } catch (err) {
    if (seq !== jobsSeq) return;
    $('jobs-status').textContent = `Could not read the jobs: ${err.message}`;
  }
  if (!$('staff').hidden) jobsTimer = setTimeout(loadJobs, busy ? 3000 : 30000);
}

function jobItem(job) {
  const li = document.createElement('li');
  li.className = `job ${job.status}`;
  Object.assign(li.dataset, { testid: 'job', kind: job.kind, status: job.status });
  const name = JOB_NAMES[job.kind] ?? job.kind;
  const head = document.createElement('div');
  head.className = 'job-head';
  const title = document.createElement('strong');
  title.textContent = name;
  const status = document.createElement('span');
  status.className = 'job-status';
  status.textContent = job.status;
  head.append(title, ' ', status);
  li.append(head);
  const p = job.progress;
  if (p.total > 0 || job.status === 'running') {
    const bar = document.createElement('progress');
    bar.setAttribute('aria-label', `${name}: progress`);
    if (p.total > 0) { // otherwise indeterminate: running, size not known yet
      bar.max = p.total;
      bar.value = Math.min(p.done, p.total);
    }
    li.append(bar);
  }
  const facts = [p.total > 0 ? `${p.done.toLocaleString()} of ${p.total.toLocaleString()}` : '', p.stage, p.message, jobTime(job)];
  li.append(textLine('caption', facts.filter(Boolean).join(' · ')));
  if (job.errors.count) {
    const first = job.errors.first.slice(0, 3).map((e) => (e.item ? `${e.item} (${e.message})` : e.message)).join('; ');
    li.append(textLine('job-skipped', `${job.errors.count.toLocaleString()} item${job.errors.count === 1 ? '' : 's'} skipped${first ? `: ${first}` : ''}`));
  }
  if (job.failure) li.append(textLine('job-failure', `Did not finish: ${job.failure.message}`));
  return li;
}

function textLine(cls, text) {
  const el = document.createElement('p');
  el.className = cls;
  el.textContent = text;
  return el;
}

function jobTime(job) {
  const start = job.startedAt ?? job.createdAt;
  const at = new Date(start).toLocaleString();
  if (!job.startedAt) return `queued ${at}`;
  if (!job.finishedAt) return `started ${at}`;
  const s = (Date.parse(job.finishedAt) - Date.parse(start)) / 1000;
  return `started ${at}, took ${s < 60 ? `${s.toFixed(1)} s` : `${Math.round(s / 60)} min`}`;
}

const productDrop = $('add-drop');
for (const ev of ['dragenter', 'dragover']) productDrop.addEventListener(ev, (e) => { e.preventDefault(); productDrop.classList.add('dragging'); });
for (const ev of ['dragleave', 'drop']) productDrop.addEventListener(ev, (e) => { e.preventDefault(); productDrop.classList.remove('dragging'); });
productDrop.addEventListener('drop', (e) => setProductPhotos(e.dataTransfer.files));
$('add-file').addEventListener('change', (e) => setProductPhotos(e.target.files));
$('add-form').addEventListener('submit', addProduct);
$('add-extra-button').addEventListener('click', () => addExtraRow($('add-extra'), $('add-extra-button')));
$('edit-extra-button').addEventListener('click', () => addExtraRow($('edit-extra'), $('edit-extra-button')));
$('edit-form').addEventListener('submit', saveEdit);
$('edit-cancel').addEventListener('click', () => $('edit-dialog').close());
$('confirm-ok').addEventListener('click', () => $('confirm-dialog').close('ok'));
$('confirm-cancel').addEventListener('click', () => $('confirm-dialog').close('cancel'));
$('staff-toggle').addEventListener('click', () => setStaffOpen($('staff').hidden));
window.addEventListener('hashchange', () => { if (location.hash === '#staff') setStaffOpen(true); });
$('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const key = $('key-input').value.trim();
  $('key-input').value = ''; // out of the field once kept: not left on screen for the next person
  if (key) setKey(key);
  else $('key-status').textContent = 'Type or paste the key first.';
});
$('forget-key').addEventListener('click', () => {
  setKey('');
  $('key-input').focus();
});
$('jobs-refresh').addEventListener('click', loadJobs);
showKeyState();
if (location.hash === '#staff') setStaffOpen(true);
