// Renewal before expiry: exactly one new session per expiring one, each under a new
// Idempotency-Key, with the caller's handlers still attached; a hidden tab waits until shown.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { fillCard, launchBrowser, newPage, pageState, pause, setVisibility, startBroker, waitForReady } from "./harness.js";

/** Slack for timers and a loaded 2-core machine. */
const SLACK_MS = 1_500;

describe("renewal", () => {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it("re-initialises the form with a new token before each expiry, exactly once per session", async () => {
    const broker = await startBroker("renewal", { BROKER__DEMO__SESSION_LIFETIME_SECS: "15" });
    try {
      const page = await newPage(browser);
      await page.goto(`${broker.url}/?lead=5`);
      const first = await waitForReady(page);
      // expiresInSeconds is rounded down: the helper counts 14 s where 14.9 were left.
      assert.ok(first.renewAtMs - first.mintedAtMs > 8_500, "15 s session renewed 5 s ahead");

      // Two lifetimes: the first session and its successor are each renewed once.
      await page.waitForFunction(() => window.demo.renewals.length >= 2, null, { timeout: 2 * 15_000 + 5_000 });
      const state = await pageState(page);
      const tokens = [first.sessionToken, ...state.renewals.map((r) => r.to)].slice(0, 3);
      assert.equal(new Set(tokens).size, 3, "three distinct tokens");
      state.renewals.slice(0, 2).forEach((renewal, i) => {
        assert.equal(renewal.from, tokens[i], "each renewal replaces the previous session");
        assert.ok(renewal.at < renewal.previousExpiresAtMs, `renewal ${i + 1} happened before expiry`);
        assert.ok(renewal.at >= renewal.previousRenewAtMs - 50, `renewal ${i + 1} not before it was due`);
        assert.ok(renewal.at <= renewal.previousRenewAtMs + SLACK_MS, `renewal ${i + 1} on time`);
      });

      // The stand-in saw one instance per session, each torn down before the next came up.
      const instances = state.instances.slice(0, 3);
      assert.deepEqual(instances.map((i) => i.sessionToken), tokens);
      for (const [i, instance] of instances.slice(0, 2).entries()) {
        assert.ok(instance.destroyedAt !== null && instance.destroyedAt <= instances[i + 1].initializedAt);
      }

      // One Payroc session per page session, each minted under its own key.
      const fake = await broker.control();
      assert.equal(fake.sessionsCreated, state.renewals.length + 1);
      assert.equal(new Set(fake.idempotencyKeys).size, fake.idempotencyKeys.length, "a new key per session");

      // The caller's handlers followed the form onto the renewed instance.
      await fillCard(page);
      await page.click("#pay");
      await page.waitForFunction(() => window.demo.payments.length === 1, null, { timeout: 5_000 });
      const current = await pageState(page);
      assert.equal(current.domToken, current.session.sessionToken);
      assert.deepEqual(current.errors, []);
      assert.deepEqual(page.uncaught, []);
    } finally {
      await broker.stop();
    }
  });

  it("does not renew in a hidden tab, and renews at once when it becomes visible after expiry", async () => {
    const broker = await startBroker("renewal-hidden", { BROKER__DEMO__SESSION_LIFETIME_SECS: "6" });
    try {
      const page = await newPage(browser);
      await page.goto(`${broker.url}/`);
      const first = await waitForReady(page);
      await setVisibility(page, "hidden");

      // The renewal point (3 s, half a 6 s session) and the expiry pass while hidden.
      await page.waitForFunction((at) => Date.now() > at, first.expiresAtMs + 500, { timeout: 10_000 });
      const hidden = await pageState(page);
      assert.equal(hidden.renewals.length, 0, "no renewal while hidden");
      assert.equal((await broker.control()).sessionsCreated, 1);

      const shownAt = Date.now();
      await setVisibility(page, "visible");
      await page.waitForFunction(() => window.demo.renewals.length === 1, null, { timeout: 5_000 });
      assert.ok(Date.now() - shownAt < 3_000, "renewed promptly once visible");
      const shown = await pageState(page);
      assert.notEqual(shown.session.sessionToken, first.sessionToken);
      assert.equal(shown.domToken, shown.session.sessionToken);
      await pause(500);
      assert.equal((await broker.control()).sessionsCreated, 2, "exactly one renewal");
      assert.deepEqual(page.uncaught, []);
    } finally {
      await broker.stop();
    }
  });
});
