import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../common/diagnostics.ts';
import { writeFileAtomic } from '../../service/files.ts';
import { DEFAULT_STATE_DIR, statePaths } from '../../service/state-paths.ts';
import { quietSqliteWarning } from '../sqlite-warning.ts';

interface ServeOptions {
  stateDir?: string;
  listen: string;
  mediaDir?: string;
  advertiseUrl?: string;
  hostUrl?: string;
  concurrency: string;
  backoffBase: string;
  callbackTimeout: string;
  bmcCaFile?: string;
  logFormat: string;
  repair?: boolean;
  metricsPublic?: boolean;
}

/** SIGTERM to exit: the docs promise 10 s; the service's own stop takes at most a few of them. */
const STOP_DEADLINE_MS = 9000;

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description(
      'Run the management service: inventory, BMC lifecycle over Redfish, media server, callbacks, API',
    )
    .option(
      '--state-dir <dir>',
      'where the database, credentials file and API token live (default: $OUTPOST_STATE_DIR or /var/lib/outpost)',
    )
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8080')
    .option(
      '--media-dir <dir>',
      'images and ISOs served at /media/<name>, created if missing (default: <state-dir>/media)',
    )
    .option(
      '--advertise-url <url>',
      'URL BMCs reach this service at, for virtual media (default: http://<listen>)',
    )
    .option(
      '--host-url <url>',
      'URL the hosts being installed reach this service at, for image download and callbacks (default: --advertise-url)',
    )
    .option(
      '--bmc-ca-file <file>',
      "PEM file of the CA(s) that signed the BMCs' certificates (default: the system's CAs)",
    )
    .option('--concurrency <n>', 'hosts worked on at once', '16')
    .option(
      '--backoff-base <seconds>',
      'first retry delay after an error (doubles per error, max 10 min)',
      '10',
    )
    .option(
      '--callback-timeout <minutes>',
      'how long provisioning waits for each installer/first-boot callback',
      '60',
    )
    .option('--log-format <format>', 'text (one line per event) or json (one JSON object per line)', 'text')
    .option(
      '--repair',
      'if outpost.db is damaged, restore the last good backup (taken at each start) before serving',
    )
    .option(
      '--metrics-public',
      'serve /metrics without the API token (default: Prometheus sends it as a bearer token)',
    )
    .action(async (opts: ServeOptions) => {
      const { host, port } = parseListen(opts.listen);
      const { formatLogLine, LOG_FORMATS } = await import('../../service/log.ts');
      const logFormat = LOG_FORMATS.find((f) => f === opts.logFormat);
      if (!logFormat) {
        throw new InputError(
          `--log-format must be one of ${LOG_FORMATS.join(', ')}, not '${opts.logFormat}'`,
        );
      }
      const say = (message: string) =>
        process.stdout.write(`${formatLogLine(logFormat, { level: 'info', message })}\n`);
      const concurrency = positiveNumber('--concurrency', opts.concurrency);
      const backoffBaseMs = positiveNumber('--backoff-base', opts.backoffBase) * 1000;
      const callbackTimeoutMs = positiveNumber('--callback-timeout', opts.callbackTimeout) * 60_000;
      for (const [flag, value] of [
        ['--advertise-url', opts.advertiseUrl],
        ['--host-url', opts.hostUrl],
      ] as const) {
        if (value && !/^https?:\/\/[^/?#]+$/.test(value.replace(/\/$/, ''))) {
          throw new InputError(`${flag} must be http(s)://host[:port], not '${value}'`);
        }
      }
      quietSqliteWarning();
      // Loaded here so other commands do not load node:sqlite.
      const { startService } = await import('../../service/service.ts');
      const { redfishDriver } = await import('../../service/driver.ts');
      let caCertificates: string | undefined;
      if (opts.bmcCaFile) {
        try {
          caCertificates = readFileSync(opts.bmcCaFile, 'utf8');
        } catch (error) {
          throw new InputError(
            `--bmc-ca-file: cannot read ${opts.bmcCaFile}: ${(error as NodeJS.ErrnoException).code}`,
          );
        }
        if (!caCertificates.includes('-----BEGIN CERTIFICATE-----'))
          throw new InputError(`--bmc-ca-file: ${opts.bmcCaFile} holds no PEM certificate`);
      }
      // The same default the hosts commands use to find this service.
      const stateDir = path.resolve(opts.stateDir ?? process.env.OUTPOST_STATE_DIR ?? DEFAULT_STATE_DIR);
      const mediaDir = path.resolve(opts.mediaDir ?? path.join(stateDir, 'media'));
      try {
        mkdirSync(mediaDir, { recursive: true });
      } catch (error) {
        throw new InputError(
          `--media-dir ${mediaDir}: ${(error as NodeJS.ErrnoException).code}: not a folder`,
        );
      }
      const service = await startService({
        logFormat,
        repair: opts.repair === true,
        stateDir,
        mediaDir,
        host,
        port,
        concurrency,
        timing: { backoffBaseMs, callbackTimeoutMs },
        ...(caCertificates !== undefined && { driver: redfishDriver({ caCertificates }) }),
        metricsPublic: opts.metricsPublic === true,
        ...(opts.advertiseUrl && { advertiseUrl: opts.advertiseUrl.replace(/\/$/, '') }),
        ...(opts.hostUrl && { hostUrl: opts.hostUrl.replace(/\/$/, '') }),
      });
      // Clients on this machine find the service (and its token) through the state dir: no exports needed.
      const { discovery, apiToken } = statePaths(stateDir);
      const localUrl = service.url.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:');
      writeFileAtomic(discovery, `${JSON.stringify({ url: localUrl, pid: process.pid, mediaDir })}\n`, 0o600);
      const clientDefault = path.resolve(process.env.OUTPOST_STATE_DIR ?? DEFAULT_STATE_DIR);
      const clientHint =
        stateDir === clientDefault ? 'outpost hosts list' : `outpost hosts list --state-dir ${stateDir}`;
      say(`outpost service listening on ${service.url} (API token in ${apiToken}; media dir ${mediaDir})`);
      say(`on this machine: ${clientHint}`);
      say(`elsewhere: export OUTPOST_SERVER=${service.url} OUTPOST_TOKEN=<the contents of ${apiToken}>`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      say('stopping: aborting the BMC requests under way (they are resumed at the next start)');
      rmSync(discovery, { force: true });
      // Every state change is already committed (SQLite, synchronous=FULL): a stop that overruns loses
      // nothing, so it is cut short rather than left to hang.
      setTimeout(() => {
        say(`stopped after ${STOP_DEADLINE_MS / 1000} s without finishing cleanly`);
        process.exit(1);
      }, STOP_DEADLINE_MS).unref();
      await service.close();
      say('stopped');
      // Nothing is left to wait for: do not let a straggler (a BMC's socket, a timer) hold up the exit.
      process.exit(0);
    });
}

function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port > 65535)
    throw new InputError(`--listen must be HOST:PORT (e.g. 127.0.0.1:8080), not '${listen}'`);
  return { host: match[1] ?? match[2]!, port };
}

function positiveNumber(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InputError(`${flag} must be a positive number, not '${value}'`);
  return n;
}
