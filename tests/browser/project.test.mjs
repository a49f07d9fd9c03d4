// Two people on one project in two browser contexts, against the real
// server: create from the start page, presence, edits both ways, audio
// import (and a file that is not audio), per-user undo, and edits made
// while the server is down merging when it is back.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openApp, keep, sineWav, createProject } from './harness.mjs';

const saveState = (page) => page.getAttribute('.save-state', 'data-state');

async function waitSaved(page) {
  await page.waitForFunction(() => document.querySelector('.save-state')?.dataset.state === 'saved', null, { timeout: 15_000 });
}

const trackNames = (page) => page.$$eval('.track .track-name', (inputs) => inputs.map((i) => i.value));

describe('a project shared by two browser contexts', () => {
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

  test('create, share, edit both ways, import, undo your own edits, and merge offline edits', async () => {
    // A creates the project from the start page.
    const a = await openApp(browser, server.url);
    await createProject(a, 'Night Drive');
    assert.equal(await a.inputValue('.project-name'), 'Night Drive');
    assert.equal(await a.textContent('.role-badge'), 'owner');
    const url = a.url();

    // B opens the same link in another context (another user).
    const b = await openApp(browser, url);
    await waitSaved(b);
    assert.equal(await b.inputValue('.project-name'), 'Night Drive');
    // Each sees the other in the presence list.
    await a.waitForFunction(() => document.querySelectorAll('.presence .peer').length === 1);
    await b.waitForFunction(() => document.querySelectorAll('.presence .peer').length === 1);
    // B names themself; A's list shows it at once. An empty name is refused.
    await b.fill('.my-name', 'Mara (mix)');
    await b.press('.my-name', 'Enter');
    await a.waitForFunction(() => [...document.querySelectorAll('.presence .peer')].map((p) => p.querySelector('.peer-name').textContent).join() === 'Mara (mix)');
    await b.fill('.my-name', '  ');
    await b.press('.my-name', 'Enter');
    assert.equal(await b.inputValue('.my-name'), 'Mara (mix)');
    assert.equal(await b.evaluate(() => localStorage.getItem('stemroom.name')), 'Mara (mix)');

    // A adds a track; B sees it and renames it; A sees the name.
    await a.click('.add-track');
    await b.waitForSelector('.track');
    await b.fill('.track .track-name', 'Drums');
    await b.press('.track .track-name', 'Tab');
    await a.waitForFunction(() => document.querySelector('.track .track-name')?.value === 'Drums');
    await waitSaved(b);

    // A imports a WAV: progress, a new track with the clip, in both views.
    const { samples, wav } = sineWav(2);
    await a.setInputFiles('.import-input', { name: 'bass.wav', mimeType: 'audio/wav', buffer: wav });
    await a.waitForSelector('.import-item[data-stage="done"]', { timeout: 15_000 });
    await b.waitForFunction(() => document.querySelectorAll('.clip').length === 1);
    // B's waveform appears once B's tab has fetched and decoded the audio
    // (B has not started its audio engine).
    await b.waitForSelector('.lane-canvas[data-waveforms="1"]', { timeout: 15_000 });
    assert.equal(await b.getAttribute('.engine-state', 'data-state'), 'idle');
    assert.deepEqual(await trackNames(b), ['Drums', 'bass']);
    // Two seconds at 40 px/s.
    const width = await b.$eval('.clip', (c) => c.getBoundingClientRect().width);
    assert.ok(Math.abs(width - 80) < 1.5, `clip width ${width}`);
    // And B hears it: B's engine renders A's import (fetched and decoded in
    // B's tab) as the tone on a centred mono track (−3 dB), then silence.
    const rendered = await b.evaluate(async () => {
      const r = await window.stemroom.render_project(3, 48000);
      return r.channels.map((c) => Array.from(c));
    });
    let worst = 0;
    for (let t = 0; t < 3 * 48_000; t++) {
      const source = t < samples.length ? samples[t] / 32_768 : 0;
      for (const channel of rendered) worst = Math.max(worst, Math.abs(channel[t] - source * Math.SQRT1_2));
    }
    assert.ok(worst < 1e-5, `B's render deviates from A's import by ${worst}`);

    // A pulls the bass fader to −12 dB: B's mixer shows it, B's audio follows.
    await a.locator('.strip', { has: a.locator('.strip-name', { hasText: /^bass$/ }) }).locator('.fader').fill('-12');
    const bassDb = b.locator('.strip', { has: b.locator('.strip-name', { hasText: /^bass$/ }) }).locator('.fader-db');
    await bassDb.filter({ hasText: '-12.0 dB' }).waitFor();
    const quieter = await b.evaluate(async () => {
      const r = await window.stemroom.render_project(1, 48000);
      return Array.from(r.channels[0]);
    });
    const gain = 10 ** (-12 / 20) * Math.SQRT1_2;
    worst = 0;
    for (let t = 0; t < 48_000; t++) {
      const source = samples[t] / 32_768;
      worst = Math.max(worst, Math.abs(quieter[t] - source * gain));
    }
    assert.ok(worst < 1e-5, `B's render after A's fader move deviates by ${worst}`);
    await keep(b, 'project-mixer');

    // A file that is not audio: a clear message, and nothing changes.
    await a.setInputFiles('.import-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not audio at all') });
    await a.waitForSelector('.import-item[data-stage="failed"]');
    assert.match(await a.textContent('.import-item[data-stage="failed"] .import-stage'), /not an audio file/);
    assert.deepEqual(await trackNames(a), ['Drums', 'bass']);

    // Per-user undo: A mutes Drums, B renames bass; A's Ctrl+Z takes back
    // only A's mute.
    await a.click('.track:nth-child(1) .track-mute');
    await b.waitForSelector('.track:nth-child(1) .track-mute.active');
    await b.fill('.track:nth-child(2) .track-name', 'Bass DI');
    await b.press('.track:nth-child(2) .track-name', 'Tab');
    await a.waitForFunction(() => document.querySelectorAll('.track .track-name')[1]?.value === 'Bass DI');
    await a.click('.project-bar'); // focus away from inputs
    await a.keyboard.press('Control+z');
    await b.waitForFunction(() => !document.querySelector('.track:nth-child(1) .track-mute').classList.contains('active'));
    assert.deepEqual(await trackNames(b), ['Drums', 'Bass DI'], "B's rename stays");
    await keep(a, 'project-two-users-a');
    await keep(b, 'project-two-users-b');

    // The server goes down: both show it, A keeps editing.
    await server.kill();
    await a.waitForFunction(() => document.querySelector('.save-state').dataset.state === 'offline');
    await a.click('.add-track');
    assert.equal(await saveState(a), 'offline');
    assert.match(await a.textContent('.save-state'), /changes kept/);
    await server.restart();
    await waitSaved(a);
    await b.waitForFunction(() => document.querySelectorAll('.track').length === 3, null, { timeout: 15_000 });
    await waitSaved(b);
    await keep(b, 'project-after-reconnect');
    await a.close();
    await b.close();
  });
});
