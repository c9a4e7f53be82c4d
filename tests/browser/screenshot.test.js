// A screenshot of the demo page after a renewal and a payment, kept as a test artifact
// (artifacts/demo.png) and checked to show something: a blank or broken page fails.

import assert from "node:assert/strict";
import { mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { ARTIFACTS, fillCard, launchBrowser, newPage, startBroker, waitForReady } from "./harness.js";

/** Decodes a PNG in the browser and measures it: distinct colours and inked share. */
function measurePng(page, png) {
  return page.evaluate(async (dataUrl) => {
    const image = new Image();
    image.src = dataUrl;
    await image.decode();
    const canvas = new OffscreenCanvas(image.width, image.height);
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const { data } = context.getImageData(0, 0, image.width, image.height);
    const colours = new Set();
    const background = data.slice(0, 4).join();
    let inked = 0;
    for (let i = 0; i < data.length; i += 4) {
      const colour = `${data[i]},${data[i + 1]},${data[i + 2]}`;
      colours.add(colour);
      if (`${colour},${data[i + 3]}` !== background) inked += 1;
    }
    return { width: image.width, height: image.height, colours: colours.size, inkedShare: inked / (data.length / 4) };
  }, `data:image/png;base64,${png.toString("base64")}`);
}

describe("the demo page, as a shopper sees it", () => {
  let browser;
  let broker;
  before(async () => {
    browser = await launchBrowser();
    broker = await startBroker("screenshot", { BROKER__DEMO__SESSION_LIFETIME_SECS: "6" });
  });
  after(async () => {
    await browser?.close();
    await broker?.stop();
  });

  it("renders the form, the session, a renewal and a payment (artifacts/demo.png)", async () => {
    const page = await newPage(browser);
    await page.goto(`${broker.url}/`);
    await waitForReady(page);
    await page.waitForFunction(() => window.demo.renewals.length === 1, null, { timeout: 10_000 });
    await fillCard(page);
    await page.click("#pay");
    await page.waitForFunction(() => window.demo.payments.length === 1, null, { timeout: 5_000 });

    for (const selector of ["#pay", "#card-number input", "#token-tail", "#countdown", "#renewals li", "#result"]) {
      assert.ok(await page.locator(selector).first().isVisible(), `${selector} is visible`);
    }
    assert.match(await page.locator("#token-tail").textContent(), /^…[0-9a-f]{6}$/);
    assert.match(await page.locator("#countdown").textContent(), /^0:0\d$/);

    await mkdir(ARTIFACTS, { recursive: true });
    const path = join(ARTIFACTS, "demo.png");
    const png = await page.screenshot({ path, fullPage: true });
    assert.ok((await stat(path)).size > 20_000, "a page with text and panels, not a blank one");
    const measured = await measurePng(page, png);
    assert.ok(measured.colours > 100, `${measured.colours} colours`);
    assert.ok(measured.inkedShare > 0.1, `${(measured.inkedShare * 100).toFixed(1)} % differs from the background`);
    assert.deepEqual(page.uncaught, []);
  });
});
