//! Per-key knobs and counters of the fake, for tests proving a broker keeps its accounts
//! apart: identity calls and session calls by key, a fault for one key, revoking one key's
//! tokens, and how many identity calls were ever served at once.

use std::sync::atomic::Ordering;

use super::{FakePayroc, IdentityFault};

impl FakePayroc {
    /// Every `POST /authorize` that presented `api_key`, whatever the outcome.
    pub fn identity_calls_for(&self, api_key: &str) -> u64 {
        let state = self.state();
        state
            .identity_calls_by_key
            .get(api_key)
            .copied()
            .unwrap_or(0)
    }

    /// Every session POST whose Bearer token was issued for `api_key` (live or expired, not
    /// revoked), whatever the outcome.
    pub fn session_calls_for(&self, api_key: &str) -> u64 {
        let state = self.state();
        state
            .session_calls_by_key
            .get(api_key)
            .copied()
            .unwrap_or(0)
    }

    /// Makes the identity endpoint misbehave for calls presenting `api_key` only, until set
    /// back to [`IdentityFault::None`]. A global [`FakePayroc::set_identity_fault`] wins.
    pub fn set_identity_fault_for(&self, api_key: &str, fault: IdentityFault) {
        let mut state = self.state();
        if fault == IdentityFault::None {
            state.identity_faults_by_key.remove(api_key);
        } else {
            state
                .identity_faults_by_key
                .insert(api_key.to_owned(), fault);
        }
    }

    /// Every Bearer token issued for `api_key` so far becomes invalid (401); other keys'
    /// tokens stay good.
    pub fn revoke_tokens_for(&self, api_key: &str) {
        self.state()
            .tokens
            .retain(|_, token| token.api_key != api_key);
    }

    /// Identity calls being served right now (inside the handler, latency included).
    pub fn identity_in_flight(&self) -> u64 {
        let counters = self.counters();
        counters.identity_in_flight.load(Ordering::SeqCst)
    }

    /// The most identity calls ever served at the same moment since start.
    pub fn identity_peak_in_flight(&self) -> u64 {
        let counters = self.counters();
        counters.identity_peak_in_flight.load(Ordering::SeqCst)
    }
}
