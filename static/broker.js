/**
 * @file Keeps a Payroc Hosted Fields form alive for as long as a checkout page stays open.
 *
 * Payroc's library reads its session token once, in its constructor, and a session lives
 * 10 minutes: a shopper who comes back from a coffee would meet a dead form. This module asks
 * the broker (`POST /hosted-fields/session`) for a session, loads the library the broker names
 * (with its SRI hash), builds the form, and swaps in a fresh session shortly before the old
 * one expires — but only while the shopper is not using the form.
 *
 * Beside the form, {@link createApplePay} adds an Apple Pay button: it opens Apple's sheet,
 * validates the merchant through the broker (`POST /apple-pay/session`) and hands the
 * authorized payment to the page, whose server pays with it.
 *
 * A plain ES module with no dependencies and no build step; the broker serves it at
 * `GET /hosted-fields/broker.js`, and its TypeScript declarations at
 * `GET /hosted-fields/broker.d.ts`.
 *
 * @example
 * import { createCheckout } from "https://broker.example.com/hosted-fields/broker.js";
 * const checkout = createCheckout({
 *   scenario: "payment",
 *   fields: { card: { cardNumber: { target: "#card-number" }, cvv: { target: "#cvv" } } },
 *   on: { submissionSuccess: ({ token }) => pay(token) },
 *   onError: (problem) => showError(problem.title, problem.detail),
 * });
 * await checkout.start();
 */

/** Option defaults; each is documented on {@link CheckoutOptions}. */
const DEFAULTS = Object.freeze({
  scenario: "payment",
  renewLeadSeconds: 60,
  idleSeconds: 5,
  retries: 3,
  retryBaseMs: 500,
  maxRetryAfterSeconds: 30,
  requestTimeoutMs: 15_000,
  renewRetrySeconds: 15,
  requireIntegrity: false,
  activityEvents: ["focus", "input", "change"],
});

/** Broker statuses worth another try with the same key: overload, outage, gateway trouble. */
const RETRYABLE_STATUSES = new Set([408, 429, 502, 503, 504]);
/** Exponential backoff stops growing here: a shopper is waiting. */
const MAX_BACKOFF_MS = 8_000;
/** How often a deferred renewal looks again whether the shopper has stopped. */
const IDLE_POLL_MS = 500;
/** A submission whose outcome event never came stops blocking renewal after this long. */
const SUBMISSION_TIMEOUT_MS = 60_000;
/** The `Date` header has whole-second resolution: smaller offsets are noise, not skew. */
const MIN_CLOCK_OFFSET_MS = 1_000;
/**
 * The renewal timer wakes at least this often to look at the clocks again: a machine that
 * slept delays timers, and some browsers stop `performance.now()` during sleep.
 */
const MAX_TIMER_MS = 30_000;
/** Problem `type`s of failures the helper itself detects (the broker's have their own). */
const PROBLEM = Object.freeze({
  network: "urn:hosted-fields-broker:client:network",
  invalidResponse: "urn:hosted-fields-broker:client:invalid-response",
  script: "urn:hosted-fields-broker:client:script",
  library: "urn:hosted-fields-broker:client:library",
  sessionExpired: "urn:hosted-fields-broker:client:session-expired",
  applePay: "urn:hosted-fields-broker:client:apple-pay",
});

/**
 * @typedef {object} CheckoutOptions
 * @property {string} [brokerUrl] the broker's origin (or base URL); default: the origin this
 *   module was loaded from, which is the broker when imported from it.
 * @property {"payment"|"tokenization"} [scenario="payment"] also the library's `mode`.
 * @property {string} [processingTerminalId] default: the broker's default terminal.
 * @property {object} fields the library's `fields` configuration (`{ card: { cardNumber: { target } } }`).
 *   Every `target` selector in it is also used to tell whether a field has the focus.
 * @property {object|function(Session): object} [hostedFieldsOptions] more library options
 *   (styles…), or a function of the session that returns them.
 * @property {Object<string, function(*): void>} [on] library event handlers, e.g.
 *   `submissionSuccess`, `error`, `focus`; re-attached to every new form.
 * @property {function(Session): void} [onSession] each time a form is ready with a new session.
 * @property {function(Session, Session): void} [onRenewal] after a renewal: (new, previous).
 * @property {function(CheckoutProblem): void} [onError] every problem; default `console.error`.
 * @property {number} [renewLeadSeconds=60] renew this long before `expiresAt` (at most half
 *   the session's life, so a short session is not renewed at once).
 * @property {number} [idleSeconds=5] the form counts as in use this long after its last event.
 * @property {number} [retries=3] network retries of one session request (same key).
 * @property {number} [retryBaseMs=500] first backoff; doubles, jittered, at most 8 s.
 * @property {number} [maxRetryAfterSeconds=30] a longer `Retry-After` is reported, not waited.
 * @property {number} [requestTimeoutMs=15000] one attempt's limit (the broker's own is 9 s).
 * @property {number} [renewRetrySeconds=15] wait before a failed renewal is tried again.
 * @property {boolean} [requireIntegrity=false] refuse a library the broker gives no SRI for.
 * @property {string[]} [activityEvents] library events that mean the shopper is busy.
 */

/**
 * A session's times are measured from the moment the broker's answer arrived, with the
 * broker's `expiresInSeconds` (not `expiresAt`, which is on the server's clock): a browser
 * clock that is minutes off changes nothing. `…Ms` fields project them onto this browser's
 * `Date` clock (for display); `…Mono` fields onto `performance.now()`.
 * @typedef {object} Session
 * @property {string} sessionToken Payroc's session token.
 * @property {string} expiresAt as the broker sent it (the server's clock).
 * @property {number} expiresInSeconds the session's life left when the broker answered
 *   (from the broker; derived from `expiresAt` and the `Date` header if an older broker
 *   omitted it).
 * @property {"expiresInSeconds"|"expiresAt"} expirySource what the expiry was computed from.
 * @property {number} expiresAtMs expiry in this browser's clock (epoch ms).
 * @property {number} mintedAtMs when the broker's answer arrived (browser clock).
 * @property {number} renewAtMs when the helper plans to renew it (browser clock).
 * @property {number} mintedAtMono when the answer arrived, in `performance.now()` ms.
 * @property {number} expiresAtMono expiry, in `performance.now()` ms.
 * @property {number} renewAtMono planned renewal, in `performance.now()` ms.
 * @property {number} clockOffsetMs server clock minus browser clock (0 when under 1 s);
 *   informational, the helper's timing does not use it.
 * @property {string} idempotencyKey the key it was minted under.
 * @property {number} renewals renewals before this session: 0 for the first.
 * @property {string} scenario
 * @property {string} processingTerminalId
 * @property {string} libVersion
 * @property {string} scriptUrl
 * @property {string} [scriptIntegrity]
 */

/**
 * What went wrong, shaped like the broker's `application/problem+json`.
 * `willRetry` says whether the helper is already trying again (`retryInMs` from now).
 */
export class CheckoutProblem extends Error {
  /**
   * @param {object} fields
   * @param {string} fields.type a URI: the broker's problem type or one of the helper's.
   * @param {string} fields.title short, stable summary.
   * @param {string} fields.detail what happened this time.
   * @param {number} [fields.status] the broker's HTTP status, when it answered.
   * @param {number} [fields.retryAfterSeconds] the broker's `Retry-After`.
   * @param {*} [fields.cause] the underlying error or library event.
   */
  constructor({ type, title, detail, status, retryAfterSeconds, cause }) {
    super(`${title}: ${detail}`, { cause });
    this.name = "CheckoutProblem";
    this.type = type;
    this.title = title;
    this.detail = detail;
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
    /** @type {"start"|"renewal"|"submit"|"applePay"|"merchantValidation"|"paymentAuthorization"|undefined} */
    this.phase = undefined;
    this.attempt = undefined;
    this.willRetry = false;
    this.retryInMs = undefined;
  }
}

/**
 * Creates a checkout; nothing happens until {@link Checkout#start}.
 * @param {CheckoutOptions} options
 * @returns {Checkout}
 */
export function createCheckout(options) {
  return new Checkout(options);
}

/** One Hosted Fields form on a page, kept alive across session expiries. */
export class Checkout {
  #options;
  /** Event name → handlers the caller registered (`options.on` and {@link Checkout#on}). */
  #handlers = new Map();
  #instance = null;
  #session = null;
  #renewals = 0;
  #state = "new";
  #startPromise = null;
  #renewing = null;
  #timer = null;
  /** Monotonic times (`performance.now()`): a browser clock that jumps cannot fake idleness. */
  #lastActivityAt = -Infinity;
  #submittingSince = null;
  /** Set when a submission failed on an expired session: rebuild now, do not wait for idle. */
  #deadForm = false;
  #abort = new AbortController();
  #onVisible = () => this.#visibilityChanged();

  /** @param {CheckoutOptions} options */
  constructor(options) {
    this.#options = resolveOptions(options);
    for (const [event, handler] of Object.entries(this.#options.on)) this.on(event, handler);
  }

  /** The current session, or null before the first form is ready. @returns {Session|null} */
  get session() {
    return this.#session && { ...this.#session };
  }

  /**
   * Milliseconds the current session has left by the helper's reckoning (0 once expired), or
   * null before the first form is ready. Unlike `session.expiresAtMs - Date.now()`, it holds
   * when the browser's clock is changed while the page is open.
   * @returns {number|null}
   */
  get expiresInMs() {
    return this.#session && Math.max(0, this.#session.expiresAtMono - this.#session.mintedAtMono - sessionAgeMs(this.#session));
  }

  /** Renewals so far. */
  get renewals() {
    return this.#renewals;
  }

  /** `new`, `starting`, `ready`, `renewing`, `failed` (start gave up) or `destroyed`. */
  get state() {
    return this.#state;
  }

  /** The current `Payroc.hostedFields` instance (for library calls the helper does not wrap). */
  get instance() {
    return this.#instance;
  }

  /**
   * Mints the first session, loads the library and builds the form. Never rejects: problems
   * go to `onError`; it resolves with the session, or null if it gave up (call it again to
   * retry, e.g. from a "Try again" button).
   * @returns {Promise<Session|null>}
   */
  start() {
    if (this.#state === "destroyed") return Promise.resolve(null);
    if (!this.#startPromise) {
      this.#state = "starting";
      document.addEventListener("visibilitychange", this.#onVisible);
      window.addEventListener("pageshow", this.#onVisible);
      this.#startPromise = this.#replaceSession("start").then((ok) => {
        if (!ok && this.#state !== "destroyed") {
          this.#state = "failed";
          this.#startPromise = null;
        }
        return ok ? this.session : null;
      });
    }
    return this.#startPromise;
  }

  /**
   * Adds a library event handler, kept across renewals.
   * @param {string} event e.g. `submissionSuccess`, `error`, `focus`.
   * @param {function(*): void} handler
   */
  on(event, handler) {
    const known = this.#handlers.has(event);
    if (!known) this.#handlers.set(event, new Set());
    this.#handlers.get(event).add(handler);
    if (!known && this.#instance) this.#instance.on(event, (payload) => this.#dispatch(event, payload));
    return this;
  }

  /**
   * Submits the form through the library's `submit()`; the outcome arrives as the
   * `submissionSuccess` or `error` event. Renewal waits while a submission is in flight.
   */
  submit() {
    if (!this.#instance || typeof this.#instance.submit !== "function") {
      this.#report(problem(PROBLEM.library, "The payment form is not ready", "There is no form to submit yet."), "submit");
      return;
    }
    this.#submittingSince = performance.now();
    this.#instance.submit();
  }

  /** Renews now, whatever the shopper is doing (e.g. after a long pause the page detected). */
  renew() {
    return this.#replaceSession("renewal");
  }

  /** Tears the form down and stops all timers and requests. */
  destroy() {
    this.#state = "destroyed";
    this.#abort.abort();
    clearTimeout(this.#timer);
    document.removeEventListener("visibilitychange", this.#onVisible);
    window.removeEventListener("pageshow", this.#onVisible);
    this.#teardownInstance();
  }

  // --- renewal -------------------------------------------------------------------------------

  /**
   * Mints a session and mounts a new form with it. Single flight: concurrent callers share
   * one attempt. Minting comes first, so the old form keeps working while the broker answers.
   * @param {"start"|"renewal"} phase
   * @param {{waitForIdle?: boolean}} [how] wait for the shopper to pause before swapping.
   * @returns {Promise<boolean>} whether a new form is up.
   */
  #replaceSession(phase, { waitForIdle = false } = {}) {
    this.#renewing ??= this.#mintAndMount(phase, waitForIdle).finally(() => {
      this.#renewing = null;
    });
    return this.#renewing;
  }

  async #mintAndMount(phase, waitForIdle) {
    if (phase === "renewal") this.#state = "renewing";
    try {
      const session = await mintSession(this.#options, this.#abort.signal, (p) => this.#report(p, phase));
      session.renewals = phase === "start" ? 0 : this.#renewals + 1;
      await loadLibrary(session, this.#options.requireIntegrity);
      // The shopper may have started typing while the broker answered.
      if (waitForIdle && !(await this.#waitForIdle())) return false;
      await this.#mount(session);
      return true;
    } catch (error) {
      if (this.#abort.signal.aborted) return false;
      const p = asProblem(error);
      this.#report(p, phase);
      if (phase === "renewal") {
        // The old form stays up (it may still have time). A changed library needs a page
        // reload: minting more sessions would not help.
        this.#state = "ready";
        if (p.type !== PROBLEM.script) this.#retryRenewalLater();
      }
      return false;
    }
  }

  /** Replaces the library instance: the token is read only by the constructor. */
  async #mount(session) {
    if (this.#abort.signal.aborted) return;
    const previous = this.#session;
    this.#teardownInstance();
    const config = {
      ...resolveHostedFieldsOptions(this.#options.hostedFieldsOptions, session),
      sessionToken: session.sessionToken,
      mode: session.scenario,
      fields: this.#options.fields,
    };
    const instance = new window.Payroc.hostedFields(config);
    this.#attachDispatchers(instance);
    this.#instance = instance;
    this.#session = session;
    await instance.initialize();
    if (this.#abort.signal.aborted) return;
    if (previous) this.#renewals += 1;
    this.#deadForm = false;
    this.#state = "ready";
    this.#scheduleRenewal();
    this.#notify("onSession", this.session);
    if (previous) this.#notify("onRenewal", this.session, previous);
  }

  #teardownInstance() {
    const instance = this.#instance;
    this.#instance = null;
    this.#submittingSince = null;
    if (!instance) return;
    try {
      instance.destroy();
    } catch (error) {
      console.warn("hosted-fields-broker: destroy() failed", error);
    }
  }

  /**
   * Wakes at the renewal point, or sooner to look again (see {@link MAX_TIMER_MS}): a timer
   * is not a clock, and one that slept through the renewal point must not wait its full delay.
   */
  #scheduleRenewal() {
    clearTimeout(this.#timer);
    const session = this.#session;
    const delay = Math.max(0, renewalDueInMs(session));
    this.#timer = setTimeout(() => {
      if (renewalDueInMs(session) > 0 && this.#session === session) this.#scheduleRenewal();
      else this.#renewalDue();
    }, Math.min(delay, MAX_TIMER_MS));
  }

  #retryRenewalLater() {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#renewalDue(), this.#options.renewRetrySeconds * 1000);
  }

  /**
   * The renewal point has passed (timer) or the page became visible again. A hidden tab
   * waits for `visibilitychange`: nobody is looking, and an unattended background tab must
   * not mint a session every 10 minutes forever.
   */
  async #renewalDue() {
    const due = this.#session;
    if (!due || this.#renewing || this.#state === "destroyed") return;
    if (document.visibilityState === "hidden") return;
    if (!(await this.#waitForIdle())) return;
    // Another path (a failed submission, a visibility event) may have renewed meanwhile.
    if (this.#session !== due || document.visibilityState === "hidden") return;
    await this.#replaceSession("renewal", { waitForIdle: true });
  }

  #visibilityChanged() {
    if (document.visibilityState !== "visible" || !this.#session) return;
    if (renewalDueInMs(this.#session) <= 0) this.#renewalDue();
  }

  // --- is the shopper using the form? ---------------------------------------------------------

  /**
   * In use: a submission in flight, a field event within `idleSeconds`, or — while the session
   * still works — the focus inside a field. Once the session has expired the form is dead
   * anyway, so focus alone (left there before a coffee) no longer holds renewal back.
   */
  #inUse() {
    const now = performance.now();
    if (this.#submittingSince !== null && now - this.#submittingSince < SUBMISSION_TIMEOUT_MS) return true;
    if (now - this.#lastActivityAt < this.#options.idleSeconds * 1000) return true;
    return !this.#expired() && focusInside(this.#options.fieldTargets);
  }

  /** Whether the current session is past its expiry (the form is dead). */
  #expired() {
    return this.#session !== null && this.expiresInMs === 0;
  }

  /** Resolves true once the form is idle, false if the checkout was destroyed meanwhile. */
  async #waitForIdle() {
    while (!this.#deadForm && this.#inUse()) {
      if (!(await sleep(IDLE_POLL_MS, this.#abort.signal))) return false;
    }
    return !this.#abort.signal.aborted;
  }

  // --- library events -------------------------------------------------------------------------

  /** One listener per event name (the library may keep only one), fanned out here. */
  #attachDispatchers(instance) {
    const events = new Set([
      ...this.#options.activityEvents,
      "submissionSuccess",
      "error",
      ...this.#handlers.keys(),
    ]);
    for (const event of events) instance.on(event, (payload) => this.#dispatch(event, payload));
  }

  #dispatch(event, payload) {
    if (this.#options.activityEvents.includes(event)) this.#lastActivityAt = performance.now();
    if (event === "submissionSuccess") this.#submittingSince = null;
    if (event === "error" && this.#handleLibraryError(payload)) return;
    for (const handler of this.#handlers.get(event) ?? []) {
      try {
        handler(payload);
      } catch (error) {
        console.error(`hosted-fields-broker: the ${event} handler threw`, error);
      }
    }
  }

  /**
   * A submission refused because the session died mid-entry: instead of leaving a dead form,
   * rebuild it at once with a new session and tell the caller why the fields are empty.
   * @returns {boolean} true if handled here (not passed to the caller's `error` handler).
   */
  #handleLibraryError(event) {
    const wasSubmitting = this.#submittingSince !== null;
    this.#submittingSince = null;
    const expired = /expired/i.test(String(event?.type ?? "")) || (wasSubmitting && this.#expired());
    if (!expired) return false;
    const reloaded = problem(
      PROBLEM.sessionExpired,
      "The payment form expired",
      "The payment form had been open too long and was reloaded: please enter your card details again.",
      { cause: event },
    );
    this.#report(reloaded, "submit");
    this.#deadForm = true;
    this.#replaceSession("renewal");
    return true;
  }

  // --- callbacks ------------------------------------------------------------------------------

  /** @param {CheckoutProblem} p @param {"start"|"renewal"|"submit"} phase */
  #report(p, phase) {
    p.phase ??= phase;
    this.#notify("onError", p);
  }

  #notify(name, ...args) {
    const callback = this.#options[name];
    if (!callback) return;
    try {
      callback(...args);
    } catch (error) {
      console.error(`hosted-fields-broker: ${name} threw`, error);
    }
  }
}

// --- Apple Pay ------------------------------------------------------------------------------------

/** Apple Pay option defaults; each is documented on {@link ApplePayOptions}. */
const APPLE_PAY_DEFAULTS = Object.freeze({
  version: 3,
  retries: 2,
  retryBaseMs: 500,
  maxRetryAfterSeconds: 10,
  requestTimeoutMs: 10_000,
  validationTimeoutMs: 25_000,
});

/** `ApplePaySession` events the page handles itself (it calls the matching `complete…`). */
const APPLE_PAY_PASS_THROUGH = ["paymentmethodselected", "shippingmethodselected", "shippingcontactselected", "couponcodechanged", "cancel"];
/** `ApplePaySession.STATUS_SUCCESS` / `STATUS_FAILURE`, for a session class that lacks them. */
const APPLE_PAY_STATUS = Object.freeze({ success: 0, failure: 1 });

/**
 * @typedef {object} ApplePayOptions
 * @property {string} [brokerUrl] as for {@link CheckoutOptions}: where `POST /apple-pay/session` lives.
 * @property {string} [processingTerminalId] default: the broker's default terminal.
 * @property {object|function(): object} [paymentRequest] Apple's `ApplePayPaymentRequest`
 *   (countryCode, currencyCode, merchantCapabilities, supportedNetworks, total…), or a
 *   function returning it when the sheet opens; {@link ApplePay#begin} may pass one instead.
 * @property {function(object, {event: Event, session: object}): (boolean|object|Promise<boolean|object>)} onPaymentAuthorized
 *   gets Apple's `payment` (with the `token` the page's server pays with) and answers whether
 *   the payment went through: `true`, `false`, or an `ApplePayPaymentAuthorizationResult`
 *   (`{status, errors}`). The helper calls `completePayment` with it; a throw counts as failure.
 * @property {Object<string, function(Event, object): void>} [on] more `ApplePaySession`
 *   events, passed through as `(event, session)`: `paymentmethodselected`,
 *   `shippingmethodselected`, `shippingcontactselected`, `couponcodechanged` (the handler calls
 *   the matching `session.complete…` itself) and `cancel`.
 * @property {function(object): void} [onMerchantSession] the merchant session the broker got
 *   from Apple through Payroc, just before it goes to `completeMerchantValidation` (for
 *   logging; the object is Apple's, opaque, and single-use).
 * @property {function(CheckoutProblem): void} [onError] every problem; default `console.error`.
 * @property {number} [version=3] the Apple Pay JS API version to ask for.
 * @property {number} [retries=2] retries of the merchant validation request.
 * @property {number} [retryBaseMs=500] first backoff; doubles, jittered.
 * @property {number} [maxRetryAfterSeconds=10] a longer `Retry-After` is reported, not waited:
 *   the shopper is looking at the payment sheet.
 * @property {number} [requestTimeoutMs=10000] one attempt's limit.
 * @property {number} [validationTimeoutMs=25000] all attempts' limit; then the sheet is aborted.
 */

/**
 * @typedef {object} ApplePayAvailability
 * @property {boolean} available
 * @property {"no-apple-pay"|"unsupported-version"|"cannot-make-payments"|"error"} [reason] why not.
 * @property {string} [detail] the same, for people.
 */

/**
 * How a sheet ended: `authorized` (the page's server took the payment), `cancelled` (by the
 * shopper, or Apple), `aborted` ({@link ApplePay#abort}), `failed` (`problem`, also sent to
 * `onError`), `unavailable` (`reason`, `detail`: nothing was shown) or `busy` (a sheet is open).
 * @typedef {object} ApplePayOutcome
 * @property {"authorized"|"cancelled"|"aborted"|"failed"|"unavailable"|"busy"} outcome
 * @property {object} [payment] Apple's payment (`authorized`).
 * @property {object} [result] what `completePayment` was given (`authorized`).
 * @property {CheckoutProblem} [problem] `failed`.
 * @property {string} [reason] `unavailable`.
 * @property {string} [detail] `unavailable`.
 */

/**
 * Creates an Apple Pay button's helper: checks availability, opens the sheet, validates the
 * merchant through the broker, and hands the authorized payment to the page. It never pays:
 * the page sends the payment's token to its own server, which pays through Payroc.
 * Throws only on a programming error (no `onPaymentAuthorized`).
 * @param {ApplePayOptions} options
 * @returns {ApplePay}
 */
export function createApplePay(options) {
  return new ApplePay(options);
}

/**
 * Apple Pay next to a Hosted Fields form. Show the button only when {@link ApplePay#available};
 * call {@link ApplePay#begin} straight from its click handler.
 */
export class ApplePay {
  #options;
  /** The open sheet: `{session, version, settle, signal}`; null when none is. */
  #run = null;
  #state = "idle";

  /** @param {ApplePayOptions} options */
  constructor(options) {
    if (!options || typeof options.onPaymentAuthorized !== "function") {
      throw new TypeError("createApplePay: `onPaymentAuthorized` is required");
    }
    this.#options = { ...APPLE_PAY_DEFAULTS, on: {}, onError: defaultOnError, ...stripUndefined(options) };
    this.#options.brokerUrl = String(options.brokerUrl ?? new URL(import.meta.url).origin).replace(/\/+$/, "");
  }

  /**
   * Whether this browser can pay with Apple Pay now, and if not why. Read it to decide whether
   * to show the button; it never throws.
   * @returns {ApplePayAvailability}
   */
  get availability() {
    return applePayAvailability(this.#options.version);
  }

  /** Shorthand for `availability.available`. */
  get available() {
    return this.availability.available;
  }

  /**
   * `idle`, `validating` (the broker is asked for a merchant session), `sheet` (the shopper
   * decides), `authorizing` (`onPaymentAuthorized` runs).
   */
  get state() {
    return this.#state;
  }

  /** The open `ApplePaySession`, or null. */
  get session() {
    return this.#run?.session ?? null;
  }

  /**
   * Opens the payment sheet. Apple allows that only inside a user gesture: call it
   * synchronously from the button's click handler, before any `await`. Never rejects.
   * @param {object} [paymentRequest] this sheet's request; default `options.paymentRequest`.
   * @returns {Promise<ApplePayOutcome>} once the sheet is closed.
   */
  begin(paymentRequest) {
    const availability = this.availability;
    if (!availability.available) return Promise.resolve({ outcome: "unavailable", reason: availability.reason, detail: availability.detail });
    if (this.#run) return Promise.resolve({ outcome: "busy" });
    let resolveOutcome;
    const done = new Promise((resolve) => {
      resolveOutcome = resolve;
    });
    const abort = new AbortController();
    const run = { session: null, version: this.#options.version, signal: abort.signal, settle: null };
    run.settle = (outcome) => {
      if (this.#run !== run) return;
      this.#run = null;
      this.#state = "idle";
      abort.abort();
      resolveOutcome(outcome);
    };
    this.#run = run;
    try {
      // Nothing may be awaited before this line: Apple checks for the user gesture here.
      run.session = new window.ApplePaySession(run.version, resolvePaymentRequest(paymentRequest ?? this.#options.paymentRequest));
      this.#wire(run);
      run.session.begin();
    } catch (error) {
      const p = this.#report(applePayStartProblem(error), "applePay");
      run.settle({ outcome: "failed", problem: p });
    }
    return done;
  }

  /** Closes the open sheet, if any (`session.abort()`); its `begin()` resolves `aborted`. */
  abort() {
    const run = this.#run;
    if (!run) return;
    safely(() => run.session?.abort());
    run.settle({ outcome: "aborted" });
  }

  /** Hooks the helper's handlers and the page's pass-through ones onto a new session. */
  #wire(run) {
    const { session } = run;
    session.onvalidatemerchant = (event) => this.#validateMerchant(run, event.validationURL);
    session.onpaymentauthorized = (event) => this.#authorize(run, event);
    for (const name of APPLE_PAY_PASS_THROUGH) {
      const handler = this.#options.on[name];
      if (name !== "cancel" && typeof handler !== "function") continue;
      session[`on${name}`] = (event) => {
        if (name === "cancel") run.settle({ outcome: "cancelled" });
        if (typeof handler === "function") this.#call(handler, event, session);
      };
    }
  }

  /**
   * Asks the broker for a merchant session for Apple's `validationURL` and completes the
   * validation with it; on failure the sheet is aborted and the problem reported.
   */
  async #validateMerchant(run, validationUrl) {
    this.#state = "validating";
    try {
      const merchantSession = await requestMerchantSession(this.#options, validationUrl, run.signal, (p) => this.#report(p, "merchantValidation"));
      if (this.#run !== run) return; // the shopper cancelled meanwhile
      this.#call(this.#options.onMerchantSession, merchantSession);
      run.session.completeMerchantValidation(merchantSession);
      this.#state = "sheet";
    } catch (error) {
      if (this.#run !== run) return;
      const p = error instanceof CheckoutProblem
        ? error
        : problem(PROBLEM.applePay, "Apple Pay could not continue", String(error?.message ?? error), { cause: error });
      this.#report(p, "merchantValidation");
      safely(() => run.session.abort());
      run.settle({ outcome: "failed", problem: p });
    }
  }

  /**
   * The shopper authorized: the page's `onPaymentAuthorized` pays (on its server) and says
   * how it went; `completePayment` tells the sheet. After a failure the sheet stays open
   * (Apple lets the shopper try again or cancel).
   */
  async #authorize(run, event) {
    this.#state = "authorizing";
    const statuses = applePayStatuses(window.ApplePaySession);
    let result;
    try {
      result = authorizationResult(await this.#options.onPaymentAuthorized(event.payment, { event, session: run.session }), statuses);
    } catch (error) {
      this.#report(problem(PROBLEM.applePay, "The payment did not go through", String(error?.message ?? error), { cause: error }), "paymentAuthorization");
      result = { status: statuses.failure };
    }
    if (this.#run !== run) return;
    this.#state = "sheet";
    // Versions before 3 take the bare status.
    safely(() => run.session.completePayment(run.version >= 3 ? result : result.status));
    if (result.status === statuses.success) run.settle({ outcome: "authorized", payment: event.payment, result });
  }

  /** @returns {CheckoutProblem} the problem, reported. */
  #report(p, phase) {
    p.phase ??= phase;
    this.#call(this.#options.onError, p);
    return p;
  }

  #call(callback, ...args) {
    if (typeof callback !== "function") return;
    try {
      callback(...args);
    } catch (error) {
      console.error("hosted-fields-broker: an Apple Pay callback threw", error);
    }
  }
}

/** Apple Pay's availability in this browser, from `ApplePaySession`'s own checks. */
function applePayAvailability(version) {
  const Session = globalThis.ApplePaySession;
  if (typeof Session !== "function") {
    return { available: false, reason: "no-apple-pay", detail: "This browser has no Apple Pay (no ApplePaySession): it needs Safari, or Apple's Apple Pay JS SDK, on a secure (https) page." };
  }
  try {
    if (typeof Session.supportsVersion === "function" && !Session.supportsVersion(version)) {
      return { available: false, reason: "unsupported-version", detail: `This browser does not support Apple Pay JS version ${version}.` };
    }
    if (!Session.canMakePayments()) {
      return { available: false, reason: "cannot-make-payments", detail: "This device cannot make Apple Pay payments." };
    }
  } catch (error) {
    // Safari throws on an insecure page, or in a frame not allowed to pay.
    return { available: false, reason: "error", detail: `Apple Pay cannot be used on this page: ${error?.message ?? error}` };
  }
  return { available: true };
}

function resolvePaymentRequest(request) {
  const resolved = typeof request === "function" ? request() : request;
  if (!resolved || typeof resolved !== "object") throw new TypeError("ApplePay.begin: no paymentRequest (pass one, or set options.paymentRequest)");
  return resolved;
}

/** Why `new ApplePaySession` or `begin()` threw, in words a page can show. */
function applePayStartProblem(error) {
  const gesture = error?.name === "InvalidAccessError" ? " Apple Pay must be started from a click (begin() called in the button's click handler, before any await)." : "";
  return problem(PROBLEM.applePay, "Apple Pay could not start", `${error?.message ?? error}${gesture}`, { cause: error });
}

function applePayStatuses(Session) {
  return {
    success: Session?.STATUS_SUCCESS ?? APPLE_PAY_STATUS.success,
    failure: Session?.STATUS_FAILURE ?? APPLE_PAY_STATUS.failure,
  };
}

/** The page's answer as an `ApplePayPaymentAuthorizationResult`; anything unclear is a failure. */
function authorizationResult(answer, statuses) {
  if (answer === true) return { status: statuses.success };
  if (typeof answer === "number") return { status: answer };
  if (answer && typeof answer === "object" && typeof answer.status === "number") return answer;
  if (answer !== false) console.error("hosted-fields-broker: onPaymentAuthorized should answer true, false or {status}; got", answer);
  return { status: statuses.failure };
}

/**
 * `POST /apple-pay/session`: the broker asks Payroc for Apple's merchant session. Retried as
 * session requests are (network, 408, 429, 502, 503, 504; `Retry-After`), within
 * `validationTimeoutMs` in all. No `Idempotency-Key`: a merchant session has no side effect.
 * @returns {Promise<object>} Apple's opaque merchant session object.
 */
function requestMerchantSession(options, validationUrl, signal, onRetry) {
  const deadline = performance.now() + options.validationTimeoutMs;
  const body = stripUndefined({ validationUrl, processingTerminalId: options.processingTerminalId });
  const attempt = async () => {
    const timeoutMs = Math.max(1, Math.min(options.requestTimeoutMs, deadline - performance.now()));
    const sent = await postJson(`${options.brokerUrl}/apple-pay/session`, body, {}, timeoutMs, signal);
    if (sent.problem) return sent;
    const { response } = sent;
    if (response.status !== 200) return { problem: await readProblem(response), retryable: RETRYABLE_STATUSES.has(response.status) };
    const answer = await response.json().catch(() => null);
    if (!answer?.merchantSession || typeof answer.merchantSession !== "object") {
      return { problem: problem(PROBLEM.invalidResponse, "Unexpected answer from the payment service", "The Apple Pay session response lacks a merchantSession object.", { status: response.status }), retryable: false };
    }
    return { value: answer.merchantSession };
  };
  return withRetries(attempt, options, signal, onRetry, deadline);
}

/** Runs `fn`, logging what it throws: a sheet that is already closed throws on abort(). */
function safely(fn) {
  try {
    fn();
  } catch (error) {
    console.warn("hosted-fields-broker: Apple Pay call failed", error);
  }
}

// --- options ------------------------------------------------------------------------------------

function resolveOptions(options) {
  if (!options || typeof options !== "object") throw new TypeError("createCheckout: options are required");
  if (!options.fields || typeof options.fields !== "object") throw new TypeError("createCheckout: `fields` is required");
  const resolved = { ...DEFAULTS, on: {}, onError: defaultOnError, ...stripUndefined(options) };
  resolved.brokerUrl = String(options.brokerUrl ?? new URL(import.meta.url).origin).replace(/\/+$/, "");
  resolved.fieldTargets = collectTargets(options.fields);
  return resolved;
}

function stripUndefined(object) {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}

function defaultOnError(p) {
  console.error("hosted-fields-broker:", p);
}

function resolveHostedFieldsOptions(extra, session) {
  return typeof extra === "function" ? extra({ ...session }) : { ...extra };
}

/** Every `target` selector in the library's `fields` configuration, however deep. */
function collectTargets(fields) {
  const targets = [];
  const walk = (node) => {
    if (!node || typeof node !== "object") return;
    if (typeof node.target === "string") targets.push(node.target);
    for (const value of Object.values(node)) walk(value);
  };
  walk(fields);
  return targets;
}

/** True if the focused element (an iframe, for the real library) sits inside a field target. */
function focusInside(selectors) {
  const active = document.activeElement;
  if (!active || active === document.body) return false;
  return selectors.some((selector) => document.querySelector(selector)?.contains(active));
}

// --- minting a session ----------------------------------------------------------------------------

/**
 * Asks the broker for one session. A fresh `Idempotency-Key` per session; the same key for
 * every retry of it, so a retry after a lost answer gets the same session back from Payroc
 * instead of a second one, and a renewal never replays an expired one.
 * @param {function(CheckoutProblem): void} onRetry told about each failure that is retried.
 * @returns {Promise<Session>}
 */
async function mintSession(options, signal, onRetry) {
  const key = newIdempotencyKey();
  return withRetries(() => attemptMint(options, key, signal), options, signal, onRetry);
}

/**
 * Runs `attempt` until it yields `{value}`, waiting between tries as {@link retryDelayMs}
 * says; throws the last problem when it gives up. No retry starts that would end after
 * `deadline` (a `performance.now()` time).
 * @param {function(): Promise<{value: *}|{problem: CheckoutProblem, retryable: boolean}>} attempt
 * @param {function(CheckoutProblem): void} onRetry told about each failure that is retried.
 */
async function withRetries(attempt, options, signal, onRetry, deadline = Infinity) {
  for (let n = 1; ; n += 1) {
    const outcome = await attempt();
    if (!outcome.problem) return outcome.value;
    const p = outcome.problem;
    p.attempt = n;
    let delay = retryDelayMs(outcome, n, options);
    if (delay !== null && performance.now() + delay >= deadline) delay = null;
    if (delay === null) {
      if (p.type === PROBLEM.network) p.detail = await diagnoseUnreachable(options.brokerUrl, signal);
      throw p;
    }
    p.willRetry = true;
    p.retryInMs = delay;
    onRetry(p);
    if (!(await sleep(delay, signal))) throw p;
  }
}

/**
 * One POST. Resolves `{value: session}` or `{problem, retryable}`; never rejects, except when
 * the checkout is destroyed mid-request.
 */
async function attemptMint(options, key, signal) {
  const body = stripUndefined({ scenario: options.scenario, processingTerminalId: options.processingTerminalId });
  const sentAt = Date.now();
  const sent = await postJson(`${options.brokerUrl}/hosted-fields/session`, body, { "Idempotency-Key": key }, options.requestTimeoutMs, signal);
  if (sent.problem) return sent;
  // Both clocks at once: the session's times are measured from this moment on either.
  const received = { wall: Date.now(), mono: performance.now() };
  const { response } = sent;
  if (response.status === 201) return parseSession(response, key, options, sentAt, received);
  return { problem: await readProblem(response), retryable: RETRYABLE_STATUSES.has(response.status) };
}

/**
 * One JSON POST to the broker, without cookies or caching. Resolves `{response}` whatever
 * its status, or a retryable `{problem}` when no answer came (network error, timeout); rejects
 * only when `outerSignal` aborts.
 */
async function postJson(url, body, headers, timeoutMs, outerSignal) {
  const signal = withTimeout(outerSignal, timeoutMs);
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      signal,
    });
    return { response };
  } catch (error) {
    if (outerSignal.aborted) throw error;
    const detail = signal.aborted ? "The broker did not answer in time." : "The broker could not be reached.";
    return { problem: problem(PROBLEM.network, "Cannot reach the payment service", detail, { cause: error }), retryable: true };
  }
}

/** Combines the caller's signal with a per-attempt timeout. */
function withTimeout(signal, ms) {
  const timeout = AbortSignal.timeout(ms);
  return AbortSignal.any ? AbortSignal.any([signal, timeout]) : timeout;
}

async function parseSession(response, key, options, sentAt, received) {
  const body = await response.json().catch(() => null);
  const serverExpiry = Date.parse(body?.expiresAt ?? "");
  if (!body?.sessionToken || Number.isNaN(serverExpiry) || !body.scriptUrl) {
    const p = problem(PROBLEM.invalidResponse, "Unexpected answer from the payment service", "The session response lacks a token, an expiry or a script URL.", { status: response.status });
    return { problem: p, retryable: false };
  }
  const timing = sessionTiming(body, serverExpiry, response.headers.get("Date"), sentAt, received.wall);
  // Never plan a renewal in the first half of a session's life: a short session (a test, a
  // broker misconfiguration) would otherwise be renewed in a tight loop.
  const leadMs = Math.min(options.renewLeadSeconds * 1000, timing.lifetimeMs / 2);
  const renewAfterMs = timing.lifetimeMs - Math.max(0, leadMs);
  const session = {
    sessionToken: body.sessionToken,
    expiresAt: body.expiresAt,
    expiresInSeconds: timing.expiresInSeconds,
    expirySource: timing.source,
    expiresAtMs: received.wall + timing.lifetimeMs,
    mintedAtMs: received.wall,
    renewAtMs: received.wall + renewAfterMs,
    mintedAtMono: received.mono,
    expiresAtMono: received.mono + timing.lifetimeMs,
    renewAtMono: received.mono + renewAfterMs,
    clockOffsetMs: timing.clockOffsetMs,
    idempotencyKey: key,
    renewals: 0,
    scenario: body.scenario ?? options.scenario,
    processingTerminalId: body.processingTerminalId,
    libVersion: body.libVersion,
    scriptUrl: body.scriptUrl,
    scriptIntegrity: body.scriptIntegrity,
  };
  return { value: session };
}

/**
 * How long a session lives from the moment its answer arrived. The broker's
 * `expiresInSeconds` is read off the broker's clock alone, so a wrong browser clock does not
 * matter. A broker that omits it (older than this helper) sends only `expiresAt`: then the
 * browser clock's skew is estimated from the `Date` header, as well as that goes.
 * @returns {{source: "expiresInSeconds"|"expiresAt", expiresInSeconds: number, lifetimeMs: number, clockOffsetMs: number}}
 */
function sessionTiming(body, serverExpiry, dateHeader, sentAt, receivedAt) {
  const seconds = body.expiresInSeconds;
  if (typeof seconds === "number" && Number.isFinite(seconds) && seconds >= 0) {
    // Rounded down by the broker: its clock read between 0 and 1 s before expiresAt − seconds.
    const offset = Math.round(serverExpiry - seconds * 1000 - 500 - receivedAt);
    return {
      source: "expiresInSeconds",
      expiresInSeconds: seconds,
      lifetimeMs: seconds * 1000,
      clockOffsetMs: Math.abs(offset) < MIN_CLOCK_OFFSET_MS ? 0 : offset,
    };
  }
  const clockOffsetMs = clockOffset(dateHeader, sentAt, receivedAt);
  const lifetimeMs = Math.max(0, serverExpiry - clockOffsetMs - receivedAt);
  return { source: "expiresAt", expiresInSeconds: Math.floor(lifetimeMs / 1000), lifetimeMs, clockOffsetMs };
}

/**
 * Server clock minus browser clock, from the response's `Date` (exposed by the broker's CORS
 * headers). The server's clock read somewhere in [Date, Date + 1 s) while the request was in
 * flight: compare the middle of both intervals. Only for a broker without `expiresInSeconds`.
 */
function clockOffset(dateHeader, sentAt, receivedAt) {
  const server = Date.parse(dateHeader ?? "");
  if (Number.isNaN(server)) return 0;
  const offset = Math.round(server + 500 - (sentAt + receivedAt) / 2);
  return Math.abs(offset) < MIN_CLOCK_OFFSET_MS ? 0 : offset;
}

/**
 * Milliseconds since the session's answer arrived, on `performance.now()`, which no change
 * of the computer's clock moves. The `Date` clock's reading wins when it is larger: some
 * browsers stop `performance.now()` while the machine sleeps, and a session must not outlive
 * its renewal because of a nap. A constant skew cancels out of both readings; a clock that
 * jumps forward costs one early renewal, never a loop (each session starts both afresh).
 */
function sessionAgeMs(session) {
  return Math.max(performance.now() - session.mintedAtMono, Date.now() - session.mintedAtMs);
}

/** Milliseconds until the session's renewal point; zero or less once it is due. */
function renewalDueInMs(session) {
  return session.renewAtMono - session.mintedAtMono - sessionAgeMs(session);
}

/** The broker's problem+json, or the best description of a non-problem answer. */
async function readProblem(response) {
  const body = await response.json().catch(() => null);
  const retryAfterSeconds = parseRetryAfter(response.headers.get("Retry-After"));
  return problem(
    body?.type ?? "about:blank",
    body?.title ?? `HTTP ${response.status}`,
    body?.detail ?? (response.statusText || "The payment service answered with an error."),
    { status: response.status, retryAfterSeconds },
  );
}

/** Seconds from a `Retry-After` header (delta-seconds or an HTTP date), or undefined. */
function parseRetryAfter(header) {
  if (header == null || header.trim() === "") return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - Date.now()) / 1000);
}

/**
 * Milliseconds to wait before the next attempt, or null to give up. Network failures and
 * 408/429/502/503/504 are retried up to `retries` times; `Retry-After` is honoured when it
 * is at most `maxRetryAfterSeconds` (a longer one is reported at once: better tell the
 * shopper than spin); other statuses are the caller's problem and never retried.
 */
function retryDelayMs({ problem: p, retryable }, attempt, options) {
  if (!retryable || attempt > options.retries) return null;
  if (p.retryAfterSeconds !== undefined) {
    if (p.retryAfterSeconds > options.maxRetryAfterSeconds) return null;
    return p.retryAfterSeconds * 1000;
  }
  const ceiling = Math.min(MAX_BACKOFF_MS, options.retryBaseMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/**
 * A failed `fetch` says nothing about why. For a cross-origin broker, an opaque no-cors probe
 * tells "answers, but not to this page" (CORS) from "cannot be reached at all".
 */
async function diagnoseUnreachable(brokerUrl, signal) {
  const unreachable = `The payment service at ${brokerUrl} could not be reached (network error, timeout, or blocked by this page's Content-Security-Policy connect-src).`;
  if (new URL(brokerUrl, location.href).origin === location.origin) return unreachable;
  try {
    await fetch(`${brokerUrl}/healthz`, { mode: "no-cors", credentials: "omit", cache: "no-store", signal });
  } catch {
    return unreachable;
  }
  return `The payment service at ${brokerUrl} answered, but not to this page: this page's origin (${location.origin}) is not allowed by the broker's CORS configuration.`;
}

// --- the library script ---------------------------------------------------------------------------

/** The one library script of this page: it cannot be swapped once loaded. */
let library = null;

/**
 * Loads the Hosted Fields script the session names, once per page, with its SRI hash and
 * `crossorigin="anonymous"` (SRI on a cross-origin script needs a CORS fetch).
 */
function loadLibrary(session, requireIntegrity) {
  const { scriptUrl, scriptIntegrity } = session;
  if (library) {
    if (library.url === scriptUrl) return library.promise;
    return Promise.reject(problem(PROBLEM.script, "The payment library changed", `This page runs ${library.url}, but the new session needs ${scriptUrl}; reload the page.`));
  }
  if (requireIntegrity && !scriptIntegrity) {
    return Promise.reject(problem(PROBLEM.script, "The payment library has no integrity hash", `The broker gave no SRI hash for ${scriptUrl}.`));
  }
  const promise = new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = scriptUrl;
    if (scriptIntegrity) script.integrity = scriptIntegrity;
    script.crossOrigin = "anonymous";
    script.async = true;
    script.onload = () => {
      if (typeof window.Payroc?.hostedFields === "function") resolve();
      else reject(problem(PROBLEM.script, "The payment library did not load", `${scriptUrl} did not define Payroc.hostedFields.`));
    };
    script.onerror = () => {
      library = null; // a later session may try again
      script.remove();
      reject(problem(PROBLEM.script, "The payment library did not load", `${scriptUrl} failed to load: network error, blocked by Content-Security-Policy, or its integrity hash did not match.`));
    };
    document.head.append(script);
  });
  library = { url: scriptUrl, promise };
  return promise;
}

// --- small helpers --------------------------------------------------------------------------------

/**
 * A UUID v4. `crypto.randomUUID` exists only in secure contexts (https, localhost); a demo
 * opened over plain http on a LAN address still has `getRandomValues`.
 */
function newIdempotencyKey() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function problem(type, title, detail, extra = {}) {
  return new CheckoutProblem({ type, title, detail, ...extra });
}

/** Anything thrown (a library exception, a bug) as a problem the caller can show. */
function asProblem(error) {
  if (error instanceof CheckoutProblem) return error;
  return problem(PROBLEM.library, "The payment form failed", String(error?.message ?? error), { cause: error });
}

/** Resolves true after `ms`, or false at once when `signal` aborts. */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
