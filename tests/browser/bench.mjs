// Browser half of `cargo xtask bench`: the engine in the AudioWorklet
// against Chromium's own nodes building the same graph, both rendered by an
// OfflineAudioContext (as fast as the machine allows) in the same run.
// Prints figures; asserts nothing.

import { launchBrowser, openApp, startServer } from './harness.mjs';

const SAMPLE_RATE = 48_000;
const QUANTUM = 128;
const SECONDS = 4;

/** Chromium's native nodes for the workload of stemroom_engine::workload. */
async function nativeGraph([tracks, seconds, sampleRate]) {
  const frames = seconds * sampleRate;
  const ctx = new OfflineAudioContext(2, frames, sampleRate);
  // Chromium has no true-peak limiter node: a fast compressor stands in.
  const master = ctx.createDynamicsCompressor();
  master.threshold.value = -1;
  master.ratio.value = 20;
  master.attack.value = 0.001;
  master.release.value = 0.1;
  master.connect(ctx.destination);
  let seed = 0x9e3779b9;
  for (let t = 0; t < tracks; t++) {
    const buffer = ctx.createBuffer(1, frames, sampleRate);
    const data = buffer.getChannelData(0);
    const f = 55 * (1 + (t % 24) / 4);
    for (let i = 0; i < frames; i++) {
      seed ^= seed << 13; seed >>>= 0;
      seed ^= seed >>> 17;
      seed ^= seed << 5; seed >>>= 0;
      data[i] = 0.3 * Math.sin((2 * Math.PI * f * i) / sampleRate) + 0.05 * (seed / 4294967295 - 0.5);
    }
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    let node = source;
    for (const [type, freq, gain] of [['lowshelf', 100, 3], ['peaking', 400, -4], ['peaking', 2500, 2], ['highshelf', 9000, 1.5]]) {
      const band = ctx.createBiquadFilter();
      band.type = type;
      band.frequency.value = freq * (1 + t * 0.01);
      band.gain.value = gain;
      node.connect(band);
      node = band;
    }
    const comp = ctx.createDynamicsCompressor();
    comp.threshold.value = -24;
    comp.ratio.value = 3;
    comp.knee.value = 6;
    comp.attack.value = 0.005;
    comp.release.value = 0.08;
    const fader = ctx.createGain();
    fader.gain.value = 10 ** (-12 / 20);
    const pan = ctx.createStereoPanner();
    pan.pan.value = ((t % 9) - 4) / 4;
    node.connect(comp);
    comp.connect(fader);
    fader.connect(pan);
    pan.connect(master);
    source.start();
  }
  const started = performance.now();
  await ctx.startRendering();
  return performance.now() - started;
}

const server = await startServer();
const browser = await launchBrowser();
try {
  const page = await openApp(browser, server.url);
  const threads = await page.evaluate(() => window.stemroomThreads);
  const quanta = (SECONDS * SAMPLE_RATE) / QUANTUM;
  const budget = (QUANTUM / SAMPLE_RATE) * 1e6;
  console.log(`\nengine in the AudioWorklet (wasm simd128, ${await page.evaluate(() => window.stemroom.memory_mode())} memory, ${threads} worker threads) vs Chromium's native nodes`);
  console.log(`same graph per track: 4 biquads + compressor + fader + pan; ${SECONDS} s at ${SAMPLE_RATE} Hz, OfflineAudioContext`);
  console.log('');
  console.log(`${'tracks'.padStart(7)} ${'worklet µs/q'.padStart(13)} ${'ns/track-smp'.padStart(13)} ${'% budget'.padStart(9)} ${'nodes µs/q'.padStart(11)} ${'nodes/worklet'.padStart(14)}`);
  // Warm up both paths (JIT, worklet compilation) before measuring.
  await page.evaluate(async ([sr]) => window.stemroom.render_workload(16, 1, sr), [SAMPLE_RATE]);
  await page.evaluate(nativeGraph, [16, 1, SAMPLE_RATE]);
  for (const tracks of [16, 64, 256]) {
    const worklet = await page.evaluate(async ([t, s, sr]) => (await window.stemroom.render_workload(t, s, sr)).renderMs, [tracks, SECONDS, SAMPLE_RATE]);
    const nodes = await page.evaluate(nativeGraph, [tracks, SECONDS, SAMPLE_RATE]);
    const workletUs = (worklet * 1000) / quanta;
    const nodesUs = (nodes * 1000) / quanta;
    console.log(
      `${String(tracks).padStart(7)} ${workletUs.toFixed(1).padStart(13)} ${((workletUs * 1000) / (tracks * QUANTUM)).toFixed(2).padStart(13)} ${((workletUs / budget) * 100).toFixed(1).padStart(8)}% ${nodesUs.toFixed(1).padStart(11)} ${(nodesUs / workletUs).toFixed(1).padStart(13)}×`,
    );
  }
  // Offline bounce in the browser: Mixer::render_offline on the rayon workers.
  const bounceSeconds = 30;
  const bounceMs = await page.evaluate(async ([s, sr]) => (await window.stemroom.bounce_workload(64, s, sr)).renderMs, [bounceSeconds, SAMPLE_RATE]);
  console.log(`\noffline bounce in the browser (rayon on ${threads} workers), 64 tracks × ${bounceSeconds} s: ${(bounceMs / 1000).toFixed(2)} s = ${((bounceSeconds * 1000) / bounceMs).toFixed(0)}× real time`);
  // Export in the browser (issue 14): bounce::export on the workers, as the
  // dialog runs it, 24-bit WAV, the mix at −14 LUFS / −1 dBTP; files dropped.
  const exportSeconds = 180;
  const exportRun = (mix, stems) => page.evaluate(async ([s, sr, m, st]) => window.stemroom.export_workload(64, s, sr, m, st), [exportSeconds, SAMPLE_RATE, mix, stems]);
  const mixRun = await exportRun(true, false);
  const stemsRun = await exportRun(false, true);
  const bothRun = await exportRun(true, true);
  const rt = (ms) => ((exportSeconds * 1000) / ms).toFixed(0);
  console.log(`export in the browser (${threads} workers), 64 tracks × ${exportSeconds} s:`);
  console.log(`  mix at −14 LUFS: ${(mixRun.exportMs / 1000).toFixed(2)} s = ${rt(mixRun.exportMs)}× real time (${mixRun.passes} delivery passes; target ≥ 40×)`);
  console.log(`  ${stemsRun.stems} stems in one pass: ${(stemsRun.exportMs / 1000).toFixed(2)} s = ${rt(stemsRun.exportMs)}× real time, ${(stemsRun.exportMs / mixRun.exportMs).toFixed(2)}× the mix's time (target ≤ 1.5×)`);
  console.log(`  mix and stems in one pass: ${(bothRun.exportMs / 1000).toFixed(2)} s = ${rt(bothRun.exportMs)}× real time, ${(bothRun.exportMs / mixRun.exportMs).toFixed(2)}× the mix's time`);
} finally {
  await browser.close();
  await server.stop();
}
