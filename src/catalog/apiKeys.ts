import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { FashionError } from '../errors.js';
import type { CatalogStore } from '../store/catalogStore.js';

/** Where the catalog keeps its API keys: hashes only, in the settings table. */
const SETTING_API_KEYS = 'apiKeys';

export interface StoredKey {
  /** Short public id, part of the key itself (`fk_<id>_<secret>`): what `list` shows and `revoke` takes. */
  readonly id: string;
  readonly name: string;
  /** sha256 of the whole key, hex. The key is shown once, when created, and never kept. */
  readonly sha256: string;
  readonly createdAt: string;
  readonly revokedAt?: string;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export async function storedKeys(store: Pick<CatalogStore, 'getSetting'>): Promise<StoredKey[]> {
  return JSON.parse((await store.getSetting(SETTING_API_KEYS)) ?? '[]') as StoredKey[];
}

/** Makes a key (256 random bits), keeps its hash and returns the key, which is not kept anywhere. */
export async function createKey(store: CatalogStore, name: string): Promise<{ key: string; stored: StoredKey }> {
  const id = randomBytes(4).toString('hex');
  const key = `fk_${id}_${randomBytes(32).toString('base64url')}`;
  const stored: StoredKey = { id, name: name.slice(0, 100), sha256: hashKey(key), createdAt: new Date().toISOString() };
  await store.setSetting(SETTING_API_KEYS, JSON.stringify([...(await storedKeys(store)), stored]));
  return { key, stored };
}

export async function revokeKey(store: CatalogStore, id: string): Promise<StoredKey> {
  const keys = await storedKeys(store);
  const found = keys.find((k) => k.id === id && !k.revokedAt);
  if (!found) throw new FashionError('input/not-found', `Expected an active key with id ${JSON.stringify(id)} but there is none; \`fashion keys list\` shows them`);
  const revoked = { ...found, revokedAt: new Date().toISOString() };
  await store.setSetting(SETTING_API_KEYS, JSON.stringify(keys.map((k) => (k === found ? revoked : k))));
  return revoked;
}

/** Whether a presented key's hash is one of these (compared in constant time, so timing tells nothing of a near miss). */
export function keyMatches(presented: string, hashes: readonly string[]): boolean {
  const h = Buffer.from(hashKey(presented), 'hex');
  let found = false;
  for (const other of hashes) found = timingSafeEqual(h, Buffer.from(other, 'hex')) || found;
  return found;
}
