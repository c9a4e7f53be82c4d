// Shared pieces of the browser suite: the broker's `demo` binary as a child process, tiny
// static servers for "another origin", and headless Chromium driven by playwright-core.

import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = join(here, "..", "..");
export const STATIC = join(REPO, "static");
export const ARTIFACTS = join(here, "artifacts");
const BINARY = process.env.BROKER_BIN ?? join(REPO, "target", "debug", "hosted-fields-broker");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
/** The probe's flags: without the networking ones Chromium knocks on this closed network. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
  "--disable-quic",
];
/** Start-up is a few hundred milliseconds; this only bounds a broken build. */
const BROKER_START_TIMEOUT_MS = 15_000;

/**
 * Starts `hosted-fields-broker demo` on a free loopback port (port 0: the broker prints the
 * one it got) and waits for its two start-up lines.
 * @param {Record<string, string>} env extra `BROKER__…` settings
 * @param {string} name used for the log file under artifacts/
 */
export async function startBroker(name, env = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("BROKER__")));
  const child = spawn(BINARY, ["demo"], {
    cwd: REPO,
    env: { ...clean, BROKER__SERVER__LISTEN: "127.0.0.1:0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs = [];
  child.stderr.on("data", (chunk) => logs.push(String(chunk)));
  const lines = createInterface({ input: child.stdout });
  let controlUrl;
  let url;
  const started = new Promise((resolve, reject) => {
    // Log lines may come in between: scan every line.
    lines.on("line", (line) => {
      logs.push(`${line}\n`);
      controlUrl ??= line.match(/^demo: fake Payroc control at (\S+)/)?.[1];
      const open = line.match(/^demo: open (http:\/\/\S+?)\/? /)?.[1];
      if (open && controlUrl) {
        url = open;
        resolve();
      }
    });
    child.once("exit", (code) => reject(new Error(`broker exited with ${code} before it was ready:\n${logs.join("")}`)));
  });
  const timeout = setTimeout(() => child.kill("SIGKILL"), BROKER_START_TIMEOUT_MS);
  await started.finally(() => clearTimeout(timeout));
  child.removeAllListeners("exit");

  const control = async (faults) => {
    const response = await fetch(controlUrl, faults === undefined
      ? {}
      : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(faults) });
    if (!response.ok) throw new Error(`control: ${response.status} ${await response.text()}`);
    return response.json();
  };
  return {
    url,
    controlUrl,
    /** `GET /_control` (no argument) or `POST /_control` with faults to inject. */
    control,
    async stop() {
      if (child.exitCode === null) {
        const exited = once(child, "exit");
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await mkdir(ARTIFACTS, { recursive: true });
      await writeFile(join(ARTIFACTS, `${name}.broker.log`), logs.join(""));
    },
  };
}

/**
 * A static server on a free loopback port: "another origin" for the demo page.
 * @param {Record<string, {type: string, body: () => Promise<string>|string}>} routes
 */
export async function startStaticServer(routes) {
  const server = http.createServer(async (request, response) => {
    const route = routes[new URL(request.url, "http://x").pathname];
    if (!route) {
      response.writeHead(404, { "Content-Type": "text/plain" }).end("not found");
      return;
    }
    response.writeHead(200, { "Content-Type": route.type, "Cache-Control": "no-store" });
    response.end(await route.body());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    stop: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}

/** The demo page, read from disk at each request: the same bytes the broker embeds. */
export const demoPageRoute = { type: "text/html; charset=utf-8", body: () => readFile(join(STATIC, "demo.html"), "utf8") };

export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/**
 * A fresh context and page. Uncaught exceptions and unhandled rejections are collected in
 * `page.uncaught`: the helper must report problems through callbacks, never throw them away.
 */
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  page.uncaught = [];
  page.console = [];
  page.on("pageerror", (error) => page.uncaught.push(String(error)));
  page.on("console", (message) => page.console.push(`${message.type()}: ${message.text()}`));
  return page;
}

/** Waits until the demo's checkout has a working form. */
export async function waitForReady(page, timeout = 10_000) {
  await page.waitForFunction(() => window.demo?.checkout?.state === "ready", null, { timeout });
  return page.evaluate(() => window.demo.checkout.session);
}

/** Fills the stand-in's fields with a valid test card. */
export async function fillCard(page) {
  await page.fill("#card-holder input", "Ada Lovelace");
  await page.fill("#card-number input", "4242 4242 4242 4242");
  await page.fill("#card-expiry input", "12/34");
  await page.fill("#card-cvv input", "123");
}

/** What the page knows: sessions, renewals, problems, payments, and the stand-in's log. */
export function pageState(page) {
  return page.evaluate(() => ({
    session: window.demo.checkout?.session ?? null,
    state: window.demo.checkout?.state,
    renewals: window.demo.renewals,
    errors: window.demo.errors,
    payments: window.demo.payments,
    instances: window.Payroc?.instances ?? [],
    domToken: document.querySelector("#card-number")?.dataset.sessionToken ?? null,
    now: Date.now(),
  }));
}

/**
 * Makes the page's clock run `offsetMs` ahead of the real one (Date and Date.now), before any
 * of its scripts run: a shopper whose computer clock is wrong.
 */
export function skewClock(page, offsetMs) {
  return page.addInitScript((offset) => {
    const RealDate = Date;
    class SkewedDate extends RealDate {
      constructor(...args) {
        super(...(args.length ? args : [RealDate.now() + offset]));
      }
      static now() {
        return RealDate.now() + offset;
      }
    }
    window.Date = SkewedDate;
  }, offsetMs);
}

/** Pretends the tab was hidden or shown (headless Chromium's tab is always visible). */
export function setVisibility(page, state) {
  return page.evaluate((value) => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => value });
    Object.defineProperty(document, "hidden", { configurable: true, get: () => value === "hidden" });
    document.dispatchEvent(new Event("visibilitychange"));
  }, state);
}

/** A short wait for asserting that something does NOT happen (an event cannot signal it). */
export const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
