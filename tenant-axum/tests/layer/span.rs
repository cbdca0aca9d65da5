//! Every request runs in a `request` span with its request id and tenant,
//! and a job it spawns runs in a `tenant_job` span with the same two.

use std::sync::{Arc, Mutex};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use axum::routing::get;
use axum::{Extension, Router};
use tenant_axum::job::JOB_SPAN;
use tenant_axum::{ForTenant, RequestId, RequestTx, Tenant, TenantError};
use tenant_runtime::TenantPool;

use super::common::{TestDb, call, get as get_req};
use super::{everything, layer, routes};

/// The fields recorded on spans named `.1`, in order, and the spans in
/// scope of each event (`.2`).
#[derive(Clone)]
struct Capture(
    Arc<Mutex<Vec<(String, String)>>>,
    &'static str,
    Arc<Mutex<Vec<Vec<&'static str>>>>,
);

impl Capture {
    fn new(span: &'static str) -> Self {
        Self(Default::default(), span, Default::default())
    }

    fn field(&self, name: &str) -> Option<String> {
        let fields = self.0.lock().unwrap();
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }
}

impl Visit for Capture {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let value = format!("{value:?}");
        self.0
            .lock()
            .unwrap()
            .push((field.name().to_owned(), value));
    }
}

impl<S> Layer<S> for Capture
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        if attrs.metadata().name() == self.1 {
            attrs.record(&mut self.clone());
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if ctx.metadata(id).is_some_and(|m| m.name() == self.1) {
            values.record(&mut self.clone());
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if let Some(scope) = ctx.event_scope(event) {
            let names = scope.map(|span| span.name()).collect();
            self.2.lock().unwrap().push(names);
        }
    }
}

#[sqlx::test]
async fn the_request_span_carries_the_request_id_and_tenant(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let app = routes().layer(layer(&db, everything()));
    let capture = Capture::new("request");
    let guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let headers = [("x-tenant-id", db.slug(1)), ("x-request-id", "trace-me-1")];
    call(&app, get_req("/untouched", &headers)).await;
    let get = |name: &str| capture.field(name);
    assert_eq!(get("request_id").as_deref(), Some("trace-me-1"));
    assert_eq!(get("tenant"), Some(db.id(1).to_string()));
    assert_eq!(get("tenant_source").as_deref(), Some("header"));
    drop(guard);
    db.close().await;
}

/// Spawns a job for the request's tenant and waits for it.
async fn spawn_job(
    tenant: Tenant,
    id: RequestId,
    Extension(pool): Extension<TenantPool>,
) -> Result<String, TenantError> {
    let job = ForTenant::from_request(&tenant, &id, "payload".to_owned());
    let handle = job.spawn(pool, |tx: RequestTx, payload: String| async move {
        let (n,): (i64,) = tx.get().await?.raw("SELECT 42::bigint").fetch_one().await?;
        tracing::info!(n, "inside the job");
        Ok::<_, TenantError>(format!("{payload} {n}"))
    });
    handle.await.expect("no panic")
}

#[sqlx::test]
async fn a_spawned_job_carries_the_requests_tenant_and_id(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let app = Router::new()
        .route("/spawn", get(spawn_job))
        .layer(layer(&db, everything()))
        .layer(Extension(db.app.clone()));
    let capture = Capture::new(JOB_SPAN);
    let guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let headers = [("x-tenant-id", db.slug(0)), ("x-request-id", "trace-me-2")];
    let answer = call(&app, get_req("/spawn", &headers)).await;
    assert_eq!(answer.json, serde_json::json!("payload 42"));
    assert_eq!(capture.field("request_id").as_deref(), Some("trace-me-2"));
    assert_eq!(capture.field("tenant"), Some(db.id(0).to_string()));
    let scopes = capture.2.lock().unwrap().clone();
    assert!(
        scopes.iter().any(|s| s.first() == Some(&JOB_SPAN)),
        "the job's own log line is in its span: {scopes:?}"
    );
    drop(guard);
    db.close().await;
}
