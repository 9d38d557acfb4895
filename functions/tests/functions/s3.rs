//! The `s3` function end to end: the emulator runs the bootstrap, moto plays S3.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use serde_json::json;
use tern_testkit::{
    Scenario,
    scenario::{
        S3_DATA_BUCKET, S3_IMAGES_BUCKET, S3_RULES_PARAMETER, S3_SOURCE_BUCKET, S3_UNSORTED_BUCKET,
        s3_routing_rules,
    },
};

use crate::support::{self, seed_s3_idempotent, seeded};

fn event(name: &str) -> String {
    tern_testkit::tools::event("s3", name)
}

#[test]
fn objects_are_routed_by_content_with_the_decision_in_metadata() {
    let (scenario, function) = seeded("s3", seed_s3_idempotent);

    let cases = [
        (
            "1-orders-json.json",
            "incoming/orders 2026-11-22.json",
            S3_DATA_BUCKET,
            "json/incoming/orders 2026-11-22.json",
            "json",
            "application/json",
        ),
        (
            "2-photo-png.json",
            "incoming/photos/käse & brot.png",
            S3_IMAGES_BUCKET,
            "incoming/photos/käse & brot.png",
            "image/png",
            "image/png",
        ),
        (
            "3-report-csv.json",
            "incoming/reports/q4 report.csv",
            S3_DATA_BUCKET,
            "csv/incoming/reports/q4 report.csv",
            "csv",
            "text/csv",
        ),
        (
            "5-unknown-bin.json",
            "incoming/firmware.bin",
            S3_UNSORTED_BUCKET,
            "unknown/incoming/firmware.bin",
            "unknown",
            "application/octet-stream",
        ),
    ];
    for (file, source_key, bucket, key, class, content_type) in cases {
        let answer = function.invoke(event(file));
        assert_eq!(answer.status, 200, "{file}: {}", answer.body);
        assert_eq!(
            answer.json(),
            json!({"routed": [{
                "source": format!("s3://{S3_SOURCE_BUCKET}/{source_key}"),
                "destination": format!("s3://{bucket}/{key}"),
                "class": class,
            }]}),
            "{file}"
        );
        let (metadata, stored_type) = scenario.s3_head(bucket, key);
        let source_uri = format!("s3://{S3_SOURCE_BUCKET}/{source_key}");
        let encoded: String = percent_encode(&source_uri);
        assert_eq!(
            metadata,
            BTreeMap::from([
                ("tern-content-class".to_owned(), class.to_owned()),
                ("tern-source".to_owned(), encoded),
                (
                    "tern-source-sequencer".to_owned(),
                    serde_json::from_str::<serde_json::Value>(&event(file)).unwrap()["Records"][0]
                        ["s3"]["object"]["sequencer"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                ),
            ]),
            "{file}"
        );
        assert_eq!(stored_type.as_deref(), Some(content_type), "{file}");
    }
    assert_eq!(
        scenario.s3_keys(S3_DATA_BUCKET),
        [
            "csv/incoming/reports/q4 report.csv",
            "json/incoming/orders 2026-11-22.json"
        ]
    );
    assert_eq!(
        scenario.s3_keys(S3_IMAGES_BUCKET),
        ["incoming/photos/käse & brot.png"]
    );
    assert_eq!(
        scenario.s3_keys(S3_UNSORTED_BUCKET),
        ["unknown/incoming/firmware.bin"]
    );
}

#[test]
fn a_missing_object_fails_the_invocation_naming_it() {
    let (_scenario, function) = seeded("s3", seed_s3_idempotent);
    let gone =
        event("1-orders-json.json").replace("orders+2026-11-22.json", "deleted+meanwhile.json");
    let answer = function.invoke(gone);
    assert_eq!(
        answer.expect_error("S3.RequestFailed"),
        "GetObject s3://tern-demo-incoming/incoming/deleted meanwhile.json failed: NoSuchKey: The specified key does not exist."
    );
}

#[test]
fn routing_into_the_source_bucket_is_refused() {
    let scenario = Scenario::start();
    scenario.seed_s3();
    let rules = json!({"default": {"bucket": S3_SOURCE_BUCKET, "prefix": "sorted/"}}).to_string();
    let mut env = vec![
        ("ROUTING_RULES".to_owned(), rules),
        ("S3_FORCE_PATH_STYLE".to_owned(), "true".to_owned()),
    ];
    env.extend(scenario.seed_idempotency());
    let function = support::function(&scenario, "s3", env);
    let answer = function.invoke(event("3-report-csv.json"));
    answer.expect_error("S3.RoutingLoop");
    assert!(
        scenario
            .s3_keys(S3_SOURCE_BUCKET)
            .iter()
            .all(|k| !k.starts_with("sorted/"))
    );
}

#[test]
fn missing_routing_rules_is_an_init_error_naming_the_variable() {
    let scenario = Scenario::start();
    let function = support::function(&scenario, "s3", vec![]);
    let answer = function.invoke(event("1-orders-json.json"));
    assert_eq!(answer.status, 502);
    assert_eq!(
        answer.expect_error("Runtime.MissingEnvironmentVariable"),
        "environment variable `ROUTING_RULES` is not set; it must hold the routing rules as JSON \
         (or set ROUTING_RULES_FILE to a JSON file in the function package, or \
         ROUTING_RULES_PARAMETER to the name of an SSM parameter holding them)"
    );
}

#[test]
fn a_duplicate_notification_copies_once_and_answers_the_same() {
    let (scenario, function) = seeded("s3", seed_s3_idempotent);

    let first = function.invoke(event("1-orders-json.json"));
    assert_eq!(first.status, 200, "{}", first.body);
    let copies_after_first = copy_requests(&scenario);
    assert_eq!(copies_after_first, 1);
    let duplicate = function.invoke(event("4-orders-json-duplicate.json"));
    assert_eq!(
        duplicate.body, first.body,
        "the duplicate gets the first response, byte for byte"
    );
    assert_eq!(copy_requests(&scenario), 1, "no second copy");

    // The idempotency record: Powertools schema, COMPLETED, holding the first response.
    let items = scenario.table_items(tern_testkit::scenario::IDEMPOTENCY_TABLE);
    assert_eq!(items.len(), 1, "{items:?}");
    let record = &items[0];
    assert_eq!(record["status"], "COMPLETED");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(record["data"].as_str().unwrap()).unwrap(),
        first.json()
    );
    assert!(
        record["id"].as_str().unwrap().starts_with("tern-test.s3#"),
        "{record}"
    );
    assert!(record["expiration"].as_u64().is_some());
}

#[test]
fn rules_from_a_parameter_change_after_the_ttl_without_a_restart() {
    let scenario = Scenario::start();
    let mut env = scenario.seed_s3_with_rules_parameter();
    env.extend(scenario.seed_idempotency());
    let ttl = Duration::from_secs(1);
    env.push(("TERN_PARAMETERS_TTL_SECONDS".to_owned(), "1".to_owned()));
    let function = support::function(&scenario, "s3", env);

    // A new JSON object per invocation: each its own key and sequencer (idempotency).
    let mut sent = 0;
    let mut route_new_object = || {
        sent += 1;
        let key = format!("incoming/order-{sent}.json");
        let body = format!(r#"{{"orders": [{{"order_id": "o-{sent}"}}]}}"#);
        scenario.put_source_object(&key, body.as_bytes());
        let event = event("1-orders-json.json")
            .replace("incoming/orders+2026-11-22.json", &key)
            .replace("0062E1E1B8E5C0F8A1", &format!("0062E1E1B8E5C0F9{sent:02}"))
            .replace("\"size\": 57", &format!("\"size\": {}", body.len()));
        let answer = function.invoke(event);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let destination = answer.json()["routed"][0]["destination"]
            .as_str()
            .unwrap()
            .to_owned();
        (key, destination)
    };
    let (key, destination) = route_new_object();
    assert_eq!(destination, format!("s3://{S3_DATA_BUCKET}/json/{key}"));
    let pid = function.runtime_pid().expect("the runtime runs");

    // The operator sends JSON to the images bucket from now on.
    let mut rules = s3_routing_rules();
    rules["routes"]["json"] = json!({"bucket": S3_IMAGES_BUCKET, "prefix": "json-v2/"});
    scenario.put_parameter(S3_RULES_PARAMETER, &rules.to_string());
    let changed = Instant::now();
    // Objects keep arriving; once the TTL has passed, the next reads refresh the rules in the
    // background, and the objects after that go where the new rule says.
    let mut old_rule = 0;
    let new_rule_at = loop {
        let asked = Instant::now();
        let (key, destination) = route_new_object();
        if destination == format!("s3://{S3_IMAGES_BUCKET}/json-v2/{key}") {
            break asked.duration_since(changed);
        }
        assert_eq!(destination, format!("s3://{S3_DATA_BUCKET}/json/{key}"));
        old_rule += 1;
        assert!(changed.elapsed() < ttl * 30, "the new rule never applied");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        new_rule_at < ttl + Duration::from_secs(5),
        "the new rule applied {new_rule_at:?} after the change ({old_rule} objects by the old one)"
    );
    for _ in 0..3 {
        let (key, destination) = route_new_object();
        assert_eq!(
            destination,
            format!("s3://{S3_IMAGES_BUCKET}/json-v2/{key}")
        );
    }
    assert_eq!(function.runtime_pid(), Some(pid), "no restart, no redeploy");
    let inits = function
        .json_logs()
        .into_iter()
        .filter(|line| line["message"] == "fetched parameters")
        .count();
    assert_eq!(
        inits, 1,
        "the rules were fetched at init, then only refreshed"
    );
}

#[test]
fn rules_that_cannot_be_used_fail_init_naming_where_they_come_from() {
    let scenario = Scenario::start();
    let mut env = scenario.seed_s3_with_rules_parameter();
    env.extend(scenario.seed_idempotency());
    let mut both = env.clone();
    both.push(("ROUTING_RULES".to_owned(), s3_routing_rules().to_string()));
    let answer = support::function(&scenario, "s3", both).invoke(event("1-orders-json.json"));
    assert_eq!(
        answer.expect_error("Runtime.InvalidEnvironmentVariable"),
        "environment variable `ROUTING_RULES` is invalid: the rules come from the parameter \
         ROUTING_RULES_PARAMETER names; unset one of the two"
    );

    let rules = json!({"default": {"bucket": "Bad_Bucket"}}).to_string();
    scenario.put_parameter(S3_RULES_PARAMETER, &rules);
    let answer = support::function(&scenario, "s3", env).invoke(event("1-orders-json.json"));
    assert_eq!(
        answer.expect_error("Parameters.InvalidValue"),
        "parameter `/tern-demo/routing-rules` (from `ROUTING_RULES_PARAMETER`, declared as \
         `routing_rules`) has a value that cannot be used: the value of `routing_rules` is not \
         a valid `RoutingRules`: route `json`: bucket \"Bad_Bucket\" is not a valid S3 bucket \
         name (3-63 lowercase letters, digits, '-' or '.'); fix the value (a value that was \
         good before is still served)"
    );
}

/// CopyObject requests into the JSON route that moto has served (one request-log line each).
fn copy_requests(scenario: &Scenario) -> usize {
    scenario
        .moto
        .logs()
        .lines()
        .filter(|l| l.contains("\"PUT /tern-demo-data/json/"))
        .count()
}

/// The same encoding the function applies to metadata values (RFC 3986 unreserved and `/` kept).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
