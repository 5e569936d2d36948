// Used only when running from the TypeScript sources (tests and benches under `node --import tsx`); the
// compiled dist/ starts dist/embedding/inferenceWorker.js directly and never loads this file or tsx.
// A worker thread starts without its parent's TypeScript loader: register tsx, then load the TypeScript entry
// named in workerData.entry (a file URL). Plain JS so that it runs before any loader exists.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
