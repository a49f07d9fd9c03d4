// Firefox: the same app in Debian's Firefox ESR, driven over WebDriver
// BiDi (puppeteer-core) — the page boots cross-origin isolated on the
// threaded build, a project is created from the start page, a WAV is
// imported, and the engine's render of the document in Firefox's
// AudioWorklet equals the expected audio.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { startServer, sineWav, artifacts } from './harness.mjs';

const firefox = process.env.STEMROOM_FIREFOX;
if (!firefox) throw new Error('STEMROOM_FIREFOX is not set: run the browser tests through `cargo xtask test`');

describe('Firefox', () => {
  let server;
  let browser;
  before(async () => {
    server = await startServer();
    browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: firefox,
      headless: true,
      extraPrefsFirefox: { 'media.autoplay.default': 0 },
    });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('boots isolated, creates a project, imports a WAV and renders it exactly', async () => {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 720 });
    const log = [];
    page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
    await page.goto(server.url);
    await page.waitForFunction(() => document.documentElement.dataset.ready !== 'false', { timeout: 60_000 });
    const boot = await page.evaluate(() => ({
      ready: document.documentElement.dataset.ready,
      isolated: globalThis.crossOriginIsolated,
      mode: window.stemroom?.memory_mode(),
    }));
    assert.deepEqual(boot, { ready: 'true', isolated: true, mode: 'shared' }, log.join('\n'));

    await page.type('.start-name', 'Foxed');
    await page.click('.start-create');
    await page.waitForFunction(() => document.querySelector('.save-state')?.dataset.state === 'saved', { timeout: 30_000 });

    const { samples, wav } = sineWav(1);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'stemroom-ff-')), 'tone.wav');
    writeFileSync(file, wav);
    const input = await page.$('.import-input');
    await input.uploadFile(file);
    await page.waitForSelector('.import-item[data-stage="done"]', { timeout: 30_000 });
    await page.waitForSelector('.clip');
    await page.screenshot({ path: path.join(artifacts, 'firefox-arrange.png') });

    const channels = await page.evaluate(async () => {
      const r = await window.stemroom.render_project(1.5, 48000);
      return r.channels.map((c) => Array.from(c));
    });
    // The tone from 0 s, a centred mono track at −3 dB (constant power).
    let worst = 0;
    for (let t = 0; t < 72_000; t++) {
      const expected = t < 48_000 ? (samples[t] / 32_768) * Math.SQRT1_2 : 0;
      for (const channel of channels) worst = Math.max(worst, Math.abs(channel[t] - expected));
    }
    assert.ok(worst < 1e-5, `largest deviation from the expected audio in Firefox: ${worst}\n${log.join('\n')}`);
    await page.close();
  });
});
