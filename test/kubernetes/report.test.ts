import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTemplate } from '../../src/common/templates.ts';

/*
 * outpost's RKE2 progress reporter (templates/firstboot/report-kubernetes.sh) with stand-ins for
 * systemctl, journalctl and kubectl on its PATH: what it posts to the callback when RKE2 comes up, and
 * the reason it gives when RKE2 does not. The QEMU boot test covers the real units.
 */

let work = '';
let server: Server;
let url = '';
const bodies: string[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'outpost-k8s-report-'));
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      bodies.push(body);
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback/token`;
});
afterAll(async () => {
  server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

async function run(name: string, tools: Record<string, string>) {
  const dir = path.join(work, name);
  const state = path.join(dir, 'state');
  const bin = path.join(dir, 'bin');
  await mkdir(path.join(state, 'kubernetes'), { recursive: true });
  await mkdir(bin, { recursive: true });
  await writeFile(
    path.join(state, 'kubernetes.status'),
    'role=initializer\nunit=rke2-server\nnode_name=edge1\nstate=installed\n',
  );
  // The callback library as first boot installs it, with the URL given as on the kernel command line.
  await writeFile(
    path.join(state, 'kubernetes/outpost-callback.sh'),
    `${readTemplate('firstboot/outpost-callback.sh')}\nfind_callback_url() { printf '%s' '${url}'; }\n`,
  );
  for (const [tool, script] of Object.entries(tools)) {
    await writeFile(path.join(bin, tool), `#!/bin/bash\n${script}\n`);
    await chmod(path.join(bin, tool), 0o755);
  }
  await writeFile(path.join(dir, 'report'), readTemplate('firstboot/report-kubernetes.sh'));
  await writeFile(path.join(dir, 'rke2.yaml'), 'apiVersion: v1\nkind: Config\n');
  bodies.length = 0;
  const r = await execa('bash', [path.join(dir, 'report')], {
    env: {
      PATH: `${bin}:/usr/bin:/bin`,
      OUTPOST_STATE_DIR: state,
      OUTPOST_RKE2_START_LIMIT: '2',
      OUTPOST_RKE2_READY_LIMIT: '2',
      OUTPOST_RKE2_KUBECONFIG: path.join(dir, 'rke2.yaml'),
    },
    extendEnv: false,
    reject: false,
    timeout: 60_000,
  });
  return {
    r,
    status: await readFile(path.join(state, 'kubernetes.status'), 'utf8'),
    bodies: bodies.map((b) => JSON.parse(b)),
  };
}

describe('RKE2 progress reporter', () => {
  it('reports installed, started and registered when the node turns Ready', async () => {
    const { r, status, bodies } = await run('ready', {
      systemctl: 'exit 0',
      kubectl: '[ "$1" = --kubeconfig ] && [ "$4" = node ] && [ "$5" = edge1 ] && printf True',
    });
    expect(r.exitCode, r.all).toBe(0);
    const kubeconfig = Buffer.from('apiVersion: v1\nkind: Config\n').toString('base64');
    expect(bodies).toEqual([
      { step: 'kubernetes-installed', status: 'ok', message: 'role initializer' },
      { step: 'kubernetes-started', status: 'ok', message: 'rke2-server active' },
      { phase: 'kubeconfig', status: 'ok', kubeconfig },
      { step: 'kubernetes-registered', status: 'ok', message: 'node edge1 Ready' },
    ]);
    expect(status).toContain('kubeconfig=sent\n');
    expect(status).toContain('kubernetes-registered=ok\n');
  });

  it('reports why when RKE2 does not come up, and leaves it alone', async () => {
    const { r, status, bodies } = await run('down', {
      systemctl: `echo "$1" >>"$OUTPOST_STATE_DIR/systemctl.calls"
case $1 in
  is-active) exit 3 ;;
  show) printf 'ActiveState=activating\\nSubState=auto-restart\\nResult=exit-code\\nNRestarts=4\\n' ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac`,
      journalctl: 'echo \'level=fatal msg="failed to find runtime image rancher/rke2-runtime"\'',
    });
    expect(r.exitCode).toBe(0);
    expect(bodies[0]).toEqual({ step: 'kubernetes-installed', status: 'ok', message: 'role initializer' });
    expect(bodies[1].step).toBe('kubernetes');
    expect(bodies[1].status).toBe('failed');
    expect(bodies[1].message).toContain(
      'not active after 2s: rke2-server: ActiveState=activating SubState=auto-restart Result=exit-code NRestarts=4',
    );
    expect(bodies[1].message).toContain('failed to find runtime image rancher/rke2-runtime');
    expect(status).toContain('kubernetes=failed\n');
    const calls = await readFile(path.join(work, 'down/state/systemctl.calls'), 'utf8');
    expect(new Set(calls.trim().split('\n'))).toEqual(new Set(['is-active', 'show']));
  });

  it('reports a node that never turns Ready', async () => {
    const { bodies } = await run('not-ready', { systemctl: 'exit 0', kubectl: 'printf False' });
    expect(bodies.map((b) => `${b.step ?? b.phase}=${b.status}`)).toEqual([
      'kubernetes-installed=ok',
      'kubernetes-started=ok',
      'kubeconfig=ok',
      'kubernetes=failed',
    ]);
    expect(bodies[3].message).toMatch(/^node edge1 not Ready after 2s \(Ready=False;/);
  });
});
