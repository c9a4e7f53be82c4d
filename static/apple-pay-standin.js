/*
 * A stand-in for Safari's `ApplePaySession`, for the broker's `demo` mode and browser tests:
 * Apple Pay needs Safari on an Apple device with a card in Wallet, none of which a demo
 * machine has. The broker serves it in demo mode only (`/demo/apple-pay-standin.js`), and the
 * demo page installs it only when the browser has no `ApplePaySession` of its own.
 *
 * It follows Apple's API — `ApplePaySession.canMakePayments()`, `supportsVersion()`,
 * `new ApplePaySession(version, request)` (only inside a user gesture, as Safari insists),
 * `begin()` → `onvalidatemerchant` with a `validationURL` on Apple's sandbox gateway,
 * `completeMerchantValidation(merchantSession)` → a simulated payment sheet, "Pay" →
 * `onpaymentauthorized` with a fake token, `completePayment(result)`, "Cancel" → `oncancel`,
 * `abort()` — so the page's real code drives the real broker endpoint and the fake Payroc.
 * The payment token is made up: nothing can be charged with it.
 *
 * Extra, for the demo and tests:
 * - `ApplePaySession.standIn` is true;
 * - `ApplePaySession.sessions` records each session: request, state, the merchant session it
 *   was completed with, the payment results, whether it was aborted, and its steps;
 * - every step is also sent as a `applepaystandin` event on `window` (`detail: {step, text}`)
 *   so the page can show the round trip.
 *
 * A classic script (not a module), like the Hosted Fields stand-in.
 */
(function () {
  "use strict";

  if (window.ApplePaySession) return; // a real one (Safari) always wins

  /** Apple's sandbox gateway, where the merchant session is requested (by Payroc, here the fake). */
  var VALIDATION_URL = "https://apple-pay-gateway-cert.apple.com/paymentservices/startSession";
  /** Safari cancels a sheet whose merchant validation is not completed in about 30 s. */
  var VALIDATION_TIMEOUT_MS = 30000;
  /** The sheet "contacts Apple" for a moment before asking the page to validate. */
  var SHEET_LATENCY_MS = 150;
  /** After a successful payment the sheet shows its tick this long, then closes. */
  var DONE_MS = 800;
  var HIGHEST_VERSION = 14;

  var STATUS = {
    STATUS_SUCCESS: 0,
    STATUS_FAILURE: 1,
    STATUS_INVALID_BILLING_POSTAL_ADDRESS: 2,
    STATUS_INVALID_SHIPPING_POSTAL_ADDRESS: 3,
    STATUS_INVALID_SHIPPING_CONTACT: 4,
    STATUS_PIN_REQUIRED: 5,
    STATUS_PIN_INCORRECT: 6,
    STATUS_PIN_LOCKOUT: 7,
  };
  var REQUIRED_REQUEST_FIELDS = ["countryCode", "currencyCode", "supportedNetworks", "merchantCapabilities", "total"];
  var MERCHANT_SESSION_FIELDS = ["merchantSessionIdentifier", "signature"];

  /** The one session that may be open at a time (Safari allows one per page). */
  var active = null;

  class ApplePaySession extends EventTarget {
    /**
     * @param {number} version the Apple Pay JS version.
     * @param {object} request an `ApplePayPaymentRequest`.
     */
    constructor(version, request) {
      super();
      requireSecureContext();
      if (!ApplePaySession.supportsVersion(version)) throw new TypeError("\"" + version + "\" is not a supported version.");
      // Safari's rule: a sheet opens only in answer to the shopper's click or tap.
      if (navigator.userActivation && !navigator.userActivation.isActive) {
        throw new DOMException("Must create a new ApplePaySession from a user gesture handler.", "InvalidAccessError");
      }
      checkRequest(request);
      if (active) throw new DOMException("Page already has an active payment session.", "InvalidAccessError");
      this.version = version;
      this.request = request;
      this.state = "created";
      this.sheet = null;
      this.timer = null;
      this.record = {
        version: version,
        request: request,
        state: "created",
        merchantSession: null,
        paymentResults: [],
        aborted: false,
        steps: [],
      };
      ApplePaySession.sessions.push(this.record);
      active = this;
      this.step("created", "new ApplePaySession(" + version + ", request for " + request.total.amount + " " + request.currencyCode + ")");
    }

    static supportsVersion(version) {
      requireSecureContext();
      return Number.isInteger(version) && version >= 1 && version <= HIGHEST_VERSION;
    }

    /** True: the stand-in plays a device with Apple Pay set up. */
    static canMakePayments() {
      requireSecureContext();
      return true;
    }

    static canMakePaymentsWithActiveCard() {
      return Promise.resolve(ApplePaySession.canMakePayments());
    }

    static openPaymentSetup() {
      return Promise.resolve(false);
    }

    /** Shows the sheet and asks the page to validate the merchant. */
    begin() {
      this.expect("created", "begin");
      this.setState("validating");
      this.sheet = renderSheet(this);
      this.sheet.status("Contacting Apple…");
      this.step("begin", "begin(): the payment sheet opens");
      var self = this;
      setTimeout(function () {
        if (self.state !== "validating") return;
        self.sheet.status("Validating the merchant…");
        self.step("validatemerchant", "onvalidatemerchant: validationURL " + VALIDATION_URL);
        self.fire("validatemerchant", { validationURL: VALIDATION_URL });
      }, SHEET_LATENCY_MS);
      this.timer = setTimeout(function () {
        if (self.state !== "validating") return;
        self.step("timeout", "no completeMerchantValidation within 30 s: Apple cancels the sheet");
        self.cancel({ code: "unknown", info: {}, message: "Merchant validation timed out." });
      }, VALIDATION_TIMEOUT_MS);
    }

    /** @param {object} merchantSession Apple's opaque object, as the merchant's server got it. */
    completeMerchantValidation(merchantSession) {
      this.expect("validating", "completeMerchantValidation");
      clearTimeout(this.timer);
      this.record.merchantSession = merchantSession;
      var missing = MERCHANT_SESSION_FIELDS.filter(function (name) {
        return !merchantSession || typeof merchantSession[name] !== "string" || merchantSession[name] === "";
      });
      if (missing.length > 0) {
        // What Safari does with a merchant session Apple did not sign: "Payment Not Completed".
        this.step("invalid-merchant-session", "completeMerchantValidation: not a merchant session (no " + missing.join(", ") + ")");
        this.sheet.status("Payment Not Completed");
        this.cancel({ code: "unknown", info: {}, message: "Invalid merchant session." });
        return;
      }
      this.setState("sheet");
      this.step("merchant-validated", "completeMerchantValidation: merchant " + (merchantSession.displayName || "?") + " (" + (merchantSession.domainName || "?") + "), session " + merchantSession.merchantSessionIdentifier.slice(0, 12) + "…");
      this.sheet.ready(merchantSession.displayName || this.request.total.label);
    }

    /** The shopper confirmed (played by the sheet's Pay button). */
    authorize() {
      this.expect("sheet", "authorize");
      this.setState("authorizing");
      this.sheet.status("Processing…");
      var payment = fakePayment(this.request);
      this.step("paymentauthorized", "onpaymentauthorized: token for " + payment.token.paymentMethod.displayName + ", transaction " + payment.token.transactionIdentifier.slice(0, 12) + "…");
      this.fire("paymentauthorized", { payment: payment });
    }

    /** @param {number|{status: number, errors?: object[]}} result */
    completePayment(result) {
      this.expect("authorizing", "completePayment");
      var status = typeof result === "number" ? result : result && result.status;
      if (typeof status !== "number") throw new TypeError("completePayment: a status is required");
      this.record.paymentResults.push(result);
      var ok = status === STATUS.STATUS_SUCCESS;
      this.step("completePayment", "completePayment(" + statusName(status) + ")");
      if (!ok) {
        // Safari keeps the sheet open: the shopper may try again or cancel.
        this.setState("sheet");
        this.sheet.failed("Payment Not Completed");
        return;
      }
      this.setState("completed");
      this.sheet.done();
      var self = this;
      setTimeout(function () { self.close(); }, DONE_MS);
    }

    completePaymentMethodSelection(update) { this.stepUpdate("completePaymentMethodSelection", update); }
    completeShippingMethodSelection(update) { this.stepUpdate("completeShippingMethodSelection", update); }
    completeShippingContactSelection(update) { this.stepUpdate("completeShippingContactSelection", update); }
    completeCouponCodeChange(update) { this.stepUpdate("completeCouponCodeChange", update); }

    /** The page gives up (e.g. merchant validation failed): the sheet closes, no event. */
    abort() {
      if (this.state === "closed" || this.state === "completed") throw new DOMException("The session is not active.", "InvalidStateError");
      this.record.aborted = true;
      this.step("abort", "abort(): the page closed the sheet");
      this.close();
    }

    /** The shopper (the sheet's Cancel button) or Apple cancels: `oncancel`. */
    cancel(sessionError) {
      if (this.state === "closed") return;
      this.step("cancel", "oncancel" + (sessionError ? ": " + sessionError.message : ": the shopper closed the sheet"));
      this.close();
      this.fire("cancel", sessionError ? { sessionError: sessionError } : {});
    }

    close() {
      clearTimeout(this.timer);
      this.setState("closed");
      if (this.sheet) this.sheet.remove();
      if (active === this) active = null;
    }

    // --- helpers -----------------------------------------------------------------------

    expect(state, method) {
      if (this.state !== state) throw new DOMException(method + "() is not allowed now (the session is " + this.state + ").", "InvalidStateError");
    }

    setState(state) {
      this.state = state;
      this.record.state = state;
    }

    stepUpdate(method, update) {
      this.step(method, method + "(" + JSON.stringify(update && update.newTotal ? update.newTotal : {}) + ")");
    }

    /** Calls the `on<type>` property and any listeners, as Safari's session does. */
    fire(type, fields) {
      var event = new Event(type);
      Object.keys(fields).forEach(function (key) { event[key] = fields[key]; });
      var handler = this["on" + type];
      if (typeof handler === "function") {
        try {
          handler.call(this, event);
        } catch (error) {
          reportLater(error);
        }
      }
      this.dispatchEvent(event);
    }

    step(step, text) {
      var entry = { at: Date.now(), step: step, text: text };
      this.record.steps.push(entry);
      window.dispatchEvent(new CustomEvent("applepaystandin", { detail: entry }));
    }
  }

  Object.keys(STATUS).forEach(function (name) {
    Object.defineProperty(ApplePaySession, name, { value: STATUS[name], enumerable: true });
    Object.defineProperty(ApplePaySession.prototype, name, { value: STATUS[name], enumerable: true });
  });

  /** Safari refuses Apple Pay on http pages (loopback counts as secure, as in browsers). */
  function requireSecureContext() {
    if (!window.isSecureContext) {
      throw new DOMException("Trying to start an Apple Pay session from an insecure document.", "InvalidAccessError");
    }
  }

  function checkRequest(request) {
    var missing = REQUIRED_REQUEST_FIELDS.filter(function (name) { return !request || request[name] == null; });
    if (missing.length > 0) throw new TypeError("Member ApplePayPaymentRequest." + missing[0] + " is required.");
    if (!request.total.label || !/^-?\d+(\.\d+)?$/.test(String(request.total.amount))) {
      throw new TypeError("\"" + request.total.amount + "\" is not a valid amount.");
    }
  }

  function statusName(status) {
    var name = Object.keys(STATUS).filter(function (key) { return STATUS[key] === status; })[0];
    return name ? "ApplePaySession." + name : String(status);
  }

  /** A token shaped like Apple's (EC_v1), with random bytes where Apple's ciphertext would be. */
  function fakePayment(request) {
    var displayNetwork = networkName(request);
    return {
      token: {
        paymentData: {
          version: "EC_v1",
          data: randomBase64(96),
          signature: randomBase64(64),
          header: { ephemeralPublicKey: randomBase64(65), publicKeyHash: randomBase64(32), transactionId: randomHex(32) },
        },
        paymentMethod: { displayName: displayNetwork + " 4242", network: displayNetwork, type: "debit" },
        transactionIdentifier: randomHex(32).toUpperCase(),
      },
      billingContact: request.requiredBillingContactFields ? { givenName: "Ada", familyName: "Lovelace", countryCode: request.countryCode } : undefined,
      shippingContact: request.requiredShippingContactFields ? { emailAddress: "ada@example.com" } : undefined,
    };
  }

  /** The first network the page accepts, as the sheet would name it ("visa" → "Visa"). */
  function networkName(request) {
    var network = String(request.supportedNetworks[0] || "visa");
    return network.charAt(0).toUpperCase() + network.slice(1);
  }

  function randomBytes(length) {
    return crypto.getRandomValues(new Uint8Array(length));
  }

  function randomHex(bytes) {
    return Array.prototype.map.call(randomBytes(bytes), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function randomBase64(bytes) {
    return btoa(String.fromCharCode.apply(null, randomBytes(bytes)));
  }

  /** A page handler that throws is the page's bug: surface it without breaking the sheet. */
  function reportLater(error) {
    setTimeout(function () { throw error; }, 0);
  }

  /**
   * The simulated sheet: a dialog at the bottom of the page with the merchant, the total, a
   * status line and "Pay" / "Cancel". Plain DOM with inline styles: no stylesheet to ship.
   */
  function renderSheet(session) {
    var request = session.request;
    var root = element("div", "position:fixed;left:50%;bottom:1rem;transform:translateX(-50%);z-index:2147483647;width:min(24rem,calc(100% - 2rem));background:#1c1c1e;color:#f2f2f7;border-radius:1rem;padding:1rem 1.2rem;box-shadow:0 10px 40px rgba(0,0,0,.45);font:15px/1.4 -apple-system,system-ui,sans-serif");
    root.id = "apple-pay-standin-sheet";
    root.setAttribute("role", "dialog");
    root.setAttribute("aria-label", "Apple Pay (stand-in)");
    var title = element("p", "margin:0 0 .6rem;font-weight:600");
    title.textContent = "Apple Pay — stand-in sheet (no real card)";
    var merchant = element("p", "margin:0;color:#aeaeb2");
    merchant.dataset.role = "merchant";
    merchant.textContent = "Pay " + request.total.label;
    var total = element("p", "margin:.2rem 0 .6rem;font-size:1.3rem;font-weight:600");
    total.dataset.role = "total";
    total.textContent = request.total.amount + " " + request.currencyCode;
    var card = element("p", "margin:0 0 .6rem;color:#aeaeb2");
    card.textContent = "Card: " + networkName(request) + " •••• 4242";
    var status = element("p", "margin:0 0 .8rem;min-height:1.4em");
    status.dataset.role = "status";
    status.setAttribute("aria-live", "polite");
    var pay = button("Pay with Touch ID (simulated)", "authorize", "#0a84ff");
    var cancel = button("Cancel", "cancel", "#3a3a3c");
    pay.disabled = true;
    pay.addEventListener("click", function () { session.authorize(); pay.disabled = true; });
    cancel.addEventListener("click", function () { session.cancel(null); });
    var actions = element("div", "display:flex;gap:.6rem");
    actions.append(pay, cancel);
    root.append(title, merchant, total, card, status, actions);
    document.body.append(root);
    return {
      status: function (text) { status.textContent = text; },
      ready: function (displayName) {
        merchant.textContent = "Pay " + displayName;
        status.textContent = "Merchant verified by Apple. Confirm with Touch ID.";
        pay.disabled = false;
      },
      failed: function (text) {
        status.textContent = text + " — try again or cancel.";
        pay.disabled = false;
      },
      done: function () {
        status.textContent = "✓ Done";
        pay.disabled = true;
        cancel.disabled = true;
        actions.style.opacity = "0.4";
      },
      remove: function () { root.remove(); },
    };
  }

  function element(tag, css) {
    var node = document.createElement(tag);
    node.style.cssText = css;
    return node;
  }

  function button(text, action, background) {
    var node = element("button", "flex:1;font:inherit;font-weight:600;padding:.6rem;border:0;border-radius:.6rem;cursor:pointer;color:#fff;background:" + background);
    node.type = "button";
    node.dataset.action = action;
    node.textContent = text;
    return node;
  }

  ApplePaySession.standIn = true;
  ApplePaySession.sessions = [];
  window.ApplePaySession = ApplePaySession;
})();
