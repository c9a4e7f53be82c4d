// A merchant's checkout page script written in TypeScript against the broker's helper:
// a Hosted Fields card form plus an Apple Pay button. Type-checked (strict, no emit) by
// `tests/types/run.sh`; tsconfig.json maps the broker's URL to static/broker.d.ts, as a
// merchant's project would. The `@ts-expect-error` lines prove the types catch misuse.

import {
  CheckoutProblem,
  createApplePay,
  createCheckout,
  type ApplePayOutcome,
  type ApplePayPayment,
  type ApplePayPaymentRequest,
  type Checkout,
  type Session,
} from "https://broker.example.com/hosted-fields/broker.js";

/** The shop's own server: it pays with the tokens, through Payroc (never the browser). */
declare function postToShopServer(path: string, body: unknown): Promise<{ ok: boolean; declineReason?: string }>;

const banner = document.querySelector<HTMLElement>("#banner");

function showProblem(problem: CheckoutProblem): void {
  const retry = problem.willRetry && problem.retryInMs !== undefined ? ` (retrying in ${Math.ceil(problem.retryInMs / 1000)} s)` : "";
  if (banner) banner.textContent = `${problem.status ?? ""} ${problem.title}: ${problem.detail}${retry}`;
  if (problem.phase === "merchantValidation") console.warn("Apple Pay merchant validation failed", problem.type);
}

// --- the card form ----------------------------------------------------------------------------

const checkout: Checkout = createCheckout({
  scenario: "payment",
  fields: {
    card: {
      cardholderName: { target: "#card-holder", placeholder: "Name on card" },
      cardNumber: { target: "#card-number" },
      expiryDate: { target: "#card-expiry" },
      cvv: { target: "#card-cvv" },
    },
  },
  hostedFieldsOptions: (session: Session) => ({ styles: { input: { fontSize: "16px" } }, mode: session.scenario }),
  on: {
    submissionSuccess: ({ token, expiresAt }) => {
      void postToShopServer("/pay/card", { token, expiresAt });
    },
    error: ({ field, message }) => {
      if (banner) banner.textContent = field ? `${field}: ${message}` : message;
    },
  },
  onRenewal: (session, previous) => console.info(`renewed ${previous.sessionToken.slice(-6)} → ${session.sessionToken.slice(-6)}`),
  onError: showProblem,
});

checkout.on("focus", ({ field }) => console.debug(`${field} focused`));
document.querySelector("#pay")?.addEventListener("click", () => checkout.submit());

const session = await checkout.start();
if (session) {
  const seconds: number = session.expiresInSeconds;
  const source: "expiresInSeconds" | "expiresAt" = session.expirySource;
  console.info(`form up, ${seconds} s left (${source}), renews in ${Math.round(session.renewAtMono - performance.now())} ms`);
}
const left: number | null = checkout.expiresInMs;
console.info(checkout.state, checkout.renewals, left);

// --- Apple Pay ----------------------------------------------------------------------------------

const cart = { label: "Demo shop", amount: "42.00" };

function paymentRequest(): ApplePayPaymentRequest {
  return {
    countryCode: "IE",
    currencyCode: "EUR",
    merchantCapabilities: ["supports3DS"],
    supportedNetworks: ["visa", "masterCard"],
    total: { label: cart.label, amount: cart.amount, type: "final" },
  };
}

const applePay = createApplePay({
  processingTerminalId: "1234001",
  paymentRequest,
  onPaymentAuthorized: async (payment: ApplePayPayment) => {
    const answer = await postToShopServer("/pay/apple-pay", { token: payment.token, total: cart.amount });
    if (answer.ok) return true;
    return { status: 1, errors: [answer.declineReason] };
  },
  on: {
    shippingmethodselected: (event, session) => {
      session.completeShippingMethodSelection({ newTotal: { label: cart.label, amount: cart.amount }, method: event.shippingMethod });
    },
  },
  onMerchantSession: (merchantSession) => console.debug("merchant session", merchantSession.merchantSessionIdentifier),
  onError: showProblem,
});

const button = document.querySelector<HTMLButtonElement>("#apple-pay");
const availability = applePay.availability;
if (availability.available && button) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    // Straight from the click, before any await: Apple's user-gesture rule.
    const outcome: ApplePayOutcome = await applePay.begin();
    switch (outcome.outcome) {
      case "authorized":
        console.info("paid with", outcome.payment.token.paymentMethod.displayName, outcome.result.status);
        break;
      case "failed":
        showProblem(outcome.problem);
        break;
      case "unavailable":
        console.info(outcome.reason, outcome.detail);
        break;
      default:
        console.info(outcome.outcome);
    }
  });
} else if (!availability.available) {
  console.info(`no Apple Pay: ${availability.reason} (${availability.detail})`);
}

// --- misuse the declarations must refuse ---------------------------------------------------------

// @ts-expect-error `fields` is required
createCheckout({ scenario: "payment" });
// @ts-expect-error not a scenario
createCheckout({ scenario: "refund", fields: {} });
// @ts-expect-error the submissionSuccess payload has no `amount`
createCheckout({ fields: {}, on: { submissionSuccess: ({ amount }) => console.log(amount) } });
// @ts-expect-error `onPaymentAuthorized` is required
createApplePay({ paymentRequest });
// @ts-expect-error onPaymentAuthorized answers true, false or {status}, not a string
createApplePay({ onPaymentAuthorized: () => "ok" });
// @ts-expect-error `reason` exists only when Apple Pay is unavailable
console.log(applePay.availability.reason);
// @ts-expect-error a Session's times are numbers
const wrong: string = checkout.session!.expiresAtMono;
void wrong;
