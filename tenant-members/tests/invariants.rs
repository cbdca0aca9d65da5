//! The membership invariants, as the application role (RLS applies, it
//! owns nothing) with two tenants and four users, each in a fresh
//! database that tenant-testing creates and sets up.

use std::time::Duration;

mod common;

use common::{World, user};

use sqlx::Executor as _;
use tenant_members::{Membership, Role};
use tenant_runtime::Error;
use tenant_runtime::UserId;
use tenant_test_support::mechanism::Mechanism;

fn needs(result: Result<impl std::fmt::Debug, Error>, role: &str) {
    match result {
        Err(Error::MembershipChangeRefused { needed }) => assert_eq!(needed, role),
        other => panic!("expected a refusal that needs {role}, got {other:?}"),
    }
}

#[tokio::test]
async fn only_admins_change_memberships_and_only_owners_touch_the_owner_role() {
    let w = World::new().await;
    let eve = user();
    // A member cannot add anyone; an admin can, but not an owner, nor
    // promote or demote one.
    needs(w.add(w.cy, eve, Role::Viewer).await, "admin");
    w.add(w.bob, eve, Role::Viewer).await.unwrap();
    needs(w.set_role(w.bob, w.cy, Role::Owner).await, "owner");
    needs(w.add(w.bob, user(), Role::Owner).await, "owner");
    needs(w.set_role(w.bob, w.ada, Role::Admin).await, "owner");
    needs(w.remove(w.bob, w.ada).await, "owner");
    w.set_role(w.bob, eve, Role::Member).await.unwrap();
    // An owner can grant owner.
    w.set_role(w.ada, w.cy, Role::Owner).await.unwrap();
    assert_eq!(
        w.membership(w.cy).await.unwrap().role().unwrap(),
        Role::Owner
    );

    // With no verified user, nothing changes; nor does raw SQL as an admin.
    let tx = w.app.begin(w.acme()).await.unwrap();
    needs(
        Membership::scoped(&tx)
            .insert(&Membership::new(w.acme(), UserId::new_v4(), Role::Viewer))
            .await,
        "admin",
    );
    drop(tx);
    let mut tx = w.app.begin_as(w.acme(), w.bob).await.unwrap();
    let raw = format!(
        "UPDATE memberships SET role = 'owner' WHERE user_id = '{}'",
        w.bob
    );
    let err = tx.conn().execute(raw.as_str()).await.unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("TN011")
    );
    drop(tx);

    // Acme's admin is nobody in Globex, and Globex's rows are out of reach.
    let tx = w.app.begin_as(w.tenants[1], w.bob).await.unwrap();
    needs(
        Membership::scoped(&tx)
            .insert(&Membership::new(
                w.tenants[1],
                UserId::new_v4(),
                Role::Viewer,
            ))
            .await,
        "admin",
    );
    drop(tx);
    let mut tx = w.app.begin_as(w.tenants[1], w.dan).await.unwrap();
    let steal = format!(
        "UPDATE memberships SET role = 'viewer' WHERE tenant_id = '{}'",
        w.acme()
    );
    let done = tx.conn().execute(steal.as_str()).await.unwrap();
    assert_eq!(done.rows_affected(), 0);
    tx.commit().await.unwrap();
    assert_eq!(
        w.membership(w.ada).await.unwrap().role().unwrap(),
        Role::Owner
    );
}

#[tokio::test]
async fn the_last_owner_cannot_leave_or_be_demoted() {
    let w = World::new().await;
    let last = |r: Result<(), Error>| match r {
        Err(Error::LastOwner { tenant }) => assert_eq!(tenant, w.acme()),
        other => panic!("expected LastOwner, got {other:?}"),
    };
    last(w.remove(w.ada, w.ada).await);
    last(w.set_role(w.ada, w.ada, Role::Admin).await);
    // Not even the system role.
    let row = w.membership(w.ada).await.unwrap();
    let tx = w.system.begin().await.unwrap();
    match Membership::system(&tx).delete(&row.id).await {
        Err(Error::LastOwner { .. }) => {}
        other => panic!("expected LastOwner, got {other:?}"),
    }
    drop(tx);
    // A member may leave; an owner may, once there is another.
    w.remove(w.cy, w.cy).await.unwrap();
    assert!(w.membership(w.cy).await.is_none());
    w.set_role(w.ada, w.bob, Role::Owner).await.unwrap();
    w.remove(w.ada, w.ada).await.unwrap();
    assert!(w.membership(w.ada).await.is_none());
    // A removed member's next request acts for nobody in Acme.
    needs(w.add(w.ada, user(), Role::Viewer).await, "admin");
}

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_one() {
    let w = World::new().await;
    w.set_role(w.ada, w.bob, Role::Owner).await.unwrap();
    let (ada_row, bob_row) = (
        w.membership(w.ada).await.unwrap(),
        w.membership(w.bob).await.unwrap(),
    );

    // Ada demotes Bob and holds her transaction open; Bob's demotion of
    // Ada waits for it, then sees that Ada is the only owner left.
    let first = w.app.begin_as(w.acme(), w.ada).await.unwrap();
    let demoted = Membership {
        role: "admin".into(),
        ..bob_row
    };
    Membership::scoped(&first).update(&demoted).await.unwrap();
    let app = w.app.clone();
    let acme = w.acme();
    let bob = w.bob;
    let second = tokio::spawn(async move {
        let tx = app.begin_as(acme, bob).await?;
        let demoted = Membership {
            role: "admin".into(),
            ..ada_row
        };
        Membership::scoped(&tx).update(&demoted).await?;
        tx.commit().await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "Bob's change waits for Ada's");
    first.commit().await.unwrap();
    let err = second.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            Error::LastOwner { .. } | Error::MembershipChangeRefused { .. }
        ),
        "{err:?}"
    );
    assert_eq!(
        w.membership(w.ada).await.unwrap().role().unwrap(),
        Role::Owner
    );
    assert_eq!(
        w.membership(w.bob).await.unwrap().role().unwrap(),
        Role::Admin
    );
}

/// `tenant check` passes on a database with the memberships table, its
/// constraint and its trigger, as the application role (the probe
/// entering a tenant with the pools' context key).
#[tokio::test]
async fn check_passes_with_memberships() {
    let w = World::new().await;
    let check = || {
        tenant_cli::Command::Check(tenant_cli::CheckArgs {
            connect: tenant_cli::ConnectArgs {
                database_url: Some(w.db.app_url()),
                system_url: Some(w.db.system_url()),
            },
            tenant_column: "tenant_id".into(),
            json: false,
            strict: true,
            no_probe: false,
            context_key: Some(w.key.expose_spec()),
            skip: Vec::new(),
            list: false,
        })
    };
    // The command runs its own runtime.
    let run = |command: tenant_cli::Command| async move {
        tokio::task::spawn_blocking(move || command.run())
            .await
            .unwrap()
            .unwrap()
    };
    let outcome = run(check()).await;
    assert!(
        matches!(outcome, tenant_cli::Outcome::Ok),
        "check found problems (printed above)"
    );

    // A definer function whose body is no longer the one the crate ships
    // is reported again: it reads a tenant table as its owner (the
    // migration owner, which row-level security is forced on, so only
    // what it reads makes it a finding).
    let owner = sqlx::PgPool::connect_with(w.opts.clone()).await.unwrap();
    owner
        .execute(
            "CREATE OR REPLACE FUNCTION tenancy.my_tenants() \
             RETURNS TABLE (tenant_id uuid, slug text, name text, role text) \
             LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp \
             AS $fn$ SELECT m.tenant_id, t.slug, t.name, m.role \
             FROM public.memberships m JOIN public.tenants t ON t.id = m.tenant_id $fn$",
        )
        .await
        .unwrap();
    owner.close().await;
    let outcome = run(check()).await;
    assert!(
        matches!(outcome, tenant_cli::Outcome::Findings),
        "a changed definer is flagged"
    );
}

/// A user lists their own organisations, with no tenant and without the
/// system role, and nobody else's; the mirror behind it is unreadable.
#[tokio::test]
async fn a_user_lists_their_own_organisations_only() {
    let w = World::new().await;
    let (acme, globex) = (w.tenants[0], w.tenants[1]);
    // Dan (Globex's owner) makes Ada a viewer there.
    let tx = w.app.begin_as(globex, w.dan).await.unwrap();
    Membership::scoped(&tx)
        .insert(&Membership::new(globex, w.ada, Role::Viewer))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let list = |user: Option<tenant_runtime::UserId>| {
        let app = w.app.clone();
        async move {
            let tx = match user {
                Some(user) => app.begin_global_as(user).await.unwrap(),
                None => app.begin_global().await.unwrap(),
            };
            let mine = tenant_members::my_tenants(&tx).await.unwrap();
            tx.commit().await.unwrap();
            mine.into_iter()
                .map(|t| (t.tenant_id, t.role))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(Some(w.ada)).await,
        [(acme, "owner".to_owned()), (globex, "viewer".to_owned())]
    );
    assert_eq!(list(Some(w.cy)).await, [(acme, "member".to_owned())]);
    assert_eq!(list(Some(user())).await, []);
    assert_eq!(list(None).await, []);

    // The mirror follows changes, and a deleted tenant drops out.
    w.remove(w.bob, w.cy).await.unwrap();
    assert_eq!(list(Some(w.cy)).await, []);
    let tx = w.system.begin().await.unwrap();
    tx.tenants().delete(globex).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(list(Some(w.ada)).await, [(acme, "owner".to_owned())]);

    // Raw SQL as the application role cannot read or write the mirror.
    let mut tx = w.app.begin_global_as(w.ada).await.unwrap();
    for sql in [
        "SELECT * FROM tenancy.member_tenants",
        "INSERT INTO tenancy.member_tenants VALUES (gen_random_uuid(), gen_random_uuid(), 'owner')",
    ] {
        let err = tx.conn().execute(sql).await.unwrap_err();
        assert_eq!(
            err.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("42501"),
            "{sql}"
        );
        tx.conn().execute("ROLLBACK; BEGIN").await.ok();
    }
    drop(tx);
}

#[tokio::test]
async fn the_role_arrives_with_begin_and_is_that_of_begin() {
    let w = World::new().await;
    roles_arrive_with_begin(&w).await;
    // No user, no role.
    let tx = w.app.begin(w.acme()).await.unwrap();
    assert_eq!(tx.user_in_tenant(), None);
    assert_eq!(
        tenant_members::role_of_current_user(&tx).await.unwrap(),
        None
    );
    drop(tx);
    // As of begin: a change in the transaction shows in membership_of,
    // not in the role read at begin; the next transaction sees it.
    let tx = w.app.begin_as(w.acme(), w.ada).await.unwrap();
    tenant_members::set_role(&tx, w.cy, Role::Viewer)
        .await
        .unwrap();
    let cy_now = tenant_members::membership_of(&tx, w.cy)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cy_now.role().unwrap(), Role::Viewer);
    tx.commit().await.unwrap();
    let tx = w.app.begin_as(w.acme(), w.cy).await.unwrap();
    assert_eq!(
        tenant_members::role_of_current_user(&tx).await.unwrap(),
        Some(Role::Viewer)
    );
    drop(tx);
    // A removed member is no member at the next begin.
    w.remove(w.ada, w.cy).await.unwrap();
    let tx = w.app.begin_as(w.acme(), w.cy).await.unwrap();
    assert_eq!(
        tenant_members::role_of_current_user(&tx).await.unwrap(),
        None
    );
}

/// Each user's role in each tenant arrives with `begin_as`.
async fn roles_arrive_with_begin(w: &World) {
    for (user, tenant, expected) in [
        (w.ada, w.acme(), Some(Role::Owner)),
        (w.bob, w.acme(), Some(Role::Admin)),
        (w.cy, w.acme(), Some(Role::Member)),
        (w.dan, w.tenants[1], Some(Role::Owner)),
        // Globex's owner is nobody in Acme, and Acme's owner nobody in Globex.
        (w.dan, w.acme(), None),
        (w.ada, w.tenants[1], None),
    ] {
        let tx = w.app.begin_as(tenant, user).await.unwrap();
        assert_eq!(
            tenant_members::role_of_current_user(&tx).await.unwrap(),
            expected
        );
        assert_eq!(
            tx.user_in_tenant(),
            expected.map(|r| r.as_str()),
            "what enter handed back"
        );
        tx.commit().await.unwrap();
    }
}

/// The same under the extension and bound tokens, whose begin message asks
/// `tenancy.user_in_entered_tenant()` for it.
#[tokio::test]
async fn the_role_arrives_with_begin_under_the_extension() {
    let w = World::with_mechanism(Mechanism::Extension).await;
    roles_arrive_with_begin(&w).await;
}

#[tokio::test]
async fn the_role_arrives_with_begin_with_bound_tokens() {
    let w = World::with_mechanism(Mechanism::Bound).await;
    roles_arrive_with_begin(&w).await;
}

/// `tenant seed --owner-email`: the new tenant's first owner, made by this
/// crate in the transaction that creates the tenant; an existing user is
/// reused, and a refused owner leaves no tenant behind.
#[tokio::test]
async fn seed_makes_the_first_owner() {
    let w = World::new().await;
    let system_url = w.db.system_url();
    let seed = |name: &str, email: &str| {
        let command = tenant_cli::Command::Seed(tenant_cli::SeedArgs {
            name: name.to_owned(),
            slug: None,
            connect: tenant_cli::ConnectArgs {
                database_url: None,
                system_url: Some(system_url.clone()),
            },
            json: false,
            owner_email: Some(email.to_owned()),
            owner_name: None,
        });
        // The command runs its own runtime.
        tokio::task::spawn_blocking(move || command.run())
    };
    let owners = |tenant: &'static str| {
        let system = w.system.clone();
        async move {
            let tx = system.begin().await.unwrap();
            let rows: Vec<(String, String)> = tx
                .raw(
                    "SELECT u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id \
                     JOIN tenants t ON t.id = m.tenant_id WHERE t.name = $1",
                )
                .bind(tenant)
                .fetch_all()
                .await
                .unwrap();
            tx.rollback().await.unwrap();
            rows
        }
    };

    seed("Hooli", "eve@hooli.example").await.unwrap().unwrap();
    assert_eq!(
        owners("Hooli").await,
        [("eve@hooli.example".to_owned(), "owner".to_owned())]
    );
    // The same person, another organisation: the user is found, not made again.
    seed("Pied Piper", "EVE@hooli.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        owners("Pied Piper").await,
        [("eve@hooli.example".to_owned(), "owner".to_owned())]
    );
    let tx = w.system.begin().await.unwrap();
    let (eves,): (i64,) = tx
        .raw("SELECT count(*) FROM users WHERE lower(email) = 'eve@hooli.example'")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(eves, 1);
    let (before,): (i64,) = tx
        .raw("SELECT count(*) FROM tenants")
        .fetch_one()
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    // An email the users table refuses: no owner, and no tenant either.
    let err = seed("Nucleus", "not an email").await.unwrap().unwrap_err();
    assert!(format!("{err:#}").contains("first owner"), "{err:#}");
    let tx = w.system.begin().await.unwrap();
    let (after,): (i64,) = tx
        .raw("SELECT count(*) FROM tenants")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(after, before, "the tenant was rolled back with its owner");
    tx.rollback().await.unwrap();
}
