// Stock Yjs clients (yjs + y-websocket from npm, as any web app would use
// them) sync through the real server: the protocol is the standard one, and
// the server's roles hold for them too.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { startServer } from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

async function api(path, { method = 'GET', token, body } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(new URL(path, server.url), {
    method, headers, body: body && JSON.stringify(body),
  });
  return { status: response.status, json: await response.json().catch(() => null) };
}

/** A stock provider on one document; resolves once synced. */
async function connect(project, doc, token) {
  const ydoc = new Y.Doc();
  const wsUrl = server.url.replace('http', 'ws') + `sync/${project}`;
  const provider = new WebsocketProvider(wsUrl, doc, ydoc, {
    params: { token },
    WebSocketPolyfill: WebSocket,
    disableBc: true,
  });
  // Stemroom's one addition (tag 100): how many of this connection's
  // changes are durable. A stock client without this handler still syncs.
  provider.durable = 0;
  provider.messageHandlers[100] = (_encoder, decoder, p) => {
    const payload = decoder.arr.subarray(decoder.pos);
    // varuint length-prefixed buffer holding a varuint count
    let pos = 0;
    const readVar = () => {
      let n = 0; let shift = 0; let byte;
      do { byte = payload[pos++]; n += (byte & 0x7f) * 2 ** shift; shift += 7; } while (byte >= 0x80);
      return n;
    };
    readVar();
    p.durable = readVar();
    decoder.pos = decoder.arr.length;
  };
  await waitFor(() => provider.synced, 'synced');
  return { ydoc, provider };
}

async function waitFor(condition, what, timeout = 10_000) {
  const end = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('two stock Yjs clients converge through the server, and a listener only reads', async () => {
  const created = await api('/api/projects', { method: 'POST', body: { name: 'Yjs' } });
  assert.equal(created.status, 201);
  const { id, token } = created.json;
  const listen = (await api(`/api/projects/${id}/links`, { method: 'POST', token, body: { role: 'listen' } })).json.token;

  const a = await connect(id, 'project', token);
  const b = await connect(id, 'project', token);
  assert.equal(a.ydoc.getMap('meta').get('name'), 'Yjs', 'the server-created document arrives');

  a.ydoc.getMap('tracks').set('t1', 'from a');
  b.ydoc.getMap('tracks').set('t2', 'from b');
  await waitFor(() => a.ydoc.getMap('tracks').size === 2 && b.ydoc.getMap('tracks').size === 2, 'convergence');
  assert.deepEqual(a.ydoc.getMap('tracks').toJSON(), b.ydoc.getMap('tracks').toJSON());
  await waitFor(() => a.provider.durable >= 2, 'durable acknowledgement (sync answer + edit)');

  // Presence through the standard awareness protocol.
  a.provider.awareness.setLocalStateField('user', { name: 'Ana', playhead: 12.5 });
  await waitFor(() => [...b.provider.awareness.getStates().values()].some((s) => s.user?.name === 'Ana'), 'awareness');

  // A listener syncs, but a change it makes is refused and never reaches others.
  const l = await connect(id, 'project', listen);
  assert.equal(l.ydoc.getMap('tracks').get('t1'), 'from a');
  let denied = null;
  l.provider.on('connection-close', (event) => { denied ??= event?.code; });
  l.provider.shouldConnect = false; // do not reconnect after the refusal
  l.ydoc.getMap('tracks').set('t3', 'from a listener');
  await waitFor(() => denied !== null, 'the server closing the listener');
  assert.equal(denied, 1008);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(a.ydoc.getMap('tracks').get('t3'), undefined);
  assert.equal(b.ydoc.getMap('tracks').get('t3'), undefined);

  // Awareness runs its own timer; destroy everything so node can exit.
  for (const c of [a, b, l]) {
    c.provider.destroy();
    c.provider.awareness.destroy();
    c.ydoc.destroy();
  }
});
