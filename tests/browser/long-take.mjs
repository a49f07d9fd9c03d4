// A ten-minute take (issue 15) leaves the page's memory flat: the take
// lives in files and on the server, never whole in the tab. Real time
// cannot be hurried, so `cargo xtask test` runs this file alongside the
// other browser tests rather than after them (it is light: one tab
// capturing a stereo input). STEMROOM_LONG_TAKE_SECONDS shortens it for a
// local try.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, keep, createProject } from './harness.mjs';
import { clips, link, addTrackAndArm, waitUploaded, recordingRig } from './take-helpers.mjs';

const SECONDS = Number(process.env.STEMROOM_LONG_TAKE_SECONDS ?? 600);
const MIB = 1_048_576;

let rig;
let server;
let browser;
before(async () => {
  // The page's whole memory, its workers' included, measured at once.
  rig = await recordingRig(441, 0.5, ['--enable-blink-features=ForceEagerMeasureMemory']);
  ({ server, browser } = rig);
});
after(() => rig?.close());

test(`a ${SECONDS / 60}-minute stereo take leaves the page's JS heap and wasm memory flat`, { timeout: (SECONDS + 300) * 1000 }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await openApp(browser, server.url, { context });
  try {
    await createProject(page, 'Long take');
    await addTrackAndArm(page);
    await page.selectOption('.track-input', '1+2');
    const cdp = await context.newCDPSession(page);
    // The page's V8 heap and its array buffers' backing stores, and the
    // wasm memory, every minute; at the start and the end also everything
    // the browser counts for the page and its workers (the take writer
    // among them), which takes the browser up to a minute to answer.
    const memory = async ({ all = false } = {}) => {
      await cdp.send('HeapProfiler.collectGarbage');
      const usage = await cdp.send('Runtime.getHeapUsage');
      const heap = usage.usedSize + (usage.backingStorageSize ?? 0);
      const wasm = await page.evaluate(() => window.stemroom.wasm_memory_bytes());
      const whole = all ? await page.evaluate(async () => (await performance.measureUserAgentSpecificMemory()).bytes) : null;
      return { heap, wasm, all: whole };
    };
    const recorded = () => page.$eval('.record-bar', (b) => Number(b.dataset.frames) / 48_000);
    await page.click('.transport-record');
    await page.waitForFunction(() => Number(document.querySelector('.record-bar').dataset.frames) > 5 * 48_000, null, { timeout: 30_000 });
    const start = await memory({ all: true });
    const samples = [];
    for (let at = 60; at <= SECONDS; at += 60) {
      await page.waitForFunction((s) => Number(document.querySelector('.record-bar').dataset.frames) > s * 48_000, at, { timeout: (SECONDS + 60) * 1000, polling: 1000 });
      const m = await memory();
      samples.push({ at: await recorded(), ...m });
    }
    const end = await memory({ all: true });
    const length = await recorded();
    const lag = await page.$eval('.record-bar', (b) => Number(b.dataset.made) - Number(b.dataset.sent));
    const dropped = await page.$eval('.record-bar', (b) => Number(b.dataset.dropped));
    await page.click('.transport-stop');
    await waitUploaded(page, 120_000);

    const mib = (b) => (b / MIB).toFixed(1);
    for (const s of samples) console.log(`# ${s.at.toFixed(0)} s: JS heap ${mib(s.heap)} MiB, wasm ${mib(s.wasm)} MiB`);
    const grew = (end.heap - start.heap) + (end.wasm - start.wasm);
    console.log(`# ${length.toFixed(0)} s of stereo 24-bit (${mib(length * 48_000 * 6)} MiB): JS heap ${mib(start.heap)} → ${mib(end.heap)} MiB, wasm ${mib(start.wasm)} → ${mib(end.wasm)} MiB, page and workers ${mib(start.all)} → ${mib(end.all)} MiB; upload ${lag} chunks behind at the end`);
    assert.ok(grew < 20 * MIB, `the page grew ${mib(grew)} MiB`);
    assert.ok(end.all - start.all < 20 * MIB, `the page and its workers grew ${mib(end.all - start.all)} MiB`);
    assert.equal(dropped, 0, 'the audio thread handed over every frame');

    const [clip] = (await clips(page)).filter((c) => c.name.includes('take'));
    // The asset's length from its header (the take itself is 165 MiB).
    const { id, token } = link(page);
    const response = await fetch(new URL(`/api/projects/${id}/assets/${clip.asset}`, server.url), {
      headers: { authorization: `Bearer ${token}`, range: 'bytes=0-4095' },
    });
    assert.equal(response.status, 206);
    const total = Number(response.headers.get('content-range').split('/')[1]);
    const head = Buffer.from(await response.arrayBuffer());
    assert.equal(head.readUInt16LE(22), 2, 'stereo');
    const frames = (total - head.indexOf(Buffer.from('data')) - 8) / 6;
    assert.ok(frames >= SECONDS * 48_000, `${frames} frames`);
    assert.equal(clip.offset + clip.length, frames, 'the clip plays the whole take');
    // Once uploaded, the browser's copy is gone: storage does not grow either.
    const left = await page.evaluate(async () => {
      const root = await (await navigator.storage.getDirectory()).getDirectoryHandle('stemroom-takes', { create: true });
      const names = [];
      for await (const name of root.keys()) names.push(name);
      return names;
    });
    assert.deepEqual(left, [], 'no take left in the browser');
  } catch (e) {
    await keep(page, 'long-take');
    throw e;
  } finally {
    await context.close();
  }
});
