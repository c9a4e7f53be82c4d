// Idempotency-Key discipline: the helper's network retry of one session request reuses its
// key (Payroc makes one session, not two); every new session, renewals included, gets a new key.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { launchBrowser, newPage, pageState, startBroker, waitForReady } from "./harness.js";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("idempotency keys", () => {
  let browser;
  let broker;
  before(async () => {
    browser = await launchBrowser();
    broker = await startBroker("idempotency");
  });
  after(async () => {
    await browser?.close();
    await broker?.stop();
  });

  it("reuses the key when retrying a session request whose answer was lost", async () => {
    const page = await newPage(browser);
    const keys = [];
    await page.route("**/hosted-fields/session", async (route) => {
      keys.push(route.request().headers()["idempotency-key"]);
      if (keys.length === 1) {
        // The request reaches the broker and a session is made, but the answer never
        // reaches the page: to the browser, a network failure.
        const lost = await route.fetch();
        assert.equal(lost.status(), 201);
        await route.abort("connectionreset");
      } else {
        await route.continue();
      }
    });
    await page.goto(`${broker.url}/`);
    const session = await waitForReady(page);

    assert.equal(keys.length, 2, "one retry");
    assert.match(keys[0], UUID_V4);
    assert.equal(keys[1], keys[0], "the retry carries the same key");
    assert.equal(session.idempotencyKey, keys[0]);
    const fake = await broker.control();
    assert.deepEqual(fake.idempotencyKeys, [keys[0], keys[0]], "Payroc saw the key twice…");
    assert.equal(fake.sessionsCreated, 1, "…and made one session");

    const { errors } = await pageState(page);
    assert.equal(errors.length, 1, "the lost answer was reported as being retried");
    assert.equal(errors[0].willRetry, true);
    assert.equal(errors[0].type, "urn:hosted-fields-broker:client:network");
    assert.deepEqual(page.uncaught, []);
    await page.context().close();
  });

  it("mints every renewal under a new key", async () => {
    const before = (await broker.control()).idempotencyKeys.length;
    const page = await newPage(browser);
    await page.goto(`${broker.url}/`);
    const first = await waitForReady(page);
    await page.evaluate(() => window.demo.checkout.renew());
    await page.evaluate(() => window.demo.checkout.renew());
    const { session, renewals } = await pageState(page);

    assert.equal(renewals.length, 2);
    assert.equal(session.renewals, 2);
    const fake = await broker.control();
    const keys = fake.idempotencyKeys.slice(before);
    assert.equal(keys.length, 3);
    assert.equal(new Set(keys).size, 3, "three sessions, three keys");
    assert.equal(keys[0], first.idempotencyKey);
    assert.equal(keys[2], session.idempotencyKey);
    assert.deepEqual(page.uncaught, []);
    await page.context().close();
  });
});
