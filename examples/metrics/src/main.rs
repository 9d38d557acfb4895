//! `tern-example-metrics`: business metrics from checkout events, with no call to CloudWatch.
//!
//! The checkout service publishes an `OrderPlaced` event to EventBridge for every order; a
//! rule sends them to this function, which turns each into metrics the business dashboards and
//! alarms use: `OrdersPlaced` (count), `OrderValue` (in the order's currency) and
//! `ItemsPerOrder`, by sales channel and currency. The order id and payment method go along as
//! metadata: searchable in CloudWatch Logs Insights, without the cost of a dimension per
//! order.
//!
//! The metrics layer gives each invocation its own buffer, reached with `Metrics::current()`,
//! and writes it to stdout as Embedded Metric Format when the invocation ends, also when it
//! fails; CloudWatch extracts the metrics from the log lines, so there is no `PutMetricData`
//! call, no SDK client and no added latency. The first invocation of an execution
//! environment also emits `ColdStart`. An event that is not a valid order counts in
//! `RejectedEvents` and fails (`Orders.InvalidEvent`), so EventBridge's retry policy and the
//! rule's dead-letter queue keep it.
//!
//! - Invocation: asynchronous, from an EventBridge rule on `"detail-type": ["OrderPlaced"]`.
//! - Configuration: `TERN_METRICS_NAMESPACE` (or `POWERTOOLS_METRICS_NAMESPACE`), e.g.
//!   `Shop/Checkout`; `TERN_METRICS_SERVICE` (default the function name);
//!   `TERN_METRICS_DISABLED=true` for local runs.
//! - Sample events: `events/order-placed-web.json`, `events/order-placed-invalid.json`.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use tern_middleware::metrics::{Metrics, MetricsLayer, Unit};
use tern_runtime::{Bootstrap, Diagnostic, InitContext, InitError, LambdaEvent, service_fn};
use tower::ServiceBuilder;

/// The `detail` of an `OrderPlaced` event.
#[derive(Serialize, Deserialize)]
struct OrderPlaced {
    order_id: String,
    channel: Channel,
    payment_method: String,
    total_cents: u64,
    currency: String,
    item_count: u32,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Channel {
    Web,
    App,
    Store,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::App => "app",
            Self::Store => "store",
        }
    }
}

fn rejected(metrics: &Metrics, reason: String) -> Diagnostic {
    // Counted in the same flush as everything else this invocation recorded.
    let _ = metrics.add("RejectedEvents", Unit::Count, 1.0);
    tracing::warn!(%reason, "event rejected");
    Diagnostic {
        error_type: "Orders.InvalidEvent".to_owned(),
        error_message: reason,
    }
}

async fn record(event: LambdaEvent<EventBridgeEvent<OrderPlaced>>) -> Result<(), Diagnostic> {
    let metrics = Metrics::current();
    let event = event.payload;
    if event.detail_type != "OrderPlaced" {
        return Err(rejected(
            &metrics,
            format!("expected an OrderPlaced event, got {}", event.detail_type),
        ));
    }
    let order = event.detail;
    if order.item_count == 0 || order.total_cents == 0 {
        return Err(rejected(
            &metrics,
            format!("order {} has no items or no value", order.order_id),
        ));
    }
    metrics.add_dimension("channel", order.channel.as_str())?;
    metrics.add_dimension("currency", &order.currency)?;
    metrics.add("OrdersPlaced", Unit::Count, 1.0)?;
    // Major units (euros, not cents): what a dashboard shows. The currency is a dimension.
    metrics.add("OrderValue", Unit::None, order.total_cents as f64 / 100.0)?;
    metrics.add("ItemsPerOrder", Unit::Count, f64::from(order.item_count))?;
    metrics.add_metadata("order_id", order.order_id);
    metrics.add_metadata("payment_method", order.payment_method);
    Ok(())
}

fn main() -> std::process::ExitCode {
    Bootstrap::new()
        .handler("order-metrics", |_init: InitContext| async {
            let metrics = MetricsLayer::from_env()?;
            Ok::<_, InitError>(
                ServiceBuilder::new()
                    .layer(metrics)
                    .service(service_fn(record)),
            )
        })
        .run()
}
