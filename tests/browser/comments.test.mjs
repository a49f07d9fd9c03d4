// Comments anchored to the song, in three browser contexts against the
// real server: a commenter drags a range on the ruler's comment strip and
// writes; the owner sees it on the timeline within a second, replies and
// resolves; the listener sees it resolved, cannot comment, and clicking
// it plays that range, looped.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openApp, keep, createProject, importTone, rename, shareLink, waitRole } from './harness.mjs';

const PX_PER_SECOND = 40;

describe('comments', () => {
  const suite = serverAndBrowser({ before, after });

  test('a comment on bars 5–8 goes round: made, seen, replied, resolved, played', async () => {
    const { server, browser } = suite;
    const owner = await openApp(browser, server.url);
    await createProject(owner, 'Notes');
    await importTone(owner, 20);
    await rename(owner, 'Ana');
    const commenter = await openApp(browser, await shareLink(server, owner, 'comment'));
    const listener = await openApp(browser, await shareLink(server, owner, 'listen'));
    for (const [page, role] of [[commenter, 'comment'], [listener, 'listen']]) {
      await waitRole(page, role);
      await page.waitForSelector('.clip', { timeout: 15_000 });
    }
    await rename(commenter, 'Mo');

    // Bars 5–8 at 120 bpm in 4/4: 8 s to 16 s, dragged on the strip.
    const strip = await commenter.$eval('.comment-strip', (s) => s.getBoundingClientRect().toJSON());
    const y = strip.top + strip.height / 2;
    await commenter.mouse.move(strip.left + 8 * PX_PER_SECOND + 2, y);
    await commenter.mouse.down();
    await commenter.mouse.move(strip.left + 12 * PX_PER_SECOND, y, { steps: 4 });
    await commenter.mouse.move(strip.left + 16 * PX_PER_SECOND + 2, y, { steps: 4 });
    await commenter.mouse.up();
    await commenter.waitForSelector('.comment-composer');
    assert.equal(await commenter.textContent('.comment-draft-range'), 'Bars 5.1 – 9.1');
    await commenter.keyboard.type('Kick <b>too</b> loud here');
    const sent = Date.now();
    await commenter.keyboard.press('Enter');

    // The owner's timeline shows it within a second, in the author's colour, marked new.
    const pin = await owner.waitForSelector('.comment-pin', { timeout: 1_000 });
    const arrived = Date.now() - sent;
    assert.ok(arrived <= 1_000, `arrived after ${arrived} ms`);
    const box = await pin.evaluate((p) => ({ left: parseFloat(p.style.left), width: parseFloat(p.style.width) }));
    assert.ok(Math.abs(box.left - 8 * PX_PER_SECOND) < 1 && Math.abs(box.width - 8 * PX_PER_SECOND) < 1, JSON.stringify(box));
    await owner.waitForSelector('.comments-new[data-count="1"]');
    await owner.click('.comments-toggle');
    const thread = owner.locator('.comment-thread').first();
    assert.equal(await thread.locator('.comment-range').textContent(), '5.1 – 9.1');
    // Plain text: the markup is shown as typed, never rendered.
    assert.equal(await thread.locator('.comment-body').textContent(), 'Mo Kick <b>too</b> loud here');
    assert.equal(await thread.locator('.comment-body b').count(), 1, 'only the author is bold');
    await thread.locator('.reply-input').fill('Fixed: kick −2 dB');
    await thread.locator('.reply-input').press('Enter');
    await owner.waitForSelector('.comment-reply');
    await owner.locator('.comment-thread .comment-resolve').click();
    await owner.waitForSelector('.comments-new', { state: 'detached' });

    // The listener sees it resolved (under All), cannot comment.
    await listener.click('.comments-toggle');
    await listener.selectOption('.comments-filter', 'all');
    await listener.waitForSelector('.comment-thread[data-resolved="true"] .comment-reply', { timeout: 5_000 });
    assert.match(await listener.textContent('.comment-reply'), /Ana Fixed: kick −2 dB/);
    assert.equal(await listener.$('.reply-input'), null);
    await listener.keyboard.press('KeyC');
    assert.equal(await listener.$('.comment-composer'), null, 'C opens no composer for a listener');
    await listener.selectOption('.comments-filter', 'open');
    await listener.waitForSelector('.comment-thread', { state: 'detached' });
    await listener.selectOption('.comments-filter', 'resolved');

    // Clicking it plays that range, looped.
    await listener.click('.comment-play');
    await listener.waitForFunction(() => document.querySelector('.engine-state')?.dataset.state === 'running', null, { timeout: 20_000 });
    await listener.waitForTimeout(1500);
    const bar = parseInt(await listener.textContent('.transport-bars'), 10);
    assert.ok(bar >= 5 && bar <= 8, `playing bar ${bar}`);
    assert.ok(await listener.$eval('.transport-loop', (b) => b.classList.contains('active') || b.getAttribute('aria-pressed') === 'true'));
    await keep(owner, 'comments-owner');
    await keep(listener, 'comments-listener');
  });
});
