/*
 * A stand-in for Payroc's Hosted Fields library, for the broker's `demo` mode and browser
 * tests. The demo's fake Payroc serves it as Payroc's CDN would
 * (`/js/hosted-fields/hosted-fields-<version>.js`), and the broker hands out its real SHA-384
 * SRI hash, so the page loads it exactly as it would load the real library.
 *
 * It follows the real library's shape loosely — `new Payroc.hostedFields({ sessionToken,
 * mode, fields })`, `initialize()`, `destroy()`, `on(event, handler)`, events
 * `submissionSuccess` → `{token, expiresAt}` and `error` → `{type, field, message}` — but
 * renders plain <input>s instead of Payroc's iframes, and never sees a real card number.
 *
 * Extra, for tests:
 * - each field target gets `data-session-token` (the token the instance was built with);
 * - `Payroc.instances` logs every instance: token, mode, created/initialized/destroyed times;
 * - `submit()` answers like Payroc would: `error` `{type: "sessionExpired"}` once the session
 *   is past its expiry (`sessionExpiresAt` option, epoch ms or ISO string; by default 10
 *   minutes after construction, Payroc's session lifetime), or a fake single-use token;
 * - a session token may serve one instance only, like Payroc's (`sessionReused` error).
 *
 * A classic script (not a module), as Payroc's is.
 */
(function () {
  "use strict";

  /** Payroc's session lifetime, used when the page does not say when the session expires. */
  var SESSION_LIFETIME_MS = 10 * 60 * 1000;
  /** Payroc's single-use card tokens live 30 minutes. */
  var CARD_TOKEN_LIFETIME_MS = 30 * 60 * 1000;
  /** A submission is a round trip to Payroc: long enough to be "in flight" for a moment. */
  var SUBMIT_LATENCY_MS = 250;

  /** The fields the stand-in knows, with what the browser needs for autofill. */
  var FIELD_SPECS = {
    cardholderName: { label: "Name on card", autocomplete: "cc-name", inputMode: "text" },
    cardNumber: { label: "Card number", autocomplete: "cc-number", inputMode: "numeric" },
    expiryDate: { label: "Expiry date (MM/YY)", autocomplete: "cc-exp", inputMode: "numeric" },
    cvv: { label: "Security code", autocomplete: "cc-csc", inputMode: "numeric" },
  };
  var FIELD_EVENTS = ["focus", "blur", "input", "change"];
  var MODES = ["payment", "tokenization"];

  var Payroc = window.Payroc || (window.Payroc = {});
  Payroc.instances = Payroc.instances || [];

  class HostedFields {
    /**
     * @param {{sessionToken: string, mode: string, fields: object, sessionExpiresAt?: number|string}} config
     */
    constructor(config) {
      if (!config || typeof config.sessionToken !== "string" || config.sessionToken === "") {
        throw new TypeError("Payroc.hostedFields: sessionToken is required");
      }
      if (MODES.indexOf(config.mode) < 0) {
        throw new TypeError("Payroc.hostedFields: mode must be payment or tokenization");
      }
      this.config = config;
      this.handlers = {};
      this.elements = [];
      this.targets = [];
      this.destroyed = false;
      this.expiresAtMs = expiryOf(config.sessionExpiresAt);
      this.record = {
        sessionToken: config.sessionToken,
        mode: config.mode,
        createdAt: Date.now(),
        initializedAt: null,
        destroyedAt: null,
        submissions: 0,
      };
      Payroc.instances.push(this.record);
    }

    /** Renders the fields into their targets. */
    initialize() {
      var token = this.config.sessionToken;
      var reused = Payroc.instances.some(function (other) {
        return other !== this.record && other.sessionToken === token && other.initializedAt;
      }, this);
      if (reused) {
        this.emitLater("error", { type: "sessionReused", field: null, message: "This session token already served a form." });
        return Promise.resolve(this);
      }
      var card = (this.config.fields && this.config.fields.card) || {};
      Object.keys(FIELD_SPECS).forEach(function (name) {
        if (card[name]) this.renderField(name, card[name]);
      }, this);
      if (card.submit) this.renderSubmit(card.submit);
      this.record.initializedAt = Date.now();
      this.emitLater("ready", { sessionToken: token });
      return Promise.resolve(this);
    }

    renderField(name, fieldConfig) {
      var target = document.querySelector(fieldConfig.target);
      if (!target) {
        this.emitLater("error", { type: "configuration", field: name, message: "No element matches " + fieldConfig.target });
        return;
      }
      var spec = FIELD_SPECS[name];
      var input = document.createElement("input");
      input.type = "text";
      input.name = name;
      input.className = "payroc-standin-input";
      input.autocomplete = spec.autocomplete;
      input.inputMode = spec.inputMode;
      input.placeholder = fieldConfig.placeholder || "";
      input.setAttribute("aria-label", fieldConfig.label || spec.label);
      input.dataset.payrocField = name;
      var self = this;
      FIELD_EVENTS.forEach(function (event) {
        input.addEventListener(event, function () {
          self.emit(event, { field: name, empty: input.value === "" });
        });
      });
      this.mount(target, input);
    }

    renderSubmit(submitConfig) {
      var target = document.querySelector(submitConfig.target);
      if (!target) return;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "payroc-standin-submit";
      button.textContent = submitConfig.value || "Submit";
      button.addEventListener("click", this.submit.bind(this));
      this.mount(target, button);
    }

    mount(target, element) {
      target.dataset.sessionToken = this.config.sessionToken;
      target.appendChild(element);
      this.targets.push(target);
      this.elements.push(element);
    }

    /** Registers a handler; several per event are kept. */
    on(event, handler) {
      (this.handlers[event] = this.handlers[event] || []).push(handler);
      return this;
    }

    /** Tokenizes what was typed, as Payroc would after a round trip. */
    submit() {
      if (this.destroyed) return;
      this.record.submissions += 1;
      var self = this;
      setTimeout(function () {
        if (self.destroyed) return;
        var failure = self.validate();
        if (failure) self.emit("error", failure);
        else self.emit("submissionSuccess", { token: fakeToken(), expiresAt: new Date(Date.now() + CARD_TOKEN_LIFETIME_MS).toISOString() });
      }, SUBMIT_LATENCY_MS);
    }

    /** The session first (Payroc checks it before the card), then the fields. */
    validate() {
      if (Date.now() >= this.expiresAtMs) {
        return { type: "sessionExpired", field: null, message: "The session has expired." };
      }
      var number = this.value("cardNumber").replace(/[\s-]/g, "");
      if (!/^\d{12,19}$/.test(number) || !luhn(number)) {
        return { type: "validation", field: "cardNumber", message: "Enter a valid card number." };
      }
      var cvv = this.value("cvv");
      if (this.has("cvv") && !/^\d{3,4}$/.test(cvv)) {
        return { type: "validation", field: "cvv", message: "Enter the 3 or 4 digit security code." };
      }
      return null;
    }

    has(name) {
      return this.elements.some(function (element) { return element.name === name; });
    }

    value(name) {
      var input = this.elements.filter(function (element) { return element.name === name; })[0];
      return input ? input.value.trim() : "";
    }

    /** Removes everything it rendered; the instance is dead afterwards. */
    destroy() {
      if (this.destroyed) return;
      this.destroyed = true;
      this.record.destroyedAt = Date.now();
      this.elements.forEach(function (element) { element.remove(); });
      this.targets.forEach(function (target) { delete target.dataset.sessionToken; });
      this.elements = [];
      this.targets = [];
      this.handlers = {};
    }

    emit(event, payload) {
      if (this.destroyed) return;
      (this.handlers[event] || []).slice().forEach(function (handler) {
        handler(payload);
      });
    }

    /** Events from initialize() fire after it returns, once the page had a chance to listen. */
    emitLater(event, payload) {
      var self = this;
      setTimeout(function () { self.emit(event, payload); }, 0);
    }
  }

  function expiryOf(value) {
    if (typeof value === "number") return value;
    var parsed = Date.parse(value || "");
    return isNaN(parsed) ? Date.now() + SESSION_LIFETIME_MS : parsed;
  }

  function fakeToken() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "standin_" + Array.prototype.map.call(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function luhn(digits) {
    var sum = 0;
    for (var i = 0; i < digits.length; i += 1) {
      var d = Number(digits[digits.length - 1 - i]);
      if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
      sum += d;
    }
    return sum % 10 === 0;
  }

  Payroc.hostedFields = HostedFields;
  Payroc.standIn = true;
})();
