// Pieces the recording tests share (takes.test.mjs, long-take.mjs).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, launchBrowser, fakeCaptureSine } from './harness.mjs';

/**
 * The real server, and Chromium whose fake capture device plays a
 * seamless sine of `hz` (permission granted without a prompt).
 */
export async function recordingRig(hz, amplitude, args = []) {
  const dir = mkdtempSync(path.join(tmpdir(), 'stemroom-takes-'));
  const server = await startServer();
  const browser = await launchBrowser({
    args: [
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-audio-capture=${fakeCaptureSine(dir, hz, amplitude)}`,
      ...args,
    ],
  });
  return {
    server,
    browser,
    async close() {
      await browser.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The page's project clips (as its document reads). */
export async function clips(page) {
  return JSON.parse(await page.evaluate(() => window.stemroom.project_clips()));
}

export function link(page) {
  const [, id, token] = page.url().match(/\/p\/([^/#]+)#(.+)$/);
  return { id, token };
}

export async function addTrackAndArm(page) {
  await page.click('.add-track');
  await page.click('.track:last-child .track-arm');
  await page.waitForSelector('.input-toggle[data-input="open"]', { timeout: 20_000 });
}

/** Waits until every recorded clip has its asset (the uploads finished). */
export async function waitUploaded(page, timeout = 30_000) {
  await page.waitForFunction(() => {
    const c = JSON.parse(window.stemroom.project_clips());
    return c.some((c) => c.name.includes('take')) && c.every((c) => c.asset !== '')
      && document.querySelector('.record-bar').dataset.uploading === '0';
  }, null, { timeout });
}

