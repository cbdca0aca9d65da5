//! Test support for apps on [tenant-runtime](https://docs.rs/tenant-runtime):
//! each test gets a fresh database set up the way production is, so its
//! isolation assertions mean something.
//!
//! A test that runs as a superuser, or as the role that owns the tables,
//! proves nothing about tenant isolation: both skip row-level security.
//! [`TestDb`] sets up the database `#[sqlx::test(migrations = false)]`
//! gives each test with
//!
//! - the migration owner, the application role and the system role
//!   ([`TestRoles`]), created by `tenant_runtime::ddl::Roles::sql` (what
//!   `tenant roles --apply` runs) under names of that database's own, so
//!   tests in parallel, in other processes, on a shared server never
//!   collide;
//! - the schema, applied by the migration owner: the DDL `emit-rls`
//!   writes for the `#[derive(TenantScoped)]` models linked into the test
//!   binary, or your migrations ([`TestDbBuilder::migrations`]);
//! - a context key, installed as `tenant context-key new` does;
//! - a [`TenantPool`](tenant_runtime::TenantPool) logged in as the
//!   application role (no superuser, no `BYPASSRLS`, owns nothing; the
//!   set-up checks it), a [`SystemPool`](tenant_runtime::SystemPool) as
//!   the system role, and two tenants (more with
//!   [`TestDbBuilder::tenants`] or [`TestDb::create_tenant`]).
//!
//! The pool enters tenants with the strongest mechanism the server offers;
//! [`Context::PlainSql`] tests as on a managed service that loads no
//! extension (with `PoolOptions::transaction_pooler(true)` for the app
//! pool, as behind PgBouncer).
//!
//! In a plain `#[tokio::test]`, [`TestDb::create`] makes a database of
//! its own first, with a random name (sqlx names a test's database after
//! the test's path, so two checkouts running the same test on one server
//! collide there), and [`TestDb::close`] drops it.
//!
//! With the `axum` feature, [`TestTokens`] mints JWTs that your app's own
//! `tenant_axum::JwtVerifier` accepts.
//!
//! ```no_run
//! use sqlx::migrate::Migrator;
//! use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
//! use tenant_testing::TestDb;
//!
//! // Your committed migrations (`emit-rls -o migrations`):
//! // static MIGRATOR: Migrator = sqlx::migrate!();
//! # static MIGRATOR: Migrator = Migrator::DEFAULT;
//!
//! #[sqlx::test(migrations = false)]
//! async fn tenant_b_does_not_see_tenant_a(_: PgPoolOptions, opts: PgConnectOptions) {
//!     let db = TestDb::builder().migrations(&MIGRATOR).setup(&opts).await.unwrap();
//!     let [a, b] = db.tenant_ids();
//!     // db.app(): the TenantPool your service would get.
//!     # let _ = (a, b);
//!     db.close().await.unwrap();
//! }
//! ```
//!
//! The database server must be reachable through `DATABASE_URL` with a
//! superuser (as `#[sqlx::test]` needs anyway: the system role has
//! `BYPASSRLS`, which only a superuser can grant). The roles log in with
//! passwords of their own, so trust and password authentication both work.

#![forbid(unsafe_code)]

mod db;
mod error;
mod roles;
#[cfg(feature = "axum")]
mod tokens;

pub use db::{Context, TestDb, TestDbBuilder};
pub use error::SetupError;
pub use roles::TestRoles;
#[cfg(feature = "axum")]
pub use tokens::{SigningKey, TestTokens, TokenError};

/// The workspace README's examples (the quick start, the web example and
/// the Testing section), compiled as doctests here, where every crate
/// they use is in reach, so they cannot drift from the API.
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// This crate's README example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;
