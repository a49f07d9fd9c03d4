// Recording's half of `cargo xtask bench` (issue 15). Prints figures;
// asserts nothing.
//
// 1. The worklet's cost per quantum with an input connected and a take
//    running, against the same render without input: the engine with 64
//    tracks rendered by an OfflineAudioContext, an oscillator pair as the
//    input (the capture ring holds the input once, whatever the number of
//    armed tracks).
// 2. The upload keeping up: 8 armed tracks, stereo 48 kHz 24-bit, from
//    Chromium's fake capture device through the real app to the real
//    server on loopback; how far the server is behind while recording
//    (chunks made here and not yet acknowledged), and how long after Stop
//    the takes are assets.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { launchBrowser, openApp, startServer, createProject, fakeCaptureSine } from './harness.mjs';

const SAMPLE_RATE = 48_000;
const QUANTUM = 128;
const SECONDS = 4;
const TRACKS = 8;
const TAKE_SECONDS = 20;

const dir = mkdtempSync(path.join(tmpdir(), 'stemroom-record-bench-'));
const server = await startServer();
const browser = await launchBrowser({
  args: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-audio-capture=${fakeCaptureSine(dir)}`],
});
try {
  const page = await openApp(browser, server.url);
  const quanta = (SECONDS * SAMPLE_RATE) / QUANTUM;
  const run = (input, record) => page.evaluate(
    async ([s, sr, i, r]) => (await window.stemroom.render_workload_input(64, s, sr, i, r)).renderMs,
    [SECONDS, SAMPLE_RATE, input, record],
  );
  await run(true, true); // warm-up
  const median = async (input, record) => {
    const runs = [];
    for (let k = 0; k < 5; k++) runs.push(await run(input, record));
    runs.sort((a, b) => a - b);
    return (runs[2] * 1000) / quanta;
  };
  const plain = await median(false, false);
  const input = await median(true, false);
  const recording = await median(true, true);
  console.log('\nrecording in the worklet (64-track project, 4 s, OfflineAudioContext, medians of 5):');
  console.log(`  no input ${plain.toFixed(1)} µs/quantum; stereo input metered ${input.toFixed(1)} µs (+${(input - plain).toFixed(2)}); recording ${recording.toFixed(1)} µs (+${(recording - input).toFixed(2)} for the take, ${(((recording - input) / ((QUANTUM / SAMPLE_RATE) * 1e6)) * 100).toFixed(2)}% of the quantum's budget)`);

  // The upload keeping up with 8 stereo takes.
  await createProject(page, 'Upload bench');
  for (let t = 0; t < TRACKS; t++) await page.click('.add-track');
  for (let t = 1; t <= TRACKS; t++) {
    await page.click(`.track:nth-child(${t}) .track-arm`);
    if (t === 1) await page.waitForSelector('.input-toggle[data-input="open"]', { timeout: 20_000 });
    await page.selectOption(`.track:nth-child(${t}) .track-input`, '1+2');
  }
  await page.click('.transport-record');
  const started = Date.now();
  let worst = 0;
  while (Date.now() - started < TAKE_SECONDS * 1000) {
    await page.waitForTimeout(250);
    const [made, sent] = await page.$eval('.record-bar', (b) => [Number(b.dataset.made), Number(b.dataset.sent)]);
    worst = Math.max(worst, made - sent);
  }
  const frames = await page.$eval('.record-bar', (b) => Number(b.dataset.frames));
  await page.click('.transport-stop');
  const stopped = Date.now();
  await page.waitForFunction((n) => {
    const c = JSON.parse(window.stemroom.project_clips());
    return c.length === n && c.every((c) => c.asset !== '');
  }, TRACKS, { timeout: 120_000, polling: 50 });
  const finished = Date.now() - stopped;
  const megabytes = (frames * 6 * TRACKS) / 1e6;
  console.log(`upload of ${TRACKS} stereo 48 kHz 24-bit takes (${(frames / SAMPLE_RATE).toFixed(1)} s, ${megabytes.toFixed(1)} MB, ${(megabytes / (frames / SAMPLE_RATE)).toFixed(2)} MB/s) to the server on loopback:`);
  console.log(`  the server at most ${worst} chunks behind (${((worst / TRACKS) * 0.5).toFixed(2)} s of each take); every take an asset ${finished} ms after Stop`);
} finally {
  await browser.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
