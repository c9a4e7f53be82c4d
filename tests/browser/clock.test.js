// A shopper whose computer clock is 15 minutes fast or slow: renewal follows the broker's
// `expiresInSeconds` and the page's monotonic clock, so it neither renews in a loop (a fast
// clock would think every session already expired) nor lets the session die (a slow one
// would think it had 15 more minutes).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { fillCard, launchBrowser, newPage, pageState, pause, skewClock, startBroker, waitForReady } from "./harness.js";

/** Demo sessions live 10 s; the helper renews them at half-life, 5 s after each arrived. */
const LIFETIME_SECS = 10;
/** Watched after the first form is up: renewals due at ~5 s and ~10 s, the third at ~15 s. */
const WINDOW_MS = 12_500;
const EXPECTED_RENEWALS = 2;
/** How often the form's session is checked against the real clock. */
const SAMPLE_EVERY_MS = 100;

describe("renewal with a wrong device clock", () => {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  for (const [name, offsetMs] of [["15 minutes fast", 15 * 60_000], ["15 minutes slow", -15 * 60_000]]) {
    it(`renews exactly on schedule and never shows an expired form when the clock is ${name}`, async () => {
      const broker = await startBroker(`clock-${offsetMs > 0 ? "fast" : "slow"}`, { BROKER__DEMO__SESSION_LIFETIME_SECS: String(LIFETIME_SECS) });
      try {
        const page = await newPage(browser);
        await skewClock(page, offsetMs);
        await page.goto(`${broker.url}/`);
        const first = await waitForReady(page);
        const startedAt = Date.now();

        assert.equal(first.expirySource, "expiresInSeconds", "timed by the broker's expiresInSeconds");
        assert.ok(first.expiresInSeconds > LIFETIME_SECS - 2 && first.expiresInSeconds <= LIFETIME_SECS, `expiresInSeconds ${first.expiresInSeconds}`);
        assert.ok(Math.abs(first.clockOffsetMs + offsetMs) < 2_000, `the skew is still seen: clock offset ${first.clockOffsetMs}`);
        const planned = first.renewAtMono - first.mintedAtMono;
        assert.ok(planned > 4_000 && planned <= 5_000, `renewal planned ${planned} ms after the answer`);

        // Sample the form against the real clock (the broker's): its session is never expired.
        const expiryOf = new Map([[first.sessionToken, Date.parse(first.expiresAt)]]);
        let samples = 0;
        while (Date.now() - startedAt < WINDOW_MS) {
          const seen = await page.evaluate(() => ({
            session: window.demo.checkout.session,
            domToken: document.querySelector("#card-number")?.dataset.sessionToken ?? null,
            countdown: document.querySelector("#countdown").textContent,
          }));
          const now = Date.now();
          expiryOf.set(seen.session.sessionToken, Date.parse(seen.session.expiresAt));
          assert.ok(expiryOf.has(seen.domToken), "the form runs on a session the helper minted");
          assert.ok(expiryOf.get(seen.domToken) > now, `the form's session expired ${now - expiryOf.get(seen.domToken)} ms ago`);
          assert.notEqual(seen.countdown, "expired");
          samples += 1;
          await pause(SAMPLE_EVERY_MS);
        }
        assert.ok(samples > 50, `${samples} samples`);

        const state = await pageState(page);
        assert.equal(state.renewals.length, EXPECTED_RENEWALS, `renewals in ${WINDOW_MS} ms: ${JSON.stringify(state.renewals)}`);
        assert.equal((await broker.control()).sessionsCreated, EXPECTED_RENEWALS + 1, "one Payroc session per page session");
        for (const renewal of state.renewals) {
          assert.ok(renewal.at >= renewal.previousRenewAtMs - 50, "not renewed before it was due");
          assert.ok(renewal.at < renewal.previousExpiresAtMs, "renewed before the session expired");
        }

        // The renewed form still takes a payment (the stand-in checks the session's expiry).
        await fillCard(page);
        await page.click("#pay");
        await page.waitForFunction(() => window.demo.payments.length === 1, null, { timeout: 5_000 });
        assert.deepEqual((await pageState(page)).errors, []);
        assert.deepEqual(page.uncaught, []);
      } finally {
        await broker.stop();
      }
    });
  }
});
