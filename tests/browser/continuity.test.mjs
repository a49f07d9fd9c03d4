// Live co-editing never disturbs what plays: A plays, in real time, a
// noise burst ringing out through a long reverb, while B (another browser
// context, another user) rides a fader on another track and drags a clip
// on a third. A's output is tapped in the page — a worklet of the test's on the
// engine node's output, not the app's meters — and the tail keeps its
// energy within 0.5 dB of an undisturbed run. (Before the engine handed
// state from plan to plan, every such edit rebuilt the mix and cut the tail
// within 256 frames.)

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, waitSaved, openApp, keep, createProject, monoWav, installTap } from './harness.mjs';

const RATE = 48_000;

/** A 16-bit mono WAV: `burst` seconds of noise, then silence up to `seconds`. */
function burstWav(seconds, burst, amplitude = 12_000) {
  const samples = new Int16Array(Math.round(seconds * RATE));
  let state = 12345;
  for (let i = 0; i < burst * RATE; i++) {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    samples[i] = Math.round((state / 2_147_483_648 - 0.5) * 2 * amplitude);
  }
  return monoWav(samples, RATE);
}

async function importWav(page, name, wav, count) {
  await page.setInputFiles('.import-input', { name, mimeType: 'audio/wav', buffer: wav });
  await page.waitForFunction((n) => document.querySelectorAll('.import-item[data-stage="done"]').length === n, count, { timeout: 15_000 });
}

const strip = (page, name) => page.locator('.strip', { has: page.locator('.strip-name', { hasText: new RegExp(`^${name}$`) }) });

/** Plays from the start for `seconds` while `during` runs; the tapped left channel. */
async function playAndTap(page, seconds, during = async () => {}) {
  await page.click('.transport-home');
  await page.evaluate(() => { window.__tap.chunks = []; window.__tap.on = true; });
  await page.click('.transport-play');
  await during();
  await page.waitForTimeout(seconds * 1000);
  await page.click('.transport-play');
  return page.evaluate(() => { window.__tap.on = false; return window.__tap.chunks.flat(); });
}

/** Energy in dB of `samples` from `from` to `to` seconds after the burst's onset. */
function tailDb(samples, from, to) {
  const onset = samples.findIndex((v) => Math.abs(v) > 0.01);
  assert.ok(onset >= 0, 'the burst was heard');
  const [a, b] = [onset + from * RATE, onset + to * RATE].map(Math.round);
  assert.ok(b <= samples.length, `the capture is long enough (${samples.length} samples, need ${b})`);
  let sum = 0;
  for (let i = a; i < b; i++) sum += samples[i] * samples[i];
  return 10 * Math.log10(sum / (b - a));
}

describe('edits while the song plays', () => {
  const suite = serverAndBrowser({ before, after });

  test("B's fader ride and clip drag leave A's reverb tail alone", async () => {
    const context = await suite.browser.newContext({ viewport: { width: 1280, height: 720 } });
    await context.addInitScript(installTap);
    const a = await context.newPage();
    a.consoleLog = [];
    a.on('console', (m) => a.consoleLog.push(`[${m.type()}] ${m.text()}`));
    await a.goto(suite.server.url);
    await a.waitForFunction(() => document.documentElement.dataset.ready === 'true', null, { timeout: 30_000 });
    await createProject(a, 'Live');

    // A burst through a long reverb; two silent tracks for B to edit.
    await importWav(a, 'burst.wav', burstWav(0.5, 0.3), 1);
    await strip(a, 'burst').locator('.insert-add').selectOption('Reverb');
    await a.waitForSelector('.device-panel[data-device-kind="reverb"]');
    await a.locator('.param[data-param="decay"] .param-slider').fill('1000');
    await a.locator('.param[data-param="mix"] .param-slider').fill('600');
    await a.click('.device-close');
    await importWav(a, 'ride.wav', burstWav(6, 0), 2);
    await importWav(a, 'moved.wav', burstWav(1, 0), 3);
    await waitSaved(a);

    const b = await openApp(suite.browser, a.url());
    await b.waitForFunction(() => document.querySelectorAll('.clip').length === 3, null, { timeout: 15_000 });
    await waitSaved(b);

    // The tail goes on ringing after Stop, into the next run: a first run
    // gives both measured runs the same history.
    await playAndTap(a, 4.5);
    const undisturbed = await playAndTap(a, 4.5);
    const disturbed = await playAndTap(a, 4.5, async () => {
      // B starts a second in: a fader ride on one track (a move every
      // 50 ms) and a clip dragged along another.
      await a.waitForTimeout(1000);
      const fader = strip(b, 'ride').locator('.fader');
      for (let i = 0; i < 20; i++) {
        await fader.fill(String(-3 - (i % 10)));
        await b.waitForTimeout(50);
      }
      // Tracks in import order: burst, ride, moved.
      const clip = b.locator('.track').nth(2).locator('.clip').first();
      const box = await clip.boundingBox();
      await b.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await b.mouse.down();
      for (let i = 1; i <= 10; i++) await b.mouse.move(box.x + box.width / 2 + i * 8, box.y + box.height / 2);
      await b.mouse.up();
    });

    // B's edits reached A while it played.
    await a.locator('.strip', { has: a.locator('.strip-name', { hasText: /^ride$/ }) }).locator('.fader-db').filter({ hasText: /^-(3|4|5|6|7|8|9|10|11|12)\.0 dB$/ }).waitFor();
    const still = tailDb(undisturbed, 0.6, 3.6);
    const edited = tailDb(disturbed, 0.6, 3.6);
    assert.ok(still > -70, `the reverb tail is audible (${still.toFixed(1)} dB)`);
    assert.ok(Math.abs(edited - still) < 0.5, `tail energy ${edited.toFixed(2)} dB with B's edits vs ${still.toFixed(2)} dB without`);
    await keep(a, 'continuity-a');
    await keep(b, 'continuity-b');
    await context.close();
    await b.close();
  });
});
