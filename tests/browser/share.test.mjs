// Sharing a project, in three browser contexts against the real server:
// the owner makes links in the share dialog; a commenter and a listener
// open them and get exactly those roles, a workspace with no enabled
// editing control and keys that change nothing; a revoked link's open
// page says so and stops syncing.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openApp, keep, createProject, importTone, rename, waitRole } from './harness.mjs';

/** Controls anyone may use: transport, view, their own name, meters. */
const ALLOWED = /^(transport-\w+|snap|follow|zoom-(in|out)|help-button|show-automation|mixer-toggle|loudness-reset|my-name|comments-(toggle|filter|close)|versions-(toggle|close)|export-toggle|stream-preview|version-(changes|open)|comment-play|peer-follow|play-for-everyone|stop-following|(accept|decline)-follow)$/;

/** Makes a link in the owner's dialog; returns its address. */
async function makeLink(owner, role, label, expiry) {
  if (!(await owner.$('.share-dialog'))) await owner.click('.share-open');
  const before = (await owner.$('.share-url')) ? await owner.inputValue('.share-url') : '';
  await owner.selectOption('.share-role', role);
  await owner.fill('.share-label', label);
  await owner.selectOption('.share-expiry', { label: expiry });
  await owner.click('.share-create');
  await owner.waitForFunction((b) => {
    const input = document.querySelector('.share-url');
    return input && input.value && input.value !== b;
  }, before);
  return owner.inputValue('.share-url');
}

/** What the page shows of the document: clips and where, mutes, tracks. */
const fingerprint = (page) =>
  page.evaluate(() => [
    // Where each clip is (not how it is drawn: others' selections show).
    ...[...document.querySelectorAll('.clip')].map((c) => `${c.dataset.clipId}@${c.style.left}+${c.style.width}`).sort(),
    ...[...document.querySelectorAll('.track-mute')].map((b) => b.classList.contains('active')),
    document.querySelectorAll('.track').length,
  ].join('\n'));

describe('sharing', () => {
  const suite = serverAndBrowser({ before, after });

  test('links made in the dialog open with their roles, change nothing they may not, and stop when revoked', async () => {
    const { server, browser } = suite;
    const owner = await openApp(browser, server.url);
    await createProject(owner, 'Review pass');
    await importTone(owner, 2);
    await rename(owner, 'Ana');

    const commentUrl = await makeLink(owner, 'comment', 'Mastering engineer', '7 days');
    const listenUrl = await makeLink(owner, 'listen', 'Label A&R', '1 hour');
    assert.notEqual(commentUrl, listenUrl);
    await owner.waitForFunction(() => document.querySelectorAll('.share-link').length === 3);
    const rows = await owner.$$eval('.share-link', (r) => r.map((x) => `${x.dataset.role}:${x.dataset.status}`));
    assert.deepEqual(rows, ['owner:active', 'comment:active', 'listen:active']);
    const listenRow = owner.locator('.share-link[data-role="listen"]');
    assert.notEqual(await listenRow.locator('td').nth(3).textContent(), 'never');
    assert.equal(await listenRow.locator('td').nth(1).textContent(), 'Label A&R');

    // Editors' keys work: the control for the presses below.
    await owner.click('.clip');
    const ownerBefore = await fingerprint(owner);
    await owner.keyboard.press('KeyM');
    await owner.waitForFunction(() => [...document.querySelectorAll('.track-mute')].some((m) => m.classList.contains('active')));
    await owner.keyboard.press('Control+KeyZ');
    await owner.waitForFunction(() => ![...document.querySelectorAll('.track-mute')].some((m) => m.classList.contains('active')));
    assert.equal(await fingerprint(owner), ownerBefore);

    let listener;
    for (const [url, role, explanation] of [
      [commentUrl, 'comment', 'You can listen and comment'],
      [listenUrl, 'listen', 'You can listen and read comments'],
    ]) {
      const page = await openApp(browser, url);
      await waitRole(page, role);
      await page.waitForSelector('.clip', { timeout: 15_000 });
      const note = await page.textContent('.shared-with-you');
      assert.ok(note.includes(explanation), note);
      assert.ok(note.includes('Shared by Ana'), note);
      assert.equal(await page.$('.share-open'), null, 'only the owner manages links');

      // Every control that is enabled is one anyone may use; the editing
      // ones are there, disabled.
      const enabled = await page.$$eval('button, input, select, textarea', (els) =>
        els.filter((e) => !e.disabled && e.offsetParent !== null).map((e) => e.classList[0] ?? e.tagName));
      const editing = enabled.filter((c) => !ALLOWED.test(c));
      assert.deepEqual(editing, [], `${role}: enabled editing controls`);
      const disabled = await page.$$eval('.add-track, .fader, .track-mute, .automation-mode, .project-name', (els) => els.filter((e) => e.disabled).length);
      assert.ok(disabled >= 5, `${role}: ${disabled} editing controls shown disabled`);

      // Their editing keys change nothing, here or for the owner.
      const mine = await fingerprint(page);
      await page.click('.clip');
      for (const key of ['KeyS', 'Delete', 'KeyM', 'Shift+KeyM', 'Control+KeyZ', 'Control+Shift+KeyZ', 'Control+KeyD']) {
        await page.keyboard.press(key);
      }
      await page.waitForTimeout(500);
      assert.equal(await fingerprint(page), mine, `${role}: keys changed the page`);
      assert.equal(await fingerprint(owner), ownerBefore, `${role}: keys changed the owner's project`);
      assert.equal(await page.getAttribute('.save-state', 'data-state'), 'saved');
      if (role === 'listen') listener = page;
      else await page.close();
    }

    // Revoked: the open page says so, and stops syncing.
    await owner.locator('.share-link[data-role="listen"] .share-revoke').click();
    await owner.waitForSelector('.share-link[data-role="listen"][data-status="revoked"]');
    await listener.waitForSelector('.refused', { timeout: 25_000 });
    assert.equal(await listener.getAttribute('.save-state', 'data-state'), 'refused');
    const tracks = await listener.$$eval('.track', (t) => t.length);
    await owner.click('.add-track');
    await owner.waitForFunction((n) => document.querySelectorAll('.track').length === n + 1, tracks);
    await listener.waitForTimeout(1000);
    assert.equal(await listener.$$eval('.track', (t) => t.length), tracks, 'a revoked page goes on syncing');
    await keep(listener, 'share-revoked');
    await keep(owner, 'share-owner');
  });
});
