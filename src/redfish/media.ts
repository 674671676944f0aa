import { setTimeout as sleep } from 'node:timers/promises';
import type { Quirks } from './quirks.ts';
import { getMembers, getResource, patchWithEtag, postAction } from './requests.ts';
import { actionTarget, type Json, link, str } from './resource.ts';
import {
  describeBody,
  errorFrom,
  isSuccess,
  type RedfishResponse,
  type RedfishTransport,
} from './transport.ts';
import { RedfishError } from './types.ts';

interface Slot {
  path: string;
  body: Json;
  allow: string[];
}

/**
 * Virtual-media slots that can hold a CD: the System's own collection when it links one (newer iDRAC,
 * XCC), else every Manager's — always by following links.
 */
export async function findCdSlots(t: RedfishTransport, system: Json, managers: Json[]): Promise<Slot[]> {
  const systemCollection = link(system, 'VirtualMedia');
  const collections = systemCollection
    ? [systemCollection]
    : managers.map((m) => link(m, 'VirtualMedia')).filter((p): p is string => !!p);
  const slots: Slot[] = [];
  for (const collection of collections) {
    for (const member of await getMembers(t, collection)) {
      const types = Array.isArray(member.body.MediaTypes) ? member.body.MediaTypes : [];
      if (types.includes('CD') || types.includes('DVD'))
        slots.push({ path: member.path, body: member.body, allow: member.allow });
    }
  }
  return slots;
}

/** Inserted, counting Supermicro's "NotConnected" with a leftover Image as empty. */
export function isInserted(slot: Json): boolean {
  if (str(slot.ConnectedVia) === 'NotConnected') return false;
  if (typeof slot.Inserted === 'boolean') return slot.Inserted;
  return !!str(slot.Image);
}

export async function ejectAll(t: RedfishTransport, quirks: Quirks, slots: Slot[]): Promise<void> {
  for (const slot of slots) {
    const fresh = await refresh(t, slot);
    if (isInserted(fresh.body)) await ejectSlot(t, quirks, fresh);
  }
}

async function refresh(t: RedfishTransport, slot: Slot): Promise<Slot> {
  const { body, allow } = await getResource(t, slot.path);
  return { path: slot.path, body, allow };
}

/**
 * Ejects one slot and re-reads it until it reports empty (iDRAC may report a stale `Inserted` after the
 * first eject, so the eject is repeated a bounded number of times).
 */
async function ejectSlot(t: RedfishTransport, quirks: Quirks, slot: Slot): Promise<void> {
  let current = slot;
  for (let round = 1; round <= 3; round++) {
    await sendEject(t, quirks, current);
    current = await refresh(t, current);
    if (!isInserted(current.body)) {
      t.emit({ type: 'media', message: `ejected ${slot.path}`, path: slot.path });
      return;
    }
    t.emit({
      type: 'quirk',
      message: `${slot.path} still reports Inserted after eject; ejecting again`,
      path: slot.path,
    });
    await sleep(Math.min(t.options.retry.delayMs, 1000));
  }
  throw new RedfishError(`eject ${slot.path}: the slot still reports media inserted after 3 ejects`, {
    retriable: true,
  });
}

async function sendEject(t: RedfishTransport, quirks: Quirks, slot: Slot): Promise<void> {
  const target = actionTarget(slot.body, '#VirtualMedia.EjectMedia');
  if (target) {
    // No body first (sushy); iLO wants `{}` and answers 415/400 without, so it is tried next (or first, by quirk).
    const bodies: (Json | undefined)[] =
      quirks.ejectBodyFirst === 'empty' ? [{}, undefined] : [undefined, {}];
    let response: RedfishResponse | undefined;
    for (const body of bodies) {
      response = await postAction(t, target, body);
      if (isSuccess(response)) return;
      if (response.status !== 400 && response.status !== 415) break;
      t.emit({
        type: 'fallback',
        message: `EjectMedia answered ${response.status}; retrying with ${body === undefined ? '{}' : 'no'} body`,
        path: target,
      });
    }
    // Some BMCs fail the eject of a slot that is already empty: the re-read decides.
    const after = await refresh(t, slot);
    if (!isInserted(after.body)) return;
    throw errorFrom(`eject ${slot.path}`, response!);
  }
  const patch = patchPolicy(slot);
  if (patch === 'refused')
    throw new RedfishError(`eject ${slot.path}: the slot has no EjectMedia action and does not allow PATCH`);
  t.emit({
    type: 'fallback',
    message: `${slot.path} has no EjectMedia action${patch === 'unadvertised' ? ' and no Allow header' : ''}; ejecting with PATCH`,
    path: slot.path,
  });
  try {
    await patchWithEtag(t, slot.path, { Image: null, Inserted: false }, `eject ${slot.path} with PATCH`);
  } catch (error) {
    if (patch === 'unadvertised' && error instanceof RedfishError) {
      throw new RedfishError(
        `eject ${slot.path}: the slot has no EjectMedia action and no Allow header, and PATCH failed: ${error.message}`,
        {
          ...(error.status !== undefined && { status: error.status }),
          retriable: error.retriable,
          cause: error,
        },
      );
    }
    throw error;
  }
}

/**
 * Whether to PATCH a slot that has no InsertMedia/EjectMedia action: yes when its `Allow` header lists
 * PATCH; also when there is no `Allow` header at all (many BMCs never send one: the PATCH is tried and
 * its failure reported); no when `Allow` is sent without PATCH.
 */
function patchPolicy(slot: Slot): 'allowed' | 'unadvertised' | 'refused' {
  if (slot.allow.length === 0) return 'unadvertised';
  return slot.allow.includes('PATCH') ? 'allowed' : 'refused';
}

/** Does an error text ask for one more InsertMedia parameter? Returns what to add, or undefined. */
function widen(body: Json, errorText: string, url: string): Json | undefined {
  if (/TransferProtocolType/i.test(errorText) && body.TransferProtocolType === undefined) {
    return { ...body, TransferProtocolType: new URL(url).protocol === 'https:' ? 'HTTPS' : 'HTTP' };
  }
  if (/TransferMethod/i.test(errorText) && body.TransferMethod === undefined)
    return { ...body, TransferMethod: 'Stream' };
  if (/UserName|Password/i.test(errorText) && body.UserName === undefined)
    return { ...body, UserName: 'none', Password: 'none' };
  return undefined;
}

/**
 * Inserts `url` into the first CD slot that takes it: minimal `{"Image"}` body widened on error (at most
 * 4 POSTs), PATCH when the slot has no action but allows PATCH (Lenovo), next slot on 400/404/405.
 */
export async function insertInto(
  t: RedfishTransport,
  quirks: Quirks,
  slots: Slot[],
  url: string,
): Promise<string> {
  if (quirks.rejectsQueryInImageUrl && /[?=]/.test(url)) {
    throw new RedfishError(
      `this Supermicro BMC rejects "?" and "=" in image URLs; serve the image at a plain path (${url})`,
    );
  }
  const problems: string[] = [];
  for (const original of slots) {
    let slot = await refresh(t, original);
    // Ejected above, but iDRAC can still report the old image: eject again until it reads empty.
    if (isInserted(slot.body)) {
      await ejectSlot(t, quirks, slot);
      slot = await refresh(t, slot);
    }
    const result = await insertOne(t, slot, url);
    if (result === 'inserted') {
      await confirmInserted(t, slot, url);
      return slot.path;
    }
    problems.push(`${slot.path}: ${result}`);
    t.emit({
      type: 'media',
      message: `${slot.path} did not take the image (${result}); trying the next slot`,
      path: slot.path,
    });
  }
  if (slots.length === 0) throw new RedfishError('insert media: the BMC has no virtual-media slot for a CD');
  throw new RedfishError(`insert media: no CD slot accepted the image: ${problems.join(' | ')}`);
}

async function insertOne(t: RedfishTransport, slot: Slot, url: string): Promise<'inserted' | string> {
  const target = actionTarget(slot.body, '#VirtualMedia.InsertMedia');
  if (target) {
    // Inserted/WriteProtected default to true and are left out: Supermicro rejects them outright.
    let body: Json = { Image: url };
    for (let post = 1; post <= 4; post++) {
      const response = await postAction(t, target, body);
      if (isSuccess(response)) return 'inserted';
      const text = describeBody(response.body);
      // Still busy or failing after the retries: another slot would not help.
      if (response.status >= 500 || response.status === 409)
        throw errorFrom(`insert media into ${slot.path}`, response);
      const wider = response.status === 400 ? widen(body, text, url) : undefined;
      if (!wider) return `HTTP ${response.status}: ${text}`;
      t.emit({
        type: 'fallback',
        message: `InsertMedia rejected; retrying with ${Object.keys(wider).join(', ')}`,
        path: target,
      });
      body = wider;
    }
    return 'rejected 4 InsertMedia bodies';
  }
  const patch = patchPolicy(slot);
  if (patch === 'refused') return 'no InsertMedia action and PATCH not allowed';
  t.emit({
    type: 'fallback',
    message: `${slot.path} has no InsertMedia action${patch === 'unadvertised' ? ' and no Allow header' : ''}; inserting with PATCH`,
    path: slot.path,
  });
  try {
    await patchWithEtag(
      t,
      slot.path,
      { Image: url, Inserted: true, WriteProtected: true },
      `insert media into ${slot.path} with PATCH`,
    );
    return 'inserted';
  } catch (error) {
    if (error instanceof RedfishError && error.status !== undefined && error.status < 500) {
      return patch === 'unadvertised'
        ? `no InsertMedia action and no Allow header; PATCH failed: ${error.message}`
        : error.message;
    }
    throw error;
  }
}

/** Some BMCs attach asynchronously after a 204: re-read until the slot shows the image, within bounds. */
async function confirmInserted(t: RedfishTransport, slot: Slot, url: string): Promise<void> {
  for (let attempt = 1; attempt <= 10; attempt++) {
    const { body } = await getResource(t, slot.path);
    if (isInserted(body) && str(body.Image) === url) {
      t.emit({ type: 'media', message: `inserted image into ${slot.path}`, path: slot.path });
      return;
    }
    await sleep(Math.min(t.options.retry.delayMs, 1000));
  }
  throw new RedfishError(
    `insert media: ${slot.path} accepted the request but does not show the image as inserted`,
    { retriable: true },
  );
}
