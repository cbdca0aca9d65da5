//! The set-up the tests share: a fresh database with the memberships
//! table, two tenants and four users, as the application role, set up by
//! tenant-testing as a deployment is (roles of the test's own, the DDL
//! applied by the migration owner, a context key).

#![allow(dead_code)] // each test binary uses part of it

use sqlx::postgres::PgConnectOptions;
use tenant_members::{Membership, Role};
use tenant_runtime::tx::ContextKey;
use tenant_runtime::{Error, PoolOptions, SystemPool, TenantId, TenantPool, UserId, ddl, registry};
use tenant_test_support::mechanism::Mechanism;
use tenant_testing::{Context, TestDb};

pub(crate) struct World {
    /// The superuser on the database (it may replace what the owner made).
    pub(crate) opts: PgConnectOptions,
    /// The database and its roles: their URLs for the command line.
    pub(crate) db: TestDb,
    pub(crate) app: TenantPool,
    pub(crate) system: SystemPool,
    /// Acme and Globex.
    pub(crate) tenants: [TenantId; 2],
    /// Acme's owner.
    pub(crate) ada: UserId,
    /// Acme's admin.
    pub(crate) bob: UserId,
    /// Acme's member.
    pub(crate) cy: UserId,
    /// Globex's owner.
    pub(crate) dan: UserId,
    /// The context key the pools hold, for the command line.
    pub(crate) key: ContextKey,
}

pub(crate) fn user() -> UserId {
    UserId::new_v4()
}

impl World {
    pub(crate) async fn new() -> World {
        Self::with_mechanism(Mechanism::Session).await
    }

    /// The same world, the application role entering tenants with
    /// `mechanism` (connected directly: not through PgBouncer), in a
    /// database of its own (`TestDb::create`: a random name, so a checkout
    /// running the same tests on the same server never collides).
    pub(crate) async fn with_mechanism(mechanism: Mechanism) -> World {
        assert_ne!(mechanism, Mechanism::PgBouncer, "connected directly");
        tenant_members::link();
        let ddl = ddl::emit(registry::tables().unwrap());
        assert!(
            ddl.contains("CREATE TRIGGER tenancy_guard_membership"),
            "the extension is emitted"
        );
        let context = match mechanism {
            Mechanism::Session => Context::PlainSql,
            _ => Context::Strongest,
        };
        let db = TestDb::builder()
            .context(context)
            .app_pool(
                PoolOptions::new()
                    .max_connections(4)
                    .transaction_pooler(mechanism.pooler()),
            )
            .system_pool(PoolOptions::new().max_connections(1))
            .tenants(["Acme", "Globex"])
            .create()
            .await
            .unwrap();
        let opts = db.roles().admin_options();
        let (app, system) = (db.app().clone(), db.system().clone());
        assert_eq!(app.mechanism(), Some(mechanism.expected()));
        let [acme, globex] = db.tenant_ids();
        let key = db.context_key().clone();
        let (ada, bob, cy, dan) = (user(), user(), user(), user());
        let tx = system.begin().await.unwrap();
        // Sign-up: the system role records each user (their email
        // verified) and makes each tenant's first owner.
        for (who, email) in [(ada, "ada"), (bob, "bob"), (cy, "cy"), (dan, "dan")] {
            let email = format!("{email}@example.com");
            tenant_members::users::create_user(&tx, who, &email, "")
                .await
                .unwrap();
        }
        for (tenant, owner) in [(acme, ada), (globex, dan)] {
            Membership::system(&tx)
                .insert(&Membership::new(tenant, owner, Role::Owner))
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let world = World {
            opts,
            db,
            app,
            system,
            tenants: [acme, globex],
            ada,
            bob,
            cy,
            dan,
            key,
        };
        world.add(ada, bob, Role::Admin).await.unwrap();
        world.add(ada, cy, Role::Member).await.unwrap();
        world
    }

    /// A new user with a row in `users`, member of nothing.
    pub(crate) async fn sign_up(&self, email: &str) -> UserId {
        let id = user();
        let tx = self.system.begin().await.unwrap();
        tenant_members::users::create_user(&tx, id, email, "")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        id
    }

    pub(crate) fn acme(&self) -> TenantId {
        self.tenants[0]
    }

    /// `actor` adds `user` to Acme with `role`.
    pub(crate) async fn add(
        &self,
        actor: UserId,
        user: UserId,
        role: Role,
    ) -> Result<Membership, Error> {
        let tx = self.app.begin_as(self.acme(), actor).await?;
        let row = Membership::scoped(&tx)
            .insert(&Membership::new(self.acme(), user, role))
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    pub(crate) async fn membership(&self, user: UserId) -> Option<Membership> {
        let tx = self.system.begin().await.unwrap();
        let all = Membership::system(&tx).all().await.unwrap();
        tx.commit().await.unwrap();
        all.into_iter()
            .find(|m| m.tenant_id == self.acme() && m.user_id == user)
    }

    /// `actor` sets `user`'s role in Acme.
    pub(crate) async fn set_role(
        &self,
        actor: UserId,
        user: UserId,
        role: Role,
    ) -> Result<(), Error> {
        let mut row = self.membership(user).await.expect("a member");
        row.role = role.as_str().to_owned();
        let tx = self.app.begin_as(self.acme(), actor).await?;
        Membership::scoped(&tx).update(&row).await?;
        tx.commit().await
    }

    /// `actor` removes `user` from Acme.
    pub(crate) async fn remove(&self, actor: UserId, user: UserId) -> Result<(), Error> {
        let row = self.membership(user).await.expect("a member");
        let tx = self.app.begin_as(self.acme(), actor).await?;
        Membership::scoped(&tx).delete(&row.id).await?;
        tx.commit().await
    }
}
