// Export in the browser against the real server: a loud mix bounced to
// −14 LUFS / −1 dBTP through the dialog on the worker pool, downloaded,
// (a clip whose audio is missing plays silent and is reported),
// and measured by `stemroom measure` (the engine's EBU-conformance-tested
// meter); the report shown is the file's; Cancel writes nothing; and
// `stemroom render` of the same stored project, run beside the server,
// gives the same bytes. The loudness target is the project's; the
// streaming preview puts a platform's gain on this listener's output.
// Stems and the mix at 44.1 kHz stream into a picked folder (the File
// System Access API; the origin-private file system stands in for the
// folder a person would pick) and equal `stemroom render --stems`, byte
// for byte; a cancelled export leaves nothing in the folder.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { serverAndBrowser, openApp, keep, createProject, importTone, waitSaved } from './harness.mjs';

const strip = (page, name) => page.locator('.strip', { has: page.locator('.strip-name', { hasText: new RegExp(`^${name}$`) }) });
const stemroom = (...args) => execFileSync(process.env.STEMROOM_BIN, args, { encoding: 'utf8' });

describe('export', () => {
  const suite = serverAndBrowser({ before, after });

  test('a loud mix exported at −14 LUFS / −1 dBTP; Cancel writes nothing; the server renders the same file', async () => {
    const { server, browser } = suite;
    const dir = mkdtempSync(path.join(tmpdir(), 'stemroom-export-'));
    const a = await openApp(browser, server.url);
    // No pickers at first: the files download.
    const noPickers = () => { window.showSaveFilePicker = undefined; window.showDirectoryPicker = undefined; };
    await a.addInitScript(noPickers);
    await a.evaluate(noPickers);
    try {
      await createProject(a, 'Deliver me');
      await importTone(a, 6);
      await strip(a, 'tone').locator('.fader').fill('6');
      await waitSaved(a);

      await a.click('.export-toggle');
      await a.selectOption('.export-format', 'wav16');
      await a.selectOption('.export-loudness', 'streaming');
      const [download] = await Promise.all([
        a.waitForEvent('download', { timeout: 60_000 }),
        a.click('.export-start'),
      ]);
      assert.equal(download.suggestedFilename(), 'Deliver me - mix.wav');
      const browserFile = path.join(dir, 'browser.wav');
      await download.saveAs(browserFile);
      const [measured] = JSON.parse(stemroom('measure', '--json', browserFile));
      assert.equal(measured.sample_rate, 48_000);
      assert.equal(measured.duration_seconds, 9, 'the song and 3 s of tails');
      assert.ok(Math.abs(measured.integrated_lufs + 14) <= 0.3, `${measured.integrated_lufs} LUFS`);
      assert.ok(measured.true_peak_dbtp <= -1.0, `${measured.true_peak_dbtp} dBTP`);
      // The dialog's report is the file's.
      const shown = a.locator('.export-report');
      assert.ok(Math.abs(Number(await shown.getAttribute('data-integrated')) - measured.integrated_lufs) < 0.01);
      assert.match(await shown.textContent(), /Spotify will (play this as it is|turn this (down|up) \d+\.\d dB)/);

      // Cancel at once (in the same task as Export, so before the job can
      // finish whatever the machine's speed): an error line, no file.
      let downloads = 0;
      a.on('download', () => { downloads += 1; });
      await a.evaluate(() => {
        document.querySelector('.export-start').click();
        document.querySelector('.export-cancel').click();
      });
      await a.locator('.export-error', { hasText: 'Cancelled: nothing was written.' }).waitFor({ timeout: 30_000 });
      await a.waitForTimeout(500);
      assert.equal(downloads, 0, 'a cancelled export downloads nothing');

      // The server renders the stored project to the same bytes.
      const id = a.url().match(/\/p\/([^/#]+)/)[1];
      const serverFile = path.join(dir, 'server.wav');
      stemroom('render', '--data-dir', server.dataDir, id, '--out', serverFile, '--format', 'wav16', '--target-lufs', '-14', '--ceiling-dbtp', '-1');
      const [fromBrowser, fromServer] = [readFileSync(browserFile), readFileSync(serverFile)];
      assert.equal(fromServer.length, fromBrowser.length);
      let differ = 0;
      for (let i = 0; i < fromServer.length; i++) if (fromServer[i] !== fromBrowser[i]) differ += 1;
      assert.equal(differ, 0, `${differ} of ${fromServer.length} bytes differ between the browser's file and the server's`);

      // A clip whose audio cannot be had (never uploaded) plays silent,
      // and the report says so: the file is still written.
      await a.evaluate(() => window.stemroom.add_arrangement(1, 1, 'ab'.repeat(32), 48_000));
      await waitSaved(a);
      const [withMissing] = await Promise.all([
        a.waitForEvent('download', { timeout: 60_000 }),
        a.click('.export-start'),
      ]);
      const missingFile = path.join(dir, 'missing.wav');
      await withMissing.saveAs(missingFile);
      assert.match(await a.textContent('.export-missing'), /Audio abababababab… could not be had: 1 clip silent/);
      const [again] = JSON.parse(stemroom('measure', '--json', missingFile));
      assert.ok(Math.abs(again.integrated_lufs + 14) <= 0.3, 'the rest is exported as before');

      // The team's loudness target lives in the project: set on the
      // master, the next export starts from it, and a second page has it.
      await a.click('.export-close');
      await a.selectOption('.loudness-target', 'apple');
      await waitSaved(a);
      await a.click('.export-toggle');
      assert.equal(await a.inputValue('.export-loudness'), 'apple');
      await a.click('.export-close');
      const b = await openApp(browser, a.url());
      await b.waitForFunction(() => document.querySelector('.loudness-target')?.value === 'apple', null, { timeout: 15_000 });
      await b.close();

      // Preview as streamed: playing, the gap to the target shows, and
      // Spotify's gain goes on this listener's output, after the meters.
      await a.click('.transport-play');
      await a.waitForFunction(() => /^S [+-]\d+\.\d · I [+-]\d+\.\d LU$/.test(document.querySelector('.target-gap')?.textContent ?? ''), null, { timeout: 20_000 });
      await a.selectOption('.stream-preview', 'Spotify');
      await a.waitForFunction(() => /dB$/.test(document.querySelector('.preview-gain')?.textContent ?? ''), null, { timeout: 10_000 });
      await a.waitForTimeout(500);
      const shownDb = Number((await a.textContent('.preview-gain')).replace(' dB', ''));
      assert.ok(shownDb < -1, `a loud mix is turned down (${shownDb} dB)`);
      const applied = await a.evaluate(() => window.stemroom.listening_gain());
      assert.ok(Math.abs(20 * Math.log10(applied) - shownDb) < 0.15, `applied ${20 * Math.log10(applied)} dB, shown ${shownDb} dB`);
      await a.selectOption('.stream-preview', 'off');
      await a.waitForFunction(() => Math.abs(window.stemroom.listening_gain() - 1) < 0.01, null, { timeout: 5_000 });
      await a.click('.transport-play');

      // Stems and the mix in one pass at 44.1 kHz, streamed into a folder.
      const pickFolder = (name) => a.evaluate((name) => {
        window.showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle(name, { create: true });
      }, name);
      const folder = (name) => a.evaluate(async (name) => {
        const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(name, { create: true });
        const files = {};
        for await (const [file, handle] of dir.entries()) {
          const bytes = new Uint8Array(await (await handle.getFile()).arrayBuffer());
          let text = '';
          for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
          files[file] = btoa(text);
        }
        return files;
      }, name);
      await pickFolder('picked');
      await a.click('.export-toggle');
      await a.selectOption('.export-what', 'both');
      await a.selectOption('.export-format', 'wav16');
      await a.selectOption('.export-rate', '44100');
      await a.selectOption('.export-loudness', 'streaming');
      await a.click('.export-start');
      await a.locator('.export-report[data-stems="2"]').waitFor({ timeout: 60_000 });
      assert.match(await a.textContent('.export-place'), /Saved in the folder “picked”/);
      const picked = await folder('picked');
      const stemsDir = path.join(dir, 'stems');
      stemroom('render', '--data-dir', server.dataDir, id, '--out', path.join(stemsDir, 'Deliver me - mix.wav'), '--stems', stemsDir,
        '--format', 'wav16', '--rate', '44100', '--target-lufs', '-14', '--ceiling-dbtp', '-1');
      const rendered = readdirSync(stemsDir).sort();
      assert.deepEqual(Object.keys(picked).sort(), rendered, 'the same files, named after the project and each stem');
      assert.ok(rendered.includes('Deliver me - 01 tone.wav'), rendered.join(', '));
      const differing = rendered.filter((name) => {
        const [fromBrowser, fromServer] = [Buffer.from(picked[name], 'base64'), readFileSync(path.join(stemsDir, name))];
        assert.ok(fromServer.length > 44, name);
        return !fromBrowser.equals(fromServer);
      });
      assert.deepEqual(differing, [], "the browser's files and the server's are the same bytes");
      const [mix44] = JSON.parse(stemroom('measure', '--json', path.join(stemsDir, 'Deliver me - mix.wav')));
      assert.equal(mix44.sample_rate, 44_100);
      assert.ok(Math.abs(mix44.integrated_lufs + 14) <= 0.3, `${mix44.integrated_lufs} LUFS at 44.1 kHz`);
      assert.ok(mix44.true_peak_dbtp <= -1.0, `${mix44.true_peak_dbtp} dBTP at 44.1 kHz`);

      // Cancelled at once: nothing is left in the folder.
      await pickFolder('cancelled');
      await a.evaluate(() => {
        document.querySelector('.export-start').click();
        document.querySelector('.export-cancel').click();
      });
      await a.locator('.export-error', { hasText: 'Cancelled: nothing was written.' }).waitFor({ timeout: 30_000 });
      assert.deepEqual(Object.keys(await folder('cancelled')), []);

      // Cancelled midway, with every stem file made and the first block
      // being written (the folder's writes wait on the test; 32-bit float
      // at 96 kHz is more than the channel to the page holds, so the
      // render waits too): the streams are aborted and the files removed.
      await a.evaluate(() => {
        window.gate = {};
        window.gate.opened = new Promise((resolve) => { window.gate.resolveOpened = resolve; });
        window.gate.release = new Promise((resolve) => { window.gate.resolveRelease = resolve; });
        window.showDirectoryPicker = async () => {
          const real = await (await navigator.storage.getDirectory()).getDirectoryHandle('midway', { create: true });
          return {
            name: 'midway',
            removeEntry: (name) => real.removeEntry(name),
            getFileHandle: async (name, options) => {
              const handle = await real.getFileHandle(name, options);
              return {
                createWritable: async () => {
                  const stream = await handle.createWritable();
                  return {
                    write: async (params) => { window.gate.resolveOpened(); await window.gate.release; return stream.write(params); },
                    close: () => stream.close(),
                    abort: () => stream.abort(),
                  };
                },
              };
            },
          };
        };
      });
      await a.selectOption('.export-format', 'wav32f');
      await a.selectOption('.export-rate', '96000');
      await a.click('.export-start');
      await a.evaluate(() => window.gate.opened);
      assert.ok(Object.keys(await folder('midway')).length > 0, 'the stems were made');
      await a.click('.export-cancel');
      await a.evaluate(() => window.gate.resolveRelease());
      await a.locator('.export-error', { hasText: 'Cancelled: nothing was written.' }).waitFor({ timeout: 30_000 });
      assert.deepEqual(Object.keys(await folder('midway')), [], 'no partial file is left');
      // And nothing of it stays behind: the next export runs as before.
      await pickFolder('after');
      await a.click('.export-start');
      await a.locator('.export-report[data-stems="2"]').waitFor({ timeout: 60_000 });
      assert.equal(Object.keys(await folder('after')).length, 3);
      await keep(a, 'export');
    } catch (e) {
      await keep(a, 'export');
      throw e;
    }
  });
});
