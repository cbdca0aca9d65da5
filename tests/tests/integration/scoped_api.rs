//! The generated API (`Model::scoped`, `Model::system`) as the app role.

use sqlx::Executor;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_runtime::{Error, TenantId};
use tenant_tests::{Project, Task, User};
use time::OffsetDateTime;

use crate::common::TestDb;

fn project(tenant: TenantId, name: &str) -> Project {
    Project {
        id: 0,
        tenant_id: tenant,
        name: name.to_owned(),
    }
}

fn user(tenant: TenantId, email: &str) -> User {
    User {
        id: 0,
        tenant_id: tenant,
        email: email.to_owned(),
        name: email.to_uppercase(),
        created_at: OffsetDateTime::UNIX_EPOCH,
    }
}

/// Inserts projects named `names` for `tenant`, returning them as stored.
async fn seed(db: &TestDb, tenant: TenantId, names: &[&str]) -> Vec<Project> {
    let tx = db.app.begin(tenant).await.unwrap();
    let mut stored = Vec::new();
    for name in names {
        stored.push(
            Project::scoped(&tx)
                .insert(&project(tenant, name))
                .await
                .unwrap(),
        );
    }
    tx.commit().await.unwrap();
    stored
}

#[sqlx::test]
async fn crud_stays_inside_the_tenant(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    let a_rows = seed(&db, a, &["a1", "a2", "a3", "a4", "a5"]).await;
    let b_rows = seed(&db, b, &["b1", "b2"]).await;
    assert!(
        a_rows.iter().all(|p| p.id > 0 && p.tenant_id == a),
        "ids are generated"
    );

    let tx = db.app.begin(a).await.unwrap();
    let projects = Project::scoped(&tx);
    assert_eq!(projects.tenant(), a);
    assert_eq!(projects.all().await.unwrap(), a_rows);
    assert_eq!(projects.count().await.unwrap(), 5);
    assert_eq!(projects.page(2, 1).await.unwrap(), a_rows[1..3]);
    assert_eq!(
        projects.after(&a_rows[2].id, 10).await.unwrap(),
        a_rows[3..]
    );
    assert_eq!(
        projects.find(&a_rows[0].id).await.unwrap().as_ref(),
        Some(&a_rows[0])
    );

    // Another tenant's keys do not exist here.
    let foreign = &b_rows[0];
    assert_eq!(projects.find(&foreign.id).await.unwrap(), None);
    assert!(!projects.delete(&foreign.id).await.unwrap());
    let disguised = Project {
        id: foreign.id,
        tenant_id: a,
        name: "hijacked".into(),
    };
    assert!(
        matches!(projects.update(&disguised).await, Err(Error::RowNotFound { table }) if table == "public.projects")
    );

    let mut renamed = a_rows[0].clone();
    renamed.name = "apollo".into();
    assert_eq!(projects.update(&renamed).await.unwrap(), renamed);
    assert!(projects.delete(&a_rows[4].id).await.unwrap());
    assert_eq!(projects.count().await.unwrap(), 4);
    tx.commit().await.unwrap();

    let tx = db.app.begin(b).await.unwrap();
    assert_eq!(
        Project::scoped(&tx).all().await.unwrap(),
        b_rows,
        "b untouched"
    );
    drop(tx);
    db.close().await;
}

#[sqlx::test]
async fn a_row_of_another_tenant_is_refused_not_rewritten(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    let tx = db.app.begin(a).await.unwrap();
    let projects = Project::scoped(&tx);
    let err = projects.insert(&project(b, "planted")).await.unwrap_err();
    let Error::CrossTenantWrite {
        table,
        expected,
        found,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (table.as_str(), *expected, *found),
        ("public.projects", Some(a), Some(b))
    );

    let mine = projects.insert(&project(a, "mine")).await.unwrap();
    let moved = Project {
        tenant_id: b,
        ..mine.clone()
    };
    assert!(matches!(
        projects.update(&moved).await,
        Err(Error::CrossTenantWrite { .. })
    ));
    assert_eq!(projects.all().await.unwrap(), [mine]);
    tx.commit().await.unwrap();

    let tx = db.app.begin(b).await.unwrap();
    assert_eq!(Project::scoped(&tx).count().await.unwrap(), 0);
    drop(tx);
    db.close().await;
}

#[sqlx::test]
async fn generated_columns_are_left_to_the_database(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let a = db.tenants[0];
    let tx = db.app.begin(a).await.unwrap();
    let stored = User::scoped(&tx)
        .insert(&user(a, "ada@example.com"))
        .await
        .unwrap();
    assert!(stored.id > 0);
    // The struct said 1970; the column default said now().
    assert!(
        stored.created_at > OffsetDateTime::now_utc() - time::Duration::hours(1),
        "{stored:?}"
    );

    // A renamed column (`assignee` in Rust, `assignee_id` in SQL) round-trips.
    let p = Project::scoped(&tx)
        .insert(&project(a, "apollo"))
        .await
        .unwrap();
    let task = Task {
        id: 0,
        tenant_id: a,
        project_id: p.id,
        assignee: Some(stored.id),
        title: "launch".into(),
        done: false,
    };
    let task = Task::scoped(&tx).insert(&task).await.unwrap();
    assert_eq!(
        Task::scoped(&tx)
            .find(&task.id)
            .await
            .unwrap()
            .unwrap()
            .assignee,
        Some(stored.id)
    );
    drop(tx);
    db.close().await;
}

#[sqlx::test]
async fn database_rules_come_back_as_their_own_errors(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    let b_project = seed(&db, b, &["borealis"]).await.remove(0);

    let tx = db.app.begin(a).await.unwrap();
    let users = User::scoped(&tx);
    users.insert(&user(a, "ada@example.com")).await.unwrap();
    let err = users.insert(&user(a, "ada@example.com")).await.unwrap_err();
    assert!(
        matches!(&err, Error::UniqueViolation { table, constraint, columns } if table == "public.users" && constraint == "users_tenant_id_email_key" && columns == &["email"]),
        "{err:?}"
    );
    drop(tx);

    let tx = db.app.begin(a).await.unwrap();
    let task = Task {
        id: 0,
        tenant_id: a,
        project_id: b_project.id,
        assignee: None,
        title: "sneak".into(),
        done: false,
    };
    let err = Task::scoped(&tx).insert(&task).await.unwrap_err();
    assert!(matches!(err, Error::ReferenceMissing { .. }), "{err:?}");
    drop(tx);

    // A project its tasks still reference cannot be deleted.
    let tx = db.app.begin(b).await.unwrap();
    let task = Task {
        id: 0,
        tenant_id: b,
        project_id: b_project.id,
        assignee: None,
        title: "kept".into(),
        done: false,
    };
    Task::scoped(&tx).insert(&task).await.unwrap();
    let err = Project::scoped(&tx)
        .delete(&b_project.id)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::StillReferenced { table, .. } if table == "public.tasks"),
        "{err:?}"
    );
    drop(tx);
    db.close().await;
}

/// `on_delete = "set_null"` on `Task::assignee`: deleting the user
/// unassigns the tenant's tasks and sets nothing else to NULL (the
/// foreign key shares the tenant column, which stays).
#[sqlx::test]
async fn a_deleted_user_leaves_tasks_unassigned(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let a = db.tenants[0];
    let project = seed(&db, a, &["apollo"]).await.remove(0);
    let tx = db.app.begin(a).await.unwrap();
    let ada = User::scoped(&tx)
        .insert(&user(a, "ada@example.com"))
        .await
        .unwrap();
    let task = Task {
        id: 0,
        tenant_id: a,
        project_id: project.id,
        assignee: Some(ada.id),
        title: "design".into(),
        done: false,
    };
    let task = Task::scoped(&tx).insert(&task).await.unwrap();
    assert!(User::scoped(&tx).delete(&ada.id).await.unwrap());
    let after = Task::scoped(&tx).find(&task.id).await.unwrap().unwrap();
    assert_eq!(after.assignee, None);
    assert_eq!(after.tenant_id, a);
    tx.commit().await.unwrap();
    db.close().await;
}

#[sqlx::test]
async fn raw_queries_still_run_under_the_tenant(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    seed(&db, a, &["a1", "a2"]).await;
    seed(&db, b, &["b1"]).await;

    let mut tx = db.app.begin(b).await.unwrap();
    // The escape hatch on the scoped handle: no tenant filter written, RLS adds it.
    let rows: Vec<Project> = Project::scoped(&tx)
        .raw("SELECT id, tenant_id, name FROM projects WHERE name LIKE $1")
        .bind("%1")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["b1"]
    );
    // Plain sqlx on the transaction's connection.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(n, 1);
    drop(tx);
    db.close().await;
}

#[sqlx::test]
async fn several_scoped_handles_share_one_transaction(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let a = db.tenants[0];
    let tx = db.app.begin(a).await.unwrap();
    let (projects, users) = (Project::scoped(&tx), User::scoped(&tx));
    let (p, u) = futures_util::future::join(
        projects.insert(&project(a, "apollo")),
        users.insert(&user(a, "ada@example.com")),
    )
    .await;
    let (p, u) = (p.unwrap(), u.unwrap());
    let task = Task {
        id: 0,
        tenant_id: a,
        project_id: p.id,
        assignee: Some(u.id),
        title: "t".into(),
        done: true,
    };
    Task::scoped(&tx).insert(&task).await.unwrap();
    tx.rollback().await.unwrap();

    let tx = db.app.begin(a).await.unwrap();
    assert_eq!(
        Project::scoped(&tx).count().await.unwrap(),
        0,
        "rolled back together"
    );
    drop(tx);
    db.close().await;
}

#[sqlx::test]
async fn system_queries_see_every_tenant(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let [a, b] = db.tenants;
    let a_rows = seed(&db, a, &["a1"]).await;
    let b_rows = seed(&db, b, &["b1", "b2"]).await;

    let sys = db.system.begin().await.unwrap();
    let all = Project::system(&sys).all().await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(a_rows.iter().chain(&b_rows).all(|p| all.contains(p)));
    assert_eq!(Project::system(&sys).count().await.unwrap(), 3);
    assert_eq!(
        Project::system(&sys)
            .find(&b_rows[0].id)
            .await
            .unwrap()
            .as_ref(),
        Some(&b_rows[0])
    );
    let page = Project::system(&sys).page(2, 0).await.unwrap();
    let next = Project::system(&sys)
        .after(page[1].tenant_id, &page[1].id, 10)
        .await
        .unwrap();
    assert_eq!(page.len() + next.len(), 3);

    // Writes for a named tenant, which the tenant then sees.
    let made = Project::system(&sys)
        .insert(&project(a, "by-admin"))
        .await
        .unwrap();
    let renamed = Project::system(&sys)
        .update(&Project {
            name: "renamed".into(),
            ..made.clone()
        })
        .await
        .unwrap();
    assert_eq!(renamed.tenant_id, a);
    assert!(Project::system(&sys).delete(&b_rows[1].id).await.unwrap());
    sys.commit().await.unwrap();

    let tx = db.app.begin(a).await.unwrap();
    let names: Vec<String> = Project::scoped(&tx)
        .all()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["a1", "renamed"]);
    drop(tx);
    db.close().await;
}

#[sqlx::test]
async fn pages_reuse_a_cached_generic_plan(_: PgPoolOptions, opts: PgConnectOptions) {
    let db = TestDb::new(opts).await;
    let a = db.tenants[0];
    // Enough rows that a plan for 2 rows and a plan for "10% of the
    // tenant's rows" cost differently.
    db.owner
        .execute(
            format!(
                "INSERT INTO projects (tenant_id, name) SELECT '{a}', 'p' || g FROM generate_series(1, 5000) g;
                 ANALYZE projects;"
            )
            .as_str(),
        )
        .await
        .unwrap();
    // The same page written with a bare `LIMIT $2`, as a control.
    let bare = "SELECT id, tenant_id, name FROM projects WHERE tenant_id = $1 ORDER BY id LIMIT $2 OFFSET $3";
    let mut tx = db.app.begin(a).await.unwrap();
    for _ in 0..8 {
        assert_eq!(Project::scoped(&tx).page(2, 1).await.unwrap().len(), 2);
        assert_eq!(Project::scoped(&tx).after(&0, 2).await.unwrap().len(), 2);
        let rows: Vec<Project> = sqlx::query_as(bare)
            .bind(a)
            .bind(2_i64)
            .bind(1_i64)
            .fetch_all(tx.conn())
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
    }
    // The statements sqlx prepared on this connection, and how PostgreSQL
    // planned them: custom plans for the first five executions, then the
    // cached generic one; the bare `LIMIT $2` is planned every time.
    let plans: Vec<(String, i64)> =
        sqlx::query_as("SELECT statement, generic_plans FROM pg_prepared_statements")
            .fetch_all(tx.conn())
            .await
            .unwrap();
    let generic = |sql: &str| plans.iter().find(|(s, _)| s == sql).map(|(_, g)| *g);
    let meta = <Project as tenant_runtime::TenantTable>::META;
    assert_eq!(generic(meta.sql.scoped.page), Some(3), "{plans:?}");
    assert_eq!(generic(meta.sql.scoped.after), Some(3), "{plans:?}");
    assert_eq!(
        generic(bare),
        Some(0),
        "the control is replanned: {plans:?}"
    );
    drop(tx);
    db.close().await;
}
