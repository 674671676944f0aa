import { errorFrom, headerValue, isSuccess, type RedfishTransport } from './transport.ts';
import { RedfishError } from './types.ts';

/**
 * Session auth with fallback to Basic (Ironic's `auto`): POST the credentials to the Sessions collection,
 * then send only X-Auth-Token. A BMC without working sessions gets Basic on every request instead.
 */
export async function authenticate(
  t: RedfishTransport,
  sessionsPath: string,
  username: string,
  password: string,
): Promise<void> {
  const created = await createSession(t, sessionsPath, username, password);
  if (created) {
    t.relogin = async () => createSession(t, sessionsPath, username, password);
    return;
  }
  t.emit({ type: 'fallback', message: 'session login not available; using Basic authentication' });
  t.auth = { kind: 'basic', header: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
}

async function createSession(
  t: RedfishTransport,
  sessionsPath: string,
  username: string,
  password: string,
): Promise<boolean> {
  const response = await t.request('POST', sessionsPath, {
    body: { UserName: username, Password: password },
    authenticate: false,
    reauthenticate: false,
  });
  if (!isSuccess(response)) {
    t.emit({
      type: 'session',
      message: `session login answered HTTP ${response.status}`,
      status: response.status,
    });
    return false;
  }
  const token = headerValue(response.headers, 'x-auth-token');
  const location =
    headerValue(response.headers, 'location') ??
    (typeof response.body?.['@odata.id'] === 'string' ? response.body['@odata.id'] : undefined);
  if (!token) return false;
  const previous = t.auth;
  t.auth = { kind: 'session', token, location: location ? t.pathOf(location) : '' };
  t.emit({ type: 'session', message: `session created${location ? ` at ${t.pathOf(location)}` : ''}` });
  // A replaced session is deleted so BMC session slots do not run out.
  if (previous.kind === 'session' && previous.location)
    await deleteSession(t, previous.location, previous.token);
  return true;
}

/** DELETEs the current session, if any, and forgets the credentials. */
export async function logout(t: RedfishTransport): Promise<void> {
  const auth = t.auth;
  t.auth = { kind: 'none' };
  t.relogin = undefined;
  if (auth.kind === 'session' && auth.location) await deleteSession(t, auth.location, auth.token);
}

async function deleteSession(t: RedfishTransport, location: string, token: string): Promise<void> {
  try {
    const response = await t.request('DELETE', location, {
      authenticate: false,
      reauthenticate: false,
      headers: { 'X-Auth-Token': token },
    });
    if (!isSuccess(response) && response.status !== 404) {
      t.emit({ type: 'session', message: `${errorFrom('session delete', response).message}` });
    }
  } catch (error) {
    t.emit({
      type: 'session',
      message: `session delete failed: ${error instanceof RedfishError ? error.message : String(error)}`,
    });
  }
}
