//! Payroc's published values for each environment: the defaults `payroc.environment` picks.

use serde::{Deserialize, Serialize};

/// Which Payroc environment the broker talks to; picks the default URLs, version and SRI.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PayrocEnvironment {
    /// Payroc's UAT environment.
    #[default]
    Test,
    Production,
}

/// Payroc's published defaults for one environment (see `docs/payroc.md`).
pub(super) struct EnvironmentDefaults {
    pub identity_url: &'static str,
    pub api_url: &'static str,
    pub lib_version: &'static str,
    pub cdn: &'static str,
    pub integrity: &'static str,
}

pub(super) const TEST_DEFAULTS: EnvironmentDefaults = EnvironmentDefaults {
    identity_url: "https://identity.uat.payroc.com/authorize",
    api_url: "https://api.uat.payroc.com/v1",
    lib_version: "1.7.0.261457",
    cdn: "https://cdn.uat.payroc.com/js/hosted-fields/",
    integrity: "sha384-m1A0nfFYa8sAfpDN0d60o4ztd/aCPC2xDVaOT31Urrmn4xypfHqgHQMayZeIK1PM",
};

pub(super) const PRODUCTION_DEFAULTS: EnvironmentDefaults = EnvironmentDefaults {
    identity_url: "https://identity.payroc.com/authorize",
    api_url: "https://api.payroc.com/v1",
    lib_version: "1.7.0.261471",
    cdn: "https://cdn.payroc.com/js/hosted-fields/",
    integrity: "sha384-4KD8EaeEaCR2jLV6vnBwfEAEy/o2bR0GkODVpr8iePLTK5eOOmjoPuDVKJ0wM1oP",
};

impl PayrocEnvironment {
    pub(super) fn defaults(self) -> &'static EnvironmentDefaults {
        match self {
            Self::Test => &TEST_DEFAULTS,
            Self::Production => &PRODUCTION_DEFAULTS,
        }
    }

    /// The Hosted Fields version Payroc publishes for this environment.
    pub fn default_lib_version(self) -> &'static str {
        self.defaults().lib_version
    }
}
