// The outpost console: plain ES modules, no build step. Preact renders every value as text (never as HTML),
// so host names, error and installer messages cannot inject markup. Live data arrives by Server-Sent Events.
import htm from 'htm';
import { Component, h, render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';

const html = htm.bind(h);

const STATES = ['registering', 'inspecting', 'available', 'provisioning', 'provisioned', 'deprovisioning'];
const COLUMNS = [
  { key: 'name', label: 'Name' },
  { key: 'role', label: 'Role' },
  { key: 'vendor', label: 'Vendor' },
  { key: 'state', label: 'State' },
  { key: 'progress', label: 'Current step' },
  { key: 'nodeReady', label: 'Node Ready' },
  { key: 'error', label: 'Error' },
  { key: 'createdAt', label: 'Age' },
];

let csrfToken = '';
let onSignedOut = () => {};

/** A JSON request to the service; changes carry the session's CSRF token. */
async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (response.status === 401 && path !== '/console/session') onSignedOut();
  if (!response.ok) throw new Error(data.error ?? `HTTP ${response.status}`);
  return data;
}

const hostPath = (name, sub = '') =>
  `/console/api/v1/hosts/${encodeURIComponent(name)}${sub ? `/${sub}` : ''}`;

function useHashRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  const host = /^#\/hosts\/(.+)$/.exec(hash);
  if (host) {
    try {
      return { page: 'host', name: decodeURIComponent(host[1]) };
    } catch {
      return { page: 'hosts' }; // a mangled address: back to the list rather than a broken page
    }
  }
  if (hash === '#/cluster') return { page: 'cluster' };
  return { page: 'hosts' };
}

/** Every host's row, kept current by the event stream; `changes` counts updates per host. */
function useLiveHosts(enabled, signOut) {
  const [live, setLive] = useState({ rows: new Map(), changes: new Map(), status: 'connecting' });
  useEffect(() => {
    if (!enabled) return undefined;
    const source = new EventSource('/console/events');
    source.addEventListener('snapshot', (e) => {
      performance.mark('outpost:snapshot');
      const { hosts } = JSON.parse(e.data);
      setLive((old) => ({
        rows: new Map(hosts.map((r) => [r.name, r])),
        changes: new Map([...old.changes].map(([k, v]) => [k, v + 1])),
        status: 'live',
      }));
    });
    source.addEventListener('hosts', (e) => {
      const { hosts, removed } = JSON.parse(e.data);
      setLive((old) => {
        const rows = new Map(old.rows);
        const changes = new Map(old.changes);
        for (const row of hosts) {
          rows.set(row.name, row);
          changes.set(row.name, (changes.get(row.name) ?? 0) + 1);
        }
        for (const name of removed) {
          rows.delete(name);
          changes.set(name, (changes.get(name) ?? 0) + 1);
        }
        return { rows, changes, status: 'live' };
      });
    });
    source.addEventListener('signed-out', () => {
      source.close();
      signOut();
    });
    source.onerror = () => {
      setLive((old) => ({ ...old, status: 'reconnecting' }));
      // A closed stream after an error is a refused reconnect: most likely the session ended.
      if (source.readyState === EventSource.CLOSED) {
        call('GET', '/console/session').catch(() => signOut());
      }
    };
    return () => source.close();
  }, [enabled]);
  return live;
}

function App() {
  const [session, setSession] = useState('checking');
  const route = useHashRoute();
  onSignedOut = () => setSession('signed-out');
  useEffect(() => {
    call('GET', '/console/session')
      .then((s) => {
        csrfToken = s.csrfToken;
        setSession('signed-in');
      })
      .catch(() => setSession('signed-out'));
  }, []);
  // The stream opens while the session is being checked: one round trip less before the first render.
  const live = useLiveHosts(session !== 'signed-out', () => setSession('signed-out'));
  useEffect(() => {
    document.title = route.page === 'host' ? `${route.name} · outpost` : 'outpost console';
  }, [route.page, route.name]);
  if (session === 'checking') return html`<main><p>Loading…</p></main>`;
  if (session === 'signed-out')
    return html`<${SignIn} onSignedIn=${(token) => {
      csrfToken = token;
      setSession('signed-in');
    }} />`;
  const signOut = async () => {
    await call('DELETE', '/console/session').catch(() => {});
    setSession('signed-out');
  };
  return html`
    <header class="top">
      <a class="brand" href="#/">outpost</a>
      <nav aria-label="Main">
        <a href="#/" aria-current=${route.page === 'hosts' ? 'page' : undefined}>Hosts</a>
        <a href="#/cluster" aria-current=${route.page === 'cluster' ? 'page' : undefined}>Cluster</a>
      </nav>
      <span class=${`live ${live.status}`} role="status" data-testid="live-status">${live.status}</span>
      <button type="button" class="link" onClick=${signOut}>Sign out</button>
    </header>
    <main>
      ${route.page === 'hosts' && html`<${HostsPage} rows=${live.rows} />`}
      ${route.page === 'host' && html`<${HostPage} name=${route.name} row=${live.rows.get(route.name)} version=${live.changes.get(route.name) ?? 0} />`}
      ${route.page === 'cluster' && html`<${ClusterPage} rows=${live.rows} />`}
    </main>`;
}

function SignIn({ onSignedIn }) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    const token = new FormData(event.target).get('token');
    try {
      const session = await call('POST', '/console/session', { token });
      onSignedIn(session.csrfToken);
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <main class="signin">
      <h1>outpost console</h1>
      <form onSubmit=${submit}>
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required autofocus />
        <p class="hint">The token is in <code>api-token</code> in the service's state dir.</p>
        <button type="submit" disabled=${busy}>Sign in</button>
        ${error && html`<p class="error" role="alert">${error}</p>`}
      </form>
    </main>`;
}

function compareRows(key) {
  const value = (row) => {
    if (key === 'error') return row.error?.message ?? '';
    if (key === 'state') return STATES.indexOf(row.state);
    if (key === 'progress') return row.progress ?? -1;
    if (key === 'nodeReady') return row.nodeReady === null ? (row.node ? 0 : -1) : Number(row.nodeReady) + 1;
    if (key === 'createdAt') return -row.createdAt; // by age: the youngest first
    return row[key] ?? '';
  };
  return (a, b) => {
    const x = value(a);
    const y = value(b);
    if (x < y) return -1;
    if (x > y) return 1;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  };
}

function useNow(intervalMs) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

function HostsPage({ rows }) {
  const [text, setText] = useState('');
  const [state, setState] = useState('');
  const [sort, setSort] = useState({ key: 'name', dir: 1 });
  const now = useNow(30_000);
  const all = [...rows.values()];
  const shown = useMemo(() => {
    const needle = text.trim().toLowerCase();
    const kept = all.filter(
      (r) =>
        (!state || (state === 'error' ? r.error : r.state === state)) &&
        (!needle ||
          [r.name, r.role, r.vendor, r.state, r.step, r.error?.message]
            .filter(Boolean)
            .some((v) => v.toLowerCase().includes(needle))),
    );
    const compare = compareRows(sort.key);
    return kept.sort((a, b) => sort.dir * compare(a, b));
  }, [rows, text, state, sort]);
  const counts = STATES.map((s) => [s, all.filter((r) => r.state === s).length]).filter(([, n]) => n);
  return html`
    <h1>Hosts</h1>
    <p class="summary">${counts.map(([s, n]) => html`<span class=${`badge ${s}`}>${n} ${s}</span> `)}</p>
    <div class="filters" role="search">
      <label>Filter <input type="search" value=${text} onInput=${(e) => setText(e.target.value)} placeholder="name, vendor, error…" /></label>
      <label>State
        <select value=${state} onChange=${(e) => setState(e.target.value)}>
          <option value="">all</option>
          ${STATES.map((s) => html`<option value=${s}>${s}</option>`)}
          <option value="error">with an error</option>
        </select>
      </label>
    </div>
    <table class="hosts" data-testid="hosts-table">
      <caption>${shown.length} of ${all.length} hosts</caption>
      <thead>
        <tr>
          ${COLUMNS.map(
            (c) => html`
            <th scope="col" aria-sort=${sort.key === c.key ? (sort.dir > 0 ? 'ascending' : 'descending') : undefined}>
              <button type="button" onClick=${() => setSort((s) => ({ key: c.key, dir: s.key === c.key ? -s.dir : 1 }))}>
                ${c.label}<span aria-hidden="true">${sort.key === c.key ? (sort.dir > 0 ? ' ▲' : ' ▼') : ''}</span>
              </button>
            </th>`,
          )}
        </tr>
      </thead>
      <tbody>
        ${shown.map((r) => html`<${HostRow} key=${r.name} row=${r} now=${now} />`)}
      </tbody>
    </table>
    ${all.length === 0 && html`<p>No hosts yet: import an inventory with <code>outpost hosts import</code>.</p>`}`;
}

/** A row re-renders only when its host or the clock changed: a burst re-renders the changed rows only. */
class HostRow extends Component {
  shouldComponentUpdate(next) {
    return next.row !== this.props.row || next.now !== this.props.now;
  }

  render({ row, now }) {
    return hostRowCells(row, now);
  }
}

function hostRowCells(row, now) {
  return html`
    <tr data-host=${row.name} data-state=${row.state}>
      <th scope="row"><a href=${`#/hosts/${encodeURIComponent(row.name)}`}>${row.name}</a></th>
      <td>${row.role}</td>
      <td>${row.vendor ?? '—'}</td>
      <td><span class=${`badge ${row.state}`}>${row.state}</span></td>
      <td><${StepProgress} row=${row} /></td>
      <td title=${row.node ?? undefined}>${readyText(row.nodeReady, row.node)}</td>
      <td class="error-cell" title=${row.error?.message}>${row.error ? shorten(`${row.error.type}: ${row.error.message}`, 90) : ''}</td>
      <td><time datetime=${new Date(row.createdAt).toISOString()}>${age(now - row.createdAt)}</time></td>
    </tr>`;
}

function StepProgress({ row }) {
  if (!row.step) return row.powerRequest ? `power ${row.powerRequest}…` : '';
  const label = `${row.step} (${row.stepNumber}/${row.stepCount})${row.step === 'installer' && row.installProgress !== null ? ` ${row.installProgress}%` : ''}`;
  return html`<span class="step">${label}</span>
    <progress max="100" value=${row.progress ?? 0} aria-label=${`${row.name} ${row.state}: ${row.progress ?? 0}%`}></progress>`;
}

/** A long message cut to `max` characters in the table; the full text is in the cell's title and on the host page. */
const shorten = (text, max) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** Node readiness as the tables show it: Unknown when a Node exists but says neither, — when there is none. */
const readyText = (ready, node) => (ready === null ? (node ? 'Unknown' : '—') : ready ? 'Ready' : 'NotReady');

function age(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function duration(ms) {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function HostPage({ name, row, version }) {
  const [detail, setDetail] = useState(undefined);
  const [error, setError] = useState('');
  const heading = useRef(null);
  useEffect(() => heading.current?.focus(), [name]);
  useEffect(() => {
    let current = true;
    const timer = setTimeout(async () => {
      try {
        const [host, { timeline }, { events }] = await Promise.all([
          call('GET', hostPath(name)),
          call('GET', hostPath(name, 'timeline')),
          call('GET', `${hostPath(name, 'events')}?limit=200`),
        ]);
        if (current) {
          setDetail({ host, timeline, events });
          setError('');
        }
      } catch (e) {
        if (current) setError(e.message);
      }
    }, 50);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [name, version]);
  const host = detail?.host;
  return html`
    <p><a href="#/">← All hosts</a></p>
    <h1 tabindex="-1" ref=${heading}>${name}</h1>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${
      host &&
      html`
      <section aria-labelledby="status-h">
        <h2 id="status-h">Status</h2>
        <dl class="facts">
          <dt>State</dt><dd><span class=${`badge ${host.state}`} data-testid="host-state">${host.state}</span></dd>
          <dt>Current step</dt><dd>${row ? html`<${StepProgress} row=${row} />` : (host.step ?? '—')}</dd>
          <dt>Role</dt><dd>${host.role}</dd>
          <dt>Power</dt><dd>${host.powerState ?? '—'}${host.powerRequest ? ` (${host.powerRequest} requested)` : ''}</dd>
          <dt>Image</dt><dd>${host.image ?? '—'}</dd>
          <dt>Consumer</dt><dd>${host.consumer ?? '—'}</dd>
          <dt>Node</dt><dd>${row?.node ? `${row.node}: ${readyText(row.nodeReady, row.node)}` : '—'}</dd>
          <dt>BMC</dt><dd><code>${host.bmc.address}</code> (credentials ${host.bmc.credentials})</dd>
        </dl>
        ${
          host.error &&
          html`<p class="error" role="alert" data-testid="host-error">
            <strong>${host.error.type}</strong> (attempt ${host.error.count}): ${host.error.message}
          </p>`
        }
        <${Actions} host=${host} />
      </section>
      <${Messages} events=${detail.events} />
      <${Timeline} timeline=${detail.timeline} />
      <${HardwareView} hardware=${host.hardware} />
      <${Events} events=${detail.events} />`
    }`;
}

function Messages({ events }) {
  const latest = (reasons) => [...events].reverse().find((e) => reasons.includes(e.reason));
  const installer = latest(['Installer']);
  const firstBoot = latest(['FirstBoot', 'Callback']);
  return html`
    <section aria-labelledby="messages-h">
      <h2 id="messages-h">Latest messages from the host</h2>
      <dl class="facts">
        <dt>Installer</dt><dd data-testid="installer-message">${installer ? `${installer.message} (${new Date(installer.time).toLocaleTimeString()})` : '—'}</dd>
        <dt>First boot</dt><dd data-testid="first-boot-message">${firstBoot ? `${firstBoot.message} (${new Date(firstBoot.time).toLocaleTimeString()})` : '—'}</dd>
      </dl>
    </section>`;
}

function Timeline({ timeline }) {
  return html`
    <section aria-labelledby="timeline-h">
      <h2 id="timeline-h">Timeline</h2>
      ${timeline.length === 0 && html`<p>Nothing has happened yet.</p>`}
      ${timeline.map((phase) => {
        const start = Date.parse(phase.startedAt);
        const total = Math.max(phase.durationMs, 1);
        const title = phase.state === 'power' ? `power ${phase.step}` : phase.state;
        return html`
          <div class="phase" data-phase=${phase.state}>
            <h3>${title} <span class="muted">${duration(phase.durationMs)} · ${phase.result}</span></h3>
            ${phase.message && html`<p class="muted">${phase.message}</p>`}
            <ol class="bars">
              ${phase.steps.map((s) => {
                const left = ((Date.parse(s.startedAt) - start) / total) * 100;
                const width = Math.max((s.durationMs / total) * 100, 0.5);
                return html`
                  <li class=${`bar-row ${s.result}`} data-step=${s.step}>
                    <span class="bar-label">${s.step}</span>
                    <span class="bar-track"><span class="bar" style=${{ left: `${Math.min(left, 99.5)}%`, width: `${Math.min(width, 100 - Math.min(left, 99.5))}%` }}></span></span>
                    <span class="bar-time">${duration(s.durationMs)} · ${s.result}${s.message ? ` · ${s.message}` : ''}</span>
                  </li>`;
              })}
            </ol>
          </div>`;
      })}
    </section>`;
}

function HardwareView({ hardware }) {
  if (!hardware)
    return html`<section aria-labelledby="hw-h"><h2 id="hw-h">Hardware</h2><p>Not inspected yet.</p></section>`;
  const v = hardware.systemVendor ?? {};
  const cpu = hardware.cpu ?? {};
  return html`
    <section aria-labelledby="hw-h">
      <h2 id="hw-h">Hardware</h2>
      <dl class="facts">
        <dt>Vendor</dt><dd>${v.manufacturer ?? '—'}</dd>
        <dt>Model</dt><dd>${v.productName ?? '—'}</dd>
        <dt>Serial</dt><dd>${v.serialNumber ?? '—'}</dd>
        <dt>BIOS</dt><dd>${hardware.firmware?.bios?.version ?? '—'}</dd>
        <dt>CPU</dt><dd>${cpu.count ?? '?'} × ${cpu.model ?? '?'}${cpu.arch ? ` (${cpu.arch})` : ''}</dd>
        <dt>Memory</dt><dd>${hardware.ramMebibytes ? `${(hardware.ramMebibytes / 1024).toFixed(1)} GiB` : '—'}</dd>
        <dt>Boot mode</dt><dd>${hardware.bootMode ?? '—'}</dd>
        <dt>Disks</dt><dd>${Array.isArray(hardware.storage) ? hardware.storage.length : 0}</dd>
      </dl>
      ${
        hardware.nics?.length > 0 &&
        html`<table class="compact">
          <caption>Network interfaces</caption>
          <thead><tr><th scope="col">Name</th><th scope="col">MAC</th><th scope="col">Speed</th></tr></thead>
          <tbody>${hardware.nics.map(
            (n) =>
              html`<tr><th scope="row">${n.name ?? '—'}</th><td><code>${n.mac ?? '—'}</code></td><td>${n.speedGbps ? `${n.speedGbps} Gb/s` : '—'}</td></tr>`,
          )}</tbody>
        </table>`
      }
    </section>`;
}

function Events({ events }) {
  return html`
    <section aria-labelledby="events-h">
      <h2 id="events-h">Events</h2>
      <table class="compact events">
        <caption>Latest ${events.length} events, newest first</caption>
        <thead><tr><th scope="col">Time</th><th scope="col">Level</th><th scope="col">Reason</th><th scope="col">Message</th></tr></thead>
        <tbody>
          ${[...events].reverse().map(
            (e) => html`<tr class=${e.level === 'Warning' ? 'warning' : ''}>
              <th scope="row"><time datetime=${new Date(e.time).toISOString()}>${new Date(e.time).toLocaleString()}</time></th>
              <td>${e.level}</td><td>${e.reason}</td><td>${e.message}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </section>`;
}

/** The actions the host's state allows (the service checks again and says why when it refuses). */
function allowedActions(host) {
  const s = host.state;
  const actions = [];
  if (s === 'available') actions.push({ id: 'provision', label: 'Provision…' });
  if (s === 'available' || s === 'provisioned') {
    actions.push({ id: 'on', label: 'Power on' }, { id: 'off', label: 'Power off' });
    actions.push({ id: 'reboot', label: 'Reboot' });
  }
  if (s === 'available' || s === 'inspecting' || (s === 'registering' && host.error))
    actions.push({ id: 'inspect', label: 'Inspect' });
  if (s === 'provisioned' || s === 'provisioning') actions.push({ id: 'deprovision', label: 'Deprovision' });
  return actions;
}

function Actions({ host }) {
  const [open, setOpen] = useState(undefined);
  const [done, setDone] = useState('');
  const actions = allowedActions(host);
  return html`
    <div class="actions" role="group" aria-label="Actions">
      ${actions.map(
        (a) =>
          html`<button type="button" data-action=${a.id} onClick=${() => setOpen(a)}>${a.label}</button>`,
      )}
      ${actions.length === 0 && html`<span class="muted">No actions while ${host.state}.</span>`}
      <span role="status" class="muted">${done}</span>
    </div>
    ${
      open &&
      html`<${ConfirmAction} host=${host} action=${open} onClose=${(message) => {
        setOpen(undefined);
        if (message) setDone(message);
      }} />`
    }`;
}

function ConfirmAction({ host, action, onClose }) {
  const dialog = useRef(null);
  const [images, setImages] = useState(undefined);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    dialog.current?.showModal();
    if (action.id === 'provision')
      call('GET', '/console/images')
        .then((r) => setImages(r.images))
        .catch((e) => setError(e.message));
  }, []);
  const what = {
    provision: `Provision ${host.name}: it will be powered off, boot the installer from virtual media and be erased.`,
    deprovision: `Deprovision ${host.name}: it will be powered off and its media ejected.`,
    on: `Power on ${host.name}.`,
    off: `Power off ${host.name}: whatever runs on it stops.`,
    reboot: `Reboot ${host.name}: whatever runs on it restarts.`,
    inspect: `Read the hardware of ${host.name} again over Redfish.`,
  }[action.id];
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    try {
      if (action.id === 'provision') {
        const form = new FormData(event.target);
        const consumer = String(form.get('consumer') ?? '').trim();
        await call('POST', hostPath(host.name, 'provision'), {
          image: form.get('image'),
          ...(consumer && { consumer }),
          // An ISO inserted as it is reports nothing: the service then watches the BMC for the boots.
          ...(form.get('nocallbacks') && { callbacks: false }),
        });
      } else if (action.id === 'deprovision' || action.id === 'inspect') {
        await call('POST', hostPath(host.name, action.id));
      } else await call('POST', hostPath(host.name, 'power'), { action: action.id });
      dialog.current?.close();
      onClose(`${action.label.replace('…', '')} requested.`);
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <dialog ref=${dialog} aria-labelledby="confirm-h" onClose=${() => onClose()}>
      <form class="confirm" onSubmit=${submit}>
        <h2 id="confirm-h">${action.label.replace('…', '')} ${host.name}?</h2>
        <p>${what}</p>
        ${
          action.id === 'provision' &&
          html`
          <label for="image">Image</label>
          <select id="image" name="image" required>
            ${images === undefined && html`<option value="">loading…</option>`}
            ${images?.map((i) => html`<option value=${i.name}>${i.name} (${(i.size / 1048576).toFixed(1)} MiB)</option>`)}
          </select>
          ${images?.length === 0 && html`<p class="error">The media dir has no images.</p>`}
          <label for="consumer">Consumer (optional)</label>
          <input id="consumer" name="consumer" />
          <label for="nocallbacks">
            <input type="checkbox" id="nocallbacks" name="nocallbacks" />
            No callbacks: the image reports nothing (an ISO as it is); provisioned when the BMC reports a boot from disk
          </label>`
        }
        ${error && html`<p class="error" role="alert">${error}</p>`}
        <div class="dialog-buttons">
          <button type="button" onClick=${() => dialog.current?.close()}>Cancel</button>
          <button type="submit" class="primary" disabled=${busy || (action.id === 'provision' && !images?.length)}>
            ${action.label.replace('…', '')}
          </button>
        </div>
      </form>
    </dialog>`;
}

/** The cluster as `GET /api/v1/cluster` answers it, or `none` when the site has none (404). */
async function fetchCluster() {
  const response = await fetch('/console/api/v1/cluster', {
    headers: { Accept: 'application/json' },
    credentials: 'same-origin',
  });
  if (response.status === 404) return { none: true };
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) onSignedOut();
  if (!response.ok) throw new Error(data.error ?? `HTTP ${response.status}`);
  return data;
}

/** Saves the admin kubeconfig as a file: fetched through the session, never put in the page. */
async function downloadKubeconfig(name) {
  const response = await fetch('/console/api/v1/cluster/kubeconfig', { credentials: 'same-origin' });
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    throw new Error(data.error ?? `HTTP ${response.status}`);
  }
  const url = URL.createObjectURL(new Blob([await response.text()], { type: 'text/plain' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = `${name}.kubeconfig`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A machine's Node readiness in the host table's words. */
const machineReady = (m) =>
  m.node
    ? readyText(m.node.ready === 'True' ? true : m.node.ready === 'False' ? false : null, m.node.name)
    : '—';

function ClusterPage({ rows }) {
  const [cluster, setCluster] = useState(undefined);
  const [error, setError] = useState('');
  const [downloadError, setDownloadError] = useState('');
  // Read again when the hosts change (the event stream carries node and machine changes): no polling.
  useEffect(() => {
    let current = true;
    const timer = setTimeout(async () => {
      try {
        const answer = await fetchCluster();
        if (current) {
          setCluster(answer);
          setError('');
        }
      } catch (e) {
        if (current) setError(e.message);
      }
    }, 50);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [rows]);
  return html`
    <h1>Cluster</h1>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${cluster === undefined && !error && html`<p>Loading…</p>`}
    ${
      cluster?.none &&
      html`<p data-testid="no-cluster">This site has no cluster defined. Define one and roll it out with
        <code>outpost cluster up</code>.</p>`
    }
    ${
      cluster &&
      !cluster.none &&
      html`
      <dl class="facts">
        <dt>Name</dt><dd>${cluster.name}</dd>
        <dt>Version</dt><dd>${cluster.spec?.version ?? '—'}</dd>
        <dt>Phase</dt><dd data-testid="cluster-phase">${cluster.phase}</dd>
      </dl>
      ${
        cluster.kubeconfigReported &&
        html`<p><button type="button" data-testid="kubeconfig-download" onClick=${() =>
          downloadKubeconfig(cluster.name)
            .then(() => setDownloadError(''))
            .catch((e) => setDownloadError(e.message))}>Download kubeconfig</button>
          <span class="hint">the admin kubeconfig: keep it as secret as the API token</span></p>
        ${downloadError && html`<p class="error" role="alert">${downloadError}</p>`}`
      }
      <table class="compact" data-testid="cluster-conditions">
        <caption>Conditions</caption>
        <thead><tr><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Reason</th><th scope="col">Message</th></tr></thead>
        <tbody>${cluster.conditions.map(
          (c) =>
            html`<tr><th scope="row">${c.type}</th><td>${c.status}</td><td>${c.reason}</td><td>${c.message}</td></tr>`,
        )}</tbody>
      </table>
      <table class="compact" data-testid="cluster-machines">
        <caption>Machines</caption>
        <thead><tr>
          <th scope="col">Host</th><th scope="col">Role</th><th scope="col">Initializer</th><th scope="col">Phase</th>
          <th scope="col">Node</th><th scope="col">Ready</th><th scope="col">Reason</th>
        </tr></thead>
        <tbody>${cluster.machines.map(
          (m) => html`<tr data-machine=${m.host}>
            <th scope="row"><a href=${`#/hosts/${encodeURIComponent(m.host)}`}>${m.host}</a></th>
            <td>${m.role}</td><td>${m.initializer ? 'yes' : ''}</td><td>${m.phase}</td>
            <td>${m.node?.name ?? '—'}</td><td>${machineReady(m)}</td>
            <td>${m.nodeReady.status === 'True' ? '' : m.nodeReady.reason}</td>
          </tr>`,
        )}</tbody>
      </table>
      <section aria-labelledby="describe-h">
        <h2 id="describe-h">outpost cluster describe</h2>
        <pre class="describe" data-testid="cluster-describe">${cluster.describe}</pre>
      </section>`
    }`;
}

render(html`<${App} />`, document.getElementById('app'));
