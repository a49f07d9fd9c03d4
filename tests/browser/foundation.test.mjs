// The walking skeleton in a real browser: the real server, the app, the
// engine in an AudioWorklet on shared memory, and the fallback without it.

import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createProject, frequency, keep, launchBrowser, openApp, rms, sineWav, siteDirectory, startServer } from './harness.mjs';

const TONE_HZ = 440;
const TONE_RMS = 0.5 / Math.SQRT2; // the engine's test tone: a 0.5-amplitude sine
const TONE_PEAK_DB = 20 * Math.log10(0.5);
const TONE_RMS_DB = 20 * Math.log10(TONE_RMS);

/** Renders the test tone through the worklet in an OfflineAudioContext. */
async function renderOffline(page, seconds, sampleRate) {
  return page.evaluate(async ([s, sr]) => {
    const { channels } = await window.stemroom.render_test_tone(s, sr);
    return channels.map((c) => Array.from(c));
  }, [seconds, sampleRate]);
}

function assertTestTone(channels, sampleRate, seconds) {
  const [left, right] = channels;
  assert.equal(left.length, Math.round(seconds * sampleRate));
  assert.deepEqual(left, right, 'the test tone is identical in both channels');
  assert.equal(left[0], 0, 'the tone starts at phase zero on the first frame');
  assert.ok(Math.abs(rms(left) - TONE_RMS) < 1e-3, `RMS ${rms(left)}, expected ${TONE_RMS}`);
  const f = frequency(left, sampleRate);
  assert.ok(Math.abs(f - TONE_HZ) < 1e-3 * TONE_HZ, `frequency ${f} Hz`);
}

/** Presses Play and waits for the page's meter (fed by the engine) to read the tone. */
async function playAndReadMeter(page) {
  await page.click('.transport-play');
  await page.waitForFunction(
    ([peak, rmsDb]) => {
      const m = document.querySelector('.meter');
      return Math.abs(Number(m.dataset.peakDb) - peak) < 0.5 && Math.abs(Number(m.dataset.rmsDb) - rmsDb) < 0.5;
    },
    [TONE_PEAK_DB, TONE_RMS_DB],
    { timeout: 15_000 },
  );
  return page.evaluate(() => {
    const m = document.querySelector('.meter');
    return { peak: Number(m.dataset.peakDb), rms: Number(m.dataset.rmsDb) };
  });
}

/**
 * Imports a 3 s sine into a new project, clicks the ruler at 1 s and
 * presses Play, which starts the engine: the song plays from the cursor,
 * and its first sound is the song — the engine's test tone (−6 dBFS) never
 * reaches the master's true-peak hold. The strip meters read the sine.
 */
async function firstPlayOfAProject(page, artifact) {
  await createProject(page, 'First play');
  const { wav } = sineWav(3);
  await page.setInputFiles('.import-input', { name: 'tone.wav', mimeType: 'audio/wav', buffer: wav });
  await page.waitForSelector('.import-item[data-stage="done"]', { timeout: 30_000 });
  assert.equal(await page.getAttribute('.engine-state', 'data-state'), 'idle');
  const ruler = await page.$eval('.ruler-lane', (r) => {
    const b = r.getBoundingClientRect();
    return { left: b.left, top: b.top };
  });
  await page.mouse.click(ruler.left + 40, ruler.top + 30); // 40 px per second
  await page.waitForFunction(() => document.querySelector('.transport-time').textContent === '0:01.000');
  await page.click('.transport-play');
  // A 16 000 / 32 768 sine: the track strip reads it post-fader, before
  // pan; the master after the mono track's −3 dB centre pan.
  const trackDb = 20 * Math.log10(16_000 / 32_768);
  const masterDb = trackDb + 20 * Math.log10(Math.SQRT1_2);
  const near = ([selector, db]) => Math.abs(Number(document.querySelector(selector)?.dataset.peakDb) - db) < 0.2;
  await page.waitForFunction(near, ['.strip:not(.master):not(.bus) .strip-meter', trackDb], { timeout: 20_000 });
  await page.waitForFunction(near, ['.strip.master .strip-meter', masterDb], { timeout: 5_000 });
  const [time, truePeak] = await page.evaluate(() => [
    document.querySelector('.transport-time').textContent,
    Number(document.querySelector('.loudness-true-peak').textContent),
  ]);
  const [m, sec] = time.split(':').map(Number);
  assert.ok(m * 60 + sec >= 1 && m * 60 + sec < 3, `playing from the cursor at 1 s: ${time}`);
  assert.ok(truePeak < masterDb + 0.5, `true peak ${truePeak} dBTP: something louder than the song (${masterDb.toFixed(2)} dB) played`);
  await keep(page, artifact);
  await page.close();
}

describe('cross-origin isolated page (shared memory)', () => {
  let server;
  let browser;
  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    assert.equal(await server?.stop(), 0, 'the server shuts down cleanly on SIGTERM');
  });

  test('the server sends isolation headers, MIME types and compression', async () => {
    const index = await fetch(server.url);
    assert.equal(index.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(index.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.equal(index.headers.get('cross-origin-resource-policy'), 'same-origin');
    const html = await index.text();
    const pkg = html.match(/\/pkg\/[0-9a-f]{16}\//)[0];
    const wasm = await fetch(new URL(`${pkg}stemroom_app_bg.wasm`, server.url), { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    assert.equal(wasm.headers.get('content-encoding'), 'gzip');
    assert.match(wasm.headers.get('cache-control'), /immutable/);
    const js = await fetch(new URL(`${pkg}worklet-shared.js`, server.url));
    assert.equal(js.headers.get('content-type'), 'text/javascript');
    const health = await (await fetch(new URL('/healthz', server.url))).json();
    assert.equal(health.status, 'ok');
  });

  test('the page is cross-origin isolated and runs the threaded build with its thread pool', async () => {
    const page = await openApp(browser, server.url);
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    assert.equal(await page.evaluate(() => window.stemroom.memory_mode()), 'shared');
    const threads = await page.evaluate(() => window.stemroomThreads);
    assert.ok(threads >= 1, `thread pool started with ${threads} workers`);
    assert.equal(await page.getAttribute('.engine-mode', 'data-mode'), 'shared');
    await page.close();
  });

  test('every tab gets its own document client id (random in wasm)', async () => {
    const ids = new Set();
    for (let tab = 0; tab < 3; tab++) {
      const page = await openApp(browser, server.url);
      ids.add(await page.evaluate(() => window.stemroom.new_document_client_id()));
      ids.add(await page.evaluate(() => window.stemroom.new_document_client_id()));
      await page.close();
    }
    assert.equal(ids.size, 6, `client ids: ${[...ids].join(', ')}`);
  });

  test('the worklet engine renders the test tone exactly in an OfflineAudioContext', async () => {
    const page = await openApp(browser, server.url);
    for (const sampleRate of [48_000, 44_100]) {
      assertTestTone(await renderOffline(page, 1, sampleRate), sampleRate, 1);
    }
    await page.close();
  });

  test('Play in a real-time AudioContext shows the tone on the engine-fed meter', async () => {
    const page = await openApp(browser, server.url);
    const reading = await playAndReadMeter(page);
    assert.ok(Math.abs(reading.rms - TONE_RMS_DB) < 0.5, JSON.stringify(reading));
    assert.equal(await page.getAttribute('.engine-state', 'data-state'), 'running');
    await keep(page, 'foundation-shared-playing');
    // Space stops playback (a DAW's transport key); the meter falls.
    await page.keyboard.press('Space');
    await page.waitForFunction(() => Number(document.querySelector('.meter').dataset.rmsDb) < -60, null, { timeout: 5_000 });
    await page.close();
  });

  test('a project: the first Play starts the song at the cursor, never the test tone', async () => {
    await firstPlayOfAProject(await openApp(browser, server.url), 'foundation-shared-project');
  });

  test('a worklet that fails to load is reported on the page', async () => {
    // A real server with a copy of the app whose worklet entry throws on load:
    // addModule() still resolves, so only the app's own checks can tell.
    const broken = mkdtempSync(path.join(tmpdir(), 'stemroom-broken-site-'));
    cpSync(siteDirectory(), broken, { recursive: true });
    const pkg = path.join(broken, 'pkg', readdirSync(path.join(broken, 'pkg'))[0]);
    writeFileSync(path.join(pkg, 'worklet-shared.js'), "throw new Error('worklet boom');\n");
    // The server prefers the build's gzip of a file; this one no longer matches.
    rmSync(path.join(pkg, 'worklet-shared.js.gz'));
    const brokenServer = await startServer({ siteDir: broken });
    try {
      const page = await openApp(browser, brokenServer.url);
      await page.click('.transport-play');
      const alert = page.locator('.error[role=alert]');
      await alert.waitFor({ timeout: 10_000 });
      assert.match(await alert.textContent(), /audio engine did not start in the worklet/);
      assert.equal(await page.getAttribute('.engine-state', 'data-state'), 'failed');
      await keep(page, 'foundation-worklet-error');
      await page.close();
    } finally {
      await brokenServer.stop();
      rmSync(broken, { recursive: true, force: true });
    }
  });
});

describe('page without cross-origin isolation (fallback engine)', () => {
  let server;
  let browser;
  before(async () => {
    server = await startServer({ isolation: false });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the fallback renders and plays the same test tone', async () => {
    const page = await openApp(browser, server.url);
    assert.equal(await page.evaluate(() => crossOriginIsolated), false);
    assert.equal(await page.evaluate(() => window.stemroom.memory_mode()), 'fallback');
    assert.equal(await page.getAttribute('.engine-mode', 'data-mode'), 'fallback');
    assertTestTone(await renderOffline(page, 1, 48_000), 48_000, 1);
    const reading = await playAndReadMeter(page);
    assert.ok(Math.abs(reading.peak - TONE_PEAK_DB) < 0.5, JSON.stringify(reading));
    await keep(page, 'foundation-fallback-playing');
    await page.close();
  });

  test('a project: the first Play starts the song at the cursor; strip meters through the port', async () => {
    await firstPlayOfAProject(await openApp(browser, server.url), 'foundation-fallback-project');
  });
});
