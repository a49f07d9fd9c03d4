// The engine in the browser against the native engine: the same project,
// rendered by the worklet (wasm, in an OfflineAudioContext) and natively,
// must null — in both memory modes.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, openApp, readFloatWav, startServer } from './harness.mjs';

// Must match what `cargo xtask test` rendered natively (render_workload 8 2).
const TRACKS = 8;
const SECONDS = 2;
const NULL_FLOOR_DB = -120;

function compare(rendered, reference) {
  let maxDiff = 0;
  let maxRef = 0;
  let identical = true;
  for (let c = 0; c < 2; c++) {
    assert.equal(rendered[c].length, reference[c].length, 'same length');
    for (let i = 0; i < reference[c].length; i++) {
      const d = Math.abs(rendered[c][i] - reference[c][i]);
      if (d !== 0) identical = false;
      maxDiff = Math.max(maxDiff, d);
      maxRef = Math.max(maxRef, Math.abs(reference[c][i]));
    }
  }
  return { maxDiffDb: maxDiff === 0 ? -Infinity : 20 * Math.log10(maxDiff), maxRef, identical };
}

for (const isolation of [true, false]) {
  describe(`engine null test (${isolation ? 'shared memory' : 'fallback'})`, () => {
    let server;
    let browser;
    before(async () => {
      server = await startServer({ isolation });
      browser = await launchBrowser();
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
    });

    test('the worklet render of the benchmark project nulls against the native render', async () => {
      const reference = readFloatWav(process.env.STEMROOM_NATIVE_WORKLOAD);
      const page = await openApp(browser, server.url);
      assert.equal(await page.evaluate(() => window.stemroom.memory_mode()), isolation ? 'shared' : 'fallback');
      const rendered = await page.evaluate(async ([tracks, seconds]) => {
        const { channels } = await window.stemroom.render_workload(tracks, seconds, 48000);
        return channels.map((c) => Array.from(c));
      }, [TRACKS, SECONDS]);
      const { maxDiffDb, maxRef, identical } = compare(rendered, reference);
      assert.ok(maxRef > 0.05, `the project is audible (peak ${maxRef})`);
      assert.ok(maxDiffDb < NULL_FLOOR_DB, `difference peaks at ${maxDiffDb.toFixed(1)} dBFS`);
      console.log(`null test (${isolation ? 'shared' : 'fallback'}): ${identical ? 'bit-identical' : `difference ≤ ${maxDiffDb.toFixed(1)} dBFS`}`);
      await page.close();
    });

    if (isolation) {
      test('an offline bounce on the rayon workers nulls against the native render', async () => {
        const reference = readFloatWav(process.env.STEMROOM_NATIVE_WORKLOAD);
        const page = await openApp(browser, server.url);
        assert.ok((await page.evaluate(() => window.stemroomThreads)) >= 1, 'the thread pool is up');
        const rendered = await page.evaluate(async ([tracks, seconds]) => {
          const { channels } = await window.stemroom.bounce_workload(tracks, seconds, 48000);
          return channels.map((c) => Array.from(c));
        }, [TRACKS, SECONDS]);
        const { maxDiffDb, identical } = compare(rendered, reference);
        assert.ok(identical, `difference peaks at ${maxDiffDb.toFixed(1)} dBFS`);
        await page.close();
      });
    }
  });
}
