//! The per-invocation metrics handle.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value};

use super::{
    emf::MetricValues,
    error::MetricsError,
    error::{MAX_DIMENSIONS, MAX_NAME_LEN},
    unit::{Resolution, Unit},
};

tokio::task_local! {
    static CURRENT: Metrics;
}

/// Metrics of the invocation being handled: add metrics, dimensions and metadata; the
/// [`MetricsLayer`](super::MetricsLayer) flushes them as EMF when the invocation ends.
///
/// Get it with [`Metrics::current`] anywhere inside the handler (it lives in a task-local
/// scoped to the invocation, so concurrent invocations never share one). Clone it into tasks
/// you spawn. Outside an invocation it is inactive and every call is a cheap no-op.
#[derive(Clone, Default)]
pub struct Metrics {
    buffer: Option<Arc<Mutex<Buffer>>>,
}

#[derive(Default)]
pub(crate) struct Buffer {
    pub(crate) metrics: Vec<MetricValues>,
    /// Custom dimensions added during the invocation, in insertion order.
    pub(crate) dimensions: Vec<(String, String)>,
    pub(crate) metadata: Map<String, Value>,
    /// The configured default dimensions (shared, not copied per invocation).
    pub(crate) defaults: Option<Arc<[(String, String)]>>,
}

impl Buffer {
    /// Default and custom dimensions merged, `service` first; a custom one replaces a default
    /// of the same name.
    pub(crate) fn dimensions_with(&self, service: &str) -> Vec<(String, String)> {
        let mut all = vec![("service".to_owned(), service.to_owned())];
        for (name, value) in self.defaults.iter().flat_map(|d| d.iter()) {
            if !self.dimensions.iter().any(|(n, _)| n == name) {
                all.push((name.clone(), value.clone()));
            }
        }
        all.extend(self.dimensions.iter().cloned());
        all
    }

    fn custom_count(&self) -> usize {
        let defaults = self.defaults.as_deref().unwrap_or_default();
        defaults.len()
            + self
                .dimensions
                .iter()
                .filter(|(n, _)| !defaults.iter().any(|(d, _)| d == n))
                .count()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("active", &self.is_active())
            .finish()
    }
}

impl Metrics {
    pub(crate) fn active(defaults: Arc<[(String, String)]>) -> Self {
        Self {
            buffer: Some(Arc::new(Mutex::new(Buffer {
                defaults: Some(defaults),
                ..Buffer::default()
            }))),
        }
    }

    /// The current invocation's metrics (inactive outside a [`MetricsLayer`](super::MetricsLayer)).
    pub fn current() -> Self {
        CURRENT.try_with(Clone::clone).unwrap_or_default()
    }

    pub(crate) fn scope<F: Future>(
        &self,
        future: F,
    ) -> tokio::task::futures::TaskLocalFuture<Metrics, F> {
        CURRENT.scope(self.clone(), future)
    }

    pub(crate) fn sync_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self.clone(), f)
    }

    /// Whether this handle records anything.
    pub fn is_active(&self) -> bool {
        self.buffer.is_some()
    }

    /// Adds a value to a standard-resolution metric.
    pub fn add(&self, name: &str, unit: Unit, value: f64) -> Result<(), MetricsError> {
        self.record(name, unit, Resolution::Standard, value)
    }

    /// Adds a value to a high-resolution (1 s) metric.
    pub fn add_high_resolution(
        &self,
        name: &str,
        unit: Unit,
        value: f64,
    ) -> Result<(), MetricsError> {
        self.record(name, unit, Resolution::High, value)
    }

    /// Adds a dimension to every metric of this invocation (replacing one of the same name).
    pub fn add_dimension(&self, name: &str, value: &str) -> Result<(), MetricsError> {
        check_name("dimension", name)?;
        let Some(mut buffer) = self.lock() else {
            return Ok(());
        };
        if let Some(existing) = buffer.dimensions.iter_mut().find(|(n, _)| n == name) {
            existing.1 = value.to_owned();
            return Ok(());
        }
        let replaces_default = buffer
            .defaults
            .iter()
            .flat_map(|d| d.iter())
            .any(|(n, _)| n == name);
        if !replaces_default && buffer.custom_count() >= MAX_DIMENSIONS {
            return Err(MetricsError::TooManyDimensions {
                name: name.to_owned(),
                count: buffer.custom_count() + 1,
            });
        }
        buffer.dimensions.push((name.to_owned(), value.to_owned()));
        Ok(())
    }

    /// Adds a metadata member (searchable in CloudWatch Logs, not a metric or dimension).
    pub fn add_metadata(&self, key: &str, value: impl Into<Value>) {
        if let Some(mut buffer) = self.lock() {
            buffer.metadata.insert(key.to_owned(), value.into());
        }
    }

    fn record(
        &self,
        name: &str,
        unit: Unit,
        resolution: Resolution,
        value: f64,
    ) -> Result<(), MetricsError> {
        check_name("metric", name)?;
        if !value.is_finite() {
            return Err(MetricsError::NonFiniteValue {
                name: name.to_owned(),
                value,
            });
        }
        let Some(mut buffer) = self.lock() else {
            return Ok(());
        };
        match buffer.metrics.iter_mut().find(|m| m.name == name) {
            Some(metric) if metric.unit != unit || metric.resolution != resolution => {
                Err(MetricsError::ConflictingDefinition {
                    name: name.to_owned(),
                    first: format!("{} ({:?})", metric.unit, metric.resolution),
                    second: format!("{unit} ({resolution:?})"),
                })
            }
            Some(metric) => {
                metric.values.push(value);
                Ok(())
            }
            None => {
                buffer.metrics.push(MetricValues {
                    name: name.to_owned(),
                    unit,
                    resolution,
                    values: vec![value],
                });
                Ok(())
            }
        }
    }

    /// Takes everything recorded so far, leaving the buffer empty (defaults stay).
    pub(crate) fn take(&self) -> Option<Buffer> {
        self.lock().map(|mut buffer| Buffer {
            metrics: std::mem::take(&mut buffer.metrics),
            dimensions: std::mem::take(&mut buffer.dimensions),
            metadata: std::mem::take(&mut buffer.metadata),
            defaults: buffer.defaults.clone(),
        })
    }

    fn lock(&self) -> Option<MutexGuard<'_, Buffer>> {
        // A panic while holding the lock cannot leave a half-written metric: every mutation
        // is a single push or assignment.
        self.buffer
            .as_ref()
            .map(|b| b.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

fn check_name(what: &'static str, name: &str) -> Result<(), MetricsError> {
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(MetricsError::InvalidName {
            what,
            name: name.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_handle_is_a_no_op() {
        let metrics = Metrics::current();
        assert!(!metrics.is_active());
        assert_eq!(metrics.add("Orders", Unit::Count, 1.0), Ok(()));
        assert!(metrics.take().is_none());
    }

    #[test]
    fn values_accumulate_per_metric_and_conflicts_are_rejected() {
        let metrics = Metrics::active(Arc::from([]));
        metrics.add("Orders", Unit::Count, 1.0).unwrap();
        metrics.add("Orders", Unit::Count, 2.0).unwrap();
        metrics
            .add_high_resolution("Latency", Unit::Milliseconds, 3.5)
            .unwrap();
        assert_eq!(
            metrics
                .add("Orders", Unit::Bytes, 1.0)
                .unwrap_err()
                .to_string(),
            "metric `Orders` was recorded as Count (Standard) and then as Bytes (Standard); use one unit and resolution per metric"
        );
        assert_eq!(
            metrics
                .add("Orders", Unit::Count, f64::NAN)
                .unwrap_err()
                .error_type(),
            "Metrics.NonFiniteValue"
        );
        assert_eq!(
            metrics.add("", Unit::Count, 1.0).unwrap_err().error_type(),
            "Metrics.InvalidName"
        );
        let buffer = metrics.take().unwrap();
        assert_eq!(buffer.metrics.len(), 2);
        assert_eq!(buffer.metrics[0].values, [1.0, 2.0]);
        assert_eq!(buffer.metrics[1].resolution, Resolution::High);
        assert!(
            metrics.take().unwrap().metrics.is_empty(),
            "take empties the buffer"
        );
    }

    #[test]
    fn the_thirtieth_custom_dimension_is_an_error() {
        let metrics = Metrics::active(Arc::from([]));
        for i in 0..29 {
            metrics.add_dimension(&format!("d{i}"), "v").unwrap();
        }
        metrics.add_dimension("d0", "replaced").unwrap();
        let err = metrics.add_dimension("d29", "v").unwrap_err();
        assert_eq!(
            err.to_string(),
            "dimension `d29` would be custom dimension number 30; at most 29 custom dimensions fit next to `service` in one EMF dimension set"
        );
        let buffer = metrics.take().unwrap();
        assert_eq!(buffer.dimensions.len(), 29);
        assert_eq!(
            buffer.dimensions[0],
            ("d0".to_owned(), "replaced".to_owned())
        );
    }

    #[test]
    fn default_dimensions_count_against_the_limit_and_can_be_overridden() {
        let defaults: Arc<[(String, String)]> = (0..28)
            .map(|i| (format!("default{i}"), "v".to_owned()))
            .collect();
        let metrics = Metrics::active(defaults);
        metrics.add_dimension("default3", "override").unwrap();
        metrics.add_dimension("custom", "c").unwrap();
        assert_eq!(
            metrics
                .add_dimension("one_more", "x")
                .unwrap_err()
                .error_type(),
            "Metrics.TooManyDimensions"
        );
        let dims = metrics.take().unwrap().dimensions_with("orders");
        assert_eq!(dims.len(), 30);
        assert_eq!(dims[0], ("service".to_owned(), "orders".to_owned()));
        assert_eq!(dims.iter().filter(|(n, _)| n == "default3").count(), 1);
        assert!(dims.contains(&("default3".to_owned(), "override".to_owned())));
    }
}
