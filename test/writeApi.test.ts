/**
 * The catalog's write API on a refined catalog searched through HNSW graphs: keys at the door; a product PUT is
 * found first by its own photo within 2 s, with no restart; PATCH changes what a filter finds without embedding the
 * photo again; DELETE removes it from every result, listing and photo route; a restart keeps all of it; searches
 * running during writes get no error.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { InjectOptions } from 'fastify';
import { createApiKey, revokeApiKey } from '../src/app/apiKeyAdmin.js';
import { Services } from '../src/app/services.js';
import { DEMO, multipart, pickIds, servedFixture, STYLE_ROWS, TYPES } from './helpers.js';

const KEY = 'test-write-key-0123456789';
const served = servedFixture(pickIds(TYPES, 40), 'write-api', { annThreshold: 100, augment: 0, apiKeys: KEY });
const { fx, config } = served;
/** Products that are not in the fixture: a shop's new arrivals. */
const [newShirt, newWatch, ...more] = pickIds(['Tshirts', 'Watches', 'Handbags'], 12, 40);
const photoOf = (id: string) => readFileSync(join(DEMO!.images, `${id}.jpg`));
const auth = { authorization: `Bearer ${KEY}` };

function put(id: string, metadata: Record<string, string>, headers: Record<string, string> = auth): InjectOptions {
  const form = multipart([
    { name: 'image', value: photoOf(id), filename: `${id}.jpg` },
    { name: 'metadata', value: JSON.stringify(metadata) },
  ]);
  return { method: 'PUT', url: `/api/items/${id}`, payload: form.payload, headers: { ...form.headers, ...headers } };
}
const searchPhoto = (id: string, filters?: Record<string, string>) => {
  const parts = [{ name: 'image', value: photoOf(id), filename: 'q.jpg' }, ...(filters ? [{ name: 'filters', value: JSON.stringify(filters) }] : [])];
  return { method: 'POST' as const, url: '/api/search', ...multipart(parts) };
};
const ids = (body: { results: Array<{ id: string }> }) => body.results.map((r) => r.id);

test('writes need a write key: none is 401 auth/missing-key, a wrong one auth/invalid-key; reads stay open', async () => {
  const app = served.app;
  const none = await app.inject(put(newShirt!, { articleType: 'Tshirts' }, {}));
  assert.equal(none.statusCode, 401);
  assert.equal(none.json().error.code, 'auth/missing-key');
  assert.match(String(none.headers['www-authenticate']), /^Bearer/);
  const wrong = await app.inject(put(newShirt!, { articleType: 'Tshirts' }, { authorization: 'Bearer not-the-key-at-all-000' }));
  assert.equal(wrong.statusCode, 401);
  assert.equal(wrong.json().error.code, 'auth/invalid-key');
  const del = await app.inject({ method: 'DELETE', url: `/api/items/${fx.ids[0]}` });
  assert.equal(del.statusCode, 401);
  assert.equal((await app.inject({ url: `/api/items/${fx.ids[0]}` })).statusCode, 200, 'nothing was deleted');
  assert.equal((await app.inject({ url: '/api/health' })).statusCode, 200);
});

test('a PUT product is found first by its own photo within 2 s, with its photo, listing and facets', async () => {
  const app = served.app;
  const t0 = performance.now();
  const res = await app.inject(put(newShirt!, { gender: 'Men', articleType: 'Tshirts', baseColour: 'Teal', productDisplayName: 'New arrival tee', season: 'Summer' }));
  assert.equal(res.statusCode, 201, res.body);
  const found = await app.inject(searchPhoto(newShirt!));
  const ms = performance.now() - t0;
  assert.equal(found.statusCode, 200, found.body);
  assert.equal(ids(found.json())[0], newShirt, JSON.stringify(ids(found.json())));
  assert.ok(ms < 2000, `searchable after ${Math.round(ms)} ms`);
  assert.equal((await app.inject({ url: `/api/items/${newShirt}` })).json().metadata.productDisplayName, 'New arrival tee');
  const image = await app.inject({ url: `/api/images/${newShirt}` });
  assert.equal(image.statusCode, 200);
  assert.deepEqual(image.rawPayload, photoOf(newShirt!));
  const info = (await app.inject({ url: '/api/info' })).json();
  assert.equal(info.items, fx.ids.length + 1);
  assert.ok(info.facets.baseColour.some((f: { value: string }) => f.value === 'Teal'));
  const similar = await app.inject({ url: `/api/items/${newShirt}/similar?k=5` });
  assert.equal(similar.statusCode, 200);
  assert.ok(!ids(similar.json()).includes(newShirt!));
  assert.equal((await app.inject({ method: 'POST', url: '/api/outfit', payload: { id: newShirt } })).statusCode, 200);
  // Words find it at once too, by its name (the words engine was made before the write: the search above made it).
  await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'tee' } });
  const byName = await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'new arrival tee', k: 5 } });
  assert.equal(ids(byName.json())[0], newShirt, byName.body.slice(0, 300));
  // A second PUT replaces it: 200, one item.
  const again = await app.inject(put(newShirt!, { gender: 'Men', articleType: 'Tshirts', baseColour: 'Teal', productDisplayName: 'New arrival tee v2' }));
  assert.equal(again.statusCode, 200);
  assert.equal((await app.inject({ url: '/api/info' })).json().items, fx.ids.length + 1);
  assert.equal(ids((await app.inject(searchPhoto(newShirt!))).json()).filter((id) => id === newShirt).length, 1);
  const byNewName = await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'arrival tee v2', k: 100 } });
  assert.equal(ids(byNewName.json()).filter((id) => id === newShirt).length, 1, 'words list the new version once');
});

test('PATCH changes what a filter finds, without embedding the photo again', async () => {
  const app = served.app;
  const thread = (await served.svc.embedding.load()).thread;
  let runs = 0;
  const count = () => runs++;
  thread.on('run', count);
  const res = await app.inject({ method: 'PATCH', url: `/api/items/${newShirt}`, payload: { metadata: { baseColour: 'Maroon', season: null } }, headers: auth });
  thread.off('run', count);
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(runs, 0, 'no inference');
  assert.equal(res.json().metadata.baseColour, 'Maroon');
  assert.equal(res.json().metadata.season, undefined);
  const maroon = await app.inject({ url: `/api/items/${fx.ids[0]}/similar?k=50&baseColour=Maroon` });
  assert.ok(ids(maroon.json()).includes(newShirt!), 'found by its new colour');
  const teal = await app.inject({ url: `/api/items/${fx.ids[0]}/similar?k=50&baseColour=Teal` });
  assert.ok(!ids(teal.json()).includes(newShirt!), 'no longer by its old one');
  // Words read the new labels: a maroon tee now, not a teal one.
  const maroonWords = ids((await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'maroon arrival tee', k: 100 } })).json());
  assert.ok(maroonWords.includes(newShirt!), 'found by words of its new colour');
  const missing = await app.inject({ method: 'PATCH', url: '/api/items/no-such-item', payload: { metadata: { baseColour: 'Red' } }, headers: auth });
  assert.equal(missing.statusCode, 404);
});

test('DELETE removes a product from every result, listing and photo route at once', async () => {
  const app = served.app;
  const victim = fx.ids[41]!; // a Watches item of the snapshot
  const before = await app.inject(searchPhoto(victim));
  assert.equal(ids(before.json())[0], victim);
  const res = await app.inject({ method: 'DELETE', url: `/api/items/${victim}`, headers: auth });
  assert.equal(res.statusCode, 204);
  assert.ok(!ids((await app.inject(searchPhoto(victim))).json()).includes(victim), 'not found by its own photo');
  assert.equal((await app.inject({ url: `/api/items/${victim}` })).statusCode, 404);
  assert.equal((await app.inject({ url: `/api/images/${victim}` })).statusCode, 404);
  assert.equal((await app.inject({ url: `/api/items/${victim}/similar` })).statusCode, 404);
  const words = await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'watch', k: 100 } });
  assert.ok(!ids(words.json()).includes(victim), 'not found by words');
  const page = await app.inject({ url: '/api/items?limit=200' });
  assert.ok(!page.json().items.some((it: { id: string }) => it.id === victim));
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/items/${victim}`, headers: auth })).statusCode, 404, 'a second delete finds nothing');
});

test('searches running during 30 writes get no error', async () => {
  const app = served.app;
  // Each arrives with its own labels (a refined catalog's item vectors read them: a T-shirt labelled a watch is not
  // found as a T-shirt).
  const labelsOf = (id: string) => Object.fromEntries(['gender', 'articleType', 'baseColour', 'usage', 'productDisplayName'].map((f) => [f, STYLE_ROWS.get(id)![f] ?? '']));
  const writes = more.slice(0, 30).map((id) => app.inject(put(id, labelsOf(id))));
  const searches = Array.from({ length: 4 }, async (_, c) => {
    const answers: number[] = [];
    for (let i = 0; i < 6; i++) answers.push((await app.inject(searchPhoto(fx.ids[(c * 6 + i) * 7 % fx.ids.length]!))).statusCode);
    return answers;
  });
  const written = await Promise.all(writes);
  for (const w of written) assert.ok([200, 201].includes(w.statusCode), w.body);
  assert.deepEqual((await Promise.all(searches)).flat().filter((s) => s !== 200), []);
  // Each is matched by its own photo (the same-product space, which reads the photo and not the labels: a search ranks
  // by labels too, and this small catalog's model predicts some of these labels wrongly). Among the first two
  // candidates: the demo catalog has sister products with the very same photo (1570 and 1803, two blue sports tees).
  for (const id of more.slice(0, 30)) {
    const match = await app.inject({ method: 'POST', url: '/api/match', ...multipart([{ name: 'image', value: photoOf(id), filename: 'q.jpg' }]) });
    assert.ok(match.json().candidates.slice(0, 2).some((c: { id: string }) => c.id === id), `${id} matched by its photo: ${match.body.slice(0, 300)}`);
  }
});

test('a restart keeps every write', async () => {
  const svc = await Services.open(config);
  try {
    svc.prepareIndex();
    assert.equal(svc.catalog.size, fx.ids.length + 1 - 1 + more.slice(0, 30).length);
    assert.equal(svc.catalog.item(newShirt!).metadata.baseColour, 'Maroon');
    assert.equal(svc.catalog.find(fx.ids[41]!), null);
    const read = await svc.pipeline.search({ kind: 'photo', photo: { kind: 'upload', bytes: photoOf(newShirt!), label: 'q' }, k: 5 });
    assert.equal(read.hits[0]!.id, newShirt);
    assert.ok(svc.refinement.model, 'the refinement still loads: every item has its refined vector');
  } finally {
    await svc.close();
  }
});

test('keys made by `fashion keys create` work at once and stop when revoked', async () => {
  const app = served.app;
  const { key, stored } = await createApiKey(config, 'test backend');
  await new Promise((r) => setTimeout(r, 2100)); // the server reads the catalog's keys at most every 2 s
  const ok = await app.inject({ method: 'PATCH', url: `/api/items/${newWatch ?? newShirt}`, payload: { metadata: { usage: 'Casual' } }, headers: { authorization: `Bearer ${key}` } });
  assert.notEqual(ok.statusCode, 401, ok.body);
  await revokeApiKey(config, stored.id);
  await new Promise((r) => setTimeout(r, 2100));
  const revoked = await app.inject({ method: 'PATCH', url: `/api/items/${newShirt}`, payload: { metadata: { usage: 'Casual' } }, headers: { authorization: `Bearer ${key}` } });
  assert.equal(revoked.statusCode, 401);
  assert.equal(revoked.json().error.code, 'auth/invalid-key');
});

test('a product out of stock is left out of results unless asked for; matching its photo still finds it', async () => {
  const app = served.app;
  const id = more[31]!;
  const labels = { gender: 'Women', articleType: STYLE_ROWS.get(id)!.articleType!, baseColour: STYLE_ROWS.get(id)!.baseColour!, productDisplayName: 'Sold out bag' };
  assert.equal((await app.inject(put(id, { ...labels, availability: 'out_of_stock' }))).statusCode, 201);
  const hidden = await app.inject(searchPhoto(id));
  assert.ok(!ids(hidden.json()).includes(id), 'left out by default');
  const form = multipart([{ name: 'image', value: photoOf(id), filename: 'q.jpg' }, { name: 'includeOutOfStock', value: 'true' }]);
  const asked = await app.inject({ method: 'POST', url: '/api/search', ...form });
  assert.equal(ids(asked.json())[0], id, 'found first when asked for');
  const similar = await app.inject({ url: `/api/items/${fx.ids[100]}/similar?k=100&includeOutOfStock=true` });
  assert.equal(similar.statusCode, 200, similar.body);
  const words = await app.inject({ method: 'POST', url: '/api/search', payload: { text: 'sold out bag', k: 100 } });
  assert.ok(!ids(words.json()).includes(id), 'not found by words either');
  const match = await app.inject({ method: 'POST', url: '/api/match', ...multipart([{ name: 'image', value: photoOf(id), filename: 'q.jpg' }]) });
  assert.ok(match.json().candidates.some((c: { id: string }) => c.id === id), 'matching a photo still names the product');
  await app.inject({ method: 'PATCH', url: `/api/items/${id}`, payload: { metadata: { availability: 'in stock' } }, headers: auth });
  assert.equal(ids((await app.inject(searchPhoto(id))).json())[0], id, 'back in stock, back in results');
});

test('a product with three photos is found by each, listed once with the photo that matched, and keeps them across a restart', async () => {
  const app = served.app;
  // Three photos that are in no other product of the catalog: a shop's one product shot three ways.
  const shots = pickIds(['Casual Shoes'], 3, 60);
  const id = 'SKU-three-photos';
  // Labels the small fixture model reads off these photos alike (a refined item vector reads its labels: a colour it
  // would not predict for a photo moves that photo's vector away from a search by it; the fixture has no same-product
  // space to put the product first regardless).
  const labels = { articleType: 'Casual Shoes', usage: 'Casual', productDisplayName: 'Three-photo shoe' };
  const form = multipart([...shots.map((s) => ({ name: 'image', value: photoOf(s), filename: `${s}.jpg` })), { name: 'metadata', value: JSON.stringify(labels) }]);
  const res = await app.inject({ method: 'PUT', url: `/api/items/${id}`, payload: form.payload, headers: { ...form.headers, ...auth } });
  assert.equal(res.statusCode, 201, res.body);
  assert.deepEqual(res.json().imageUrls, [`/api/images/${id}`, `/api/images/${id}?photo=1`, `/api/images/${id}?photo=2`]);
  for (const [n, shot] of shots.entries()) {
    const found = (await app.inject(searchPhoto(shot))).json();
    assert.equal(ids(found)[0], id, `found first by photo ${n}: ${JSON.stringify(ids(found))}`);
    assert.equal(ids(found).filter((x) => x === id).length, 1, 'listed once');
    assert.equal(found.results[0].imageUrl, `/api/images/${id}${n > 0 ? `?photo=${n}` : ''}`, 'shown with the photo that matched');
    const image = await app.inject({ url: found.results[0].imageUrl });
    assert.deepEqual(image.rawPayload, photoOf(shot));
  }
  assert.equal((await app.inject({ url: `/api/images/${id}?photo=3` })).statusCode, 404);
  // k = 100 over the whole catalog: the product is one row of the results, not three.
  const all = (await app.inject({ method: 'POST', url: '/api/search', payload: { id: fx.ids[0], k: 100 } })).json();
  assert.ok(ids(all).filter((x) => x === id).length <= 1);
  // A change of labels keeps the photos, and each still finds it.
  assert.equal((await app.inject({ method: 'PATCH', url: `/api/items/${id}`, payload: { metadata: { usage: 'Casual' } }, headers: auth })).statusCode, 200);
  assert.equal(ids((await app.inject(searchPhoto(shots[2]!))).json())[0], id);
  // A restart reads them from the store.
  const svc = await Services.open(config);
  try {
    svc.prepareIndex();
    assert.equal(svc.catalog.item(id).photos?.length, 2);
    for (const shot of shots) {
      const read = await svc.pipeline.search({ kind: 'photo', photo: { kind: 'upload', bytes: photoOf(shot), label: 'q' }, k: 5 });
      assert.equal(read.hits[0]!.id, id, `after a restart, by ${shot}`);
    }
  } finally {
    await svc.close();
  }
  // A new version with one photo drops the others.
  const one = multipart([{ name: 'image', value: photoOf(shots[0]!), filename: 'a.jpg' }, { name: 'metadata', value: JSON.stringify(labels) }]);
  assert.equal((await app.inject({ method: 'PUT', url: `/api/items/${id}`, payload: one.payload, headers: { ...one.headers, ...auth } })).statusCode, 200);
  assert.equal((await app.inject({ url: `/api/images/${id}?photo=1` })).statusCode, 404);
  const after = (await app.inject(searchPhoto(shots[2]!))).json() as { results: Array<{ id: string; imageUrl: string }> };
  assert.ok(after.results.every((r) => r.id !== id || r.imageUrl === `/api/images/${id}`), 'only its one photo is left to match');
});
