import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export interface Session {
  id: string;
  /** Sent back in X-CSRF-Token with every change: a cross-site page cannot read it. */
  csrf: string;
  createdAt: number;
  lastSeenAt: number;
}

export interface SessionLimits {
  /** A session ends this long after sign-in, however active. */
  maxAgeMs: number;
  /** ... or after this long without a request. */
  idleMs: number;
  /** At most this many sessions; signing in beyond it ends the oldest. */
  max: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { maxAgeMs: 12 * 3600_000, idleMs: 3600_000, max: 256 };

export const SESSION_COOKIE = 'outpost_session';

/** Console sessions, in memory: a restart of the service signs everyone out, which is safe. */
export class Sessions {
  private readonly sessions = new Map<string, Session>();
  private readonly limits: SessionLimits;
  private readonly now: () => number;

  constructor(limits: SessionLimits = DEFAULT_SESSION_LIMITS, now: () => number = Date.now) {
    this.limits = limits;
    this.now = now;
  }

  create(): Session {
    const now = this.now();
    if (this.sessions.size >= this.limits.max) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    const session = { id: token(), csrf: token(), createdAt: now, lastSeenAt: now };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session a request's cookie names (its idle clock restarts), or undefined. */
  of(req: IncomingMessage): Session | undefined {
    const id = cookie(req, SESSION_COOKIE);
    const session = id ? this.sessions.get(id) : undefined;
    if (!session) return undefined;
    const now = this.now();
    if (now - session.createdAt > this.limits.maxAgeMs || now - session.lastSeenAt > this.limits.idleMs) {
      this.sessions.delete(session.id);
      return undefined;
    }
    session.lastSeenAt = now;
    return session;
  }

  /** Whether a session is still live, without counting as activity (for long-lived event streams). */
  alive(session: Session): boolean {
    const now = this.now();
    return (
      this.sessions.get(session.id) === session &&
      now - session.createdAt <= this.limits.maxAgeMs &&
      now - session.lastSeenAt <= this.limits.idleMs
    );
  }

  end(session: Session): void {
    this.sessions.delete(session.id);
  }

  /** The Set-Cookie value that starts a session: not readable by scripts, never sent cross-site. */
  cookieFor(session: Session, secure: boolean): string {
    const maxAge = Math.floor(this.limits.maxAgeMs / 1000);
    return `${SESSION_COOKIE}=${session.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
  }

  static clearCookie(): string {
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }
}

export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function token(): string {
  return randomBytes(32).toString('base64url');
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
