// Apple Pay next to the card form: the demo's stand-in ApplePaySession drives the helper's
// merchant validation through the real broker and the fake Payroc; a browser without Apple Pay
// (or a device that cannot pay) is told so and the card form keeps working; a broker failure
// aborts the sheet and shows the problem.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { fillCard, launchBrowser, newPage, pageState, pause, startBroker, waitForReady } from "./harness.js";

/** The sandbox gateway the stand-in names, as Safari does in Apple's test environment. */
const VALIDATION_URL = "https://apple-pay-gateway-cert.apple.com/paymentservices/startSession";
const SHEET = "#apple-pay-standin-sheet";

/** Pays with the card form: the checkout works whatever Apple Pay did. */
async function payByCard(page) {
  await fillCard(page);
  await page.click("#pay");
  await page.waitForFunction(() => window.demo.payments.some((p) => !p.applePay), null, { timeout: 5_000 });
}

/** What the stand-in recorded of its sessions, and the page's Apple Pay log. */
function applePayState(page) {
  return page.evaluate(() => ({
    sessions: window.ApplePaySession?.sessions ?? [],
    outcomes: window.demo.applePay.outcomes,
    steps: window.demo.applePay.steps,
    availability: window.demo.applePay.availability,
    helperState: window.demo.applePay.helper?.state,
  }));
}

/** A problem+json answer such as the broker gives. */
function problemAnswer(status, title, detail) {
  return {
    status,
    headers: { "Content-Type": "application/problem+json", "Cache-Control": "no-store", "Access-Control-Allow-Origin": "*" },
    body: JSON.stringify({ type: "about:blank", title, status, detail }),
  };
}

describe("Apple Pay", () => {
  let browser;
  let broker;
  before(async () => {
    browser = await launchBrowser();
    broker = await startBroker("applepay", { BROKER__DEMO__SESSION_LIFETIME_SECS: "120" });
  });
  after(async () => {
    await browser?.close();
    await broker?.stop();
  });

  for (const host of ["127.0.0.1", "localhost"]) {
    it(`validates the merchant through the broker and the fake Payroc, then hands the authorized payment to the page (${host} shop)`, async () => {
      const page = await newPage(browser);
      await page.goto(`http://${host}:${new URL(broker.url).port}/`);
      await waitForReady(page);
      await page.waitForSelector("#apple-pay", { state: "visible" });
      assert.deepEqual((await applePayState(page)).availability, { available: true });

      const validation = page.waitForResponse((r) => r.url().endsWith("/apple-pay/session"));
      await page.click("#apple-pay");
      const response = await validation;
      const request = response.request();
      assert.equal(request.method(), "POST");
      assert.deepEqual(request.postDataJSON(), { validationUrl: VALIDATION_URL });
      assert.equal(await request.headerValue("authorization"), null, "a browser call carries no credentials");
      assert.equal(response.status(), 200);
      assert.equal(response.headers()["cache-control"], "no-store");
      const { merchantSession } = await response.json();
      for (const field of ["epochTimestamp", "expiresAt", "merchantSessionIdentifier", "nonce", "merchantIdentifier", "domainName", "displayName", "signature"]) {
        assert.ok(field in merchantSession, `the merchant session has ${field}`);
      }

      // The sheet got exactly the broker's merchant session and waits for the shopper.
      await page.waitForSelector(`${SHEET} [data-action=authorize]:enabled`);
      let state = await applePayState(page);
      assert.equal(state.sessions.length, 1);
      assert.deepEqual(state.sessions[0].merchantSession, merchantSession, "completeMerchantValidation got the merchant session object");
      assert.equal(state.sessions[0].state, "sheet");
      assert.equal(state.helperState, "sheet");

      await page.click(`${SHEET} [data-action=authorize]`);
      await page.waitForFunction(() => window.demo.applePay.outcomes.length === 1, null, { timeout: 5_000 });
      state = await applePayState(page);
      assert.deepEqual(state.outcomes, [{ outcome: "authorized" }]);
      assert.deepEqual(state.sessions[0].paymentResults, [{ status: 0 }], "completePayment(STATUS_SUCCESS)");
      assert.equal(state.sessions[0].aborted, false);
      assert.match(await page.locator("#result").textContent(), /^Paid with Apple Pay: Visa 4242 \(transaction …[0-9A-F]{6}\)\.$/);
      await page.waitForSelector(SHEET, { state: "detached" });

      // Each step of the round trip is on the page, in order.
      const steps = await page.locator("#apple-pay-steps li").allTextContents();
      const order = ["applePay.begin()", "onvalidatemerchant", "POST /apple-pay/session → 200", "completeMerchantValidation: merchant", "onpaymentauthorized", "onPaymentAuthorized", "completePayment(ApplePaySession.STATUS_SUCCESS)", "the sheet closed: authorized"];
      let at = -1;
      for (const text of order) {
        const index = steps.findIndex((step, i) => i > at && step.includes(text));
        assert.ok(index > at, `step "${text}" after the previous ones: ${JSON.stringify(steps)}`);
        at = index;
      }
      const { errors, payments } = await pageState(page);
      assert.deepEqual(errors, []);
      assert.equal(payments.length, 1);
      assert.deepEqual(page.uncaught, []);
      await page.context().close();
    });
  }

  it("says Apple Pay is unavailable in a browser without ApplePaySession, and the card form keeps working", async () => {
    const page = await newPage(browser);
    const standIn = [];
    page.on("request", (r) => r.url().includes("apple-pay-standin") && standIn.push(r.url()));
    await page.goto(`${broker.url}/?applepay=off`);
    await waitForReady(page);
    await page.waitForFunction(() => window.demo.applePay.availability !== null);
    const state = await applePayState(page);
    assert.equal(state.availability.available, false);
    assert.equal(state.availability.reason, "no-apple-pay");
    assert.ok(state.availability.detail.length > 0);
    assert.equal(await page.locator("#apple-pay").isVisible(), false, "no Apple Pay button");
    assert.match(await page.locator("#apple-pay-note").textContent(), /not available here \(no-apple-pay\)/);
    assert.deepEqual(standIn, []);
    // begin() does not throw either: it says why nothing opened.
    const outcome = await page.evaluate(() => window.demo.applePay.helper.begin());
    assert.equal(outcome.outcome, "unavailable");
    assert.equal(outcome.reason, "no-apple-pay");

    await payByCard(page);
    assert.deepEqual((await pageState(page)).errors, []);
    assert.deepEqual(page.uncaught, []);
    await page.context().close();
  });

  it("says so when canMakePayments() is false (the browser's own ApplePaySession, no stand-in), and the card form keeps working", async () => {
    const page = await newPage(browser);
    await page.addInitScript(() => {
      window.ApplePaySession = class {
        static canMakePayments() {
          return false;
        }
        static supportsVersion() {
          return true;
        }
      };
    });
    const standIn = [];
    page.on("request", (r) => r.url().includes("apple-pay-standin") && standIn.push(r.url()));
    await page.goto(`${broker.url}/`);
    await waitForReady(page);
    await page.waitForFunction(() => window.demo.applePay.availability !== null);
    const state = await applePayState(page);
    assert.equal(state.availability.available, false);
    assert.equal(state.availability.reason, "cannot-make-payments");
    assert.deepEqual(standIn, [], "a browser's own ApplePaySession is never replaced");
    assert.equal(await page.locator("#apple-pay").isVisible(), false);
    assert.match(await page.locator("#apple-pay-note").textContent(), /cannot-make-payments/);

    await payByCard(page);
    assert.deepEqual((await pageState(page)).errors, []);
    assert.deepEqual(page.uncaught, []);
    await page.context().close();
  });

  it("aborts the sheet and shows the problem when the broker answers 502, after its retries", async () => {
    const page = await newPage(browser);
    const attempts = [];
    await page.route("**/apple-pay/session", (route) => {
      attempts.push(route.request().postDataJSON());
      return route.fulfill(problemAnswer(502, "Payroc answered badly", "Payroc's Apple Pay session endpoint answered 500."));
    });
    await page.goto(`${broker.url}/`);
    await waitForReady(page);
    await page.click("#apple-pay");
    await page.waitForFunction(() => window.demo.applePay.outcomes.length === 1, null, { timeout: 15_000 });

    const state = await applePayState(page);
    assert.equal(attempts.length, 3, "a 502 is retried twice");
    assert.deepEqual(state.outcomes, [{ outcome: "failed", problem: "Payroc answered badly" }]);
    assert.equal(state.sessions[0].aborted, true, "session.abort() was called");
    assert.equal(state.sessions[0].merchantSession, null, "never completed with anything");
    await page.waitForSelector(SHEET, { state: "detached" });

    const { errors } = await pageState(page);
    assert.deepEqual(errors.map((e) => [e.status, e.willRetry, e.phase]), [[502, true, "merchantValidation"], [502, true, "merchantValidation"], [502, false, "merchantValidation"]]);
    assert.match(await page.locator("#errors").textContent(), /502 Payroc answered badly/);
    assert.match(await page.locator("#result").textContent(), /^Apple Pay: Payroc answered badly\. Payroc's Apple Pay session endpoint answered 500\.$/);

    // Apple Pay failed; the card form did not.
    await payByCard(page);
    assert.deepEqual(page.uncaught, []);
    await page.context().close();
  });

  it("does not retry a 403 (origin not set up for Apple Pay): one request, the sheet aborted, the problem shown", async () => {
    const page = await newPage(browser);
    let attempts = 0;
    await page.route("**/apple-pay/session", (route) => {
      attempts += 1;
      return route.fulfill(problemAnswer(403, "Apple Pay is not set up for this origin", "Origin http://127.0.0.1 is not an Apple Pay domain of this account."));
    });
    await page.goto(`${broker.url}/`);
    await waitForReady(page);
    await page.click("#apple-pay");
    await page.waitForFunction(() => window.demo.applePay.outcomes.length === 1, null, { timeout: 5_000 });

    const state = await applePayState(page);
    assert.equal(attempts, 1);
    assert.equal(state.outcomes[0].outcome, "failed");
    assert.equal(state.sessions[0].aborted, true);
    const { errors } = await pageState(page);
    assert.equal(errors.length, 1);
    assert.equal(errors[0].status, 403);
    assert.equal(errors[0].willRetry, false);
    assert.match(await page.locator("#apple-pay-steps").textContent(), /403 Apple Pay is not set up for this origin/);
    assert.deepEqual(page.uncaught, []);
    await page.context().close();
  });

  it("refuses to open the sheet outside a click, as Safari does, with a problem that says why", async () => {
    const page = await newPage(browser);
    await page.goto(`${broker.url}/`);
    await waitForReady(page);
    await page.waitForSelector("#apple-pay", { state: "visible" });
    // Playwright's own evaluations count as a gesture: go through CDP without one, once the
    // page's transient activation (a few seconds) has lapsed.
    const cdp = await page.context().newCDPSession(page);
    const evaluate = async (expression) => (await cdp.send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true, userGesture: false })).result.value;
    const deadline = Date.now() + 10_000;
    while (await evaluate("navigator.userActivation.isActive")) {
      assert.ok(Date.now() < deadline, "the page's user activation lapses");
      await pause(250);
    }
    const outcome = await evaluate(`window.demo.applePay.helper.begin().then((result) => ({
      outcome: result.outcome, type: result.problem?.type, title: result.problem?.title, detail: result.problem?.detail }))`);
    assert.equal(outcome.outcome, "failed");
    assert.equal(outcome.type, "urn:hosted-fields-broker:client:apple-pay");
    assert.equal(outcome.title, "Apple Pay could not start");
    assert.match(outcome.detail, /user gesture.*click/);
    assert.equal((await applePayState(page)).sessions.length, 0);
    assert.deepEqual(page.uncaught, []);
    await page.context().close();
  });
});
