// Editing clips with the mouse and keys — move, split, trim, fade — and the
// engine's offline render of the document matching the expected audio
// sample by sample.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openApp, keep, sineWav, createProject } from './harness.mjs';

const RATE = 48_000;
const PX_PER_SECOND = 40;

async function drag(page, x, y, dx) {
  await page.mouse.move(x, y);
  await page.mouse.down();
  for (let step = 1; step <= 4; step++) await page.mouse.move(x + (dx * step) / 4, y);
  await page.mouse.up();
}

/** Clip boxes on the track named `name`, left to right. */
async function clips(page, name) {
  const boxes = await page.$$eval('.track', (tracks, n) => {
    const track = tracks.find((t) => t.querySelector('.track-name').value === n);
    return [...track.querySelectorAll('.clip')].map((c) => {
      const r = c.getBoundingClientRect();
      return { x: r.left, y: r.top + r.height / 2, width: r.width, right: r.right };
    });
  }, name);
  return boxes.sort((a, b) => a.x - b.x);
}

describe('arranging clips', () => {
  let server;
  let browser;
  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('move, split, trim and fade a clip; the render matches the expected audio exactly', async () => {
    const page = await openApp(browser, server.url);
    await createProject(page, 'Edit');
    const { samples, wav } = sineWav(2);
    await page.setInputFiles('.import-input', { name: 'tone.wav', mimeType: 'audio/wav', buffer: wav });
    await page.waitForSelector('.import-item[data-stage="done"]', { timeout: 15_000 });
    await page.click('.add-track'); // an empty lane to place the cursor on

    // Move: 40 px right = 1 s, snapped to the beat grid (120 bpm).
    let [clip] = await clips(page, 'tone');
    const lane0 = clip.x;
    await drag(page, clip.x + clip.width / 2, clip.y, 41);
    [clip] = await clips(page, 'tone');
    assert.ok(Math.abs(clip.x - (lane0 + 40)) < 1, `moved to ${clip.x - lane0}px`);

    // Cursor at 2 s (on the empty track), select the clip, S splits there.
    const emptyLane = await page.$eval('.track:last-child .track-lane', (l) => {
      const r = l.getBoundingClientRect();
      return { x: r.left, y: r.top + r.height / 2 };
    });
    await page.mouse.click(emptyLane.x + 2 * PX_PER_SECOND + 3, emptyLane.y);
    await page.mouse.click(clip.x + clip.width / 2, clip.y);
    await page.keyboard.press('s');
    await page.waitForFunction(() => document.querySelectorAll('.clip').length === 2);
    let [left, right] = await clips(page, 'tone');
    assert.ok(Math.abs(left.width - 40) < 1 && Math.abs(right.width - 40) < 1, JSON.stringify([left, right]));

    // Trim the left part's start by half a second.
    await drag(page, left.x + 2, left.y, 20);
    // Fade out the right part over its last half second.
    const fade = await page.$$eval('.clip-fade-out', (handles) => handles.map((h) => {
      const r = h.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    }).sort((a, b) => b.x - a.x)[0]);
    await drag(page, fade.x, fade.y, -20);
    [left, right] = await clips(page, 'tone');
    assert.ok(Math.abs(left.x - (lane0 + 60)) < 1 && Math.abs(left.width - 20) < 1, JSON.stringify(left));
    await page.waitForFunction(() => document.querySelector('.save-state').dataset.state === 'saved');
    await keep(page, 'arrange-edited');

    const { channels } = await page.evaluate(async () => {
      const r = await window.stemroom.render_project(4, 48000);
      return { channels: r.channels.map((c) => Array.from(c)) };
    });
    // Expected: the tone from 1.5 s to 3 s (source frames 24 000–120 000 at
    // timeline 72 000–144 000), the last 24 000 frames fading linearly, a
    // centred mono track at −3 dB (constant power), silence elsewhere.
    const pan = Math.SQRT1_2;
    let worst = 0;
    for (let t = 0; t < 4 * RATE; t++) {
      let expected = 0;
      if (t >= 72_000 && t < 144_000) {
        expected = (samples[t - 48_000] / 32_768) * pan;
        const remaining = 144_000 - t;
        if (remaining <= 24_000) expected *= (remaining - 1) / 24_000;
      }
      for (const channel of channels) worst = Math.max(worst, Math.abs(channel[t] - expected));
    }
    assert.ok(worst < 1e-5, `largest deviation from the expected audio: ${worst}`);
    // Undo takes back the fade, then the trim.
    await page.click('.project-bar');
    await page.keyboard.press('Control+z');
    await page.keyboard.press('Control+z');
    [left] = await clips(page, 'tone');
    assert.ok(Math.abs(left.x - (lane0 + 40)) < 1, `trim undone: ${left.x - lane0}`);

    // Shortcuts: ? lists them; → nudges the selected clip a beat; M mutes
    // its track.
    await page.keyboard.press('Shift+Slash');
    await page.waitForSelector('.shortcuts');
    assert.match(await page.textContent('.shortcuts'), /Split the selected clip/);
    await keep(page, 'arrange-shortcuts');
    await page.keyboard.press('Escape');
    await page.waitForSelector('.shortcuts', { state: 'detached' });
    await page.mouse.click(left.x + left.width / 2, left.y);
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction((x) => {
      const boxes = [...document.querySelectorAll('.clip')].map((c) => c.getBoundingClientRect().left);
      return boxes.some((b) => Math.abs(b - x) < 1);
    }, left.x + 20);
    await page.keyboard.press('m');
    await page.waitForFunction(() => [...document.querySelectorAll('.track')]
      .find((t) => t.querySelector('.track-name').value === 'tone')
      ?.querySelector('.track-mute').classList.contains('active'));
    await page.close();
  });
});
