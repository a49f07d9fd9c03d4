// Recording's upload (issue 15; the recorder itself is not built yet): a
// take sent in one-second chunks through the recordings API while the
// network drops the first tries of several chunks, and while the server
// is killed mid-take and comes back. Every chunk is sent again until the
// server has it, and the finished take is an asset of exactly the samples
// sent.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openApp, keep, createProject } from './harness.mjs';

describe('recording upload', () => {
  const suite = serverAndBrowser({ before, after });

  /** The asset `sha` of project `id`: every frame checked at a few places. */
  async function assertTake(page, id, token, sha, seconds) {
    const bytes = await page.evaluate(async ([p, t, s]) => {
      const response = await fetch(`/api/projects/${p}/assets/${s}`, { headers: { authorization: `Bearer ${t}` } });
      return Array.from(new Uint8Array(await response.arrayBuffer()));
    }, [id, token, sha]);
    const wav = Buffer.from(bytes);
    assert.equal(wav.toString('ascii', 0, 4), 'RIFF');
    const samples = wav.subarray(wav.indexOf(Buffer.from('data')) + 8);
    assert.equal(samples.length, seconds * 48_000 * 6);
    for (const frame of [0, 47_999, 48_000, 100_001, seconds * 48_000 - 1]) {
      const tone = Math.trunc(Math.sin((2 * Math.PI * 440 * frame) / 48_000) * 4_000_000);
      const ramp = (frame % 2_000_000) - 1_000_000;
      assert.equal(samples.readIntLE(frame * 6, 3), tone, `left of frame ${frame}`);
      assert.equal(samples.readIntLE(frame * 6 + 3, 3), ramp, `right of frame ${frame}`);
    }
  }

  test('a take uploaded while the network drops chunks arrives whole', async () => {
    const { server, browser } = suite;
    const a = await openApp(browser, server.url);
    try {
      await createProject(a, 'Take me');
      const [, id, token] = a.url().match(/\/p\/([^/#]+)#(.+)$/);
      // The network loses the first two tries of chunks 1 and 2.
      const tries = new Map();
      let dropped = 0;
      await a.route('**/recordings/*/chunks/*', (route) => {
        const n = route.request().url().split('/').pop();
        const seen = (tries.get(n) ?? 0) + 1;
        tries.set(n, seen);
        if ((n === '1' || n === '2') && seen <= 2) {
          dropped += 1;
          return route.abort('internetdisconnected');
        }
        return route.continue();
      });
      const result = await a.evaluate(([p, t]) => window.stemroom.upload_test_take(p, t, 4), [id, token]);
      assert.equal(dropped, 4, 'the network dropped four tries');
      assert.ok(result.retries >= 4, `the upload tried again (${result.retries})`);
      assert.equal(result.frames, 4 * 48_000, 'every frame arrived');
      // The asset is the take: a WAV of exactly the samples sent.
      await assertTake(a, id, token, result.sha256, 4);
      await a.unroute('**/recordings/*/chunks/*');

      // The server is killed as chunk 2 of another take leaves, and comes
      // back 0.7 s later: chunks 0 and 1 were acknowledged, so they are on
      // its disk; the rest is sent once it answers again.
      let killed = false;
      await a.route('**/recordings/*/chunks/*', async (route) => {
        if (!killed && route.request().url().endsWith('/chunks/2')) {
          killed = true;
          await server.kill();
          setTimeout(() => { server.restart(); }, 700);
        }
        return route.continue().catch(() => {});
      });
      const again = await a.evaluate(([p, t]) => window.stemroom.upload_test_take(p, t, 5), [id, token]);
      assert.ok(killed, 'the server was killed mid-take');
      assert.ok(again.retries >= 1, `the upload waited for the server (${again.retries} retries)`);
      assert.equal(again.frames, 5 * 48_000);
      await assertTake(a, id, token, again.sha256, 5);
      await keep(a, 'recording-upload');
    } catch (e) {
      await keep(a, 'recording-upload');
      throw e;
    }
  });
});
