// Broker problems reach the page's error callback (title, detail, status, Retry-After) instead
// of vanishing, and the helper retries only what is worth retrying.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { launchBrowser, newPage, pageState, startBroker, waitForReady } from "./harness.js";

describe("broker problems", () => {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it("reports a 503 (no usable Payroc token) with its detail, retries after Retry-After and recovers", async () => {
    const broker = await startBroker("errors-503");
    try {
      // The broker's next Payroc call gets 401, it drops its token, the refetch fails: 503.
      await broker.control({ identityFault: "down", revokeTokens: true });
      const page = await newPage(browser);
      await page.goto(`${broker.url}/?retries=8`);
      await page.waitForFunction(() => window.demo.errors.some((e) => e.status === 503), null, { timeout: 10_000 });

      const { errors, state } = await pageState(page);
      const outage = errors.find((e) => e.status === 503);
      assert.equal(outage.title, "Payroc is unavailable");
      assert.match(outage.detail, /no usable Payroc access token/);
      assert.equal(outage.willRetry, true, "a 503 is retried");
      assert.equal(outage.phase, "start");
      assert.notEqual(state, "ready");
      assert.match(await page.locator("#errors").textContent(), /503 Payroc is unavailable/);

      await broker.control({ identityFault: "none" });
      await waitForReady(page, 20_000);
      assert.equal((await broker.control()).sessionsCreated, 1);
      assert.deepEqual(page.uncaught, []);
    } finally {
      await broker.stop();
    }
  });

  it("reports a 429 with Retry-After, then gets the session once the limit allows", async () => {
    const broker = await startBroker("errors-429", {
      BROKER__RATE_LIMIT__PER_SECOND: "1",
      BROKER__RATE_LIMIT__BURST: "1",
    });
    try {
      const page = await newPage(browser);
      // Spend this IP's only token just before the page's first session request goes out.
      let spent = false;
      await page.route("**/hosted-fields/session", async (route) => {
        if (!spent) {
          spent = true;
          const response = await fetch(`${broker.url}/hosted-fields/session`, { method: "POST" });
          assert.equal(response.status, 201);
        }
        await route.continue();
      });
      await page.goto(`${broker.url}/`);
      await waitForReady(page, 10_000);

      const { errors } = await pageState(page);
      const limited = errors.find((e) => e.status === 429);
      assert.ok(limited, `a 429 was reported: ${JSON.stringify(errors)}`);
      assert.ok(limited.title.length > 0 && limited.detail.length > 0);
      assert.equal(limited.willRetry, true);
      assert.ok(limited.retryAfterSeconds >= 1, "the broker's Retry-After reached the page");
      assert.equal(limited.retryInMs, limited.retryAfterSeconds * 1000, "and the helper honoured it");
      assert.match(await page.locator("#errors").textContent(), /429 .*retrying in \d+ s/);
      assert.deepEqual(page.uncaught, []);
    } finally {
      await broker.stop();
    }
  });

  it("does not retry a 403 (terminal not allowed): one request, reported at once, start() gives up", async () => {
    const broker = await startBroker("errors-403");
    try {
      const page = await newPage(browser);
      const requests = [];
      page.on("request", (r) => r.url().endsWith("/hosted-fields/session") && requests.push(r));
      await page.goto(`${broker.url}/?terminal=9999999`);
      await page.waitForFunction(() => window.demo.checkout?.state === "failed", null, { timeout: 5_000 });
      const { errors } = await pageState(page);
      assert.equal(errors.length, 1);
      assert.equal(errors[0].status, 403);
      assert.equal(errors[0].willRetry, false);
      assert.ok(errors[0].detail.length > 0);
      assert.equal(requests.length, 1);
      assert.equal((await broker.control()).sessionCalls, 0, "invalid input never reaches Payroc");
      assert.deepEqual(page.uncaught, []);
    } finally {
      await broker.stop();
    }
  });
});
