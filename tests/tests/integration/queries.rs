//! Queries beyond the key, as the app role: finders generated from unique
//! constraints, typed filters and orderings, hand-written statements run
//! for their effect, and sqlx's own queries on the transaction's
//! connection. Each one keeps to the transaction's tenant.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_runtime::{Error, TenantId, TenantTx};
use tenant_tests::{Project, Task, User};
use time::OffsetDateTime;

use crate::common::TestDb;

/// Two projects per tenant and tasks on the first: `titles` with `done`
/// set for every other one, the second task assigned to the tenant's user.
async fn seed(db: &TestDb, tenant: TenantId, titles: &[&str]) -> (Vec<Project>, User, Vec<Task>) {
    let tx = db.app.begin(tenant).await.unwrap();
    let mut projects = Vec::new();
    for name in ["apollo", "gemini"] {
        let row = Project {
            id: 0,
            tenant_id: tenant,
            name: name.to_owned(),
        };
        projects.push(Project::scoped(&tx).insert(&row).await.unwrap());
    }
    // The same email in both tenants: unique per tenant, not across.
    let user = User {
        id: 0,
        tenant_id: tenant,
        email: "ada@example.com".to_owned(),
        name: format!("Ada of {tenant}"),
        created_at: OffsetDateTime::UNIX_EPOCH,
    };
    let user = User::scoped(&tx).insert(&user).await.unwrap();
    let mut tasks = Vec::new();
    for (i, title) in titles.iter().enumerate() {
        let task = Task {
            id: 0,
            tenant_id: tenant,
            project_id: projects[0].id,
            assignee: (i == 1).then_some(user.id),
            title: (*title).to_owned(),
            done: i % 2 == 1,
        };
        tasks.push(Task::scoped(&tx).insert(&task).await.unwrap());
    }
    tx.commit().await.unwrap();
    (projects, user, tasks)
}

fn titles(tasks: &[Task]) -> Vec<&str> {
    tasks.iter().map(|t| t.title.as_str()).collect()
}

#[sqlx::test]
async fn finders_find_by_each_unique_within_the_tenant(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    let (a_projects, a_user, _) = seed(&db, a, &[]).await;
    let (_, b_user, _) = seed(&db, b, &[]).await;

    let tx = db.app.begin(a).await.unwrap();
    // `unique(tenant_id, email)`: the tenant's own Ada, never B's.
    let found = User::scoped(&tx).find_by_email("ada@example.com").await;
    assert_eq!(found.unwrap(), Some(a_user.clone()));
    assert_ne!(a_user.id, b_user.id);
    let owned = String::from("ada@example.com");
    assert_eq!(
        User::scoped(&tx)
            .find_by_email(&owned)
            .await
            .unwrap()
            .map(|u| u.id),
        Some(a_user.id),
        "a &String binds too"
    );
    assert_eq!(
        User::scoped(&tx)
            .find_by_email("nobody@example.com")
            .await
            .unwrap(),
        None
    );
    // `unique(tenant_id, name)`.
    let gemini = Project::scoped(&tx).find_by_name("gemini").await.unwrap();
    assert_eq!(gemini.as_ref(), Some(&a_projects[1]));
    // A value is a parameter, never SQL text.
    let injected = Project::scoped(&tx)
        .find_by_name("x' OR '1'='1")
        .await
        .unwrap();
    assert_eq!(injected, None);
    drop(tx);

    let tx = db.app.begin(b).await.unwrap();
    let theirs = User::scoped(&tx)
        .find_by_email("ada@example.com")
        .await
        .unwrap();
    assert_eq!(theirs.map(|u| u.id), Some(b_user.id));
    drop(tx);
    db.close().await;
}

#[sqlx::test]
async fn filters_orders_and_pages_keep_to_the_tenant(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    let (a_projects, a_user, a_tasks) =
        seed(&db, a, &["plan", "build", "test", "ship", "party"]).await;
    // B has tasks that meet every condition below, and none may show.
    seed(&db, b, &["plan", "build", "test", "ship", "party"]).await;

    let tx = db.app.begin(a).await.unwrap();
    let tasks = Task::scoped(&tx);
    let open = tasks.filter(Task::DONE.eq(false)).all().await.unwrap();
    assert_eq!(titles(&open), ["plan", "test", "party"]);
    assert!(open.iter().all(|t| t.tenant_id == a));

    let by_title = tasks
        .filter(Task::DONE.eq(false))
        .order_by(Task::TITLE.desc())
        .all()
        .await
        .unwrap();
    assert_eq!(titles(&by_title), ["test", "plan", "party"]);

    let page = tasks
        .order_by(Task::TITLE.asc())
        .limit(2)
        .offset(1)
        .all()
        .await
        .unwrap();
    assert_eq!(
        titles(&page),
        ["party", "plan"],
        "build, [party, plan], ship, test"
    );

    let ids = [a_tasks[0].id, a_tasks[4].id];
    let picked = tasks.filter(Task::ID.is_in(&ids)).all().await.unwrap();
    assert_eq!(titles(&picked), ["plan", "party"]);

    let assigned = tasks
        .filter(Task::ASSIGNEE.is_not_null())
        .all()
        .await
        .unwrap();
    assert_eq!(titles(&assigned), ["build"]);
    assert_eq!(assigned[0].assignee, Some(a_user.id));
    let to_ada = tasks
        .filter(Task::ASSIGNEE.eq(a_user.id))
        .count()
        .await
        .unwrap();
    assert_eq!(to_ada, 1, "a plain value compares with an Option column");
    assert_eq!(
        tasks
            .filter(Task::ASSIGNEE.is_null())
            .count()
            .await
            .unwrap(),
        4
    );

    let p = tasks
        .filter(Task::TITLE.like("p%"))
        .order_by(Task::TITLE.asc())
        .all()
        .await;
    assert_eq!(titles(&p.unwrap()), ["party", "plan"]);
    let upper = tasks.filter(Task::TITLE.ilike("S%")).first().await.unwrap();
    assert_eq!(upper.map(|t| t.title), Some("ship".to_owned()));

    let later = tasks
        .filter(Task::ID.gt(a_tasks[1].id))
        .filter(Task::ID.le(a_tasks[3].id))
        .filter(Task::PROJECT_ID.eq(a_projects[0].id))
        .all()
        .await
        .unwrap();
    assert_eq!(titles(&later), ["test", "ship"]);
    assert_eq!(
        tasks.filter(Task::TITLE.ne("plan")).count().await.unwrap(),
        4,
        "counts only the tenant's rows"
    );
    assert_eq!(
        tasks
            .filter(Task::TITLE.eq("x' OR '1'='1"))
            .count()
            .await
            .unwrap(),
        0
    );
    drop(tx);
    db.close().await;
}

#[sqlx::test]
async fn a_filtered_delete_removes_only_what_all_would_return(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    seed(&db, a, &["a", "b", "c", "d", "e"]).await;
    seed(&db, b, &["a", "b", "c", "d", "e"]).await;

    let tx = db.app.begin(a).await.unwrap();
    let tasks = Task::scoped(&tx);
    // The first two of the open tasks by title: a and c (e stays).
    let deleted = tasks
        .filter(Task::DONE.eq(false))
        .order_by(Task::TITLE.asc())
        .limit(2)
        .delete()
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    let left = tasks.order_by(Task::TITLE.asc()).all().await.unwrap();
    assert_eq!(titles(&left), ["b", "d", "e"]);
    assert_eq!(tasks.filter(Task::DONE.eq(true)).delete().await.unwrap(), 2);
    tx.commit().await.unwrap();

    let tx = db.app.begin(b).await.unwrap();
    assert_eq!(
        Task::scoped(&tx).count().await.unwrap(),
        5,
        "B's rows untouched"
    );
    drop(tx);
    db.close().await;
}

#[sqlx::test]
async fn system_filters_see_every_tenant_in_tenant_order(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    seed(&db, a, &["plan", "ship"]).await;
    seed(&db, b, &["plan", "ship"]).await;

    let tx = db.system.begin().await.unwrap();
    let plans = Task::system(&tx)
        .filter(Task::TITLE.eq("plan"))
        .all()
        .await
        .unwrap();
    let mut expected = vec![a, b];
    expected.sort_by_key(|t| *t.as_uuid());
    assert_eq!(
        plans.iter().map(|t| t.tenant_id).collect::<Vec<_>>(),
        expected
    );
    let emails = User::system(&tx)
        .filter(User::EMAIL.eq("ada@example.com"))
        .count()
        .await;
    assert_eq!(emails.unwrap(), 2);
    drop(tx);
    db.close().await;
}

/// `raw_statement` for an effect, and sqlx's own queries through the
/// connection guard: row-level security applies to both.
#[sqlx::test]
async fn hand_written_statements_run_under_the_tenant(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    seed(&db, a, &["one", "two", "three"]).await;
    seed(&db, b, &["one", "two", "three"]).await;

    let tx = db.app.begin(a).await.unwrap();
    // No tenant filter written: the policy adds it.
    let changed = tx
        .raw_statement("UPDATE tasks SET done = true WHERE title <> $1")
        .bind("one")
        .execute()
        .await
        .unwrap();
    assert_eq!(changed, 2, "only A's two rows");
    let open: i64 = count_open(&tx).await;
    assert_eq!(open, 1);
    tx.commit().await.unwrap();

    let tx = db.app.begin(b).await.unwrap();
    assert_eq!(
        count_open(&tx).await,
        2,
        "B's rows unchanged: one and three open"
    );
    drop(tx);
    db.close().await;
}

async fn count_open(tx: &TenantTx) -> i64 {
    let mut conn = tx.connection().await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM tasks WHERE NOT done")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

#[sqlx::test]
async fn a_statement_while_the_connection_is_lent_fails_instead_of_hanging(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let a = db.tenants[0];
    seed(&db, a, &["one"]).await;

    let tx = db.app.begin(a).await.unwrap();
    let conn = tx.connection().await.unwrap();
    let err = Task::scoped(&tx).count().await.unwrap_err();
    assert!(matches!(err, Error::ConnectionHeld), "{err:?}");
    assert!(matches!(
        tx.connection().await.unwrap_err(),
        Error::ConnectionHeld
    ));
    drop(conn);
    assert_eq!(
        Task::scoped(&tx).count().await.unwrap(),
        1,
        "usable once given back"
    );
    tx.commit().await.unwrap();
    db.close().await;
}
