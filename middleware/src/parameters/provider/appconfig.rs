//! AppConfig configurations through the AWS AppConfig Agent Lambda extension's local HTTP API:
//! `GET /applications/<application>/environments/<environment>/configurations/<profile>`.
//!
//! The agent calls AppConfig (`StartConfigurationSession`, `GetLatestConfiguration`) with the
//! function's role, caches what it got, and polls for a new deployment once per
//! `AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS`; between polls, and while AppConfig cannot
//! be reached, it answers from its cache. Reading it more often than it polls would only read
//! that cache again, so AppConfig values take the poll interval as their TTL by default.

use crate::{
    cache::{
        FetchError,
        loopback::{Loopback, encode},
    },
    parameters::value::{Raw, RawContent},
};

/// The error codes of AppConfig the agent may relay in an error answer.
const RELAYED: [&str; 4] = [
    "ResourceNotFoundException",
    "AccessDeniedException",
    "BadRequestException",
    "ThrottlingException",
];

/// The agent's header with the version of the configuration it answered with.
const VERSION_HEADER: &str = "configuration-version";

/// The AppConfig agent on loopback.
pub(crate) struct Agent(Loopback);

impl Agent {
    /// The agent on `localhost:<port>`.
    pub(crate) fn new(port: u16) -> Self {
        Self::with_endpoint(format!("http://localhost:{port}"))
    }

    pub(crate) fn with_endpoint(endpoint: String) -> Self {
        Self(Loopback::new("the AppConfig agent", endpoint))
    }

    /// The configuration at `path` (see [`request_path`]), as the agent has it cached.
    pub(super) async fn get(&self, path: &str) -> Result<Raw, FetchError> {
        let answer = self.0.get(path).await?;
        if !answer.status.is_success() {
            return Err(self.0.error_answer(answer.status, &answer.body, &RELAYED));
        }
        let version = answer
            .headers
            .get(VERSION_HEADER)
            .and_then(|version| version.to_str().ok())
            .map(str::to_owned);
        Ok(Raw {
            content: RawContent::Bytes(answer.body.to_vec()),
            secure: false,
            version,
        })
    }
}

/// The agent's path of a configuration, from `application/environment/profile` (names or
/// ids); `None` unless it is exactly three non-empty parts.
pub(crate) fn request_path(id: &str) -> Option<String> {
    let parts: Vec<&str> = id.split('/').collect();
    let [application, environment, profile] = parts[..] else {
        return None;
    };
    if parts.iter().any(|part| part.trim().is_empty()) {
        return None;
    }
    Some(format!(
        "/applications/{}/environments/{}/configurations/{}",
        encode(application),
        encode(environment),
        encode(profile)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_three_parts() {
        assert_eq!(
            request_path("shop/prod env/flags").as_deref(),
            Some("/applications/shop/environments/prod%20env/configurations/flags")
        );
        for bad in ["shop/prod", "shop//flags", "a/b/c/d", "", "/prod/flags"] {
            assert_eq!(request_path(bad), None, "{bad}");
        }
    }
}
