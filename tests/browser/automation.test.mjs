// Automation drawn with the mouse: a fader lane opened from the track
// header, a four-point fade-out clicked in, a point dragged, a marquee
// selection deleted and undone, the value under the pointer in dB, a
// collaborator seeing the lane — and the engine's render following the
// curve within 0.1 dB at ten checkpoints.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, waitSaved, openApp, keep, sineWav, createProject, rms } from './harness.mjs';

const RATE = 48_000;
const PX_PER_SECOND = 40;
/** The lane's geometry (ui/automation.rs): height, padding, fader range. */
const LANE_H = 56;
const PAD = 6;
const [MIN_DB, MAX_DB] = [-60, 6];

/** The client position of (seconds, dB) on the fader lane's canvas. */
async function lanePoint(page, seconds, db) {
  const box = await page.locator('.automation-lane[data-target="gain"] .automation-canvas').boundingBox();
  const normal = (db - MIN_DB) / (MAX_DB - MIN_DB);
  return { x: box.x + seconds * PX_PER_SECOND, y: box.y + (LANE_H - 1 - PAD) - normal * (LANE_H - 1 - 2 * PAD) };
}

const curveOf = (page) => page.$eval('.automation-lane[data-target="gain"] .automation-canvas', (c) => JSON.parse(c.dataset.curve));

/** The curve's value at `frame`, straight segments (what the test draws). */
function valueAt(points, frame) {
  if (frame <= points[0][0]) return points[0][1];
  for (let i = 0; i + 1 < points.length; i++) {
    const [[f0, v0], [f1, v1]] = [points[i], points[i + 1]];
    if (frame < f1) return v0 + ((v1 - v0) * (frame - f0)) / (f1 - f0);
  }
  return points[points.length - 1][1];
}

describe('automation lanes and write modes', () => {
  const suite = serverAndBrowser({ before, after });

  test('a fade-out drawn with the mouse is what the engine plays', async () => {
    const page = await openApp(suite.browser, suite.server.url);
    await createProject(page, 'Fade');
    const { samples, wav } = sineWav(4);
    await page.setInputFiles('.import-input', { name: 'tone.wav', mimeType: 'audio/wav', buffer: wav });
    await page.waitForSelector('.import-item[data-stage="done"]', { timeout: 15_000 });

    // The fader's lane, from the track header's menu.
    await page.locator('.track .show-automation').selectOption('gain');
    await page.waitForSelector('.automation-lane[data-target="gain"] .automation-canvas[data-points="0"]');

    // Four clicks: a fade-out (Snap is on: the clicks sit on beats, 0.5 s apart at 120 bpm).
    const drawn = [[0.5, 0], [1.5, -6], [2.5, -20], [3.5, -40]];
    for (const [seconds, db] of drawn) {
      const at = await lanePoint(page, seconds, db);
      await page.mouse.click(at.x, at.y);
    }
    await page.waitForSelector('.automation-canvas[data-points="4"]');
    let curve = await curveOf(page);
    assert.deepEqual(curve.map((p) => p[0]), drawn.map(([s]) => s * RATE), 'points on the clicked beats');
    // A pixel of the lane is 66 / 43 ≈ 1.5 dB: a click lands within one.
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(curve[i][1] - drawn[i][1]) < 1.6, `point ${i}: ${curve[i][1]} dB`);

    // The value under the pointer reads in dB.
    const over = await lanePoint(page, 2.0, -10);
    await page.mouse.move(over.x, over.y);
    assert.match(await page.textContent('.lane-value'), /dB$/);

    // Drag the third point up to −12 dB: one step, and it stays on its beat.
    let from = await lanePoint(page, 2.5, curve[2][1]);
    let to = await lanePoint(page, 2.5, -12);
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    for (let i = 1; i <= 6; i++) await page.mouse.move(from.x, from.y + ((to.y - from.y) * i) / 6);
    await page.mouse.up();
    curve = await curveOf(page);
    assert.equal(curve[2][0], 2.5 * RATE);
    assert.ok(Math.abs(curve[2][1] + 12) < 1.6, `dragged to ${curve[2][1]} dB`);

    // A marquee over the last two points, Delete: two left; Ctrl+Z: back.
    from = await lanePoint(page, 2.2, 5);
    to = await lanePoint(page, 3.8, -59);
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move((from.x + to.x) / 2, (from.y + to.y) / 2);
    await page.mouse.move(to.x, to.y);
    await page.mouse.up();
    await page.keyboard.press('Delete');
    await page.waitForSelector('.automation-canvas[data-points="2"]');
    await page.keyboard.press('Control+z');
    await page.waitForSelector('.automation-canvas[data-points="4"]');
    assert.deepEqual(await curveOf(page), curve, 'undo brings both points back as they were');
    await waitSaved(page);

    // A collaborator sees the lane and its points.
    const other = await openApp(suite.browser, page.url());
    await other.waitForSelector('.automation-lane[data-target="gain"] .automation-canvas[data-points="4"]', { timeout: 15_000 });
    await keep(page, 'automation-lane');

    // The render follows the curve: ten checkpoints, 10 ms windows, 0.1 dB.
    const left = await page.evaluate(async () => Array.from((await window.stemroom.render_project(4, 48000)).channels[0]));
    for (let k = 0; k < 10; k++) {
      const centre = Math.round((0.3 + k * 0.35) * RATE);
      const [a, b] = [centre - 240, centre + 240];
      const expected = new Float64Array(b - a);
      for (let t = a; t < b; t++) {
        expected[t - a] = (samples[t] / 32_768) * Math.SQRT1_2 * 10 ** (valueAt(curve, t) / 20);
      }
      const got = 20 * Math.log10(rms(left, a, b));
      const want = 20 * Math.log10(rms(expected));
      assert.ok(Math.abs(got - want) < 0.1, `at ${(centre / RATE).toFixed(2)} s: rendered ${got.toFixed(2)} dB, curve ${want.toFixed(2)} dB`);
    }
    await other.close();
    await page.close();
  });

  test('a Latch pass records the fader ride; a collaborator sees the lane and renders the same curve', async () => {
    const a = await openApp(suite.browser, suite.server.url);
    await createProject(a, 'Ride');
    const { samples, wav } = sineWav(6);
    await a.setInputFiles('.import-input', { name: 'tone.wav', mimeType: 'audio/wav', buffer: wav });
    await a.waitForSelector('.import-item[data-stage="done"]', { timeout: 15_000 });
    await waitSaved(a);
    const b = await openApp(suite.browser, a.url());
    await b.waitForSelector('.clip');

    // Latch on the tone's strip, play, ride the fader: three held values.
    const toneStrip = a.locator('.strip', { has: a.locator('.strip-name', { hasText: /^tone$/ }) });
    await toneStrip.locator('.automation-mode').selectOption('latch');
    await a.click('.transport-play');
    await a.waitForFunction(() => document.querySelector('.engine-state')?.dataset.state === 'running');
    await a.waitForTimeout(300);
    const ride = [-6, -15, -3];
    for (const db of ride) {
      await toneStrip.locator('.fader').fill(String(db));
      await a.waitForTimeout(700);
      assert.equal(await toneStrip.locator('.fader-db').textContent(), `${db.toFixed(1)} dB`, 'the fader shows the ride');
    }
    await a.click('.transport-play');

    // The pass is written when the transport stops: one lane, one undo step.
    await a.waitForSelector('.automation-lane[data-target="gain"] .automation-canvas:not([data-points="0"])', { timeout: 10_000 });
    const curve = await curveOf(a);
    // Each held value is a plateau of the curve (within 0.5 dB) lasting
    // most of its hold, in the order ridden.
    let from = 0;
    for (const db of ride) {
      const held = curve.findIndex((p, i) => i >= from && i + 1 < curve.length
        && Math.abs(p[1] - db) < 0.5 && Math.abs(curve[i + 1][1] - db) < 0.5 && curve[i + 1][0] - p[0] > 0.4 * RATE);
      assert.ok(held >= 0, `a plateau at ${db} dB in ${JSON.stringify(curve)}`);
      from = held + 1;
    }
    assert.ok(curve.length < 20, `thinned to ${curve.length} points`);
    await waitSaved(a);

    // B sees the lane with the same points, and B's render plays them.
    await b.waitForSelector(`.automation-lane[data-target="gain"] .automation-canvas[data-points="${curve.length}"]`, { timeout: 15_000 });
    assert.deepEqual(await curveOf(b), curve);
    const left = await b.evaluate(async () => Array.from((await window.stemroom.render_project(4, 48000)).channels[0]));
    for (let k = 0; k < 10; k++) {
      const centre = Math.round((0.2 + k * 0.37) * RATE);
      const [s, e] = [centre - 240, centre + 240];
      const expected = new Float64Array(e - s);
      for (let t = s; t < e; t++) expected[t - s] = (samples[t] / 32_768) * Math.SQRT1_2 * 10 ** (valueAt(curve, t) / 20);
      const got = 20 * Math.log10(rms(left, s, e));
      const want = 20 * Math.log10(rms(expected));
      assert.ok(Math.abs(got - want) < 0.1, `B at ${(centre / RATE).toFixed(2)} s: ${got.toFixed(2)} dB, curve ${want.toFixed(2)} dB`);
    }
    await keep(a, 'automation-latch');

    // Ctrl+Z takes the whole pass back: its points and the lane it made.
    await a.click('.project-bar');
    await a.keyboard.press('Control+z');
    await a.waitForFunction(() => document.querySelectorAll('.automation-lane').length === 0);
    await a.close();
    await b.close();
  });
});
