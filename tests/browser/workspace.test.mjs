// The DAW workspace beyond clip editing: the mixer (buses, sends, insert
// chains, meters, loudness), the EQ panel's curve heard in the render, and
// the arrange view's ruler, tempo, markers, loop, metronome, clips across
// tracks, duplicates, track order and colours.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openApp, keep, sineWav, createProject, importTone, rms } from './harness.mjs';

const RATE = 48_000;
const PX_PER_SECOND = 40;

/** RMS in dBFS of the open project's render, 0.5–1.5 s, left channel. */
async function renderDb(page) {
  const left = await page.evaluate(async () => Array.from((await window.stemroom.render_project(2, 48000)).channels[0]));
  return 20 * Math.log10(rms(left, RATE / 2, (3 * RATE) / 2));
}

async function waitSaved(page) {
  await page.waitForFunction(() => document.querySelector('.save-state')?.dataset.state === 'saved', null, { timeout: 15_000 });
}

const strip = (page, name) => page.locator('.strip', { has: page.locator('.strip-name', { hasText: new RegExp(`^${name}$`) }) });
const trackNames = (page) => page.$$eval('.track .track-name', (inputs) => inputs.map((i) => i.value));

/** The EQ graph's pixel for a frequency and gain (see ui/device.rs). */
async function graphPoint(page, hz, db) {
  const r = await page.$eval('.eq-graph', (c) => {
    const b = c.getBoundingClientRect();
    return { left: b.left, top: b.top, width: b.width, height: b.height };
  });
  const x = (Math.log(hz / 20) / Math.log(1000)) * 640;
  const y = 110 - (db / 24) * 102;
  return { x: r.left + (x * r.width) / 640, y: r.top + (y * r.height) / 220 };
}

describe('the DAW workspace', () => {
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

  test('an EQ band added and dragged on the curve is heard; bypass, sends, meters, gain reduction and loudness', async () => {
    const page = await openApp(browser, server.url);
    await createProject(page, 'Mix');
    await importTone(page);
    const dry = await renderDb(page);

    // An EQ on the tone track; double-click on the curve at 220 Hz, +6 dB
    // adds a bell there.
    await strip(page, 'tone').locator('.insert-add').selectOption('EQ');
    await page.waitForSelector('.device-panel[data-device-kind="eq"] .eq-graph');
    let at = await graphPoint(page, 220, 6);
    await page.mouse.dblclick(at.x, at.y);
    await page.waitForSelector('.eq-band[data-band="0"].enabled');
    const bandGain = async () => parseFloat(await page.locator('.eq-band[data-band="0"] output').nth(1).textContent());
    let gain = await bandGain();
    assert.ok(Math.abs(gain - 6) < 0.5, `band gain ${gain}`);
    await waitSaved(page);
    let wet = await renderDb(page);
    assert.ok(Math.abs(wet - dry - gain) < 0.15, `EQ +${gain} dB at 220 Hz rendered ${(wet - dry).toFixed(2)} dB`);
    await keep(page, 'eq-panel');

    // Drag the band down to −6 dB.
    at = await graphPoint(page, 220, 6);
    const to = await graphPoint(page, 220, -6);
    await page.mouse.move(at.x, at.y);
    await page.mouse.down();
    for (let i = 1; i <= 5; i++) await page.mouse.move(at.x, at.y + ((to.y - at.y) * i) / 5);
    await page.mouse.up();
    gain = await bandGain();
    assert.ok(Math.abs(gain + 6) < 0.5, `band gain after the drag ${gain}`);
    await waitSaved(page);
    wet = await renderDb(page);
    assert.ok(Math.abs(wet - dry - gain) < 0.15, `EQ ${gain} dB rendered ${(wet - dry).toFixed(2)} dB`);

    // Bypass from the insert chain: the render is dry again.
    await strip(page, 'tone').locator('.insert-bypass').click();
    await page.waitForSelector('.insert.bypassed');
    await waitSaved(page);
    assert.ok(Math.abs((await renderDb(page)) - dry) < 0.01, 'bypassed EQ changes nothing');
    await page.click('.device-close');

    // A bus and a send to it: more of the tone reaches the master.
    await page.click('.add-bus');
    await page.waitForSelector('.strip.bus');
    await strip(page, 'tone').locator('.send-add').selectOption({ label: 'Bus 1' });
    await page.waitForSelector('.strip .send');
    await waitSaved(page);
    const sent = await renderDb(page);
    assert.ok(sent > dry + 0.5, `a −12 dB send adds level: ${dry.toFixed(2)} → ${sent.toFixed(2)} dBFS`);

    // A compressor on the master, playing in real time: the strip meters
    // move, the panel shows gain reduction, the master reads loudness.
    await page.locator('.strip.master .insert-add').selectOption('Compressor');
    await page.waitForSelector('.device-panel[data-device-kind="compressor"] .reduction');
    await page.click('.transport-play');
    await page.waitForFunction(() => Number(document.querySelector('.strip.master .strip-meter')?.dataset.peakDb) > -20, null, { timeout: 20_000 });
    await page.waitForFunction(() => Number(document.querySelector('.reduction')?.dataset.grDb) < -1, null, { timeout: 10_000 });
    await page.waitForFunction(() => Number.isFinite(parseFloat(document.querySelector('.loudness-short').textContent)), null, { timeout: 10_000 });
    await keep(page, 'compressor-panel');
    await page.click('.device-close');
    await keep(page, 'mixer');
    await page.click('.transport-play');

    // Two files dropped on the arrange view at once: two new tracks.
    const { wav } = sineWav(0.5);
    const bytes = [...wav];
    await page.evaluate((data) => {
      const transfer = new DataTransfer();
      for (const name of ['kick.wav', 'snare.wav']) {
        transfer.items.add(new File([new Uint8Array(data)], name, { type: 'audio/wav' }));
      }
      document.querySelector('.arrange').dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, bytes);
    await page.waitForFunction(() => document.querySelectorAll('.import-item[data-stage="done"]').length === 3, null, { timeout: 15_000 });
    assert.deepEqual((await trackNames(page)).sort(), ['kick', 'snare', 'tone']);

    // Every strip fits the mixer with its fader in view; dragging the
    // mixer's top edge up 120 px gives the strips 120 px more, kept for
    // this browser across a reload.
    const fits = () => page.$$eval('.strip', (strips) => {
      const area = document.querySelector('.mixer-strips').getBoundingClientRect();
      return strips.every((s) => {
        const fader = s.querySelector('.fader').getBoundingClientRect();
        const strip = s.getBoundingClientRect();
        return strip.bottom <= area.bottom + 0.5 && fader.bottom <= strip.bottom && fader.height >= 60;
      });
    });
    assert.ok(await fits(), 'strips and faders inside the mixer');
    const stripsHeight = () => page.$eval('.mixer-strips', (m) => m.getBoundingClientRect().height);
    const before = await stripsHeight();
    const edge = await page.$eval('.mixer-resize', (e) => {
      const r = e.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    });
    await page.mouse.move(edge.x, edge.y);
    await page.mouse.down();
    for (let i = 1; i <= 4; i++) await page.mouse.move(edge.x, edge.y - 30 * i);
    await page.mouse.up();
    assert.ok(Math.abs((await stripsHeight()) - (before + 120)) < 1, `strips ${before} → ${await stripsHeight()} px`);
    assert.ok(await fits(), 'strips and faders inside the taller mixer');
    await page.reload();
    await page.waitForSelector('.strip.master');
    assert.ok(Math.abs((await stripsHeight()) - (before + 120)) < 1, 'the height is kept across a reload');
    await page.dblclick('.mixer-resize');
    assert.ok(Math.abs((await stripsHeight()) - before) < 1, 'double-click: the default height');

    // More strips than fit across: the master stays at the right edge.
    for (let i = 0; i < 8; i++) await page.click('.add-bus');
    await page.waitForFunction(() => document.querySelectorAll('.strip.bus').length === 9);
    const master = () => page.$eval('.mixer-strips', (m) => {
      const area = m.getBoundingClientRect();
      const strip = m.querySelector('.strip.master').getBoundingClientRect();
      const padding = parseFloat(getComputedStyle(m).paddingRight);
      return { overflow: m.scrollWidth > m.clientWidth, gap: area.left + m.clientLeft + m.clientWidth - padding - strip.right };
    });
    const pinned = await master();
    assert.ok(pinned.overflow && Math.abs(pinned.gap) < 1, JSON.stringify(pinned));
    await page.$eval('.mixer-strips', (m) => { m.scrollLeft = m.scrollWidth; });
    await page.$eval('.mixer-strips', (m) => { m.scrollLeft = 0; });
    assert.ok(Math.abs((await master()).gap) < 1, 'scrolled back to the first strip, the master is still at the right');

    // A console wider than the screen mounts the strips in view (and a
    // few either side); spacers keep every other strip's room, so a strip
    // scrolled to appears exactly where it belongs.
    await page.evaluate(() => window.stemroom.add_arrangement(40, 0, '', 1));
    await page.waitForFunction(() => document.querySelectorAll('.track').length === 43);
    const order = [...(await trackNames(page)), ...Array.from({ length: 9 }, (_, i) => `Bus ${i + 1}`)];
    const mounted = () => page.$$eval('.mixer-strips .strip:not(.master)', (strips) => strips.map((s) => {
      const name = s.querySelector('.strip-name');
      return { name: name.value ?? name.textContent, left: s.offsetLeft };
    }));
    const layout = await page.$eval('.mixer-strips', (m) => ({
      first: m.querySelector('.strip:not(.master)').offsetLeft,
      pitch: m.querySelector('.strip:not(.master)').offsetWidth + parseFloat(getComputedStyle(m).columnGap),
      view: m.clientWidth,
    }));
    const placed = (list) => list.every((s) => Math.abs(s.left - (layout.first + order.indexOf(s.name) * layout.pitch)) < 1);
    const atStart = await mounted();
    assert.ok(atStart.length < 20, `${atStart.length} of ${order.length} strips mounted`);
    assert.equal(atStart[0].name, order[0]);
    assert.ok(placed(atStart), JSON.stringify(atStart));
    for (const name of ['Track 25', 'Bus 9']) {
      const left = layout.first + order.indexOf(name) * layout.pitch;
      await page.$eval('.mixer-strips', (m, x) => { m.scrollLeft = x - 200; }, left);
      await page.waitForFunction((n) => [...document.querySelectorAll('.mixer-strips .strip-name')].some((e) => (e.value ?? e.textContent) === n), name);
      const list = await mounted();
      assert.ok(list.length < 20 && placed(list), `${name}: ${JSON.stringify(list)}`);
    }
    const end = await page.$eval('.mixer-strips', (m) => {
      const bus = [...m.querySelectorAll('.strip.bus')].pop().getBoundingClientRect();
      return { scrolled: m.scrollLeft + m.clientWidth >= m.scrollWidth - 1, gap: m.querySelector('.strip.master').getBoundingClientRect().left - bus.right };
    });
    assert.ok(end.scrolled && end.gap > 0 && end.gap < 12, `the last bus ends just before the master: ${JSON.stringify(end)}`);
    assert.ok(Math.abs((await master()).gap) < 1, 'scrolled to the end, the master is at the right');
    await keep(page, 'mixer-wide');
    await page.close();
  });

  test('ruler, tempo, markers, loop, metronome, clips across tracks, duplicates, track order and colour', async () => {
    const page = await openApp(browser, server.url);
    await createProject(page, 'Arrange');
    await importTone(page);
    await page.click('.add-track');
    await page.waitForFunction(() => document.querySelectorAll('.track').length === 2);

    // Drag the clip one row down: it moves to Track 2.
    const clip = await page.$eval('.clip', (c) => {
      const r = c.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2, width: r.width };
    });
    await page.mouse.move(clip.x, clip.y);
    await page.mouse.down();
    for (let i = 1; i <= 4; i++) await page.mouse.move(clip.x, clip.y + (64 * i) / 4);
    await page.mouse.up();
    await page.waitForFunction(() => document.querySelector('.track:nth-child(2) .clip') !== null);
    assert.equal(await page.$$eval('.track:nth-child(1) .clip', (c) => c.length), 0);

    // Ctrl+D duplicates the selected clip right after it.
    await page.keyboard.press('Control+d');
    await page.waitForFunction(() => document.querySelectorAll('.track:nth-child(2) .clip').length === 2);
    const [first, second] = await page.$$eval('.track:nth-child(2) .clip', (cs) => cs.map((c) => c.getBoundingClientRect()).map((r) => ({ left: r.left, right: r.right })).sort((a, b) => a.left - b.left));
    assert.ok(Math.abs(second.left - first.right) < 1, JSON.stringify([first, second]));

    // 90 BPM; a click on the ruler at 2 s puts the playhead on bar 1,
    // beat 4 (2 s = 3 beats).
    await page.fill('.transport-bpm', '90');
    await page.press('.transport-bpm', 'Enter');
    await page.waitForFunction(() => document.querySelector('.transport-bpm').value === '90.0');
    const ruler = await page.$eval('.ruler-lane', (r) => {
      const b = r.getBoundingClientRect();
      return { left: b.left, top: b.top };
    });
    await page.mouse.click(ruler.left + 2 * PX_PER_SECOND, ruler.top + 30);
    await page.waitForFunction(() => document.querySelector('.transport-time').textContent === '0:02.000');
    assert.equal(await page.textContent('.transport-bars'), '1.4.1');

    // Zoom holds the timeline still: + around the playhead (in view), then
    // Ctrl+wheel around the pointer — the playhead moves away from the
    // pointer by the zoom factor, e^(100 × 0.002) for one 100 px notch.
    const playheadX = () => page.$eval('.playhead', (p) => p.getBoundingClientRect().left);
    const clipWidth = () => page.$eval('.clip', (c) => c.getBoundingClientRect().width);
    const [x0, w0] = [await playheadX(), await clipWidth()];
    await page.click('.project-bar');
    await page.keyboard.press('Equal');
    await page.waitForFunction((w) => document.querySelector('.clip').getBoundingClientRect().width > w * 1.4, w0);
    await page.waitForTimeout(100);
    const x1 = await playheadX();
    assert.ok(Math.abs(x1 - x0) < 1.5, `+ keeps the playhead at ${x0.toFixed(1)} px: ${x1.toFixed(1)} px`);
    const pointer = ruler.left + 400;
    await page.mouse.move(pointer, ruler.top + 30);
    await page.keyboard.down('Control');
    await page.mouse.wheel(0, -100);
    await page.keyboard.up('Control');
    await page.waitForFunction((w) => document.querySelector('.clip').getBoundingClientRect().width > w * 1.5 * 1.2, w0);
    await page.waitForTimeout(100);
    const x2 = await playheadX();
    const expected = pointer + (x1 - pointer) * Math.exp(0.2);
    assert.ok(Math.abs(x2 - expected) < 2, `Ctrl+wheel around the pointer: playhead at ${x2.toFixed(1)} px, expected ${expected.toFixed(1)}`);
    // Back to the test's zoom (the ruler positions below assume it).
    await page.keyboard.press('Minus');
    await page.mouse.move(pointer, ruler.top + 30);
    await page.keyboard.down('Control');
    await page.mouse.wheel(0, 100);
    await page.keyboard.up('Control');
    await page.waitForFunction((w) => Math.abs(document.querySelector('.clip').getBoundingClientRect().width - w) < 1, w0);
    await page.evaluate(() => { document.querySelector('.arrange-scroll').scrollLeft = 0; });

    // Shift+M drops a marker at the playhead.
    await page.click('.project-bar');
    await page.keyboard.press('Shift+KeyM');
    await page.waitForSelector('.marker');
    const marker = await page.$eval('.marker', (m) => m.getBoundingClientRect().left);
    assert.ok(Math.abs(marker - (ruler.left + 2 * PX_PER_SECOND)) < 1, `marker at ${marker - ruler.left}px`);

    // Drag across the ruler's top strip from 1 s to 2 s: a loop, on.
    await page.mouse.move(ruler.left + PX_PER_SECOND, ruler.top + 6);
    await page.mouse.down();
    for (let i = 1; i <= 4; i++) await page.mouse.move(ruler.left + PX_PER_SECOND + (PX_PER_SECOND * i) / 4, ruler.top + 6);
    await page.mouse.up();
    await page.waitForSelector('.transport-loop.active');
    // K: the metronome; Home, Play: the transport stays inside the loop.
    await page.keyboard.press('k');
    await page.waitForSelector('.transport-metronome.active');
    await page.keyboard.press('Home');
    await page.click('.transport-play');
    await page.waitForFunction(() => document.querySelector('.engine-state').dataset.state === 'running', null, { timeout: 20_000 });
    const seconds = () => page.$eval('.transport-time', (t) => {
      const [m, s] = t.textContent.split(':');
      return Number(m) * 60 + Number(s);
    });
    await page.waitForFunction(() => document.querySelector('.transport-play').classList.contains('active'));
    await page.waitForTimeout(3500);
    const looped = await seconds();
    assert.ok(looped >= 0.9 && looped < 2.1, `after 3.5 s of playing the loop 1–2 s, the playhead is at ${looped} s`);
    await page.click('.transport-stop');

    // Reorder: drag Track 2's grip up a row. Colour: pick red.
    const grip = await page.$eval('.track:nth-child(2) .track-grip', (g) => {
      const r = g.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    });
    await page.mouse.move(grip.x, grip.y);
    await page.mouse.down();
    for (let i = 1; i <= 4; i++) await page.mouse.move(grip.x, grip.y - (64 * i) / 4);
    await page.mouse.up();
    await page.waitForFunction(() => document.querySelector('.track:nth-child(1) .track-name').value === 'Track 2');
    assert.deepEqual(await trackNames(page), ['Track 2', 'tone']);
    await page.fill('.track:nth-child(1) .track-colour', '#ff0000');
    await page.waitForFunction(() => document.querySelector('.track:nth-child(1) .track-header').getAttribute('style').includes('#ff0000'));
    await waitSaved(page);
    await keep(page, 'arrange');
    await page.close();
  });
});
