/**
 * Types of the broker's browser helper, `broker.js` (served beside it at
 * `GET /hosted-fields/broker.d.ts`). The module is plain JavaScript; these declarations let a
 * TypeScript checkout page use it with types. Map the URL you import to this file, e.g. in
 * `tsconfig.json`:
 *
 * ```json
 * { "compilerOptions": { "paths": {
 *   "https://broker.example.com/hosted-fields/broker.js": ["./types/broker.d.ts"] } } }
 * ```
 *
 * Apple Pay JS types are declared here in the shape the helper uses (no global
 * `ApplePaySession` is declared, so `@types/applepayjs` can be used beside it).
 */

// --- the Hosted Fields checkout ---------------------------------------------------------------

/** The session request's scenario, also the library's `mode`. */
export type Scenario = "payment" | "tokenization";

/** {@link Checkout.state}. `failed`: start() gave up (call it again to retry). */
export type CheckoutState = "new" | "starting" | "ready" | "renewing" | "failed" | "destroyed";

/** Where a {@link CheckoutProblem} happened. */
export type ProblemPhase = "start" | "renewal" | "submit" | "applePay" | "merchantValidation" | "paymentAuthorization";

/** One field of the library's configuration: where it goes, and the library's own options. */
export interface HostedField {
  /** A CSS selector of the element the field is rendered into. */
  target: string;
  placeholder?: string;
  label?: string;
  [option: string]: unknown;
}

/** The library's `fields` configuration; every `target` in it also tells the helper where focus means "in use". */
export interface HostedFieldsFields {
  card?: {
    cardholderName?: HostedField;
    cardNumber?: HostedField;
    expiryDate?: HostedField;
    cvv?: HostedField;
    submit?: HostedField & { value?: string };
    [field: string]: HostedField | undefined;
  };
  [group: string]: unknown;
}

/** Payloads of the library events the helper knows. Other events pass through as `unknown`. */
export interface HostedFieldsEventMap {
  /** The card was tokenized: send `token` to your server. */
  submissionSuccess: { token: string; expiresAt: string };
  /** A field or submission error (the helper handles `sessionExpired` itself). */
  error: { type: string; field?: string | null; message: string };
  focus: { field: string; empty?: boolean };
  blur: { field: string; empty?: boolean };
  input: { field: string; empty?: boolean };
  change: { field: string; empty?: boolean };
  ready: { sessionToken: string };
}

/** Library event handlers, re-attached to every new form. */
export type HostedFieldsHandlers = {
  [E in keyof HostedFieldsEventMap]?: (payload: HostedFieldsEventMap[E]) => void;
} & { [event: string]: ((payload: any) => void) | undefined };

/** The `Payroc.hostedFields` instance (for library calls the helper does not wrap). */
export interface HostedFieldsInstance {
  initialize(): Promise<unknown>;
  submit(): void;
  destroy(): void;
  on(event: string, handler: (payload: any) => void): unknown;
  [member: string]: unknown;
}

/**
 * A Hosted Fields session as the helper holds it. Its times are measured from the moment the
 * broker's answer arrived, with `expiresInSeconds`: the browser's clock being wrong does not
 * change them. `…Ms` fields are on this browser's `Date` clock (for display); `…Mono` ones on
 * `performance.now()`.
 */
export interface Session {
  /** Payroc's session token. */
  sessionToken: string;
  /** As the broker sent it, on the server's clock (RFC 3339). */
  expiresAt: string;
  /** The session's life left when the broker answered (derived from `expiresAt` and the `Date` header for a broker that omits it). */
  expiresInSeconds: number;
  /** What the timing was computed from: the broker's `expiresInSeconds`, or (older broker) `expiresAt`. */
  expirySource: "expiresInSeconds" | "expiresAt";
  /** Expiry on this browser's clock (epoch ms). */
  expiresAtMs: number;
  /** When the broker's answer arrived (browser clock, epoch ms). */
  mintedAtMs: number;
  /** When the helper plans to renew (browser clock, epoch ms). */
  renewAtMs: number;
  /** When the answer arrived, in `performance.now()` ms. */
  mintedAtMono: number;
  /** Expiry, in `performance.now()` ms. */
  expiresAtMono: number;
  /** The planned renewal, in `performance.now()` ms. */
  renewAtMono: number;
  /** Server clock minus browser clock, 0 under 1 s. Informational: timing does not use it. */
  clockOffsetMs: number;
  /** The Idempotency-Key it was minted under. */
  idempotencyKey: string;
  /** Renewals before this session: 0 for the first. */
  renewals: number;
  scenario: Scenario;
  processingTerminalId: string;
  libVersion: string;
  /** Payroc's library script, loaded once per page. */
  scriptUrl: string;
  /** Its SRI hash (`sha384-…`), when the broker has one. */
  scriptIntegrity?: string;
}

export interface CheckoutOptions {
  /** The broker's origin (or base URL); default: the origin the module was loaded from. */
  brokerUrl?: string;
  /** Default `payment`; also the library's `mode`. */
  scenario?: Scenario;
  /** Default: the broker's default terminal. */
  processingTerminalId?: string;
  /** The library's `fields` configuration. */
  fields: HostedFieldsFields;
  /** More library options (styles…), or a function of the session that returns them. */
  hostedFieldsOptions?: Record<string, unknown> | ((session: Session) => Record<string, unknown>);
  /** Library event handlers, re-attached to every new form. */
  on?: HostedFieldsHandlers;
  /** Each time a form is ready with a new session. */
  onSession?: (session: Session) => void;
  /** After a renewal: the new session and the previous one. */
  onRenewal?: (session: Session, previous: Session) => void;
  /** Every problem, also failures being retried (`willRetry`); default `console.error`. */
  onError?: (problem: CheckoutProblem) => void;
  /** Renew this long before expiry (at most half the session's life). Default 60. */
  renewLeadSeconds?: number;
  /** The form counts as in use this long after its last event. Default 5. */
  idleSeconds?: number;
  /** Network retries of one session request (same key). Default 3. */
  retries?: number;
  /** First backoff; doubles, jittered, at most 8 s. Default 500. */
  retryBaseMs?: number;
  /** A longer `Retry-After` is reported, not waited. Default 30. */
  maxRetryAfterSeconds?: number;
  /** One attempt's limit. Default 15000. */
  requestTimeoutMs?: number;
  /** Wait before a failed renewal is tried again. Default 15. */
  renewRetrySeconds?: number;
  /** Refuse a library the broker gives no SRI hash for. Default false. */
  requireIntegrity?: boolean;
  /** Library events that mean the shopper is busy. Default `["focus", "input", "change"]`. */
  activityEvents?: string[];
}

/** What went wrong, shaped like the broker's `application/problem+json`. */
export declare class CheckoutProblem extends Error {
  constructor(fields: {
    type: string;
    title: string;
    detail: string;
    status?: number;
    retryAfterSeconds?: number;
    cause?: unknown;
  });
  readonly name: "CheckoutProblem";
  /** A URI: the broker's problem type, or `urn:hosted-fields-broker:client:…` for the helper's own. */
  type: string;
  /** Short, stable summary. */
  title: string;
  /** What happened this time. */
  detail: string;
  /** The broker's HTTP status, when it answered. */
  status?: number;
  /** The broker's `Retry-After`, in seconds. */
  retryAfterSeconds?: number;
  phase?: ProblemPhase;
  /** Which attempt of a request failed (1 for the first). */
  attempt?: number;
  /** True when the helper is already trying again, `retryInMs` from now. */
  willRetry: boolean;
  retryInMs?: number;
}

/** One Hosted Fields form on a page, kept alive across session expiries. */
export declare class Checkout {
  constructor(options: CheckoutOptions);
  /** A copy of the current session, or null before the first form is ready. */
  readonly session: Session | null;
  /** Milliseconds the current session has left by the helper's reckoning (0 once expired), or null. */
  readonly expiresInMs: number | null;
  /** Renewals so far. */
  readonly renewals: number;
  readonly state: CheckoutState;
  /** The current library instance. */
  readonly instance: HostedFieldsInstance | null;
  /** Mints the first session and builds the form. Never rejects: null if it gave up. */
  start(): Promise<Session | null>;
  /** Adds a library event handler, kept across renewals. */
  on<E extends keyof HostedFieldsEventMap>(event: E, handler: (payload: HostedFieldsEventMap[E]) => void): this;
  on(event: string, handler: (payload: any) => void): this;
  /** Submits through the library; the outcome is the `submissionSuccess` or `error` event. */
  submit(): void;
  /** Renews now, whatever the shopper is doing. Resolves whether a new form is up. */
  renew(): Promise<boolean>;
  /** Tears the form down and stops all timers and requests. */
  destroy(): void;
}

/** Creates a checkout; nothing happens until {@link Checkout.start}. Throws a TypeError without `fields`. */
export declare function createCheckout(options: CheckoutOptions): Checkout;

// --- Apple Pay ---------------------------------------------------------------------------------

/** A line of the sheet (Apple's `ApplePayLineItem`). */
export interface ApplePayLineItem {
  label: string;
  /** A decimal string, e.g. `"42.00"`. */
  amount: string;
  type?: "final" | "pending";
  [member: string]: unknown;
}

/** Apple's `ApplePayPaymentRequest` (the members the helper and most pages need; any other passes through). */
export interface ApplePayPaymentRequest {
  countryCode: string;
  currencyCode: string;
  merchantCapabilities: string[];
  supportedNetworks: string[];
  total: ApplePayLineItem;
  lineItems?: ApplePayLineItem[];
  requiredBillingContactFields?: string[];
  requiredShippingContactFields?: string[];
  [member: string]: unknown;
}

/** Apple's payment token: send it to your server, which pays through Payroc. */
export interface ApplePayPaymentToken {
  /** Encrypted payment data (for Payroc, not for you to read). */
  paymentData: unknown;
  paymentMethod: { displayName?: string; network?: string; type?: string; [member: string]: unknown };
  transactionIdentifier: string;
}

/** Apple's `ApplePayPayment`. */
export interface ApplePayPayment {
  token: ApplePayPaymentToken;
  billingContact?: Record<string, unknown>;
  shippingContact?: Record<string, unknown>;
}

/** Apple's `ApplePayPaymentAuthorizationResult`: `status` is `ApplePaySession.STATUS_…` (0 success, 1 failure). */
export interface ApplePayPaymentAuthorizationResult {
  status: number;
  errors?: unknown[];
  [member: string]: unknown;
}

/** Apple's merchant session, as the broker relays it: opaque, single-use, valid 5 minutes. */
export interface ApplePayMerchantSession {
  merchantSessionIdentifier?: string;
  displayName?: string;
  domainName?: string;
  [member: string]: unknown;
}

/** The parts of an `ApplePaySession` a page's pass-through handlers call. */
export interface ApplePaySessionLike {
  begin(): void;
  abort(): void;
  completeMerchantValidation(merchantSession: unknown): void;
  completePayment(result: ApplePayPaymentAuthorizationResult | number): void;
  completePaymentMethodSelection(update: unknown): void;
  completeShippingMethodSelection(update: unknown): void;
  completeShippingContactSelection(update: unknown): void;
  completeCouponCodeChange?(update: unknown): void;
}

/** An `ApplePaySession` event as the pass-through handlers get it (Apple's event object). */
export type ApplePayEvent = Event & { [member: string]: any };

/** `ApplePaySession` events a page may handle itself: it then calls the matching `session.complete…`. */
export interface ApplePayPassThroughHandlers {
  paymentmethodselected?: (event: ApplePayEvent, session: ApplePaySessionLike) => void;
  shippingmethodselected?: (event: ApplePayEvent, session: ApplePaySessionLike) => void;
  shippingcontactselected?: (event: ApplePayEvent, session: ApplePaySessionLike) => void;
  couponcodechanged?: (event: ApplePayEvent, session: ApplePaySessionLike) => void;
  /** The shopper closed the sheet (`begin()` also resolves `cancelled`). */
  cancel?: (event: ApplePayEvent, session: ApplePaySessionLike) => void;
}

/** What `onPaymentAuthorized` answers: `true` (paid), `false` (declined) or Apple's result object. */
export type ApplePayAuthorizationAnswer = boolean | ApplePayPaymentAuthorizationResult;

export interface ApplePayOptions {
  /** Where `POST /apple-pay/session` lives; default: the origin the module was loaded from. */
  brokerUrl?: string;
  /** Default: the broker's default terminal. */
  processingTerminalId?: string;
  /** The sheet's request, or a function returning it when the sheet opens. */
  paymentRequest?: ApplePayPaymentRequest | (() => ApplePayPaymentRequest);
  /**
   * The shopper authorized: send `payment.token` to your server, which pays through Payroc,
   * and answer how it went. The helper calls `completePayment` with the answer; a throw or
   * rejection counts as a failure (and reaches `onError`).
   */
  onPaymentAuthorized: (
    payment: ApplePayPayment,
    context: { event: ApplePayEvent; session: ApplePaySessionLike },
  ) => ApplePayAuthorizationAnswer | Promise<ApplePayAuthorizationAnswer>;
  /** More `ApplePaySession` events, passed through as `(event, session)`. */
  on?: ApplePayPassThroughHandlers;
  /** The broker's merchant session, just before it goes to `completeMerchantValidation`. */
  onMerchantSession?: (merchantSession: ApplePayMerchantSession) => void;
  /** Every problem (also retried ones, `willRetry`); default `console.error`. */
  onError?: (problem: CheckoutProblem) => void;
  /** The Apple Pay JS version to ask for. Default 3. */
  version?: number;
  /** Retries of the merchant validation request. Default 2. */
  retries?: number;
  /** First backoff; doubles, jittered. Default 500. */
  retryBaseMs?: number;
  /** A longer `Retry-After` is reported, not waited. Default 10. */
  maxRetryAfterSeconds?: number;
  /** One attempt's limit. Default 10000. */
  requestTimeoutMs?: number;
  /** All attempts' limit; then the sheet is aborted. Default 25000. */
  validationTimeoutMs?: number;
}

/** Why Apple Pay is not available. */
export type ApplePayUnavailableReason = "no-apple-pay" | "unsupported-version" | "cannot-make-payments" | "error";

export type ApplePayAvailability =
  | { available: true }
  | { available: false; reason: ApplePayUnavailableReason; detail: string };

/** How a sheet ended; `begin()` resolves it, never rejects. */
export type ApplePayOutcome =
  | { outcome: "authorized"; payment: ApplePayPayment; result: ApplePayPaymentAuthorizationResult }
  | { outcome: "cancelled" }
  | { outcome: "aborted" }
  | { outcome: "busy" }
  | { outcome: "failed"; problem: CheckoutProblem }
  | { outcome: "unavailable"; reason: ApplePayUnavailableReason; detail: string };

/** {@link ApplePay.state}. */
export type ApplePayState = "idle" | "validating" | "sheet" | "authorizing";

/** Apple Pay next to a Hosted Fields form: availability, the sheet, merchant validation through the broker. */
export declare class ApplePay {
  constructor(options: ApplePayOptions);
  /** Whether this browser can pay with Apple Pay now, and if not why. Never throws. */
  readonly availability: ApplePayAvailability;
  /** Shorthand for `availability.available`. */
  readonly available: boolean;
  readonly state: ApplePayState;
  /** The open `ApplePaySession`, or null. */
  readonly session: ApplePaySessionLike | null;
  /**
   * Opens the payment sheet. Apple allows that only inside a user gesture: call it
   * synchronously from the button's click handler, before any `await`.
   */
  begin(paymentRequest?: ApplePayPaymentRequest | (() => ApplePayPaymentRequest)): Promise<ApplePayOutcome>;
  /** Closes the open sheet, if any; its `begin()` resolves `aborted`. */
  abort(): void;
}

/** Creates the Apple Pay helper. Throws a TypeError without `onPaymentAuthorized`. */
export declare function createApplePay(options: ApplePayOptions): ApplePay;
