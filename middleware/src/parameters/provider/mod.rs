//! Back-ends that fetch parameters: SSM Parameter Store through the AWS SDK or the Parameters
//! and Secrets Lambda Extension, and AppConfig through the AppConfig Agent Lambda extension.

pub(crate) mod appconfig;
mod extension;
#[cfg(feature = "ssm")]
mod sdk;

use futures_util::future::{join_all, join3};

use crate::{
    cache::{FetchError, FetchErrorKind, Keyed, Request, Source, loopback::Loopback},
    parameters::{
        config::{Store, Transform},
        value::{ParameterValue, Raw},
    },
};

/// `GetParameters` takes at most this many names.
const BATCH_SIZE: usize = 10;
/// `GetParametersByPath` pages hold at most this many parameters.
#[cfg_attr(not(feature = "ssm"), allow(dead_code))]
const PATH_PAGE_SIZE: i32 = 10;

/// What one declared parameter fetches, and what it becomes.
#[derive(Clone)]
pub(crate) struct ParameterKey {
    /// As the variable holds it: a name or ARN, a path, `application/environment/profile`.
    pub(crate) id: String,
    pub(crate) store: Store,
    pub(crate) transform: Transform,
    pub(crate) redacted: bool,
    /// The AppConfig agent's path of the configuration.
    pub(crate) agent_path: Option<String>,
}

impl Keyed for ParameterKey {
    fn id(&self) -> &str {
        &self.id
    }
}

/// Where SSM values come from.
pub(crate) enum Ssm {
    /// No SSM parameter is declared.
    Unused,
    #[cfg(feature = "ssm")]
    Sdk(aws_sdk_ssm::Client),
    Extension(Box<Loopback>),
    #[cfg(test)]
    Scripted(std::sync::Arc<crate::cache::scripted::Script>),
}

/// The back-ends of one configuration: SSM (one of them) and the AppConfig agent.
pub(crate) struct Provider {
    pub(crate) ssm: Ssm,
    pub(crate) appconfig: Option<appconfig::Agent>,
}

impl Source for Provider {
    type Key = ParameterKey;
    type Value = ParameterValue;

    fn label(&self) -> &'static str {
        match (&self.ssm, &self.appconfig) {
            #[cfg(feature = "ssm")]
            (Ssm::Sdk(_), None) => "ssm",
            #[cfg(feature = "ssm")]
            (Ssm::Sdk(_), Some(_)) => "ssm+appconfig-agent",
            (Ssm::Extension(_), None) => "parameters-and-secrets-extension",
            (Ssm::Extension(_), Some(_)) => "parameters-and-secrets-extension+appconfig-agent",
            #[cfg(test)]
            (Ssm::Scripted(_), _) => "scripted",
            (Ssm::Unused, _) => "appconfig-agent",
        }
    }

    /// Single SSM names share `GetParameters` calls through the SDK.
    fn batches(&self, key: &ParameterKey) -> bool {
        let batching = match self.ssm {
            #[cfg(feature = "ssm")]
            Ssm::Sdk(_) => true,
            #[cfg(test)]
            Ssm::Scripted(_) => true,
            _ => false,
        };
        batching && key.store == Store::Ssm
    }

    /// Every request at once: single names in `GetParameters` calls of up to 10, each path
    /// page by page, each AppConfig configuration from the agent; then each value transformed.
    async fn fetch(
        &self,
        requests: &[Request<'_, ParameterKey>],
    ) -> Vec<Result<ParameterValue, FetchError>> {
        let of = |wanted: fn(Store) -> bool| -> Vec<usize> {
            (0..requests.len())
                .filter(|i| wanted(requests[*i].key.store))
                .collect()
        };
        let singles = of(|store| store == Store::Ssm);
        let paths = of(|store| matches!(store, Store::SsmPath { .. }));
        let profiles = of(|store| store == Store::AppConfig);
        let names: Vec<&str> = singles.iter().map(|i| requests[*i].key.id()).collect();
        let (named, pathed, configured) = join3(
            self.fetch_names(&names),
            join_all(paths.iter().map(|i| self.fetch_path(requests[*i].key))),
            join_all(
                profiles
                    .iter()
                    .map(|i| self.fetch_profile(requests[*i].key)),
            ),
        )
        .await;
        let mut raws: Vec<Option<Result<Raw, FetchError>>> =
            requests.iter().map(|_| None).collect();
        let fetched = [singles, paths, profiles].into_iter().flatten();
        for (index, raw) in fetched.zip(named.into_iter().chain(pathed).chain(configured)) {
            raws[index] = Some(raw);
        }
        requests
            .iter()
            .zip(raws)
            .map(|(request, raw)| {
                let raw = raw.expect("every request has an outcome")?;
                let key = request.key;
                ParameterValue::transform(request.name, &key.transform, key.redacted, raw)
            })
            .collect()
    }

    fn version(value: &ParameterValue) -> Option<&str> {
        value.version()
    }
}

impl Provider {
    /// One outcome per name.
    async fn fetch_names(&self, names: &[&str]) -> Vec<Result<Raw, FetchError>> {
        if names.is_empty() {
            return Vec::new();
        }
        match &self.ssm {
            #[cfg(feature = "ssm")]
            Ssm::Sdk(client) => {
                let chunks = chunks(names);
                let answers = join_all(chunks.iter().map(|chunk| {
                    let chunk_names: Vec<&str> = chunk.iter().map(|i| names[*i]).collect();
                    async move { sdk::get_names(client, &chunk_names).await }
                }))
                .await;
                let mut outcomes: Vec<Option<Result<Raw, FetchError>>> =
                    names.iter().map(|_| None).collect();
                for (chunk, answer) in chunks.iter().zip(answers) {
                    for (index, outcome) in chunk.iter().zip(answer) {
                        outcomes[*index] = Some(outcome);
                    }
                }
                outcomes
                    .into_iter()
                    .map(|o| o.expect("every name was asked"))
                    .collect()
            }
            Ssm::Extension(extension) => {
                join_all(names.iter().map(|name| extension::get(extension, name))).await
            }
            #[cfg(test)]
            Ssm::Scripted(script) => {
                join_all(names.iter().map(|_| async {
                    let text = script.fetch().await?;
                    Ok(Raw::text(text.to_owned(), false, None))
                }))
                .await
            }
            Ssm::Unused => names.iter().map(|_| Err(unused())).collect(),
        }
    }

    async fn fetch_path(&self, key: &ParameterKey) -> Result<Raw, FetchError> {
        match (&self.ssm, key.store) {
            #[cfg(feature = "ssm")]
            (Ssm::Sdk(client), Store::SsmPath { recursive }) => {
                sdk::get_path(client, &key.id, recursive).await
            }
            _ => Err(unused()),
        }
    }

    async fn fetch_profile(&self, key: &ParameterKey) -> Result<Raw, FetchError> {
        match (&self.appconfig, &key.agent_path) {
            (Some(agent), Some(path)) => agent.get(path).await,
            _ => Err(unused()),
        }
    }
}

/// A request the configured back-ends cannot serve; the layer refuses such declarations at
/// init, so this is never seen.
fn unused() -> FetchError {
    FetchError::new(
        FetchErrorKind::Other,
        "NoBackend",
        "no back-end of this configuration serves this parameter",
    )
}

/// Splits `names` into `GetParameters` calls: at most [`BATCH_SIZE`] names each, and never two
/// versions or labels of one parameter in the same call (SSM would answer both under one name).
#[cfg_attr(not(feature = "ssm"), allow(dead_code))]
fn chunks(names: &[&str]) -> Vec<Vec<usize>> {
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let base = split_selector(name).0;
        let fits = chunks.iter_mut().find(|chunk| {
            chunk.len() < BATCH_SIZE && chunk.iter().all(|i| split_selector(names[*i]).0 != base)
        });
        match fits {
            Some(chunk) => chunk.push(index),
            None => chunks.push(vec![index]),
        }
    }
    chunks
}

/// A parameter name or ARN and its `:version` / `:label` selector (empty when there is none).
fn split_selector(requested: &str) -> (&str, &str) {
    // In an ARN the name follows `parameter/`; names themselves never hold a colon.
    let name_starts = requested.find(":parameter/").map_or(0, |at| at + 11);
    match requested[name_starts..].find(':') {
        Some(at) => requested.split_at(name_starts + at),
        None => (requested, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_are_split_from_names_and_arns() {
        let cases = [
            ("/shop/rules", ("/shop/rules", "")),
            ("/shop/rules:3", ("/shop/rules", ":3")),
            ("rules:live", ("rules", ":live")),
            (
                "arn:aws:ssm:us-east-1:123456789012:parameter/shop/rules",
                (
                    "arn:aws:ssm:us-east-1:123456789012:parameter/shop/rules",
                    "",
                ),
            ),
            (
                "arn:aws:ssm:us-east-1:123456789012:parameter/shop/rules:7",
                (
                    "arn:aws:ssm:us-east-1:123456789012:parameter/shop/rules",
                    ":7",
                ),
            ),
        ];
        for (requested, expected) in cases {
            assert_eq!(split_selector(requested), expected, "{requested}");
        }
    }

    #[test]
    fn names_are_batched_by_ten_keeping_versions_of_one_parameter_apart() {
        let names: Vec<String> = (0..23).map(|i| format!("/p/{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let sizes: Vec<usize> = chunks(&names).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 3]);
        assert_eq!(chunks(&names[..10]).len(), 1);
        assert_eq!(
            chunks(&["/a", "/b:1", "/a:2", "/b", "/c"]),
            [vec![0, 1, 4], vec![2, 3]]
        );
    }
}
