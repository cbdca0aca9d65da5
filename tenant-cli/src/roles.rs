//! `roles`: the least-privilege roles and grants for the linked models,
//! printed as SQL or applied.
//!
//! Three roles, each with one job:
//! - the migration owner owns the tables and runs the migrations;
//!   row-level security is forced on it too, so it is no way around the
//!   policies;
//! - the application role is what `TenantPool` logs in as: no superuser,
//!   no `BYPASSRLS`, owns nothing, member of no other role; it may read
//!   and write the model tables and read the tenants table;
//! - the system role is what `SystemPool` logs in as: `BYPASSRLS`, for
//!   cross-tenant work and the tenants table; the application role can
//!   never switch to it.
//!
//! `check` verifies the result (`role.*`, `tenants.write-system-only`,
//! `grant.model-privileges`).

use std::fmt::Write as _;

use sqlx::Connection as _;
use tenant_runtime::registry::{self, Ordered};
use tenant_sql::ident::{qualified, quote};
use tenant_sql::literal;

use crate::Outcome;
use crate::db::{self, AdminArgs, ConnectArgs, QueryContext as _};

/// Options of `roles`.
#[derive(Debug, clap::Args)]
pub struct RolesArgs {
    /// The application role. Default: the user of --database-url, else
    /// `tenant_app`.
    #[arg(long, value_name = "NAME")]
    pub app_role: Option<String>,
    /// The system role. Default: the user of --system-url, else
    /// `tenant_system`.
    #[arg(long, value_name = "NAME")]
    pub system_role: Option<String>,
    /// The migration owner.
    #[arg(long, value_name = "NAME", default_value = "tenant_owner")]
    pub owner_role: String,
    /// Role names can also come from these URLs' users.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Apply the SQL, in one transaction, instead of printing it (needs
    /// --admin-url: creating a BYPASSRLS role needs a superuser).
    #[arg(long)]
    pub apply: bool,
    /// With --apply: who applies it.
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// The three role names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Roles {
    pub(crate) owner: String,
    pub(crate) app: String,
    pub(crate) system: String,
}

impl RolesArgs {
    fn roles(&self) -> anyhow::Result<Roles> {
        let user = |url: Option<db::Url>| -> anyhow::Result<Option<String>> {
            url.map(|u| u.options().map(|o| o.get_username().to_owned()))
                .transpose()
        };
        let app = match &self.app_role {
            Some(name) => name.clone(),
            None => user(self.connect.app())?.unwrap_or_else(|| "tenant_app".to_owned()),
        };
        let system = match &self.system_role {
            Some(name) => name.clone(),
            None => user(self.connect.system())?.unwrap_or_else(|| "tenant_system".to_owned()),
        };
        let roles = Roles {
            owner: self.owner_role.clone(),
            app,
            system,
        };
        if roles.app == roles.system || roles.app == roles.owner || roles.system == roles.owner {
            anyhow::bail!(
                "the owner ({}), application ({}) and system ({}) roles must be three different roles: \
                 one role in two jobs would give the application role a way around the policies",
                roles.owner,
                roles.app,
                roles.system
            );
        }
        Ok(roles)
    }
}

pub(crate) fn run(args: &RolesArgs) -> anyhow::Result<Outcome> {
    let roles = args.roles()?;
    let tables = registry::tables()?;
    if tables.is_empty() {
        eprintln!(
            "warning: no #[derive(TenantScoped)] model is linked into this binary; \
             only the tenants table gets grants (see the linking rule in the registry docs)"
        );
    }
    let text = sql(&roles, tables);
    if !args.apply {
        out!("{text}");
        return Ok(Outcome::Ok);
    }
    let url = args
        .admin
        .require("--apply needs a role that may create roles (a superuser)")?;
    db::block_on(async {
        let mut conn = url.connect().await?;
        let mut tx = conn.begin().await.doing("beginning the transaction")?;
        sqlx::raw_sql(&text)
            .execute(&mut *tx)
            .await
            .doing("creating the roles and grants")?;
        tx.commit().await.doing("committing the roles and grants")?;
        outln!(
            "roles {}, {} and {} are set up for {} model tables",
            roles.owner,
            roles.app,
            roles.system,
            tables.len()
        );
        Ok(Outcome::Ok)
    })
}

/// The SQL: idempotent, so it is run again after every migration that
/// adds a table (grants need the tables to exist).
pub(crate) fn sql(roles: &Roles, tables: &Ordered) -> String {
    let owner = quote(&roles.owner);
    let app = quote(&roles.app);
    let system = quote(&roles.system);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "-- Least-privilege roles for tenant isolation, written by `tenant roles`.\n\
         -- Run it as a role that may create roles (a superuser: BYPASSRLS needs one),\n\
         -- before the first migration and again after each migration that adds a\n\
         -- table; running it again changes nothing. Give the roles passwords with\n\
         -- ALTER ROLE .. PASSWORD '..'.\n\
         --   {owner}: owns the tables and runs the migrations (row-level security is forced on it)\n\
         --   {app}: the TenantPool's: subject to row-level security, owns nothing\n\
         --   {system}: the SystemPool's: BYPASSRLS, for cross-tenant work and the tenants table\n"
    );
    for (role, attributes) in [
        (&owner, "NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOREPLICATION"),
        (
            &app,
            "NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION",
        ),
        (
            &system,
            "NOSUPERUSER BYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION",
        ),
    ] {
        do_block(
            &mut out,
            &format!("CREATE ROLE {role} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL;"),
        );
        let _ = writeln!(out, "ALTER ROLE {role} {attributes};");
    }
    let _ = writeln!(
        out,
        "-- The application role must not be able to become either of the others.\n\
         REVOKE {owner} FROM {app};\n\
         REVOKE {system} FROM {app};"
    );
    do_block(
        &mut out,
        &format!(
            "EXECUTE pg_catalog.format('GRANT CONNECT ON DATABASE %I TO {owner}, {app}, {system}', pg_catalog.current_database());\n    \
             -- The migration creates the tenancy schema.\n    \
             EXECUTE pg_catalog.format('GRANT CREATE ON DATABASE %I TO {owner}', pg_catalog.current_database());\n    \
             -- A temporary table would outlive a transaction on a pooled connection,\n    \
             -- and could stand in for the tenancy session. The tenancy functions\n    \
             -- (owned by the owner) keep that session in temporary objects.\n    \
             EXECUTE pg_catalog.format('REVOKE TEMP ON DATABASE %I FROM PUBLIC, {app}', pg_catalog.current_database());\n    \
             EXECUTE pg_catalog.format('GRANT TEMP ON DATABASE %I TO {owner}', pg_catalog.current_database());"
        ),
    );

    let mut schemas: Vec<&str> = tables.iter().map(|t| t.schema).collect();
    schemas.push("public");
    schemas.sort_unstable();
    schemas.dedup();
    for schema in schemas {
        let s = quote(schema);
        let _ = writeln!(out, "-- schema {schema}");
        do_block(
            &mut out,
            &format!(
                "IF EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = {}) THEN\n    \
                 GRANT USAGE, CREATE ON SCHEMA {s} TO {owner};\n    \
                 REVOKE CREATE ON SCHEMA {s} FROM PUBLIC, {app};\n    \
                 GRANT USAGE ON SCHEMA {s} TO {app}, {system};\n    \
                 ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}, {system};\n\
                 END IF;",
                literal::quote(schema)
            ),
        );
    }
    for t in tables.iter() {
        let name = qualified(t.schema, t.name);
        do_block(
            &mut out,
            &format!(
                "IF pg_catalog.to_regclass({}) IS NOT NULL THEN\n    \
                 GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {app}, {system};\n\
                 END IF;",
                literal::quote(&name)
            ),
        );
    }
    let _ = writeln!(
        out,
        "-- The tenants table: read by the application role, written only by the system role."
    );
    do_block(
        &mut out,
        &format!(
            "IF pg_catalog.to_regclass('public.tenants') IS NOT NULL THEN\n    \
             REVOKE ALL ON public.tenants FROM {app};\n    \
             GRANT SELECT ON public.tenants TO {app};\n    \
             GRANT SELECT, INSERT, UPDATE, DELETE ON public.tenants TO {system};\n\
             END IF;"
        ),
    );
    out
}

fn do_block(out: &mut String, body: &str) {
    let _ = writeln!(
        out,
        "DO {};",
        literal::dollar_quote(&format!(" BEGIN\n    {body}\nEND "))
    );
}
