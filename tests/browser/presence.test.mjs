// Presence between two browser contexts through the real server: B's
// arrival and departure are announced on A's page; A sees B's colour,
// role and view, B's playhead moving on A's timeline (within 150 ms of
// B's own engine position), B's selected clip and loop range.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openApp, keep, createProject, importTone, rename, shareLink, waitRole } from './harness.mjs';

const RATE = 48_000;

describe('presence', () => {
  const suite = serverAndBrowser({ before, after });

  test("who is here, where they play, what they select and loop; joins and leaves", async () => {
    const { server, browser } = suite;
    const a = await openApp(browser, server.url);
    await createProject(a, 'Together');
    await importTone(a, 30);
    await rename(a, 'Ana');
    const b = await openApp(browser, await shareLink(server, a, 'comment'));
    await waitRole(b, 'comment');
    await rename(b, 'Mo');
    await a.waitForSelector('.announcement:has-text("joined (comment)")', { timeout: 5_000 });
    const peer = a.locator('.peer', { hasText: 'Mo' });
    await peer.waitFor();
    assert.equal(await peer.getAttribute('data-role'), 'comment');
    const colour = await peer.evaluate((p) => getComputedStyle(p).getPropertyValue('--peer').trim());
    assert.match(colour, /^hsl\(/);
    // B's view: the mixer, once B works there.
    await b.click('.mixer .strip-name');
    await a.waitForFunction(() => [...document.querySelectorAll('.peer')].some((p) => p.dataset.view === 'mixer'), null, { timeout: 5_000 });

    // B selects the clip and loops bars 3–4; A sees both in B's colour.
    await b.click('.clip');
    await a.waitForSelector('.clip.remote-selected', { timeout: 5_000 });
    await b.keyboard.press('KeyL');
    await a.waitForSelector('.remote-loop', { timeout: 5_000 });

    // B plays; B's playhead moves on A's timeline, near B's own position.
    await b.keyboard.press('KeyL');
    await b.click('.transport-play');
    await b.waitForFunction(() => document.querySelector('.engine-state')?.dataset.state === 'running', null, { timeout: 20_000 });
    await b.waitForTimeout(1500);
    const remote = a.locator('.remote-playhead', { hasText: 'Mo' });
    const first = Number(await remote.getAttribute('data-frame'));
    await a.waitForTimeout(1000);
    const [seen, own] = await Promise.all([
      a.evaluate(() => Number(document.querySelector('.remote-playhead').dataset.frame)),
      b.evaluate(() => window.stemroom.engine_position()),
    ]);
    assert.ok(seen > first + RATE / 2, `B's playhead moves on A's screen (${first} → ${seen})`);
    assert.ok(Math.abs(seen - own) < 0.15 * RATE, `A shows B at ${(seen / RATE).toFixed(3)} s, B is at ${(own / RATE).toFixed(3)} s`);
    await keep(a, 'presence-a');

    await b.close();
    await a.waitForSelector('.announcement:has-text("Mo left")', { timeout: 10_000 });
    assert.equal(await a.locator('.peer', { hasText: 'Mo' }).count(), 0);
  });
});

describe('listen together', () => {
  const suite = serverAndBrowser({ before, after });

  test('B follows A: A seeks to bar 9 and plays, B plays within 50 ms of A; B\'s own action ends it', async () => {
    const { server, browser } = suite;
    const a = await openApp(browser, server.url);
    await createProject(a, 'Follow me');
    await importTone(a, 40);
    await rename(a, 'Ana');
    const b = await openApp(browser, a.url());
    await b.waitForSelector('.clip', { timeout: 15_000 });
    await b.locator('.peer', { hasText: 'Ana' }).locator('.peer-follow').click();
    await b.waitForSelector('.following');
    await b.waitForFunction(() => document.querySelector('.engine-state')?.dataset.state === 'running', null, { timeout: 20_000 });

    // A seeks to bar 9 (16 s at 120 bpm) on the ruler and plays.
    const ruler = await a.$eval('.ruler-lane', (r) => r.getBoundingClientRect().toJSON());
    await a.mouse.click(ruler.left + 16 * 40, ruler.top + ruler.height - 3);
    await a.click('.transport-play');
    await a.waitForFunction(() => document.querySelector('.engine-state')?.dataset.state === 'running', null, { timeout: 20_000 });
    await b.waitForFunction(() => window.stemroom.engine_position() > 16 * 48_000, null, { timeout: 10_000 });
    await a.waitForTimeout(1500);
    const gaps = [];
    for (let i = 0; i < 5; i++) {
      const [pa, pb] = await Promise.all([
        a.evaluate(() => window.stemroom.engine_position()),
        b.evaluate(() => window.stemroom.engine_position()),
      ]);
      assert.ok(pa > 16 * RATE && pa < 22 * RATE, `A plays from bar 9 (${(pa / RATE).toFixed(3)} s)`);
      gaps.push(Math.abs(pa - pb) / RATE * 1000);
      await a.waitForTimeout(200);
    }
    gaps.sort((x, y) => x - y);
    console.log(`follower gap: ${gaps.map((g) => g.toFixed(1)).join(', ')} ms`);
    assert.ok(gaps[2] < 50, `B is ${gaps.map((g) => g.toFixed(1)).join(', ')} ms from A`);

    // A seeks back to bar 3 while playing: B follows at once.
    await a.mouse.click(ruler.left + 4 * 40, ruler.top + ruler.height - 3);
    await b.waitForFunction(() => window.stemroom.engine_position() < 10 * 48_000, null, { timeout: 2_000 });
    await a.waitForTimeout(500);
    const [qa, qb] = await Promise.all([
      a.evaluate(() => window.stemroom.engine_position()),
      b.evaluate(() => window.stemroom.engine_position()),
    ]);
    console.log(`after a seek while playing: B is ${(Math.abs(qa - qb) / RATE * 1000).toFixed(1)} ms from A`);
    assert.ok(qa > 4 * RATE && qa < 8 * RATE, `A plays from bar 3 (${(qa / RATE).toFixed(3)} s)`);
    assert.ok(Math.abs(qa - qb) < 0.05 * RATE, `after a seek, B is ${(Math.abs(qa - qb) / RATE * 1000).toFixed(1)} ms from A`);

    // A stops: B stops. B's own transport action ends the follow.
    await a.click('.transport-play');
    await b.waitForFunction(() => !document.querySelector('.transport-play').classList.contains('active'), null, { timeout: 5_000 });
    await b.click('.transport-home');
    await b.waitForSelector('.following', { state: 'detached' });
    await keep(b, 'follow-b');

    // Play for everyone: B is asked, in the page.
    await a.click('.play-for-everyone');
    await b.waitForSelector('.follow-invite:has-text("Ana asks everyone to follow")', { timeout: 5_000 });
    await b.click('.accept-follow');
    await b.waitForSelector('.following');
  });
});
