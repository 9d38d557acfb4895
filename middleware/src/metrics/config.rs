//! Metrics configuration.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use tern_runtime::{
    InitError,
    env::{Env, names},
};

use super::error::{MAX_DIMENSIONS, MAX_NAME_LEN, MetricsError};

/// Where EMF documents go: one call per document, the line without its newline.
#[derive(Clone)]
pub struct MetricsSink(Arc<dyn Fn(&str) + Send + Sync>);

impl MetricsSink {
    /// Standard output, one `write_all` per line so concurrent writers never interleave; this is
    /// where Lambda collects EMF.
    pub fn stdout() -> Self {
        Self(Arc::new(|document: &str| {
            let mut line = String::with_capacity(document.len() + 1);
            line.push_str(document);
            line.push('\n');
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }))
    }

    /// A custom destination.
    pub fn from_fn(write: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self(Arc::new(write))
    }

    /// A sink that keeps every document, parsed, for a test to read from the returned list.
    ///
    /// # Panics
    /// When written a document that is not one line of JSON.
    pub fn capture() -> (Self, Arc<Mutex<Vec<serde_json::Value>>>) {
        let documents = Arc::new(Mutex::new(Vec::new()));
        let kept = documents.clone();
        let sink = Self::from_fn(move |line| {
            assert!(
                !line.contains('\n'),
                "a document of more than one line: {line}"
            );
            let document = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("a document that is not JSON ({error}): {line}"));
            kept.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(document);
        });
        (sink, documents)
    }

    pub(crate) fn write(&self, document: &str) {
        (self.0)(document)
    }
}

impl std::fmt::Debug for MetricsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsSink")
    }
}

/// How a [`MetricsLayer`](super::MetricsLayer) names and writes metrics.
///
/// | setting | builder | environment (first set wins) | default |
/// |---|---|---|---|
/// | namespace | `with_namespace` | `TERN_METRICS_NAMESPACE`, `POWERTOOLS_METRICS_NAMESPACE` | required |
/// | `service` dimension | `with_service` | `TERN_METRICS_SERVICE`, `POWERTOOLS_SERVICE_NAME`, `AWS_LAMBDA_FUNCTION_NAME` | `service_undefined` |
/// | disabled | `with_disabled` | `TERN_METRICS_DISABLED`, `POWERTOOLS_METRICS_DISABLED` = `true` | `false` |
/// | `ColdStart` metric | `with_cold_start_metric` | — | on |
/// | default dimensions | `with_default_dimension` | — | none |
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    pub(crate) namespace: String,
    pub(crate) service: String,
    pub(crate) default_dimensions: Arc<[(String, String)]>,
    pub(crate) cold_start_metric: bool,
    pub(crate) disabled: bool,
    pub(crate) sink: MetricsSink,
    pub(crate) clock: fn() -> u64,
    pub(crate) cold_start_probe: fn() -> bool,
}

impl MetricsConfig {
    /// A configuration with the given namespace and the defaults above.
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            service: "service_undefined".to_owned(),
            default_dimensions: Arc::from([]),
            cold_start_metric: true,
            disabled: false,
            sink: MetricsSink::stdout(),
            clock: now_ms,
            cold_start_probe: tern_runtime::is_cold_start,
        }
    }

    tern_runtime::env_constructors! {
        /// Reads the settings from the process environment (see the table above). Without a
        /// namespace this is a `Runtime.MissingEnvironmentVariable` error naming
        /// `TERN_METRICS_NAMESPACE`; a disabled flag other than `true`/`false` is a
        /// `Runtime.InvalidEnvironmentVariable` one.
    }

    fn from(env: &Env) -> Result<Self, InitError> {
        let (variable, namespace) = env
            .first(&[names::METRICS_NAMESPACE, "POWERTOOLS_METRICS_NAMESPACE"])
            .ok_or_else(|| InitError::MissingEnv {
                name: names::METRICS_NAMESPACE.to_owned(),
                purpose: "the CloudWatch namespace of the function's metrics (or set \
                          POWERTOOLS_METRICS_NAMESPACE)"
                    .to_owned(),
            })?;
        check_namespace(variable, &namespace)?;
        let mut config = Self::new(namespace);
        if let Some((variable, service)) = env.first(&[
            names::METRICS_SERVICE,
            "POWERTOOLS_SERVICE_NAME",
            "AWS_LAMBDA_FUNCTION_NAME",
        ]) {
            // CloudWatch drops metrics whose dimension values break its limit; fail at init.
            if service.chars().count() > MAX_DIMENSION_VALUE_LEN {
                return Err(tern_runtime::env::invalid(
                    variable,
                    &service,
                    "is longer than the 1024 characters of a CloudWatch dimension value",
                    "use a shorter service name",
                ));
            }
            config.service = service;
        }
        for name in [names::METRICS_DISABLED, "POWERTOOLS_METRICS_DISABLED"] {
            if let Some(disabled) = env.flag(name)? {
                config.disabled = disabled;
                break;
            }
        }
        Ok(config)
    }

    crate::setters! {
        /// Sets the namespace.
        with_namespace(namespace: impl Into<String>) => namespace = namespace.into();

        /// Sets the `service` dimension every metric carries.
        with_service(service: impl Into<String>) => service = service.into();
    }

    /// Adds a dimension every metric of every invocation carries.
    pub fn with_default_dimension(mut self, name: &str, value: &str) -> Result<Self, MetricsError> {
        if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
            return Err(MetricsError::InvalidName {
                what: "dimension",
                name: name.to_owned(),
            });
        }
        let mut dimensions: Vec<(String, String)> = self
            .default_dimensions
            .iter()
            .filter(|(n, _)| n != name)
            .cloned()
            .collect();
        if dimensions.len() >= MAX_DIMENSIONS {
            return Err(MetricsError::TooManyDimensions {
                name: name.to_owned(),
                count: dimensions.len() + 1,
            });
        }
        dimensions.push((name.to_owned(), value.to_owned()));
        self.default_dimensions = dimensions.into();
        Ok(self)
    }

    crate::setters! {
        /// Emits the `ColdStart` metric on the process's first invocation (default on).
        with_cold_start_metric(enabled: bool) => cold_start_metric = enabled;

        /// Turns all output off (e.g. for local runs).
        with_disabled(disabled: bool) => disabled = disabled;

        /// Sends documents somewhere other than stdout.
        with_sink(sink: MetricsSink) => sink = sink;
    }

    /// For tests: a configuration with `namespace` and `service` that writes to a
    /// [`MetricsSink::capture`] sink, and that sink's list of documents.
    #[doc(hidden)]
    pub fn capturing(namespace: &str, service: &str) -> (Self, Arc<Mutex<Vec<serde_json::Value>>>) {
        let (sink, documents) = MetricsSink::capture();
        let config = Self::new(namespace).with_service(service).with_sink(sink);
        (config, documents)
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The `service` dimension's value.
    pub fn service(&self) -> &str {
        &self.service
    }

    #[cfg(test)]
    pub(crate) fn with_test_clock(mut self, clock: fn() -> u64, cold_start: fn() -> bool) -> Self {
        self.clock = clock;
        self.cold_start_probe = cold_start;
        self
    }
}

/// The longest dimension value CloudWatch takes.
const MAX_DIMENSION_VALUE_LEN: usize = 1024;

/// CloudWatch's rules for a namespace: up to 255 letters, digits, spaces and `. - _ / # :`,
/// and not `AWS/…`, which is reserved for AWS services. Metrics in a namespace that breaks them
/// are dropped without an error, so a bad one fails init instead.
fn check_namespace(variable: &str, namespace: &str) -> Result<(), InitError> {
    let usable = namespace.len() <= 255
        && namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" .-_/#:".contains(&b));
    if !usable {
        return Err(tern_runtime::env::invalid(
            variable,
            namespace,
            "is not a CloudWatch namespace",
            "use up to 255 letters, digits, spaces and `. - _ / # :`",
        ));
    }
    if namespace.starts_with("AWS/") {
        return Err(tern_runtime::env::invalid(
            variable,
            namespace,
            "is reserved for AWS services",
            "use a namespace that does not start with `AWS/`",
        ));
    }
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_vars_prefers_tern_names_then_powertools_then_lambda() {
        let config = MetricsConfig::from_vars([
            ("POWERTOOLS_METRICS_NAMESPACE", "Shop"),
            ("AWS_LAMBDA_FUNCTION_NAME", "orders-fn"),
        ])
        .unwrap();
        assert_eq!(
            (config.namespace(), config.service(), config.disabled),
            ("Shop", "orders-fn", false)
        );

        let config = MetricsConfig::from_vars([
            ("TERN_METRICS_NAMESPACE", "Tern"),
            ("POWERTOOLS_METRICS_NAMESPACE", "Shop"),
            ("TERN_METRICS_SERVICE", "orders"),
            ("POWERTOOLS_SERVICE_NAME", "other"),
            ("TERN_METRICS_DISABLED", "TRUE"),
        ])
        .unwrap();
        assert_eq!(
            (config.namespace(), config.service(), config.disabled),
            ("Tern", "orders", true)
        );

        let missing = MetricsConfig::from_vars([("TERN_METRICS_SERVICE", "orders")]).unwrap_err();
        assert_eq!(missing.error_type(), "Runtime.MissingEnvironmentVariable");
        assert_eq!(
            missing.to_string(),
            "environment variable `TERN_METRICS_NAMESPACE` is not set; it must hold the \
             CloudWatch namespace of the function's metrics (or set POWERTOOLS_METRICS_NAMESPACE)"
        );
        let invalid = MetricsConfig::from_vars([
            ("TERN_METRICS_NAMESPACE", "Shop"),
            ("POWERTOOLS_METRICS_DISABLED", "yes"),
        ])
        .unwrap_err();
        assert_eq!(
            invalid.to_string(),
            "environment variable `POWERTOOLS_METRICS_DISABLED` is invalid: `yes` is not one of \
             the choices; use `true` or `false`"
        );
    }

    #[test]
    fn namespaces_follow_cloudwatch_rules() {
        for namespace in [
            "Shop/Checkout",
            "tern-canary",
            "a.b_c #1:x",
            &"n".repeat(255),
        ] {
            let config = MetricsConfig::from_vars([("TERN_METRICS_NAMESPACE", namespace)]);
            assert_eq!(config.unwrap().namespace(), namespace);
        }
        for (namespace, problem) in [
            ("AWS/Lambda", "is reserved for AWS services"),
            ("Shop|Checkout", "is not a CloudWatch namespace"),
            ("Café", "is not a CloudWatch namespace"),
        ] {
            let error = MetricsConfig::from_vars([("TERN_METRICS_NAMESPACE", namespace)]);
            let message = error.unwrap_err().to_string();
            assert!(
                message.starts_with(&format!(
                    "environment variable `TERN_METRICS_NAMESPACE` is invalid: `{namespace}` \
                     {problem}; "
                )),
                "{message}"
            );
        }
        let long = "n".repeat(256);
        assert!(MetricsConfig::from_vars([("TERN_METRICS_NAMESPACE", long)]).is_err());
    }

    #[test]
    fn default_dimensions_are_bounded() {
        let mut config = MetricsConfig::new("Shop");
        for i in 0..29 {
            config = config
                .with_default_dimension(&format!("d{i}"), "v")
                .unwrap();
        }
        let config = config.with_default_dimension("d3", "again").unwrap();
        assert_eq!(config.default_dimensions.len(), 29);
        assert_eq!(
            config
                .with_default_dimension("d29", "v")
                .unwrap_err()
                .error_type(),
            "Metrics.TooManyDimensions"
        );
    }
}
