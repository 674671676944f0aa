import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { terminalSafe } from '../common/diagnostics.ts';
import { writeFileAtomic } from './files.ts';
import { type CALLBACK_STEPS, stepIndex } from './lifecycle.ts';
import type { Transitions } from './transitions.ts';
import type { HostRecord, HostSpec } from './types.ts';

/**
 * What hosts report. Two senders exist: the installer (`{"phase","status","progress","message"}` with phases
 * install, disk, write, config-drive) and the first-boot runner (`{"step","status"}` with step `firstboot` for
 * the whole run and script names for its parts). Both are mapped onto the provisioning steps here.
 */
export const CALLBACK_STATUSES = ['running', 'succeeded', 'failed'] as const;

const STATUS_WORDS: Record<string, (typeof CALLBACK_STATUSES)[number]> = {
  running: 'running',
  started: 'running',
  succeeded: 'succeeded',
  done: 'succeeded',
  ok: 'succeeded',
  failed: 'failed',
};

export interface CallbackReport {
  /** As sent, e.g. `write` or `17-users.sh`. */
  phase: string;
  /** The step it belongs to, if any (`cleaning` is a deprovisioning step, the others provisioning). */
  step?: (typeof CALLBACK_STEPS)[number];
  /** True when the report ends its step (the installer's `install`, first boot's `firstboot`). */
  final: boolean;
  status: (typeof CALLBACK_STATUSES)[number];
  progress?: number;
  message?: string;
}

const INSTALLER_PHASES = ['installer', 'install', 'disk', 'write', 'config-drive'];
const FIRST_BOOT_PHASES = ['first-boot', 'firstboot'];
/** The installer in wipe mode reports `clean` (running per disk, done at the end). */
const CLEANING_PHASES = ['clean', 'cleaning'];

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Tokens are stored as SHA-256 hashes: a stolen database does not let anyone impersonate a host. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function tokenMatches(token: string, hash: string | undefined): boolean {
  if (!hash) return false;
  const a = Buffer.from(hashToken(token), 'hex');
  const b = Buffer.from(hash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The per-host configuration the installer media carries (config drive): where to call back, with which
 * token, and the host's own settings. Written with mode 0600 before the provisioning starts, so the token's
 * plaintext exists only here and on the host.
 */
export interface HostConfig {
  name: string;
  role: string;
  /** POST here with `Authorization: Bearer <callbackToken>`. */
  callbackUrl: string;
  callbackToken: string;
  /** The same with the token in the path, for senders that only take a URL (the first-boot runner). */
  callbackUrlWithToken: string;
  image: string;
  bootMACAddress?: string;
  rootDeviceHints?: HostSpec['rootDeviceHints'];
  networkData?: string;
}

export function hostConfigPath(stateDir: string, host: string): string {
  return path.join(stateDir, 'host-config', `${host}.json`);
}

export function writeHostConfig(stateDir: string, config: HostConfig): void {
  mkdirSync(path.join(stateDir, 'host-config'), { recursive: true, mode: 0o700 });
  writeFileAtomic(hostConfigPath(stateDir, config.name), `${JSON.stringify(config, null, 2)}\n`, 0o600);
}

export type CallbackResult = { status: number; message: string };

/** Checks a report's shape; returns an error message or the report. */
export function parseReport(body: unknown): CallbackReport | string {
  if (typeof body !== 'object' || body === null)
    return 'body must be a JSON object {phase, status, progress, message}';
  const b = body as Record<string, unknown>;
  const phase = b.phase ?? b.step;
  if (typeof phase !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/.test(phase)) {
    return "phase must be a short name such as 'installer' or 'first-boot'";
  }
  const status = typeof b.status === 'string' ? STATUS_WORDS[b.status] : undefined;
  if (!status) return `status must be one of ${Object.keys(STATUS_WORDS).join(', ')}`;
  if (b.progress !== undefined && (typeof b.progress !== 'number' || b.progress < 0 || b.progress > 100)) {
    return 'progress must be a number from 0 to 100';
  }
  if (b.message !== undefined && typeof b.message !== 'string') return 'message must be a string';
  const step = INSTALLER_PHASES.includes(phase)
    ? 'installer'
    : FIRST_BOOT_PHASES.includes(phase)
      ? 'first-boot'
      : CLEANING_PHASES.includes(phase)
        ? 'cleaning'
        : undefined;
  return {
    phase,
    ...(step && { step }),
    final: phase === 'installer' || phase === 'install' || step === 'first-boot' || step === 'cleaning',
    status,
    ...(b.progress !== undefined && { progress: b.progress as number }),
    ...(b.message !== undefined && { message: terminalSafe(String(b.message)).slice(0, 2000) }),
  };
}

/**
 * Applies a host's report. Reports are idempotent: a repeated "installer succeeded" is accepted and changes
 * nothing, so a host may resend until it gets an answer (e.g. while the service restarts).
 */
export function applyReport(
  transitions: Transitions,
  host: HostRecord,
  report: CallbackReport,
  onFailure: (host: HostRecord, message: string) => void,
): CallbackResult {
  const text = report.message ? `: ${report.message}` : '';
  const step = report.step;
  if (!step) {
    // A part of first boot (one script) or a phase we do not track: recorded for the timeline reader.
    const level = report.status === 'failed' ? 'Warning' : 'Normal';
    transitions.event(host.name, level, 'Callback', `${report.phase} ${report.status}${text}`);
    return { status: 200, message: 'recorded' };
  }
  const state = step === 'cleaning' ? 'deprovisioning' : 'provisioning';
  if (state === 'provisioning' && host.state === 'provisioned')
    return { status: 200, message: 'host is already provisioned' };
  if (state === 'deprovisioning' && host.state === 'available')
    return { status: 200, message: 'host is already cleaned' };
  if (host.state !== state) {
    return { status: 409, message: `host ${host.name} is ${host.state}, not ${state}` };
  }
  const reported = stepIndex(state, step);
  const current = stepIndex(state, host.step);
  if (reported < current) return { status: 200, message: `${step} already done` };
  // The host is further than recorded: the service stopped between powering it on and saving that.
  let at = reported > current ? transitions.skipTo(host, step) : host;
  const reason = step === 'installer' ? 'Installer' : step === 'cleaning' ? 'Cleaning' : 'FirstBoot';
  if (report.status === 'failed') {
    onFailure(at, `${report.phase} failed${text}`);
    return { status: 200, message: 'failure recorded' };
  }
  if (report.status === 'running' || !report.final) {
    const progress = step === 'installer' ? (report.progress ?? at.installProgress) : report.progress;
    at = transitions.save(
      { ...at, ...(progress !== undefined && { installProgress: progress }) },
      {
        level: 'Normal',
        reason,
        message: `${report.phase} ${report.status}${progress !== undefined ? ` ${progress}%` : ''}${text}`,
      },
    );
    return { status: 200, message: 'progress recorded' };
  }
  transitions.stepSucceeded(
    at,
    step === 'installer' ? { installProgress: 100 } : {},
    `${report.phase} succeeded${text}`,
  );
  transitions.event(host.name, 'Normal', reason, `${report.phase} succeeded${text}`);
  return { status: 200, message: 'recorded' };
}
