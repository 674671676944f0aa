import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sessions } from '../../src/service/console/sessions.ts';
import { freePort, ServiceProcess, tempDir, waitFor } from '../service/helpers.ts';
import { type Site, startSite } from './site.ts';

// The console's HTTP surface without a browser: sessions, cross-site protection, /metrics read by promtool.
let site: Site;

beforeAll(async () => {
  site = await startSite([
    { vendor: 'dell', hosts: 1 },
    { vendor: 'supermicro', hosts: 1 },
  ]);
  await site.api.request('POST', '/hosts', site.inventory());
  await waitFor('both hosts to be available', async () => {
    const { hosts } = await site.api.request<{ hosts: { state: string }[] }>('GET', '/hosts');
    return hosts.every((h) => h.state === 'available') || undefined;
  });
}, 60_000);
afterAll(async () => {
  await site?.close();
});

async function signIn(): Promise<{ cookie: string; csrf: string }> {
  const r = await fetch(`${site.url}/console/session`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: site.url },
    body: JSON.stringify({ token: site.token }),
  });
  expect(r.status).toBe(200);
  const setCookie = r.headers.get('set-cookie')!;
  expect(setCookie).toMatch(/HttpOnly/);
  expect(setCookie).toMatch(/SameSite=Strict/);
  expect(setCookie).toMatch(/Max-Age=\d+/);
  return { cookie: setCookie.split(';')[0]!, csrf: ((await r.json()) as { csrfToken: string }).csrfToken };
}

describe('console sessions and cross-site protection', () => {
  it('serves the page with a strict content security policy and no third-party origin', async () => {
    const r = await fetch(site.url);
    const page = await r.text();
    expect(r.headers.get('content-security-policy')).toMatch(
      /default-src 'none'; script-src 'self' 'sha256-/,
    );
    expect(r.headers.get('x-frame-options')).toBe('DENY');
    // Every URL the page loads is on this service.
    expect([...page.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1])).toEqual([
      '/console/style.css',
      '/console/vendor/preact.mjs',
      '/console/vendor/hooks.mjs',
      '/console/vendor/htm.mjs',
      '/console/app.js',
    ]);
    for (const module of [
      '/console/vendor/preact.mjs',
      '/console/vendor/hooks.mjs',
      '/console/vendor/htm.mjs',
    ]) {
      const m = await fetch(`${site.url}${module}`);
      expect(m.status).toBe(200);
      expect(m.headers.get('content-type')).toMatch(/^text\/javascript/);
      // Imports name the import map's modules, never another origin.
      expect(/(?:from|import)\s*\(?["']https?:/.test(await m.text())).toBe(false);
    }
  });

  it('refuses the console API and the event stream without a session, and a wrong token', async () => {
    expect((await fetch(`${site.url}/console/api/v1/hosts`)).status).toBe(401);
    expect((await fetch(`${site.url}/console/events`)).status).toBe(401);
    const wrong = await fetch(`${site.url}/console/session`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: `${site.token.slice(0, -1)}x` }),
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
  });

  it('signs in; a change needs the CSRF token and a same-origin request', async () => {
    const { cookie, csrf } = await signIn();
    const power = (headers: Record<string, string>) =>
      fetch(`${site.url}/console/api/v1/hosts/dell-1/power`, {
        method: 'POST',
        headers: { Cookie: cookie, 'Content-Type': 'application/json', ...headers },
        body: JSON.stringify({ action: 'off' }),
      });
    expect((await power({})).status).toBe(403);
    expect((await power({ 'X-CSRF-Token': 'guess' })).status).toBe(403);
    expect((await power({ 'X-CSRF-Token': csrf, Origin: 'http://evil.example' })).status).toBe(403);
    expect((await power({ 'X-CSRF-Token': csrf, 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
    const accepted = await power({ 'X-CSRF-Token': csrf, Origin: site.url });
    expect(accepted.status).toBe(202);
    expect(((await accepted.json()) as { powerRequest: string }).powerRequest).toBe('off');
    // The console's reads are the API's answers.
    const viaConsole = await (
      await fetch(`${site.url}/console/api/v1/hosts/dell-1`, { headers: { Cookie: cookie } })
    ).json();
    const viaApi = await site.api.request('GET', '/hosts/dell-1');
    expect((viaConsole as { name: string }).name).toBe((viaApi as { name: string }).name);
    // A sign-in posted from another site is refused too (no login CSRF).
    const foreign = await fetch(`${site.url}/console/session`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: 'http://evil.example' },
      body: JSON.stringify({ token: site.token }),
    });
    expect(foreign.status).toBe(403);
  });

  it('lists the media dir for the image picker, without checksums or hidden files', async () => {
    const { cookie } = await signIn();
    const r = await fetch(`${site.url}/console/images`, { headers: { Cookie: cookie } });
    expect(((await r.json()) as { images: { name: string }[] }).images.map((i) => i.name)).toEqual([
      'rescue.iso',
      'site.iso',
    ]);
  });

  it('pushes a snapshot, then the rows that change, over Server-Sent Events, until sign-out', async () => {
    const { cookie, csrf } = await signIn();
    const controller = new AbortController();
    const r = await fetch(`${site.url}/console/events`, {
      headers: { Cookie: cookie },
      signal: controller.signal,
    });
    expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = r.body!.getReader();
    let text = '';
    let pending: ReturnType<typeof reader.read> | undefined;
    let ended = false;
    /** Reads the stream until `what` shows up or it ends, for at most 10 s (a read cut short is kept). */
    const readUntil = async (what: RegExp) => {
      const deadline = Date.now() + 10_000;
      while (!what.test(text) && !ended && Date.now() < deadline) {
        pending ??= reader.read();
        const chunk = await Promise.race([
          pending,
          new Promise<undefined>((r) => setTimeout(() => r(undefined), deadline - Date.now())),
        ]);
        if (chunk === undefined) continue;
        pending = undefined;
        if (chunk.value) text += Buffer.from(chunk.value).toString();
        ended = chunk.done;
      }
    };
    const read = async (what: RegExp) => {
      await readUntil(what);
      expect(text).toMatch(what);
    };
    await read(/event: snapshot\ndata: \{"hosts":\[\{"name":"dell-1"/);
    await site.api.request('POST', '/hosts/supermicro-1/inspect');
    await read(
      /event: hosts\ndata: \{"hosts":\[\{"name":"supermicro-1","role":"server","vendor":"Supermicro"/,
    );
    // Signing out ends the stream at the next change, with a last message that says why.
    const out = await fetch(`${site.url}/console/session`, {
      method: 'DELETE',
      headers: { Cookie: cookie, 'X-CSRF-Token': csrf, Origin: site.url },
    });
    expect(out.status).toBe(200);
    // The change that ends the stream: another host (supermicro-1 may still be inspecting, and a second
    // inspection of it is refused).
    await site.api.request('POST', '/hosts/dell-1/inspect');
    await read(/event: signed-out\n/);
    await readUntil(/never sent: wait for the end/);
    expect(ended).toBe(true);
    controller.abort();
  });

  it('ends sessions after their idle time and their maximum age', () => {
    let now = 0;
    const sessions = new Sessions({ maxAgeMs: 10_000, idleMs: 3_000, max: 2 }, () => now);
    const request = (id: string) => ({ headers: { cookie: `a=b; outpost_session=${id}` } }) as never;
    const a = sessions.create();
    now = 2_000;
    expect(sessions.of(request(a.id))).toBe(a);
    now = 4_500; // 2.5 s idle: still alive
    expect(sessions.of(request(a.id))).toBe(a);
    now = 8_000; // 3.5 s idle: gone
    expect(sessions.of(request(a.id))).toBeUndefined();
    const b = sessions.create();
    for (now = 8_000; now < 18_000; now += 2_000) expect(sessions.of(request(b.id))).toBe(b);
    now = 18_001; // active all along, but older than the maximum age
    expect(sessions.of(request(b.id))).toBeUndefined();
    const c = sessions.create();
    sessions.create();
    sessions.create(); // a third session ends the oldest
    expect(sessions.of(request(c.id))).toBeUndefined();
    expect(sessions.of(request('made-up'))).toBeUndefined();
  });
});

describe('/metrics', () => {
  it('needs the API token as a bearer token', async () => {
    const r = await fetch(`${site.url}/metrics`);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/Bearer/);
  });

  it('passes promtool check metrics and counts hosts, steps, Redfish requests, callbacks and errors', async () => {
    await site.api.request('POST', '/hosts/dell-1/provision', { image: 'site.iso', callbacks: true });
    await waitFor('dell-1 to wait for the installer', async () => {
      const h = await site.api.request<{ step?: string }>('GET', '/hosts/dell-1');
      return h.step === 'installer' || undefined;
    });
    expect(await site.report('dell-1', { phase: 'installer', status: 'running', progress: 50 })).toBe(200);
    const bad = await fetch(`${site.url}/callbacks/dell-1`, {
      method: 'POST',
      headers: { Authorization: 'Bearer wrong' },
      body: '{}',
    });
    expect(bad.status).toBe(401);
    const r = await fetch(`${site.url}/metrics`, { headers: { Authorization: `Bearer ${site.token}` } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    // promtool (Debian's prometheus package) parses the exposition format and lints names, types and help.
    const lint = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(lint).toBe('');
    expect(text).toMatch(/^outpost_hosts\{state="provisioning"\} 1$/m);
    expect(text).toMatch(/^outpost_hosts\{state="available"\} 1$/m);
    expect(text).toMatch(/^outpost_hosts\{state="deprovisioning"\} 0$/m);
    expect(text).toMatch(/^outpost_cluster_nodes_ready 0$/m);
    expect(text).toMatch(
      /^outpost_provisioning_step_duration_seconds_count\{state="provisioning",step="insert-media"\} 1$/m,
    );
    expect(text).toMatch(
      /^outpost_redfish_requests_total\{vendor="dell",method="POST",status="20\d"\} \d+$/m,
    );
    expect(text).toMatch(
      /^outpost_redfish_requests_total\{vendor="supermicro",method="GET",status="200"\} \d+$/m,
    );
    expect(text).toMatch(
      /^outpost_redfish_request_duration_seconds_bucket\{le="\+Inf",vendor="dell",method="GET"\} \d+$/m,
    );
    expect(text).toMatch(/^outpost_callbacks_total\{kind="installer",code="200"\} 1$/m);
    expect(text).toMatch(/^outpost_callbacks_total\{kind="rejected",code="401"\} 1$/m);
    expect(text).toMatch(/^outpost_process_resident_memory_bytes \d+/m);
    // No host names or strings from hosts in labels.
    expect(text).not.toMatch(/dell-1|supermicro-1/);
  });

  it('counts host errors by type', async () => {
    expect(await site.report('dell-1', { phase: 'installer', status: 'failed', message: 'disk gone' })).toBe(
      200,
    );
    const text = await (
      await fetch(`${site.url}/metrics`, { headers: { Authorization: `Bearer ${site.token}` } })
    ).text();
    expect(text).toMatch(/^outpost_errors_total\{type="provisioning error"\} 1$/m);
    expect(text).toMatch(/^outpost_callbacks_total\{kind="installer",code="200"\} 2$/m);
  });
});

describe('outpost serve --metrics-public', () => {
  it('answers /metrics without a token; the API still needs it', async () => {
    const dirs = tempDir('metrics-public');
    mkdirSync(path.join(dirs.dir, 'media'));
    const serve = new ServiceProcess({
      stateDir: path.join(dirs.dir, 'state'),
      mediaDir: path.join(dirs.dir, 'media'),
      port: await freePort(),
      extraArgs: ['--metrics-public'],
    });
    try {
      await serve.start();
      const r = await fetch(`${serve.url}/metrics`);
      expect(r.status).toBe(200);
      expect(await r.text()).toMatch(/^outpost_hosts\{state="available"\} 0$/m);
      expect((await fetch(`${serve.url}/api/v1/hosts`)).status).toBe(401);
      expect((await fetch(serve.url)).headers.get('content-type')).toMatch(/^text\/html/);
    } finally {
      await serve.kill('SIGTERM');
      dirs.cleanup();
    }
  });
});
