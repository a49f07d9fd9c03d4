// Versions, for a review pass, against the real server: save a named
// version (measured by a full offline render), change the mix, save again,
// read what changed, open one read-only, A/B them while playing (tapped:
// no gap, no click, one level), restore the first as one undoable edit
// that a second page receives, and undo it.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openApp, keep, createProject, importTone, rms, waitSaved } from './harness.mjs';

const strip = (page, name) => page.locator('.strip', { has: page.locator('.strip-name', { hasText: new RegExp(`^${name}$`) }) });
const version = (page, name) => page.locator('.version', { has: page.locator('.version-title', { hasText: name }) });

/** Saves a version named `name` and waits for its measurement; its integrated loudness. */
async function saveVersion(page, name) {
  await page.fill('.version-name', name);
  await page.click('.version-save-button');
  const row = version(page, name);
  await row.and(page.locator('[data-measured="true"]')).waitFor({ timeout: 30_000 });
  const label = await row.locator('.version-loudness').textContent();
  const lufs = Number(label.match(/^(-?\d+(\.\d+)?) LUFS · (-?\d+(\.\d+)?) dBTP$/)?.[1]);
  assert.ok(Number.isFinite(lufs), `measured: ${label}`);
  return lufs;
}

const render = (page) => page.evaluate(async () => {
  const r = await window.stemroom.render_project(3, 48000);
  return Array.from(r.channels[0]);
});

/**
 * Asserts that the 220 Hz tone played holds its level for `seconds` from
 * its onset, sample by sample: its amplitude — exact for a sine from three
 * samples, A² = x[n]² + ((x[n+1] − x[n−1]) / 2 sin ω)² — stays within
 * 1.5 dB of its median (a gap of one sample, or a switch not matched in
 * loudness, fails; a side's fader ramping under the other's matching gain
 * may lift it 1 dB for a few ms), and no step between samples is steeper
 * than the tone's own (a click fails).
 */
function assertSteady(samples, rate, seconds) {
  const onset = samples.findIndex((v) => Math.abs(v) > 0.01);
  assert.ok(onset >= 0, 'the tone was heard');
  const from = onset + Math.round(0.05 * rate);
  const to = onset + Math.round(seconds * rate);
  assert.ok(to < samples.length, `the capture is long enough (${samples.length} samples, need ${to})`);
  const w = (2 * Math.PI * 220) / rate;
  const amplitude = (n) => Math.hypot(samples[n], (samples[n + 1] - samples[n - 1]) / (2 * Math.sin(w)));
  const levels = [];
  for (let n = from; n < to; n++) levels.push(amplitude(n));
  const median = [...levels].sort((x, y) => x - y)[levels.length >> 1];
  const db = (x) => 20 * Math.log10(x / median);
  const [low, high] = levels.reduce(([lo, hi], x, i) => [x < levels[lo] ? i : lo, x > levels[hi] ? i : hi], [0, 0]);
  assert.ok(db(levels[low]) > -1.5, `a dip to ${db(levels[low]).toFixed(2)} dB at ${((low / rate) * 1000).toFixed(1)} ms`);
  assert.ok(db(levels[high]) < 1.5, `a rise to ${db(levels[high]).toFixed(2)} dB at ${((high / rate) * 1000).toFixed(1)} ms`);
  let step = 0;
  for (let n = from + 1; n < to; n++) step = Math.max(step, Math.abs(samples[n] - samples[n - 1]));
  const sineStep = levels[high] * w;
  assert.ok(step < sineStep * 1.05, `a step of ${step.toFixed(4)} (the tone's steepest: ${sineStep.toFixed(4)})`);
}

describe('versions', () => {
  const suite = serverAndBrowser({ before, after });

  test('save, compare, restore as one undo step everyone sees', async () => {
    const { server, browser } = suite;
    const a = await openApp(browser, server.url, { tap: true });
    try {
      await createProject(a, 'Review pass');
      await importTone(a, 6);
      await waitSaved(a);
      const original = await render(a);
      await a.click('.versions-toggle');
      const v1 = await saveVersion(a, 'Mix v1');
      assert.match(await version(a, 'Mix v1').locator('.version-meta').textContent(), /·/);

      // Later work: the fader 6 dB down and an EQ (the panel lies over the mixer).
      await a.click('.versions-close');
      await strip(a, 'tone').locator('.fader').fill('-6');
      await strip(a, 'tone').locator('.insert-add').selectOption('EQ');
      await a.waitForSelector('.device-panel[data-device-kind="eq"]');
      await a.click('.device-close');
      await waitSaved(a);
      await a.click('.versions-toggle');
      const v2 = await saveVersion(a, 'Mix v2: quieter');
      // Each measurement follows its document: a flat EQ and 6 dB less.
      assert.ok(Math.abs(v1 - v2 - 6) < 0.1, `v1 ${v1} LUFS, v2 ${v2} LUFS`);
      assert.equal(await a.locator('.version-title').first().textContent(), 'Mix v2: quieter', 'newest first');

      // What changed since v1: the fader and the EQ, nothing else.
      await version(a, 'Mix v1').locator('.version-changes').click();
      const said = await version(a, 'Mix v1').locator('.version-diff li').allTextContents();
      assert.deepEqual(said.sort(), ['tone: eq added', 'tone: fader +0.0 → -6.0 dB']);
      await version(a, 'Mix v2').locator('.version-changes').click();
      await version(a, 'Mix v2').locator('.version-same').waitFor();

      // Open v1: the workspace shows it as it was (fader at 0 dB, no EQ),
      // read-only; B brings back the live document, editable again.
      await version(a, 'Mix v1').locator('.version-open').click();
      await a.waitForSelector('.ab-bar[data-side="version"]');
      assert.match(await a.textContent('.ab-bar'), /“Mix v1” \(read-only\), not loudness-matched/);
      await strip(a, 'tone').locator('.fader-db', { hasText: '+0.0 dB' }).waitFor();
      assert.equal(await strip(a, 'tone').locator('.insert').count(), 0);
      assert.ok(await strip(a, 'tone').locator('.fader').isDisabled(), 'the version is read-only');
      assert.ok(await a.locator('.track-mute').first().isDisabled());
      // With a clip selected, M would mute its track, were edits allowed.
      await a.locator('.track .clip').first().click();
      await a.locator('body').press('KeyM');
      await a.locator('body').press('Control+KeyZ');
      await a.locator('body').press('KeyB');
      await a.waitForSelector('.ab-bar[data-side="current"]');
      await strip(a, 'tone').locator('.fader-db', { hasText: '-6.0 dB' }).waitFor();
      assert.equal(await strip(a, 'tone').locator('.insert').count(), 1, 'M and Ctrl+Z changed nothing');
      assert.equal(await a.locator('.track-mute.active').count(), 0, 'no track muted');
      assert.ok(await strip(a, 'tone').locator('.fader').isEnabled());
      await a.click('.ab-exit');
      await a.waitForSelector('.ab-bar', { state: 'detached' });

      // A/B with v1, loudness-matched: v1 is 6 dB louder, so it comes down
      // 6 dB; B switches back to the current mix, at its own level.
      await version(a, 'Mix v1').locator('.version-compare').click();
      await a.waitForSelector('.ab-bar[data-side="version"]', { timeout: 30_000 });
      const offset = Number((await a.textContent('.ab-bar')).match(/([+-]\d+\.\d) dB to match/)?.[1]);
      assert.ok(Math.abs(offset - (v2 - v1)) < 0.05, `offset ${offset} shown, loudness ${v1} vs ${v2}`);
      const versionSide = await render(a);
      await a.locator('body').press('KeyB');
      await a.waitForSelector('.ab-bar[data-side="current"]');
      const currentSide = await render(a);
      const db = (x) => 20 * Math.log10(rms(x, 24_000, 96_000));
      assert.ok(Math.abs(db(versionSide) - db(currentSide)) < 0.1, `matched: ${db(versionSide)} vs ${db(currentSide)} dBFS`);
      // The version side is v1's own render, only quieter.
      const g = 10 ** (offset / 20);
      let off = 0;
      for (let i = 0; i < original.length; i++) off = Math.max(off, Math.abs(versionSide[i] - original[i] * g));
      assert.ok(off < 1e-4, `version side null: ${off}`);

      // Switching while playing: the worklet's output, tapped on the audio
      // thread, holds one level through six switches — no gap, no click.
      await a.click('.transport-home');
      await a.evaluate(() => { window.__tap.chunks = []; window.__tap.on = true; });
      await a.click('.transport-play');
      await a.waitForTimeout(800);
      for (let i = 0; i < 6; i++) {
        await a.locator('body').press('KeyB');
        await a.waitForSelector(`.ab-bar[data-side="${i % 2 ? 'current' : 'version'}"]`);
        await a.waitForTimeout(400);
      }
      await a.click('.transport-play');
      const heard = await a.evaluate(() => { window.__tap.on = false; return window.__tap.chunks.flat(); });
      assertSteady(heard, 48_000, 3.0);
      await a.click('.ab-exit');
      await a.waitForSelector('.ab-bar', { state: 'detached' });

      // A second page (an editor) receives the restore as an ordinary edit.
      const b = await openApp(browser, a.url());
      await strip(b, 'tone').locator('.fader-db', { hasText: '-6.0 dB' }).waitFor({ timeout: 15_000 });

      await version(a, 'Mix v1').locator('.version-restore').click();
      await version(a, 'Mix v1').locator('.version-status', { hasText: 'Restored' }).waitFor();
      assert.equal(await strip(a, 'tone').locator('.fader-db').textContent(), '+0.0 dB');
      assert.equal(await strip(a, 'tone').locator('.insert').count(), 0);
      await strip(b, 'tone').locator('.fader-db', { hasText: '+0.0 dB' }).waitFor({ timeout: 5_000 });
      assert.equal(await strip(b, 'tone').locator('.insert').count(), 0);
      // The restored document sounds exactly as v1 did.
      const restored = await render(a);
      assert.equal(restored.length, original.length);
      let worst = 0;
      for (let i = 0; i < restored.length; i++) worst = Math.max(worst, Math.abs(restored[i] - original[i]));
      assert.ok(rms(original) > 0.01, 'the tone plays');
      assert.equal(worst, 0, 'restored render equals the version');

      // One Ctrl+Z brings back the later state, for everyone.
      await a.click('.versions-close');
      await a.locator('body').press('Control+KeyZ');
      await strip(a, 'tone').locator('.fader-db', { hasText: '-6.0 dB' }).waitFor({ timeout: 5_000 });
      assert.equal(await strip(a, 'tone').locator('.insert').count(), 1);
      await strip(b, 'tone').locator('.fader-db', { hasText: '-6.0 dB' }).waitFor({ timeout: 5_000 });
      await b.close();
    } catch (e) {
      await keep(a, 'versions');
      throw e;
    }
  });
});
