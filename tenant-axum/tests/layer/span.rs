//! Every request runs in a `request` span with its request id and tenant.

use std::sync::{Arc, Mutex};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use super::common::{TestDb, call, get as get_req};
use super::{everything, layer, routes};

/// The fields recorded on `request` spans, in order.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(String, String)>>>);

impl Visit for Capture {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let value = format!("{value:?}");
        self.0
            .lock()
            .unwrap()
            .push((field.name().to_owned(), value));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        if attrs.metadata().name() == "request" {
            attrs.record(&mut self.clone());
        }
    }

    fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
        values.record(&mut self.clone());
    }
}

#[sqlx::test]
async fn the_request_span_carries_the_request_id_and_tenant(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let app = routes().layer(layer(&db, everything()));
    let capture = Capture::default();
    let guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let headers = [("x-tenant-id", db.slug(1)), ("x-request-id", "trace-me-1")];
    call(&app, get_req("/untouched", &headers)).await;
    let fields = capture.0.lock().unwrap().clone();
    let get = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("request_id").as_deref(), Some("trace-me-1"));
    assert_eq!(get("tenant"), Some(db.id(1).to_string()));
    assert_eq!(get("tenant_source").as_deref(), Some("header"));
    drop(guard);
    db.close().await;
}
