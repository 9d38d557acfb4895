//! Rendering a buffer of metrics as CloudWatch Embedded Metric Format documents.
//!
//! One document is a JSON object whose `_aws` member declares the metrics, and whose root
//! members hold the dimension values, metadata and metric values. CloudWatch accepts at most
//! 100 metric definitions per document and 100 values per metric, so a larger buffer becomes
//! several documents; a metric with more than 100 values is spread over consecutive ones.

use serde_json::{Map, Value, json};

use super::{
    error::{MAX_METRICS, MAX_VALUES},
    unit::{Resolution, Unit},
};

/// One metric's values within an invocation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetricValues {
    pub(crate) name: String,
    pub(crate) unit: Unit,
    pub(crate) resolution: Resolution,
    pub(crate) values: Vec<f64>,
}

/// What one flush renders.
pub(crate) struct Snapshot<'a> {
    pub(crate) namespace: &'a str,
    /// Dimension names and values, `service` first.
    pub(crate) dimensions: &'a [(String, String)],
    pub(crate) metadata: &'a Map<String, Value>,
    pub(crate) metrics: &'a [MetricValues],
    pub(crate) timestamp_ms: u64,
}

impl Snapshot<'_> {
    /// The documents, one JSON line each (without the newline). Empty when there are no metrics.
    pub(crate) fn render(&self) -> Vec<String> {
        // documents[d] = (metric index, value range) pieces placed in document d.
        let mut documents: Vec<Vec<(usize, std::ops::Range<usize>)>> = Vec::new();
        for (index, metric) in self.metrics.iter().enumerate() {
            // Each chunk of a metric goes to a later document than the previous chunk.
            let mut next_document = 0;
            let chunks = metric.values.len().div_ceil(MAX_VALUES);
            for chunk in 0..chunks {
                let start = chunk * MAX_VALUES;
                let end = (start + MAX_VALUES).min(metric.values.len());
                let document = (next_document..)
                    .find(|d| {
                        documents
                            .get(*d)
                            .is_none_or(|pieces| pieces.len() < MAX_METRICS)
                    })
                    .unwrap_or(documents.len());
                if document == documents.len() {
                    documents.push(Vec::new());
                }
                documents[document].push((index, start..end));
                next_document = document + 1;
            }
        }
        documents
            .iter()
            .map(|pieces| self.document(pieces))
            .collect()
    }

    fn document(&self, pieces: &[(usize, std::ops::Range<usize>)]) -> String {
        let dimension_names: Vec<&str> = self
            .dimensions
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        let definitions: Vec<Value> = pieces
            .iter()
            .map(|(index, _)| {
                let metric = &self.metrics[*index];
                json!({
                    "Name": metric.name,
                    "Unit": metric.unit.as_str(),
                    "StorageResolution": metric.resolution.seconds(),
                })
            })
            .collect();

        let mut root = Map::new();
        root.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimension_names],
                    "Metrics": definitions,
                }],
            }),
        );
        // Metadata first, so a dimension or metric of the same name wins.
        for (key, value) in self.metadata {
            root.insert(key.clone(), value.clone());
        }
        for (name, value) in self.dimensions {
            root.insert(name.clone(), Value::String(value.clone()));
        }
        for (index, range) in pieces {
            let metric = &self.metrics[*index];
            let values = &metric.values[range.clone()];
            let value = match values {
                [single] => number(*single),
                many => Value::Array(many.iter().map(|v| number(*v)).collect()),
            };
            root.insert(metric.name.clone(), value);
        }
        Value::Object(root).to_string()
    }
}

fn number(value: f64) -> Value {
    // Whole numbers render without a fraction (`1`, not `1.0`); values are finite by now.
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        Value::from(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// How many metrics each document defines (`_aws.CloudWatchMetrics[0].Metrics`).
    pub(crate) fn defined_counts(documents: &[Value]) -> Vec<usize> {
        let defined = |document: &Value| {
            let metrics = document["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array();
            metrics.expect("a CloudWatchMetrics directive").len()
        };
        documents.iter().map(defined).collect()
    }

    fn metric(name: &str, values: Vec<f64>) -> MetricValues {
        MetricValues {
            name: name.to_owned(),
            unit: Unit::Count,
            resolution: Resolution::Standard,
            values,
        }
    }

    fn render(
        metrics: &[MetricValues],
        dimensions: &[(String, String)],
        metadata: &Map<String, Value>,
    ) -> Vec<Value> {
        Snapshot {
            namespace: "Shop",
            dimensions,
            metadata,
            metrics,
            timestamp_ms: 1_795_000_000_123,
        }
        .render()
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
    }

    fn service() -> Vec<(String, String)> {
        vec![("service".to_owned(), "orders".to_owned())]
    }

    #[test]
    fn one_document_has_the_emf_structure() {
        let mut metadata = Map::new();
        metadata.insert("order_id".into(), json!("o-1"));
        let mut latency = metric("Latency", vec![12.5]);
        latency.unit = Unit::Milliseconds;
        latency.resolution = Resolution::High;
        let mut dims = service();
        dims.push(("channel".into(), "web".into()));
        let docs = Snapshot {
            namespace: "Shop",
            dimensions: &dims,
            metadata: &metadata,
            metrics: &[metric("OrdersStored", vec![1.0, 2.0]), latency],
            timestamp_ms: 1_795_000_000_123,
        }
        .render();
        assert_eq!(docs.len(), 1);
        // Compared as JSON values: member order depends on serde_json's `preserve_order` feature.
        let doc: Value = serde_json::from_str(&docs[0]).unwrap();
        assert_eq!(
            doc,
            json!({
                "_aws": {
                    "Timestamp": 1_795_000_000_123u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "Shop",
                        "Dimensions": [["service", "channel"]],
                        "Metrics": [
                            {"Name": "OrdersStored", "Unit": "Count", "StorageResolution": 60},
                            {"Name": "Latency", "Unit": "Milliseconds", "StorageResolution": 1}
                        ]
                    }]
                },
                "service": "orders",
                "channel": "web",
                "order_id": "o-1",
                "OrdersStored": [1, 2],
                "Latency": 12.5
            })
        );
        assert!(!docs[0].contains('\n'), "one document is one line");
    }

    #[test]
    fn no_metrics_no_document() {
        assert!(render(&[], &service(), &Map::new()).is_empty());
    }

    #[test]
    fn metrics_beyond_100_split_into_documents() {
        let metrics: Vec<MetricValues> = (0..150)
            .map(|i| metric(&format!("M{i}"), vec![i as f64]))
            .collect();
        let docs = render(&metrics, &service(), &Map::new());
        assert_eq!(docs.len(), 2);
        assert_eq!(defined_counts(&docs), [100, 50]);
        assert_eq!(docs[0]["M99"], 99);
        assert_eq!(docs[1]["M100"], 100);
        assert_eq!(docs[1]["M149"], 149);
        for doc in &docs {
            assert_eq!(
                doc["service"], "orders",
                "every document carries the dimensions"
            );
            assert_eq!(doc["_aws"]["Timestamp"], 1_795_000_000_123u64);
        }
    }

    #[test]
    fn values_beyond_100_spread_over_consecutive_documents() {
        let values: Vec<f64> = (0..250).map(f64::from).collect();
        let docs = render(
            &[metric("Big", values), metric("Small", vec![7.0])],
            &service(),
            &Map::new(),
        );
        assert_eq!(docs.len(), 3);
        let lengths: Vec<usize> = docs
            .iter()
            .map(|d| d["Big"].as_array().unwrap().len())
            .collect();
        assert_eq!(lengths, [100, 100, 50]);
        assert_eq!(docs[2]["Big"][49], 249);
        assert_eq!(docs[0]["Small"], 7);
        assert!(docs[1].get("Small").is_none() && docs[2].get("Small").is_none());
    }

    #[test]
    fn a_full_document_pushes_later_chunks_further() {
        // 100 single-value metrics fill document 0; a 150-value metric then starts in document 1.
        let mut metrics: Vec<MetricValues> = (0..100)
            .map(|i| metric(&format!("M{i}"), vec![1.0]))
            .collect();
        metrics.push(metric("Wide", (0..150).map(f64::from).collect()));
        let docs = render(&metrics, &service(), &Map::new());
        assert_eq!(docs.len(), 3);
        assert!(docs[0].get("Wide").is_none());
        assert_eq!(docs[1]["Wide"].as_array().unwrap().len(), 100);
        assert_eq!(docs[2]["Wide"].as_array().unwrap().len(), 50);
    }

    #[test]
    fn metric_values_win_over_metadata_of_the_same_name() {
        let mut metadata = Map::new();
        metadata.insert("Orders".into(), json!("shadowed"));
        let docs = render(&[metric("Orders", vec![3.0])], &service(), &metadata);
        assert_eq!(docs[0]["Orders"], 3);
    }
}
