// Workspace half of `cargo xtask bench`: a 64-track × 50-clip project on
// loopback — how long a fresh tab takes to show it, frame times while
// dragging a clip, while playing with the view following the playhead,
// while a collaborator rides a fader and while a Latch pass records, and
// the main thread's cost of a parameter change reaching the engine.
// Prints figures against the targets; asserts nothing.

import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { startServer, launchBrowser, openApp, sineWav, createProject, artifacts } from './harness.mjs';

const TRACKS = 64;
const CLIPS = 50;
const COMMENTS = 200;
const VERSIONS = 20;

/** Starts recording the intervals between animation frames. */
async function record(page) {
  await page.evaluate(() => {
    window.benchFrames = [];
    window.benchRecording = true;
    let last = performance.now();
    const tick = (t) => {
      window.benchFrames.push(t - last);
      last = t;
      if (window.benchRecording) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}

/** Stops recording; returns p50, p95, max (ms) and the frame count. */
async function stop(page) {
  const frames = await page.evaluate(() => {
    window.benchRecording = false;
    return window.benchFrames.slice(1);
  });
  const sorted = [...frames].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1], count: sorted.length };
}

/** Prints where the main thread's time went, by function (self time). */
async function topFunctions(cdp) {
  const { profile } = await cdp.send('Profiler.stop');
  const self = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  profile.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber}`;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  [...self.entries()].sort((x, y) => y[1] - x[1]).slice(0, 12).forEach(([k, v]) => console.log(`${(v / 1000).toFixed(0).padStart(7)} ms  ${k}`));
  // Inclusive time of the app's own functions (callees included).
  const parent = new Map();
  profile.nodes.forEach((n) => (n.children ?? []).forEach((c) => parent.set(c, n.id)));
  const total = new Map();
  const name = (n) => n.callFrame.functionName.replace(/\[[0-9a-f]{16}\]/g, '');
  profile.samples.forEach((id, i) => {
    const seen = new Set();
    for (let n = id; n !== undefined; n = parent.get(n)) {
      const f = name(byId.get(n));
      if (/stemroom_(app|model|engine)/.test(f) && !seen.has(f)) {
        seen.add(f);
        total.set(f, (total.get(f) ?? 0) + (profile.timeDeltas[i] ?? 0));
      }
    }
  });
  console.log('  inclusive, app code:');
  [...total.entries()].sort((x, y) => y[1] - x[1]).slice(0, 25).forEach(([k, v]) => console.log(`${(v / 1000).toFixed(0).padStart(7)} ms  ${k.slice(0, 200)}`));
}

/**
 * A stock Yjs client of document `name` of the project at `url`, through
 * the real server (as a collaborator on another machine would be), once
 * synced.
 */
async function yjsClient(serverUrl, url, name) {
  const [, id, token] = url.match(/\/p\/([^/#]+)\/?#(.+)$/);
  const ydoc = new Y.Doc();
  const provider = new WebsocketProvider(serverUrl.replace('http', 'ws') + `sync/${id}`, name, ydoc, {
    params: { token }, WebSocketPolyfill: WebSocket, disableBc: true,
  });
  // Stemroom's durable-count message (tag 100) is not for this client.
  provider.messageHandlers[100] = (_encoder, decoder) => { decoder.pos = decoder.arr.length; };
  for (let waited = 0; !provider.synced; waited += 10) {
    if (waited > 20_000) throw new Error(`the Yjs client of ${name} did not sync`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return { ydoc, provider };
}

/**
 * Issue 13's review load: `threads` comments (a quarter of them with a
 * reply, every third resolved) spread over the song, and `versions` saved
 * versions of the project as it is, measured — written by a collaborator
 * as the app writes them (model/src/review.rs).
 */
async function addReview(serverUrl, url, threads, versions) {
  const project = await yjsClient(serverUrl, url, 'project');
  const review = await yjsClient(serverUrl, url, 'review');
  const state = Y.encodeStateAsUpdate(project.ydoc);
  const comments = review.ydoc.getMap('comments');
  const saved = review.ydoc.getMap('versions');
  const authors = ['Ana', 'Mo', 'Lee', 'Sam'];
  let made = 0;
  review.ydoc.transact(() => {
    for (let i = 0; made < threads; i++) {
      const start = i * 48_000 * 3;
      const c = new Y.Map();
      for (const [k, v] of Object.entries({ start, end: start + 96_000, track: '', author: authors[i % 4], text: `Note ${i}: the snare is too loud here`, created: Date.now() - i * 1000, resolved: i % 3 === 0, parent: '' })) c.set(k, v);
      comments.set(`bench-${i}`, c);
      made += 1;
      if (i % 4 === 0 && made < threads) {
        const r = new Y.Map();
        for (const [k, v] of Object.entries({ author: authors[(i + 1) % 4], text: 'Agreed, pulled it down 1 dB', created: Date.now(), parent: `bench-${i}` })) r.set(k, v);
        comments.set(`bench-${i}-reply`, r);
        made += 1;
      }
    }
    for (let i = 0; i < versions; i++) {
      const v = new Y.Map();
      for (const [k, val] of Object.entries({ name: `Mix v${i + 1}`, author: authors[i % 4], created: Date.now() - (versions - i) * 60_000, state, integratedLufs: -14 - i * 0.1, truePeakDbtp: -1.2 })) v.set(k, val);
      saved.set(`bench-v${i}`, v);
    }
  });
  // Until the server has it durably.
  await new Promise((r) => setTimeout(r, 1000));
  project.provider.destroy();
  review.provider.destroy();
  return state.length;
}

/** Two collaborators playing elsewhere in the song: their playheads move on this tab's timeline. */
async function remotePlayheads(serverUrl, url) {
  const people = [];
  for (const [name, position] of [['Mo', 0], ['Lee', 48_000 * 30]]) {
    const p = await yjsClient(serverUrl, url, 'project');
    p.provider.awareness.setLocalState({ name, role: 'edit', view: 'arrange', playing: true, position, rate: 48_000, selected: null, loop: null, transport: 1, invite: false });
    people.push(p);
  }
  return () => people.forEach((p) => p.provider.destroy());
}

const show = (label, f) =>
  console.log(
    `${label.padEnd(34)} p50 ${f.p50.toFixed(1).padStart(5)} ms   p95 ${f.p95.toFixed(1).padStart(5)} ms   max ${f.max.toFixed(1).padStart(6)} ms   (${f.count} frames; target p95 < 16.7 ms)`,
  );

const server = await startServer();
const browser = await launchBrowser();
try {
  const a = await openApp(browser, server.url);
  await createProject(a, 'Big song');
  const { wav } = sineWav(4);
  await a.setInputFiles('.import-input', { name: 'take.wav', mimeType: 'audio/wav', buffer: wav });
  await a.waitForSelector('.import-item[data-stage="done"]', { timeout: 30_000 });
  const sha = createHash('sha256').update(wav).digest('hex');
  await a.evaluate(([t, c, s]) => window.stemroom.add_arrangement(t, c, s, 96_000), [TRACKS, CLIPS, sha]);
  await a.waitForFunction(() => document.querySelector('.save-state').dataset.state === 'saved', null, { timeout: 60_000 });
  const url = a.url();
  await a.close();
  const stateBytes = await addReview(server.url, url, COMMENTS, VERSIONS);

  // First load: a fresh tab, from navigation to every track row and the
  // visible clips on screen, then to the waveforms drawn (audio decoded).
  const b = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await b.goto(url);
  const interactive = await b.waitForFunction(
    (n) => document.querySelectorAll('.track').length === n && document.querySelector('.clip') ? performance.now() : 0,
    TRACKS + 1,
    { timeout: 30_000, polling: 'raf' },
  ).then((h) => h.jsonValue());
  const audio = await b.waitForFunction(
    () => (document.querySelector('.save-state').dataset.state === 'saved' ? performance.now() : 0),
    null,
    { timeout: 30_000, polling: 'raf' },
  ).then((h) => h.jsonValue());
  const reviewed = await b.waitForFunction(
    (n) => (Number(document.querySelector('.comments-count')?.textContent) === n && Number(document.querySelector('.versions-count')?.textContent) ? performance.now() : 0),
    COMMENTS - Math.ceil(COMMENTS / 5),
    { timeout: 30_000, polling: 'raf' },
  ).then((h) => h.jsonValue());
  const boxes = await b.evaluate(() => document.querySelectorAll('.clip').length);
  console.log(`\nworkspace: ${TRACKS} tracks × ${CLIPS} clips (${TRACKS * CLIPS} clips), ${COMMENTS} comments and ${VERSIONS} versions (${(stateBytes / 1024).toFixed(0)} KiB each), Chromium headless, 1280×720, loopback`);
  console.log(`first load, navigation → tracks and clips on screen: ${interactive.toFixed(0)} ms (target < 2000 ms); synced: ${audio.toFixed(0)} ms; comments and versions listed: ${reviewed.toFixed(0)} ms; clip boxes in the DOM: ${boxes}`);
  await b.waitForTimeout(1000);

  await record(b);
  await b.waitForTimeout(3000);
  show('idle', await stop(b));
  // Dragging a clip: one pointer move per frame for 1.5 s.
  const clip = await b.$eval('.track:nth-child(3) .clip', (c) => {
    const r = c.getBoundingClientRect();
    return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
  });
  await record(b);
  await b.mouse.move(clip.x, clip.y);
  await b.mouse.down();
  for (let i = 1; i <= 90; i++) {
    await b.mouse.move(clip.x + i * 3, clip.y + (i > 45 ? 64 : 0));
    await b.waitForTimeout(16);
  }
  await b.mouse.up();
  show('dragging a clip', await stop(b));

  // Scrolling the arrange view down and across.
  const scrollCdp = process.env.STEMROOM_PROFILE ? await b.context().newCDPSession(b) : null;
  if (scrollCdp) { await scrollCdp.send('Profiler.enable'); await scrollCdp.send('Profiler.start'); }
  await record(b);
  for (let i = 0; i < 60; i++) {
    await b.evaluate((k) => {
      const s = document.querySelector('.arrange-scroll');
      s.scrollTop = k * 40;
      s.scrollLeft = k * 25;
    }, i);
    await b.waitForTimeout(16);
  }
  show('scrolling the arrange view', await stop(b));
  if (scrollCdp) await topFunctions(scrollCdp);

  // Playing, zoomed in so the view pages to follow the playhead.
  for (let i = 0; i < 4; i++) await b.keyboard.press('Equal');
  await b.evaluate(() => { document.querySelector('.arrange-scroll').scrollLeft = 0; });
  await b.click('.transport-play');
  await b.waitForFunction(() => document.querySelector('.engine-state').dataset.state === 'running', null, { timeout: 20_000 });
  await b.waitForTimeout(500);
  const cdp = process.env.STEMROOM_PROFILE ? await b.context().newCDPSession(b) : null;
  if (cdp) { await cdp.send('Profiler.enable'); await cdp.send('Profiler.start'); }
  await record(b);
  await b.waitForTimeout(6000);
  show('playing, following the playhead', await stop(b));
  {
    const leave = await remotePlayheads(server.url, url);
    await b.waitForFunction(() => document.querySelectorAll('.remote-playhead').length === 2, null, { timeout: 10_000 });
    await record(b);
    await b.waitForTimeout(4000);
    show('playing, two remote playheads', await stop(b));
    leave();
  }
  if (process.env.STEMROOM_PROFILE) {
    await b.click('.mixer-toggle');
    await record(b);
    await b.waitForTimeout(3000);
    show('playing, mixer hidden', await stop(b));
    await b.click('.follow');
    await record(b);
    await b.waitForTimeout(3000);
    show('playing, mixer hidden, no follow', await stop(b));
    await b.click('.mixer-toggle');
    await b.click('.follow');
  }
  if (cdp) await topFunctions(cdp);

  // Issue 12: a collaborator rides a fader while this tab plays; then this
  // tab records a Latch pass. Frame times here, and the main thread's cost
  // of each engine update (document read → commands or plan queued).
  const updatesBefore = await b.evaluate(() => window.stemroom.engine_update_times().length);
  // A collaborator on another machine: a stock Yjs client through the
  // real server, its fader moves every 50 ms. Only this tab's cost shows.
  {
    const { ydoc, provider } = await yjsClient(server.url, url, 'project');
    const track = [...ydoc.getMap('tracks').keys()].sort()[2];
    const remoteCdp = process.env.STEMROOM_PROFILE ? await b.context().newCDPSession(b) : null;
    if (remoteCdp) { await remoteCdp.send('Profiler.enable'); await remoteCdp.send('Profiler.start'); }
    await record(b);
    for (let i = 0; i < 60; i++) {
      ydoc.getMap('tracks').get(track).set('gainDb', -6 - (i % 12));
      await new Promise((r) => setTimeout(r, 50));
    }
    show('playing, a remote collaborator rides', await stop(b));
    if (remoteCdp) await topFunctions(remoteCdp);
    provider.destroy();
  }
  const c = await openApp(browser, url);
  await c.waitForFunction((n) => document.querySelectorAll('.track').length === n, TRACKS + 1, { timeout: 30_000 });
  const ride = async (page, fader) => {
    for (let i = 0; i < 60; i++) {
      await fader.fill(String(-6 - (i % 12)));
      await page.waitForTimeout(50);
    }
  };
  const rideCdp = process.env.STEMROOM_PROFILE ? await b.context().newCDPSession(b) : null;
  if (rideCdp) { await rideCdp.send('Profiler.enable'); await rideCdp.send('Profiler.start'); }
  await record(b);
  await ride(c, c.locator('.strip').nth(2).locator('.fader'));
  show('playing, a second tab here rides', await stop(b));
  if (rideCdp) await topFunctions(rideCdp);
  const times = (await b.evaluate(() => Array.from(window.stemroom.engine_update_times()))).slice(updatesBefore);
  const commands = [];
  let plans = 0;
  for (let i = 0; i + 1 < times.length; i += 2) {
    if (times[i + 1]) plans += 1;
    else commands.push(times[i]);
  }
  commands.sort((x, y) => x - y);
  const q = (p) => commands[Math.min(commands.length - 1, Math.floor(p * commands.length))];
  console.log(`parameter change, document read → commands queued: median ${q(0.5)?.toFixed(2)} ms, p95 ${q(0.95)?.toFixed(2)} ms over ${commands.length} updates (target < 0.2 ms); plans built meanwhile: ${plans}`);
  await b.locator('.strip').nth(3).locator('.automation-mode').selectOption('latch');
  const latchCdp = process.env.STEMROOM_PROFILE ? await b.context().newCDPSession(b) : null;
  if (latchCdp) { await latchCdp.send('Profiler.enable'); await latchCdp.send('Profiler.start'); }
  await record(b);
  await ride(b, b.locator('.strip').nth(3).locator('.fader'));
  show('playing, recording a Latch pass', await stop(b));
  if (latchCdp) await topFunctions(latchCdp);
  await b.click('.transport-play');
  await b.waitForSelector('.automation-lane .automation-canvas:not([data-points="0"])', { timeout: 10_000 });
  await c.close();
  await b.screenshot({ path: `${artifacts}/bench-workspace-64x50.png` });
  await b.close();

  // Saving a version of the 128 × 200 project: the main thread's time in
  // the click (the state encoded, written into the review document and
  // sent), and the long tasks of the next seconds (the measurement's
  // render runs on the worker pool).
  {
    const d = await openApp(browser, server.url);
    await createProject(d, 'Bigger song');
    await d.setInputFiles('.import-input', { name: 'take.wav', mimeType: 'audio/wav', buffer: wav });
    await d.waitForSelector('.import-item[data-stage="done"]', { timeout: 30_000 });
    await d.evaluate(([s]) => window.stemroom.add_arrangement(128, 200, s, 96_000), [sha]);
    await d.waitForFunction(() => document.querySelector('.save-state').dataset.state === 'saved', null, { timeout: 120_000 });
    await d.click('.versions-toggle');
    await d.fill('.version-name', 'Mix v1');
    const saving = await d.evaluate(async () => {
      const long = [];
      const observer = new PerformanceObserver((list) => list.getEntries().forEach((e) => long.push(e.duration)));
      observer.observe({ type: 'longtask' });
      const t = performance.now();
      document.querySelector('.version-save-button').click();
      const click = performance.now() - t;
      await new Promise((r) => setTimeout(r, 5000));
      observer.disconnect();
      return { click, long };
    });
    const longest = saving.long.length ? Math.max(...saving.long) : 0;
    console.log(`saving a version of 128 × 200: ${saving.click.toFixed(1)} ms on the main thread in the click (target < 300 ms); long tasks in the next 5 s: ${saving.long.length}, longest ${longest.toFixed(0)} ms`);
    await d.close();
  }
} finally {
  await browser.close();
  await server.stop();
}
