// A worker thread starts without its parent's TypeScript loader: register tsx, then load the TypeScript entry
// named in workerData.entry (a file URL). Plain JS so that it runs before any loader exists.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
