import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';

/**
 * TLS for the lab's BMCs. `ca`: a lab CA (made once per state folder) signs the BMCs' certificate, so
 * clients can verify it with the CA file, as with a site's own PKI. `self-signed`: the certificate signs
 * itself, as most BMCs ship. Keys and certificates are made with the openssl command, kept in
 * `<state>/tls/` (keys mode 0600) and reused by later runs.
 */
export type LabTlsMode = 'off' | 'ca' | 'self-signed';

export const LAB_TLS_MODES: readonly LabTlsMode[] = ['off', 'ca', 'self-signed'];

export interface LabTls {
  mode: Exclude<LabTlsMode, 'off'>;
  key: string;
  cert: string;
  /** PEM file a client trusts to verify the BMCs: the lab CA, or the self-signed certificate itself. */
  caFile: string;
}

const CURVE = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function labTls(
  mode: Exclude<LabTlsMode, 'off'>,
  stateDir: string,
  listenHost: string,
): Promise<LabTls> {
  const dir = path.join(stateDir, 'tls');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const names = ['localhost', '127.0.0.1', '::1', listenHost].filter((n, i, all) => all.indexOf(n) === i);
  const san = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  // The certificate is named after what it covers, so a lab listening elsewhere gets a new one.
  const tag = Buffer.from(san).toString('base64url').slice(0, 24);
  const file = (name: string) => path.join(dir, name);
  // Imported here, not at the top: the CLI imports this module for every command (start-up time).
  const { execa } = await import('execa');
  const run = (args: string[]) => execa('openssl', args, { cwd: dir });
  const keyFile = file(`bmc-${mode}-${tag}.key`);
  const certFile = file(`bmc-${mode}-${tag}.pem`);
  const keepPrivate = (keys: string[]) => Promise.all(keys.filter(existsSync).map((k) => chmod(k, 0o600)));
  if (mode === 'self-signed') {
    if (!existsSync(certFile)) {
      await run([
        'req',
        '-x509',
        ...CURVE,
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '825',
        '-subj',
        '/CN=outpost lab BMC',
        '-addext',
        `subjectAltName=${san}`,
      ]);
    }
    await keepPrivate([keyFile]);
    return {
      mode,
      key: await readFile(keyFile, 'utf8'),
      cert: await readFile(certFile, 'utf8'),
      caFile: certFile,
    };
  }
  const caKey = file('lab-ca.key');
  const caCert = file('lab-ca.pem');
  if (!existsSync(caCert)) {
    await run([
      'req',
      '-x509',
      ...CURVE,
      '-keyout',
      caKey,
      '-out',
      caCert,
      '-days',
      '3650',
      '-subj',
      '/CN=outpost lab CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  }
  if (!existsSync(certFile)) {
    const csr = file(`bmc-${tag}.csr`);
    const ext = file(`bmc-${tag}.ext`);
    await writeFile(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
    await run(['req', ...CURVE, '-keyout', keyFile, '-out', csr, '-subj', '/CN=outpost lab BMC']);
    await run([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caCert,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-out',
      certFile,
      '-days',
      '825',
      '-extfile',
      ext,
    ]);
  }
  await keepPrivate([caKey, keyFile]);
  return {
    mode,
    key: await readFile(keyFile, 'utf8'),
    cert: await readFile(certFile, 'utf8'),
    caFile: caCert,
  };
}
