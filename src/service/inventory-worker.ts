import { parentPort } from 'node:worker_threads';
import { parseInventory } from './inventory.ts';

/**
 * Parses inventories sent to the API in a worker thread: a large or deliberately slow YAML document then
 * costs this thread's time, not the event loop's, so other requests keep being answered.
 */

/**
 * The CLI already resolved ${ENV} references on the user's side; a `${...}` still in a value sent to the API is
 * part of it (e.g. a password), so every reference resolves to itself.
 */
const LITERAL_ENV: Record<string, string> = new Proxy({}, { get: (_, name) => `\${${String(name)}}` });

function refuseFileReads(file: string): string {
  throw Object.assign(new Error(`files are read by the CLI, not the server: ${file}`), { code: 'ENOTSUP' });
}

parentPort!.on('message', ({ id, text }: { id: number; text: string }) => {
  const result = parseInventory([{ file: 'request', text, readFile: refuseFileReads }], {
    env: LITERAL_ENV,
  });
  parentPort!.postMessage({ id, hosts: result.hosts, diagnostics: result.diagnostics });
});
