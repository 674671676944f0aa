import { setTimeout as sleep } from 'node:timers/promises';
import type { Json } from './resource.ts';
import {
  errorFrom,
  headerValue,
  isSuccess,
  type RedfishResponse,
  type RedfishTransport,
} from './transport.ts';

/** GET a resource and fail with the BMC's message on anything but 2xx. */
export async function getResource(
  t: RedfishTransport,
  path: string,
): Promise<{ body: Json; etag?: string; allow: string[] }> {
  const response = await t.get(path);
  if (!isSuccess(response) || !response.body) throw errorFrom(`GET ${path}`, response);
  const etag =
    headerValue(response.headers, 'etag') ??
    (typeof response.body['@odata.etag'] === 'string' ? response.body['@odata.etag'] : undefined);
  const allow = (headerValue(response.headers, 'allow') ?? '')
    .split(',')
    .map((m) => m.trim().toUpperCase())
    .filter(Boolean);
  return etag !== undefined ? { body: response.body, etag, allow } : { body: response.body, allow };
}

/** GET every member of a collection. */
export async function getMembers(
  t: RedfishTransport,
  collectionPath: string,
): Promise<{ path: string; body: Json; etag?: string; allow: string[] }[]> {
  const collection = await getResource(t, collectionPath);
  const members = Array.isArray(collection.body.Members) ? collection.body.Members : [];
  const out = [];
  for (const member of members as Json[]) {
    const path = typeof member['@odata.id'] === 'string' ? member['@odata.id'] : undefined;
    if (path) out.push({ path, ...(await getResource(t, path)) });
  }
  return out;
}

/**
 * PATCH with If-Match from a fresh GET. On 412 the weak ETag is retried in its strong form (some BMCs
 * compare literally), then without If-Match (redfish.md §2).
 */
export async function patchWithEtag(
  t: RedfishTransport,
  path: string,
  body: Json,
  what: string,
): Promise<RedfishResponse> {
  const { etag } = await getResource(t, path);
  const candidates: (string | undefined)[] = [];
  if (etag) {
    candidates.push(etag);
    if (etag.startsWith('W/')) candidates.push(etag.slice(2));
  }
  candidates.push(undefined);
  let response: RedfishResponse | undefined;
  for (const candidate of candidates) {
    response = await retryBusy(t, () =>
      t.request('PATCH', path, {
        body,
        headers: candidate ? { 'If-Match': candidate } : {},
        retryServerErrors: true,
      }),
    );
    if (response.status !== 412) break;
    t.emit({
      type: 'fallback',
      message: `${what}: 412 with If-Match ${candidate ? 'set' : 'absent'}; trying the next form`,
      path,
    });
  }
  if (!response || !isSuccess(response)) throw errorFrom(what, response!);
  return response;
}

const BUSY_IDS =
  /SYS518|InvalidOperationForSystemState|UnableToModifyDuringSystemPOST|ResourceInUse|ServiceTemporarilyUnavailable/i;

/**
 * Repeats an action the BMC refused as busy (409, 503, or the vendor "try later" message IDs) within the
 * transport's retry budget. Other answers are returned for the caller to judge.
 */
export async function retryBusy(
  t: RedfishTransport,
  send: () => Promise<RedfishResponse>,
): Promise<RedfishResponse> {
  const { attempts, delayMs } = t.options.retry;
  for (let attempt = 1; ; attempt++) {
    const response = await send();
    const busy =
      response.status === 409 ||
      response.status === 503 ||
      (response.status >= 400 && BUSY_IDS.test(JSON.stringify(response.body ?? {})));
    if (!busy || attempt >= attempts) return response;
    const wait = delayMs * Math.min(2 ** (attempt - 1), 4);
    t.emit({
      type: 'retry',
      message: `${response.path}: BMC busy (HTTP ${response.status}); retry ${attempt} in ${wait} ms`,
    });
    await sleep(wait);
  }
}

/** POST an action, retrying busy answers and 5xx. Returns the final response, successful or not. */
export function postAction(
  t: RedfishTransport,
  target: string,
  body: Json | undefined,
): Promise<RedfishResponse> {
  return retryBusy(t, () =>
    t.request(
      'POST',
      target,
      body === undefined ? { retryServerErrors: true } : { body, retryServerErrors: true },
    ),
  );
}
