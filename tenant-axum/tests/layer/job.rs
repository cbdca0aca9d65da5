//! Background jobs: many at once, over many tenants, on a small pool; no
//! job ever sees or writes another tenant's rows, and failed jobs leave
//! nothing behind.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_axum::{ForTenant, RequestId, RequestTx, TenantError};
use tenant_runtime::{Error, TenantId, TenantPool};

use super::common::{Project, TestDb};

const TENANTS: usize = 20;
const JOBS: usize = 200;
const ROWS_PER_JOB: usize = 3;

/// What a job is told: the tenant it believes it works for (written into
/// every row's name, so the final check can compare it with the row's
/// real tenant), its number, and how it should end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Work {
    tenant: TenantId,
    n: usize,
    ending: Ending,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Ending {
    Succeed,
    Fail,
    Panic,
}

/// Each tenant gets jobs `k` = 0..10 (`n = k * TENANTS + tenant`): 3 and 4
/// fail, 7 and 8 panic, one of each through either way of running them.
fn ending(n: usize) -> Ending {
    match (n / TENANTS) % 10 {
        3 | 4 => Ending::Fail,
        7 | 8 => Ending::Panic,
        _ => Ending::Succeed,
    }
}

/// Odd rounds are spawned, even ones go through the queue.
fn spawned(n: usize) -> bool {
    (n / TENANTS) % 2 == 1
}

fn name(work: &Work, row: usize) -> String {
    format!("{}:{}:{row}", work.tenant, work.n)
}

/// Inserts the job's rows, then reads back every row the transaction can
/// see and checks that all of them belong to the job's tenant.
async fn insert_and_check(scoped: tenant_runtime::Scoped<'_, Project>, work: &Work) -> usize {
    for row in 0..ROWS_PER_JOB {
        let project = Project {
            id: 0,
            tenant_id: work.tenant,
            name: name(work, row),
        };
        scoped.insert(&project).await.expect("insert");
    }
    let seen = scoped.all().await.expect("read back");
    for p in &seen {
        assert_eq!(p.tenant_id, work.tenant, "job {} saw {}", work.n, p.name);
        assert!(p.name.starts_with(&work.tenant.to_string()), "{}", p.name);
    }
    assert!(seen.len() >= ROWS_PER_JOB);
    seen.len()
}

/// Half the jobs go through a queue (serialized, read back, `run` in a
/// worker task), the other half are `spawn`ed directly.
async fn start(pool: &TenantPool, work: Work) -> tokio::task::JoinHandle<Result<usize, String>> {
    let job = ForTenant::new(work.tenant, work.clone())
        .with_request_id(RequestId::from_headers(&Default::default()));
    if !spawned(work.n) {
        let queued = serde_json::to_string(&job).expect("serializes");
        let pool = pool.clone();
        tokio::spawn(async move {
            let job: ForTenant<Work> = serde_json::from_str(&queued).expect("deserializes");
            assert_eq!(job.payload(), &work);
            let outcome = job
                .run(&pool, async |tx, work| {
                    let seen = insert_and_check(Project::scoped(tx), &work).await;
                    finish(&work, seen)
                })
                .await;
            outcome.map_err(|e: Error| e.to_string())
        })
    } else {
        let handle = job.spawn(pool.clone(), move |tx: RequestTx, work: Work| async move {
            let seen = insert_and_check(Project::scoped(tx.get().await?), &work).await;
            finish(&work, seen).map_err(|e| TenantError::Internal {
                reason: e.to_string(),
            })
        });
        tokio::spawn(async move {
            match handle.await {
                Ok(outcome) => outcome.map_err(|e| e.to_string()),
                Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
            }
        })
    }
}

fn finish(work: &Work, seen: usize) -> Result<usize, Error> {
    match work.ending {
        Ending::Succeed => Ok(seen),
        Ending::Fail => Err(Error::RowNotFound {
            table: "job said no".into(),
        }),
        Ending::Panic => panic!("job {} panics after its writes", work.n),
    }
}

#[sqlx::test]
async fn concurrent_jobs_stay_in_their_tenant(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let mut tenants: Vec<TenantId> = vec![db.id(0), db.id(1)];
    let sys = db.system.begin().await.unwrap();
    for i in tenants.len()..TENANTS {
        tenants.push(
            sys.tenants()
                .create(&format!("Tenant {i}"))
                .await
                .unwrap()
                .id,
        );
    }
    sys.commit().await.unwrap();
    assert_eq!(
        db.app.status().max,
        4,
        "a pool much smaller than the job count"
    );

    let mut handles = Vec::new();
    for n in 0..JOBS {
        let work = Work {
            tenant: tenants[n % TENANTS],
            n,
            ending: ending(n),
        };
        handles.push((work.clone(), start(&db.app, work).await));
    }
    let mut expected: HashMap<TenantId, usize> = HashMap::new();
    for (work, handle) in handles {
        let outcome = handle.await;
        match work.ending {
            Ending::Succeed => {
                let seen = outcome.expect("no panic").expect("job succeeds");
                assert!(seen >= ROWS_PER_JOB);
                *expected.entry(work.tenant).or_default() += ROWS_PER_JOB;
            }
            Ending::Fail => {
                let e = outcome.expect("no panic").expect_err("job fails");
                assert!(e.contains("job said no") || e.contains("internal"), "{e}");
            }
            Ending::Panic => assert!(outcome.unwrap_err().is_panic()),
        }
    }

    // Checked as the system role, which sees every tenant.
    let tx = db.system.begin().await.unwrap();
    let rows = Project::system(&tx).all().await.unwrap();
    tx.commit().await.unwrap();
    let mut counted: HashMap<TenantId, usize> = HashMap::new();
    for row in &rows {
        let (claimed, rest) = row.name.split_once(':').expect("name tenant:n:row");
        assert_eq!(claimed, row.tenant_id.to_string(), "row {}", row.name);
        let n: usize = rest.split(':').next().unwrap().parse().unwrap();
        assert_eq!(
            ending(n),
            Ending::Succeed,
            "a failed job's row {} stayed",
            row.name
        );
        *counted.entry(row.tenant_id).or_default() += 1;
    }
    assert_eq!(counted, expected);
    assert_eq!(rows.len(), expected.values().sum::<usize>());
    assert_eq!(expected.len(), TENANTS);
    db.close().await;
}

#[sqlx::test]
async fn a_job_for_a_deleted_tenant_never_runs(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let job = ForTenant::new(db.id(1), ());
    db.delete_tenant(1).await;
    let ran = std::sync::atomic::AtomicBool::new(false);
    let outcome = job
        .clone()
        .run(&db.app, async |_, ()| {
            ran.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, Error>(())
        })
        .await;
    assert!(matches!(outcome, Err(Error::TenantDeleted { tenant }) if tenant == db.id(1)));
    let spawned = job
        .spawn(db.app.clone(), |tx: RequestTx, ()| async move {
            tx.get().await?;
            Ok::<_, TenantError>(())
        })
        .await
        .unwrap();
    assert_eq!(spawned.unwrap_err().code(), "tenant_deleted");
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    db.close().await;
}

#[sqlx::test]
async fn a_spawned_job_that_leaks_its_transaction_rolls_back(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let (keep, kept) = tokio::sync::oneshot::channel();
    let outcome = ForTenant::new(db.id(0), ())
        .spawn(db.app.clone(), move |tx: RequestTx, ()| async move {
            let row = Project {
                id: 0,
                tenant_id: tx.tenant(),
                name: "leaked".into(),
            };
            Project::scoped(tx.get().await?).insert(&row).await?;
            let _ = keep.send(tx.clone()); // outlives the job
            Ok::<_, TenantError>(())
        })
        .await
        .unwrap();
    assert_eq!(outcome.unwrap_err().code(), "transaction_in_use");
    drop(kept);
    assert!(db.projects(0).await.is_empty());
    db.close().await;
}

/// What the job queued by [`create_and_queue`] saw of its handler's row.
type Seen = tokio::sync::mpsc::UnboundedSender<(String, bool)>;

/// Inserts `name`, queues a job after the commit that looks for it, then
/// answers with `status`.
async fn create_and_queue(
    axum::extract::State((pool, seen)): axum::extract::State<(TenantPool, Seen)>,
    tx: RequestTx,
    tenant: tenant_axum::Tenant,
    id: RequestId,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Result<axum::http::StatusCode, TenantError> {
    let name = q.get("name").cloned().unwrap_or_default();
    let row = Project {
        id: 0,
        tenant_id: tx.tenant(),
        name: name.clone(),
    };
    Project::scoped(tx.get().await?).insert(&row).await?;
    ForTenant::from_request(&tenant, &id, name).spawn_after_commit(
        &tx,
        pool,
        move |job: RequestTx, name: String| async move {
            let found = Project::scoped(job.get().await?)
                .all()
                .await?
                .into_iter()
                .any(|p| p.name == name);
            Ok::<_, TenantError>((name, found))
        },
        move |outcome: Result<(String, bool), TenantError>| {
            let _ = seen.send(outcome.expect("the job ran"));
        },
    );
    let status = q.get("status").and_then(|s| s.parse().ok()).unwrap_or(201);
    Ok(axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::CREATED))
}

/// A job queued by a handler runs after the request committed, so it sees
/// every row its handler wrote (spawned from the handler, it raced the
/// commit and missed it in about half the runs); after a rollback it never
/// runs.
#[sqlx::test]
async fn jobs_queued_after_commit_see_their_handlers_writes(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    use axum::routing::post;
    use tenant_axum::TenantLayer;
    use tenant_axum::resolve::{HeaderResolver, Resolvers};

    let db = TestDb::new(opts).await;
    let (seen, mut saw) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route("/projects", post(create_and_queue))
        .with_state((db.app.clone(), seen))
        .layer(
            TenantLayer::builder(db.app.clone())
                .resolvers(Resolvers::new().header(HeaderResolver::default()))
                .build()
                .unwrap(),
        );
    let tenant = db.id(0).to_string();
    const REQUESTS: usize = 20;
    for n in 0..REQUESTS {
        let answer = super::common::call(
            &app,
            super::common::post(
                &format!("/projects?name=job-{n}"),
                &[("x-tenant-id", &tenant)],
            ),
        )
        .await;
        assert_eq!(answer.status, 201, "{:?}", answer.json);
    }
    let mut found = Vec::new();
    for _ in 0..REQUESTS {
        let (name, saw_its_row) =
            tokio::time::timeout(std::time::Duration::from_secs(10), saw.recv())
                .await
                .expect("every queued job runs")
                .expect("the channel stays open");
        assert!(
            saw_its_row,
            "{name}: the job ran before its handler's commit"
        );
        found.push(name);
    }
    assert_eq!(found.len(), REQUESTS);

    // A handler that fails after queueing: rolled back, and its job never runs.
    let answer = super::common::call(
        &app,
        super::common::post(
            "/projects?name=doomed&status=500",
            &[("x-tenant-id", &tenant)],
        ),
    )
    .await;
    assert_eq!(answer.status, 500);
    let nothing = tokio::time::timeout(std::time::Duration::from_millis(500), saw.recv()).await;
    assert!(nothing.is_err(), "a job ran after a rollback: {nothing:?}");
    assert!(!db.projects(0).await.contains(&"doomed".to_owned()));
    db.close().await;
}
