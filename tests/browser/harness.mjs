// Shared pieces of the browser tests: the real stemroom server on a free
// loopback port with a temporary data dir, headless Chromium, and signal
// measurements. `cargo xtask test` sets the STEMROOM_* variables.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests through \`cargo xtask test\``);
  return value;
}

export const artifacts = process.env.STEMROOM_ARTIFACTS ?? path.resolve('target/test-artifacts');
mkdirSync(artifacts, { recursive: true });

/** The built app that `cargo xtask test` made. */
export function siteDirectory() {
  return required('STEMROOM_SITE_DIR');
}

/** Starts `stemroom serve`; resolves once it prints its URL. */
export async function startServer({ isolation = true, siteDir = siteDirectory() } = {}) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'stemroom-test-'));
  let addr = '127.0.0.1:0';
  let child;
  let log = '';
  const spawnServer = async () => {
    const args = ['serve', '--addr', addr, '--data-dir', dataDir, '--site-dir', siteDir];
    if (!isolation) args.push('--no-isolation');
    child = spawn(required('STEMROOM_BIN'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr.on('data', (d) => { log += d; });
    const proc = child;
    return new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 20_000);
      proc.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/Stemroom is serving (http:\/\/\S+)/);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
      proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited (${code}):\n${log}`)); });
    });
  };
  const url = await spawnServer();
  addr = new URL(url).host;
  return {
    url,
    dataDir,
    log: () => log,
    /** Starts again on the same address and data. */
    async restart() {
      for (let attempt = 0; ; attempt++) {
        try {
          await spawnServer();
          return;
        } catch (e) {
          if (attempt > 20) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    /** SIGKILL, as a crash would: no shutdown code runs; the data stays. */
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    },
    /** SIGTERM, as a process manager would; resolves to the exit code. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      rmSync(dataDir, { recursive: true, force: true });
      return child.exitCode;
    },
  };
}

/** Headless Chromium as these machines run it (root, no network but loopback); `args` adds flags. */
export async function launchBrowser({ args = [] } = {}) {
  return chromium.launch({
    executablePath: required('STEMROOM_CHROMIUM'),
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
      ...args,
    ],
  });
}

/**
 * An init script: taps every AudioWorkletNode that connects to a
 * destination or a gain (the engine) with a worklet of its own on the
 * audio thread, before any listening gain,
 * so the capture never depends on the page's main thread keeping up.
 * `window.__tap.on` starts and stops capturing the left channel into
 * `window.__tap.chunks` (arrays of 128 samples).
 */
export function installTap() {
  const source = `registerProcessor('stemroom-test-tap', class extends AudioWorkletProcessor {
    process(inputs) { const ch = inputs[0] && inputs[0][0]; if (ch) this.port.postMessage(ch.slice()); return true; }
  });`;
  const module = URL.createObjectURL(new Blob([source], { type: 'application/javascript' }));
  const connect = AudioNode.prototype.connect;
  window.__tap = { on: false, chunks: [] };
  AudioNode.prototype.connect = function (target, ...rest) {
    const result = connect.call(this, target, ...rest);
    // The engine's node connects to the listener's gain (or straight to the speakers).
    if ((target instanceof AudioDestinationNode || target instanceof GainNode) && this instanceof AudioWorkletNode && !this.__tapped) {
      this.__tapped = true;
      const engine = this;
      engine.context.audioWorklet.addModule(module).then(() => {
        const tap = new AudioWorkletNode(engine.context, 'stemroom-test-tap');
        tap.__tapped = true;
        tap.port.onmessage = (e) => { if (window.__tap.on) window.__tap.chunks.push(Array.from(e.data)); };
        connect.call(engine, tap);
        // Pulled by the destination; it writes nothing, so it adds silence.
        connect.call(tap, engine.context.destination);
      });
    }
    return result;
  };
}

/**
 * Opens the app and waits for it to mount; page errors and console output are kept. `tap`: install {@link installTap}.
 * `context`: open it in this browser context (pages of one context share storage), else in a new one.
 */
export async function openApp(browser, url, { tap = false, context = null } = {}) {
  const page = context
    ? await context.newPage()
    : await browser.newPage({ viewport: { width: 1280, height: 720 } });
  if (tap) await page.addInitScript(installTap);
  const console = [];
  page.on('console', (m) => console.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => console.push(`[pageerror] ${e.message}`));
  page.consoleLog = console;
  await page.goto(url);
  await page.waitForFunction(() => document.documentElement.dataset.ready !== 'false', null, { timeout: 30_000 });
  const ready = await page.evaluate(() => document.documentElement.dataset.ready);
  if (ready !== 'true') throw new Error(`the app did not start:\n${console.join('\n')}`);
  return page;
}

/** Saves a screenshot and the page's console under the artifacts dir. */
export async function keep(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`) });
  writeFileSync(path.join(artifacts, `${name}.console.txt`), page.consoleLog.join('\n'));
}

export function rms(samples, from = 0, to = samples.length) {
  let sum = 0;
  for (let i = from; i < to; i++) sum += samples[i] * samples[i];
  return Math.sqrt(sum / (to - from));
}

/** Frequency from linearly interpolated rising zero crossings. */
export function frequency(samples, sampleRate) {
  const crossings = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1];
    const b = samples[i];
    if (a < 0 && b >= 0) crossings.push(i - 1 + a / (a - b));
  }
  if (crossings.length < 2) return 0;
  return ((crossings.length - 1) * sampleRate) / (crossings[crossings.length - 1] - crossings[0]);
}

/** Reads a 32-bit float WAV (as `render_workload` writes) into planar channels. */
export function readFloatWav(path) {
  const bytes = readFileSync(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.toString('ascii', 0, 4) !== 'RIFF' || bytes.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error(`${path} is not a WAV file`);
  }
  let offset = 12;
  let channels = 0;
  let format = 0;
  while (offset + 8 <= bytes.length) {
    const id = bytes.toString('ascii', offset, offset + 4);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'fmt ') {
      format = view.getUint16(body, true);
      channels = view.getUint16(body + 2, true);
      // WAVE_FORMAT_EXTENSIBLE: the real format opens the sub-format GUID.
      if (format === 0xfffe) format = view.getUint16(body + 24, true);
    } else if (id === 'data') {
      if (format !== 3) throw new Error(`${path}: not 32-bit float (format ${format})`);
      const frames = size / 4 / channels;
      const planar = Array.from({ length: channels }, () => new Float32Array(frames));
      for (let i = 0; i < frames; i++) {
        for (let c = 0; c < channels; c++) planar[c][i] = view.getFloat32(body + (i * channels + c) * 4, true);
      }
      return planar;
    }
    offset = body + size + (size % 2);
  }
  throw new Error(`${path}: no data chunk`);
}

/**
 * A 16-bit mono WAV file of a sine (220 Hz, amplitude 16 000), and its
 * samples as integers: what the import tests upload and expect back.
 */
export function sineWav(seconds, sampleRate = 48_000) {
  const frames = Math.round(seconds * sampleRate);
  const samples = new Int16Array(frames);
  for (let i = 0; i < frames; i++) samples[i] = Math.round(Math.sin((2 * Math.PI * 220 * i) / sampleRate) * 16_000);
  return { samples, wav: monoWav(samples, sampleRate) };
}

/**
 * A file for Chromium's fake capture device (`--use-file-for-fake-audio-capture`):
 * one second of a sine at 44.1 kHz, the device's rate, in `dir`. At 441 Hz a
 * period is 100 samples, so the device's loop of it is seamless.
 */
export function fakeCaptureSine(dir, hz = 441, amplitude = 0.5) {
  const rate = 44_100;
  const samples = new Int16Array(rate);
  for (let i = 0; i < rate; i++) samples[i] = Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * amplitude * 32767);
  const file = path.join(dir, 'fake-capture.wav');
  writeFileSync(file, monoWav(samples, rate));
  return file;
}

/** A 16-bit mono WAV file of `samples` (an Int16Array). */
export function monoWav(samples, sampleRate = 48_000) {
  const frames = samples.length;
  const wav = Buffer.alloc(44 + frames * 2);
  wav.write('RIFF', 0, 'ascii');
  wav.writeUInt32LE(36 + frames * 2, 4);
  wav.write('WAVEfmt ', 8, 'ascii');
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20);
  wav.writeUInt16LE(1, 22);
  wav.writeUInt32LE(sampleRate, 24);
  wav.writeUInt32LE(sampleRate * 2, 28);
  wav.writeUInt16LE(2, 32);
  wav.writeUInt16LE(16, 34);
  wav.write('data', 36, 'ascii');
  wav.writeUInt32LE(frames * 2, 40);
  for (let i = 0; i < frames; i++) wav.writeInt16LE(samples[i], 44 + i * 2);
  return wav;
}

/**
 * A real server and headless Chromium for a `describe` block: started
 * before its tests, stopped after. Read `.server` and `.browser` inside tests.
 */
export function serverAndBrowser({ before, after, browserArgs = [] }) {
  const fixture = { server: null, browser: null };
  before(async () => {
    fixture.server = await startServer();
    fixture.browser = await launchBrowser({ args: browserArgs });
  });
  after(async () => {
    await fixture.browser?.close();
    await fixture.server?.stop();
  });
  return fixture;
}

/** Waits until the page shows "all changes saved". */
export async function waitSaved(page) {
  await page.waitForFunction(() => document.querySelector('.save-state')?.dataset.state === 'saved', null, { timeout: 15_000 });
}

/** Creates a project from the start page; resolves once it is saved and the server has named the owner. */
export async function createProject(page, name) {
  await page.fill('.start-name', name);
  await page.click('.start-create');
  await page.waitForURL(/\/p\/[^/#]+#.+/);
  await page.waitForFunction(() => document.documentElement.dataset.ready === 'true');
  await page.waitForFunction(() => document.querySelector('.save-state')?.dataset.state === 'saved', null, { timeout: 15_000 });
  await page.waitForFunction(() => document.querySelector('.role-badge')?.textContent === 'owner', null, { timeout: 15_000 });
}

/** Imports a sine tone of `seconds` through the import button and waits until it is in. */
export async function importTone(page, seconds = 2, timeout = 30_000) {
  const { wav } = sineWav(seconds);
  await page.setInputFiles('.import-input', { name: 'tone.wav', mimeType: 'audio/wav', buffer: wav });
  await page.waitForSelector('.import-item[data-stage="done"]', { timeout });
}

/** Sets the name the others see. */
export async function rename(page, name) {
  await page.fill('.my-name', name);
  await page.press('.my-name', 'Enter');
}

/** Waits until the server has given the page its role. */
export async function waitRole(page, role) {
  await page.waitForFunction((r) => document.querySelector('.role-badge')?.textContent === r, role, { timeout: 15_000 });
}

/** A share link for `role`, made through the API with the owner page's token. */
export async function shareLink(server, owner, role) {
  const [, id, token] = owner.url().match(/\/p\/([^/#]+)\/?#(.+)$/);
  const response = await fetch(new URL(`/api/projects/${id}/links`, server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ role }),
  });
  if (response.status !== 201) throw new Error(`making a ${role} link: ${response.status}`);
  return new URL((await response.json()).url, server.url).href;
}
