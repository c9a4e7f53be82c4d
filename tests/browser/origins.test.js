// The checkout on a merchant's own origin, calling the broker cross-origin: an allowed origin
// works end to end (with a wrong clock too), a disallowed one gets a clear error.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import {
  STATIC, demoPageRoute, fillCard, launchBrowser, newPage, pageState, skewClock, startBroker, startStaticServer, waitForReady,
} from "./harness.js";

/** A merchant page that hosts its own copy of the helper and records what onError gets. */
const SELF_HOSTED_PAGE = `<!doctype html>
<meta charset="utf-8"><title>self-hosted helper</title>
<div id="card-number"></div>
<script type="module">
  import { createCheckout } from "./broker.js";
  const broker = new URLSearchParams(location.search).get("broker");
  window.problems = [];
  window.checkout = createCheckout({
    brokerUrl: broker,
    retries: 1,
    retryBaseMs: 100,
    fields: { card: { cardNumber: { target: "#card-number" } } },
    onError: (p) => window.problems.push({ title: p.title, detail: p.detail, type: p.type, willRetry: p.willRetry }),
  });
  window.started = window.checkout.start();
</script>`;

describe("cross-origin pages", () => {
  let browser;
  let broker;
  let allowed;
  let disallowed;

  before(async () => {
    browser = await launchBrowser();
    const helperRoute = { type: "text/javascript", body: () => readFile(join(STATIC, "broker.js"), "utf8") };
    const selfHosted = { type: "text/html; charset=utf-8", body: () => SELF_HOSTED_PAGE };
    allowed = await startStaticServer({ "/": demoPageRoute });
    disallowed = await startStaticServer({ "/": demoPageRoute, "/self-hosted.html": selfHosted, "/broker.js": helperRoute });
    broker = await startBroker("origins", { BROKER__CORS__ALLOWED_ORIGINS: allowed.origin });
  });
  after(async () => {
    await browser?.close();
    await broker?.stop();
    await allowed?.stop();
    await disallowed?.stop();
  });

  it("works end to end from an allowed origin, with the browser's clock 5 minutes slow", async () => {
    const page = await newPage(browser);
    await skewClock(page, -5 * 60_000);
    await page.goto(`${allowed.origin}/?broker=${encodeURIComponent(broker.url)}`);
    const session = await waitForReady(page);

    assert.equal(new URL(page.url()).origin, allowed.origin);
    assert.equal(await page.locator("#broker-origin").textContent(), broker.url);
    // The session's answer (CORS-readable) reveals the 5-minute-slow clock.
    assert.ok(Math.abs(session.clockOffsetMs - 300_000) < 2_000, `clock offset ${session.clockOffsetMs}`);
    const state = await pageState(page);
    assert.equal(state.domToken, session.sessionToken);

    await fillCard(page);
    await page.click("#pay");
    await page.waitForFunction(() => window.demo.payments.length === 1, null, { timeout: 5_000 });
    assert.deepEqual((await pageState(page)).errors, []);
    assert.deepEqual(page.uncaught, []);
    await page.context().close();
  });

  it("gets the broker's 403 for Apple Pay on an allowed origin that is not an Apple Pay domain: sheet aborted, problem shown", async () => {
    const page = await newPage(browser);
    await page.goto(`${allowed.origin}/?broker=${encodeURIComponent(broker.url)}`);
    await waitForReady(page);
    await page.click("#apple-pay");
    await page.waitForFunction(() => window.demo.applePay.outcomes.length === 1, null, { timeout: 10_000 });

    const { outcomes, sessions } = await page.evaluate(() => ({ outcomes: window.demo.applePay.outcomes, sessions: window.ApplePaySession.sessions }));
    assert.equal(outcomes[0].outcome, "failed");
    assert.equal(sessions[0].aborted, true, "session.abort() was called");
    assert.equal(sessions[0].merchantSession, null);
    const { errors } = await pageState(page);
    assert.deepEqual(errors.map((e) => [e.status, e.willRetry, e.phase]), [[403, false, "merchantValidation"]]);
    assert.ok(errors[0].detail.length > 0);
    assert.match(await page.locator("#apple-pay-steps").textContent(), /403 /);
    assert.deepEqual(page.uncaught, []);
    await page.context().close();
  });

  it("shows a clear error on the demo page from a disallowed origin", async () => {
    const before = await broker.control();
    const page = await newPage(browser);
    await page.goto(`${disallowed.origin}/?broker=${encodeURIComponent(broker.url)}&retries=1`);
    await page.waitForFunction(() => window.demo.errors.some((e) => !e.willRetry), null, { timeout: 10_000 });

    const { errors, instances } = await pageState(page);
    const final = errors.find((e) => !e.willRetry);
    assert.match(final.detail, new RegExp(`origin \\(${disallowed.origin}\\) is not allowed by (the broker's|its) CORS configuration`));
    assert.deepEqual(instances, [], "no form");
    assert.equal((await broker.control()).sessionCalls, before.sessionCalls, "no session was made");
    assert.deepEqual(page.uncaught, []);
    await page.context().close();
  });

  it("reports a disallowed origin through onError when the page hosts the helper itself", async () => {
    const page = await newPage(browser);
    await page.goto(`${disallowed.origin}/self-hosted.html?broker=${encodeURIComponent(broker.url)}`);
    const started = await page.evaluate(() => window.started);
    assert.equal(started, null, "start() resolves null when it gives up");

    const problems = await page.evaluate(() => window.problems);
    assert.equal(problems.length, 2, "one retry, then the final report");
    assert.deepEqual(problems.map((p) => p.willRetry), [true, false]);
    assert.equal(problems[1].type, "urn:hosted-fields-broker:client:network");
    assert.equal(problems[1].title, "Cannot reach the payment service");
    assert.equal(
      problems[1].detail,
      `The payment service at ${broker.url} answered, but not to this page: this page's origin (${disallowed.origin}) is not allowed by the broker's CORS configuration.`,
    );
    assert.equal(await page.evaluate(() => window.checkout.state), "failed");
    assert.deepEqual(page.uncaught, []);
    await page.context().close();
  });
});
