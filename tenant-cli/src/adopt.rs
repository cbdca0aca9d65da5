//! `adopt-node`: moves a database built by @usebetterdev/tenant (its ORM
//! schema and its CLI's `migrate` output) to this library's row-level
//! security, in one transaction, with the Node service kept up: it stays
//! in compatibility mode (`tenancy.compat_roles`) from the commit on, so
//! it never sees a state in between (MIGRATING-FROM-NODE.md).
//!
//! The transaction, as the migration owner (`SET ROLE`):
//! 1. locks the model tables, then `public.tenants` (the order a Node
//!    insert takes them in, so the two cannot deadlock);
//! 2. gives the tables to `--owner-role` when it is not their owner;
//! 3. drops Node's `set_tenant_id` triggers and function (the column
//!    DEFAULT fills the tenant now), and the indexes and foreign keys on
//!    the tenant column alone that the migration's own make redundant;
//! 4. makes `tenants` columns NOT NULL where this library's are;
//! 5. applies the migration `emit-rls` prints for the linked models
//!    (idempotent: `sqlx migrate run` applying the same file later changes
//!    nothing), which replaces Node's policies;
//! 6. lists the Node role in `tenancy.compat_roles`;
//!
//! then, as the admin, the grants of `tenant roles` with the Node role as
//! the compatibility role, and commits.

use std::fmt::Write as _;

use anyhow::bail;
use tenant_runtime::ddl::{self, Roles};
use tenant_runtime::registry;
use tenant_sql::ident::{qualified, quote};
use tenant_sql::literal;

use crate::Outcome;
use crate::db::{self, AdminArgs, ConnectArgs, QueryContext as _};

/// Options of `adopt-node`.
#[derive(Debug, clap::Args)]
pub struct AdoptNodeArgs {
    /// The Node service's role: it keeps entering tenants with set_config
    /// (compatibility mode) and gets the grants of `roles --compat-role`.
    #[arg(long, value_name = "ROLE")]
    pub node_role: String,
    /// The migration owner. Default: the owner of public.tenants. Another
    /// role is given the tables first (ALTER TABLE .. OWNER TO).
    #[arg(long, value_name = "NAME")]
    pub owner_role: Option<String>,
    /// The application role (of the TenantPool). Default: the user of
    /// --database-url, else `tenant_app`.
    #[arg(long, value_name = "NAME")]
    pub app_role: Option<String>,
    /// The system role (of the SystemPool). Default: the user of
    /// --system-url, else `tenant_system`.
    #[arg(long, value_name = "NAME")]
    pub system_role: Option<String>,
    /// Role names can also come from these URLs' users.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Apply the transaction instead of printing it.
    #[arg(long)]
    pub apply: bool,
    /// Who reads the catalog and applies it: a superuser (the grants may
    /// create roles, and the tables may change owner).
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// What the catalog says of a database built by the Node package.
#[derive(Debug, Default)]
struct Found {
    tenants_owner: String,
    /// `(schema.table, trigger)` calling `set_tenant_id`.
    triggers: Vec<(String, String)>,
    /// Whether a trigger of a table that is not a model calls it too.
    function_used_elsewhere: bool,
    function_exists: bool,
    /// Indexes on the tenant column alone that back no constraint.
    indexes: Vec<String>,
    /// `(schema.table, constraint)`: foreign keys of the tenant column
    /// alone to tenants, under another name than the migration's.
    foreign_keys: Vec<(String, String)>,
    /// Model tables that exist, quoted, with their owner.
    tables: Vec<(String, String)>,
    /// `tenants` columns that are nullable here and NOT NULL in ours.
    nullable: Vec<&'static str>,
    /// `column: rows with NULL`.
    nulls: Vec<String>,
}

pub(crate) fn run(args: &AdoptNodeArgs) -> anyhow::Result<Outcome> {
    crate::require_models("adopt-node")?;
    let url = args.admin.require(
        "adopt-node reads the catalog and applies the move as a superuser (it may create roles and change the tables' owner)",
    )?;
    let tables = registry::tables()?;
    let (app, system) =
        crate::roles::app_and_system(&args.app_role, &args.system_role, &args.connect)?;
    if args.node_role == app {
        bail!(
            "--node-role {app}: that is the application role of the TenantPool; trusting its setting would let injected SQL switch tenant. \
             Keep the Node service on a role of its own"
        );
    }
    db::block_on(async {
        let mut conn = url.connect().await?;
        crate::compat::refuse_recorded_job(&mut conn, &args.node_role).await?;
        let node_exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $1)",
        )
        .bind(&args.node_role)
        .fetch_one(&mut conn)
        .await
        .doing("looking the Node role up")?;
        if !node_exists {
            bail!(
                "--node-role {}: there is no such role: name the role the Node service logs in as",
                args.node_role
            );
        }
        let found = inspect(&mut conn, tables).await?;
        if !found.nulls.is_empty() {
            bail!(
                "public.tenants has rows with NULL in {}: this library's tenants table has NOT NULL there. \
                 Fill them in (UPDATE public.tenants SET ..), then run adopt-node again",
                found.nulls.join(", ")
            );
        }
        let owner = args
            .owner_role
            .clone()
            .unwrap_or_else(|| found.tenants_owner.clone());
        let roles = Roles::new(owner.clone(), app.clone(), system.clone())?
            .with_compat(args.node_role.clone())?;
        let sql = transaction_sql(&found, &roles, tables);
        if !args.apply {
            out!("{sql}");
            return Ok(Outcome::Ok);
        }
        // One simple-query message: its own BEGIN .. COMMIT, and on an
        // error the rest is skipped and the transaction rolled back.
        sqlx::raw_sql(&sql)
            .execute(&mut conn)
            .await
            .doing("moving the database from @usebetterdev/tenant (nothing was changed)")?;
        crate::roles::warn_superuser_owner(&mut conn, &owner).await?;
        outln!(
            "adopted: {} model tables under this library's policies, owned by {owner}; {} Node trigger(s), {} index(es) and {} foreign key(s) dropped; \
             {} stays in compatibility mode; grants for {app}, {system} and {}",
            tables.len(),
            found.triggers.len(),
            found.indexes.len(),
            found.foreign_keys.len(),
            args.node_role,
            args.node_role
        );
        outln!(
            "next: `tenant context-key new` (as the owner) for the TenantPool, then `tenant check`; see MIGRATING-FROM-NODE.md"
        );
        Ok(Outcome::Ok)
    })
}

async fn inspect(
    conn: &mut sqlx::PgConnection,
    tables: &registry::Ordered,
) -> anyhow::Result<Found> {
    let owner: Option<String> = sqlx::query_scalar(
        "SELECT pg_catalog.pg_get_userbyid(c.relowner)::text FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass('public.tenants')",
    )
    .fetch_optional(&mut *conn)
    .await
    .doing("reading public.tenants")?;
    let Some(tenants_owner) = owner else {
        bail!(
            "there is no public.tenants here, so this is not a database built by @usebetterdev/tenant: \
             apply the emit-rls migration and run `tenant roles --apply` instead"
        );
    };
    let mut found = Found {
        tenants_owner,
        ..Found::default()
    };
    let mut model_oids = Vec::new();
    for meta in tables.iter() {
        let name = qualified(meta.schema, meta.name);
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT c.oid::int8, pg_catalog.pg_get_userbyid(c.relowner)::text FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)",
        )
        .bind(&name)
        .fetch_optional(&mut *conn)
        .await
        .doing("reading the model tables")?;
        let Some((oid, table_owner)) = row else {
            continue;
        };
        model_oids.push(oid);
        found.tables.push((name.clone(), table_owner));
        let triggers: Vec<String> = sqlx::query_scalar(
            "SELECT t.tgname::text FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid \
             WHERE t.tgrelid = $1::int8::oid AND NOT t.tgisinternal AND p.proname = 'set_tenant_id' ORDER BY 1",
        )
        .bind(oid)
        .fetch_all(&mut *conn)
        .await
        .doing("reading the Node triggers")?;
        found
            .triggers
            .extend(triggers.into_iter().map(|t| (name.clone(), t)));
        let indexes: Vec<String> = sqlx::query_scalar(
            "SELECT pg_catalog.format('%I.%I', n.nspname, ic.relname) FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
             WHERE i.indrelid = $1::int8::oid AND i.indnatts = 1 AND i.indexprs IS NULL AND i.indpred IS NULL \
               AND a.attname = $2 AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid) \
             ORDER BY 1",
        )
        .bind(oid)
        .bind(meta.tenant_column)
        .fetch_all(&mut *conn)
        .await
        .doing("reading the indexes on the tenant column")?;
        found.indexes.extend(indexes);
        let ours = tenant_sql::names::object(meta.name, &[meta.tenant_column], "fkey");
        let fks: Vec<String> = sqlx::query_scalar(
            "SELECT k.conname::text FROM pg_catalog.pg_constraint k \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] \
             WHERE k.conrelid = $1::int8::oid AND k.contype = 'f' AND k.confrelid = pg_catalog.to_regclass('public.tenants') \
               AND pg_catalog.array_length(k.conkey, 1) = 1 AND a.attname = $2 AND k.conname <> $3 ORDER BY 1",
        )
        .bind(oid)
        .bind(meta.tenant_column)
        .bind(&ours)
        .fetch_all(&mut *conn)
        .await
        .doing("reading the foreign keys of the tenant column")?;
        found
            .foreign_keys
            .extend(fks.into_iter().map(|k| (name.clone(), k)));
    }
    let (exists, elsewhere): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_proc p WHERE p.oid = pg_catalog.to_regprocedure('public.set_tenant_id()')), \
                EXISTS (SELECT FROM pg_catalog.pg_trigger t WHERE t.tgfoid = pg_catalog.to_regprocedure('public.set_tenant_id()') \
                        AND NOT (t.tgrelid::int8 = ANY ($1)))",
    )
    .bind(&model_oids)
    .fetch_one(&mut *conn)
    .await
    .doing("reading the Node function set_tenant_id")?;
    found.function_exists = exists;
    found.function_used_elsewhere = elsewhere;
    for column in ["name", "slug", "created_at"] {
        let nullable: Option<bool> = sqlx::query_scalar(
            "SELECT NOT a.attnotnull FROM pg_catalog.pg_attribute a \
             WHERE a.attrelid = 'public.tenants'::regclass AND a.attname = $1 AND NOT a.attisdropped",
        )
        .bind(column)
        .fetch_optional(&mut *conn)
        .await
        .doing("reading the tenants table's columns")?;
        if nullable != Some(true) {
            continue;
        }
        found.nullable.push(column);
        let nulls: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM public.tenants WHERE {} IS NULL",
            quote(column)
        ))
        .fetch_one(&mut *conn)
        .await
        .doing("counting tenants with NULL columns")?;
        if nulls > 0 {
            found.nulls.push(format!("{column} ({nulls} rows)"));
        }
    }
    Ok(found)
}

fn transaction_sql(found: &Found, roles: &Roles, tables: &registry::Ordered) -> String {
    let owner = quote(roles.owner());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "-- Moves a database built by @usebetterdev/tenant to this library's row-level\n\
         -- security in one transaction, written by `tenant adopt-node`: the Node service\n\
         -- ({node}) stays in compatibility mode from the commit on and sees nothing in between.\n\
         BEGIN;",
        node = roles.compat().unwrap_or_default()
    );
    let mut locks: Vec<&str> = found.tables.iter().map(|(t, _)| t.as_str()).collect();
    locks.push("public.tenants");
    let _ = writeln!(
        out,
        "-- The tenant tables first, then tenants: the order a Node insert takes them in.\n\
         LOCK TABLE {} IN ACCESS EXCLUSIVE MODE;",
        locks.join(", ")
    );
    if found.tenants_owner != roles.owner() {
        let _ = writeln!(out, "ALTER TABLE public.tenants OWNER TO {owner};");
    }
    for (table, table_owner) in &found.tables {
        if table_owner != roles.owner() {
            let _ = writeln!(out, "ALTER TABLE {table} OWNER TO {owner};");
        }
    }
    let _ = writeln!(out, "SET LOCAL ROLE {owner};");
    if !found.triggers.is_empty() {
        let _ = writeln!(
            out,
            "-- Node's trigger filled tenant_id per row; the column DEFAULT does it now."
        );
    }
    for (table, trigger) in &found.triggers {
        let _ = writeln!(out, "DROP TRIGGER IF EXISTS {} ON {table};", quote(trigger));
    }
    if found.function_exists && !found.function_used_elsewhere {
        let _ = writeln!(out, "DROP FUNCTION IF EXISTS public.set_tenant_id();");
    } else if found.function_used_elsewhere {
        let _ = writeln!(
            out,
            "-- public.set_tenant_id() is kept: a table that is not a model still calls it."
        );
    }
    if !found.indexes.is_empty() || !found.foreign_keys.is_empty() {
        let _ = writeln!(
            out,
            "-- On the tenant column alone: the migration's (tenant, key) index and foreign key replace them."
        );
    }
    for index in &found.indexes {
        let _ = writeln!(out, "DROP INDEX IF EXISTS {index};");
    }
    for (table, fk) in &found.foreign_keys {
        let _ = writeln!(
            out,
            "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {};",
            quote(fk)
        );
    }
    if !found.nullable.is_empty() {
        let sets: Vec<String> = found
            .nullable
            .iter()
            .map(|c| format!("ALTER COLUMN {} SET NOT NULL", quote(c)))
            .collect();
        let _ = writeln!(
            out,
            "-- NOT NULL, as in this library's tenants table.\nALTER TABLE public.tenants {};",
            sets.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "-- The migration `emit-rls` prints for the models (it replaces Node's policies)."
    );
    out.push_str(&ddl::emit(tables));
    if let Some(node) = roles.compat() {
        let _ = writeln!(
            out,
            "-- Compatibility mode for the Node service (tenant compat --allow-role).\n\
             INSERT INTO tenancy.compat_roles (role_name) VALUES ({}) ON CONFLICT DO NOTHING;",
            literal::quote(node)
        );
    }
    let _ = writeln!(out, "RESET ROLE;");
    out.push_str(&roles.sql(tables));
    let _ = writeln!(out, "COMMIT;");
    out
}
