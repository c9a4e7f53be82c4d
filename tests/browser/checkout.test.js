// The demo page loads, builds the stand-in form with the session the broker minted (script
// loaded once, with SRI), submits, and corrects for a wrong browser clock.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { fillCard, launchBrowser, newPage, pageState, pause, skewClock, startBroker, waitForReady } from "./harness.js";

describe("the demo checkout", () => {
  let browser;
  let broker;

  before(async () => {
    browser = await launchBrowser();
    broker = await startBroker("checkout", { BROKER__DEMO__SESSION_LIFETIME_SECS: "60" });
  });
  after(async () => {
    await browser?.close();
    await broker?.stop();
  });

  it("builds the stand-in form with the token the broker minted, loading the library once with SRI", async () => {
    const page = await newPage(browser);
    const sessionResponse = page.waitForResponse((r) => r.url().endsWith("/hosted-fields/session"));
    await page.goto(`${broker.url}/`);
    const minted = await (await sessionResponse).json();
    const session = await waitForReady(page);

    assert.equal(session.sessionToken, minted.sessionToken);
    const state = await pageState(page);
    assert.equal(state.domToken, minted.sessionToken, "the form's fields carry the minted token");
    assert.deepEqual(state.instances.map((i) => i.sessionToken), [minted.sessionToken]);
    assert.equal(state.instances[0].mode, "payment");
    assert.equal(await page.locator("#token-tail").textContent(), `…${minted.sessionToken.slice(-6)}`);

    // The demo's Apple Pay stand-in is the page's own script, not the helper's.
    const scripts = await page.evaluate(() => [...document.querySelectorAll("script[src]")]
      .filter((s) => !s.src.endsWith("/demo/apple-pay-standin.js"))
      .map((s) => ({ src: s.src, integrity: s.integrity, crossOrigin: s.crossOrigin })));
    assert.deepEqual(scripts, [{ src: minted.scriptUrl, integrity: minted.scriptIntegrity, crossOrigin: "anonymous" }]);
    assert.match(minted.scriptIntegrity, /^sha384-[A-Za-z0-9+/]{64}$/);

    const fake = await broker.control();
    assert.equal(fake.sessionsCreated, 1);
    assert.deepEqual(fake.idempotencyKeys, [session.idempotencyKey]);
    assert.deepEqual(page.uncaught, []);
    await page.context().close();
  });

  it("serves two shops: each loopback origin gets its own account's terminal", async () => {
    const port = new URL(broker.url).port;
    const shops = [[`http://127.0.0.1:${port}`, "1234001"], [`http://localhost:${port}`, "2234001"]];
    for (const [origin, terminal] of shops) {
      const page = await newPage(browser);
      await page.goto(`${origin}/`);
      const session = await waitForReady(page);
      assert.equal(session.processingTerminalId, terminal, origin);
      assert.equal(await page.locator("#terminal").textContent(), terminal);
      assert.deepEqual(page.uncaught, []);
      await page.context().close();
    }
  });

  it("runs the caller's submissionSuccess handler when the shopper pays", async () => {
    const page = await newPage(browser);
    await page.goto(`${broker.url}/`);
    await waitForReady(page);
    await fillCard(page);
    await page.click("#pay");
    await page.waitForFunction(() => window.demo.payments.length === 1, null, { timeout: 5_000 });
    const { payments } = await pageState(page);
    assert.match(payments[0].token, /^standin_[0-9a-f]{24}$/);
    assert.match(await page.locator("#result").textContent(), /^Paid: card token …/);
    assert.deepEqual(page.uncaught, []);
    await page.context().close();
  });

  it("reports a library whose bytes do not match the SRI hash, instead of running it", async () => {
    const page = await newPage(browser);
    await page.route("**/js/hosted-fields/*.js", async (route) => {
      const original = await route.fetch();
      await route.fulfill({ response: original, body: `${await original.text()}\n// tampered\n` });
    });
    await page.goto(`${broker.url}/`);
    await page.waitForFunction(() => window.demo.errors.length > 0, null, { timeout: 10_000 });
    const state = await pageState(page);
    assert.equal(state.errors[0].title, "The payment library did not load");
    assert.match(state.errors[0].detail, /integrity/);
    assert.equal(state.state, "failed");
    assert.deepEqual(state.instances, [], "the tampered script never ran");
    assert.deepEqual(page.uncaught, []);
    await page.context().close();
  });

  // Both timings: the broker's expiresInSeconds, and (a broker that omits it) expiresAt with
  // the skew read from the Date header.
  for (const [source, strip] of [["expiresInSeconds", false], ["expiresAt", true]]) {
    it(`plans renewal from ${source} when the browser's clock is 10 minutes fast`, async () => {
      const created = (await broker.control()).sessionsCreated;
      const page = await newPage(browser);
      await skewClock(page, 10 * 60_000);
      if (strip) {
        await page.route("**/hosted-fields/session", async (route) => {
          const original = await route.fetch();
          const { expiresInSeconds, ...older } = await original.json();
          assert.equal(typeof expiresInSeconds, "number");
          await route.fulfill({ response: original, body: JSON.stringify(older) });
        });
      }
      await page.goto(`${broker.url}/`);
      const session = await waitForReady(page);
      assert.equal(session.expirySource, source);

      // Taken at face value, the expiry would look long past and the session be renewed at once.
      assert.ok(Math.abs(session.clockOffsetMs + 600_000) < 2_000, `clock offset ${session.clockOffsetMs}`);
      const { now } = await pageState(page);
      const secondsLeft = (session.expiresAtMs - now) / 1000;
      assert.ok(secondsLeft > 55 && secondsLeft <= 61, `expires in ${secondsLeft} s on the skewed clock`);
      assert.ok(session.renewAtMs - now > 25_000, "renewal planned in the future");
      await pause(1_500);
      const later = await pageState(page);
      assert.equal(later.renewals.length, 0);
      assert.notEqual(await page.locator("#countdown").textContent(), "expired");
      assert.equal((await broker.control()).sessionsCreated, created + 1);
      await page.context().close();
    });
  }
});
