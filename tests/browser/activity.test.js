// Renewal never pulls the form from under a typing shopper; a session that died mid-entry is
// rebuilt on the failed submission, with a message instead of a dead form.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { fillCard, launchBrowser, newPage, pageState, pause, startBroker, waitForReady } from "./harness.js";

/**
 * Types one key into the focused field every `everyMs` until the page's clock passes
 * `untilMs`; returns what was typed.
 */
async function typeUntil(page, untilMs, everyMs = 400) {
  let typed = "";
  while ((await page.evaluate(() => Date.now())) < untilMs) {
    const key = typed.length % 2 === 0 ? "4" : "2";
    await page.keyboard.press(key);
    typed += key;
    await pause(everyMs);
  }
  return typed;
}

describe("renewal and a shopper at work", () => {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it("waits while the shopper types or stays in a field, then renews exactly once when the form is idle", async () => {
    const broker = await startBroker("activity", { BROKER__DEMO__SESSION_LIFETIME_SECS: "24" });
    try {
      const page = await newPage(browser);
      await page.goto(`${broker.url}/?lead=10&idle=2`);
      const first = await waitForReady(page);

      // Typing from 3 s before the renewal point (14 s) until 2 s after it.
      await page.waitForFunction((at) => Date.now() >= at, first.renewAtMs - 3_000, { timeout: 20_000 });
      await page.click("#card-number input");
      const typed = await typeUntil(page, first.renewAtMs + 2_000);
      assert.equal((await pageState(page)).renewals.length, 0, "no renewal while typing");

      // Stopped typing, but the focus is still in the card number: still in use.
      await pause(3_000);
      const focused = await pageState(page);
      assert.equal(focused.renewals.length, 0, "no renewal while a field has the focus");
      assert.equal(focused.instances.length, 1);
      assert.equal(await page.inputValue("#card-number input"), typed, "what was typed is intact");

      // Leaving the field makes the form idle: one renewal, still before expiry.
      const leftAt = await page.evaluate(() => Date.now());
      await page.click("h1");
      await page.waitForFunction(() => window.demo.renewals.length === 1, null, { timeout: 4_000 });
      const renewed = await pageState(page);
      assert.ok(renewed.renewals[0].at >= leftAt, "renewed only after the shopper left the field");
      assert.ok(renewed.renewals[0].at < first.expiresAtMs, "and before the session expired");
      await pause(1_000);
      assert.equal((await pageState(page)).renewals.length, 1, "exactly one renewal");
      assert.equal((await broker.control()).sessionsCreated, 2);
      assert.deepEqual(page.uncaught, []);
    } finally {
      await broker.stop();
    }
  });

  it("rebuilds a form whose session died mid-entry when the shopper submits, with a clear message", async () => {
    const broker = await startBroker("activity-expired", { BROKER__DEMO__SESSION_LIFETIME_SECS: "8" });
    try {
      const page = await newPage(browser);
      await page.goto(`${broker.url}/?idle=5`);
      const first = await waitForReady(page);

      // The shopper types through the renewal point and past the expiry, then pays.
      await page.click("#card-number input");
      await typeUntil(page, first.expiresAtMs + 300);
      await page.click("#pay");
      await page.waitForFunction(() => window.demo.renewals.length === 1, null, { timeout: 5_000 });

      const state = await pageState(page);
      assert.equal(state.errors.length, 1);
      assert.equal(state.errors[0].title, "The payment form expired");
      assert.match(state.errors[0].detail, /enter your card details again/);
      assert.match(await page.locator("#result").textContent(), /enter your card details again/);
      assert.equal(state.instances[0].submissions, 1, "the submission reached the expired form");
      assert.notEqual(state.session.sessionToken, first.sessionToken);
      assert.equal(state.domToken, state.session.sessionToken);
      assert.equal(await page.inputValue("#card-number input"), "", "a fresh, empty form");

      // The rebuilt form works.
      await fillCard(page);
      await page.click("#pay");
      await page.waitForFunction(() => window.demo.payments.length === 1, null, { timeout: 5_000 });
      assert.equal((await broker.control()).sessionsCreated, 2);
      assert.deepEqual(page.uncaught, []);
    } finally {
      await broker.stop();
    }
  });
});
