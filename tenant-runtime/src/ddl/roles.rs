//! The least-privilege login roles of a deployment, and their grants for a
//! set of tables: what `tenant roles` prints or applies, and what
//! tenant-testing gives every test database.
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
//! ```
//! use tenant_runtime::ddl::Roles;
//! use tenant_runtime::registry::Ordered;
//!
//! let roles = Roles::new("saas_owner", "saas_app", "saas_system")?;
//! let sql = roles.sql(&Ordered::new([])?);
//! assert!(sql.contains(r#"ALTER ROLE "saas_app" NOSUPERUSER NOBYPASSRLS"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Write as _;

use tenant_sql::ident::{qualified, quote};
use tenant_sql::literal;

use crate::model::registry::Ordered;

/// The names of the three roles: the migration owner, the application
/// role and the system role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    owner: String,
    app: String,
    system: String,
}

/// Why three names are not a deployment's roles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolesError {
    /// One role in two jobs.
    #[error(
        "the owner ({owner}), application ({app}) and system ({system}) roles must be three different roles: \
         one role in two jobs would give the application role a way around the policies"
    )]
    NotDistinct {
        /// The owner's name.
        owner: String,
        /// The application role's name.
        app: String,
        /// The system role's name.
        system: String,
    },
    /// An empty name.
    #[error("a role name cannot be empty")]
    Empty,
    /// A name PostgreSQL would truncate.
    #[error("role name {name:?} is longer than PostgreSQL's 63 bytes")]
    TooLong {
        /// The name.
        name: String,
    },
}

impl Roles {
    /// The roles `owner`, `app` and `system`, written as they are in
    /// PostgreSQL (case kept: the SQL quotes them). Refuses a name used
    /// for two jobs, an empty name, and one longer than 63 bytes.
    pub fn new(
        owner: impl Into<String>,
        app: impl Into<String>,
        system: impl Into<String>,
    ) -> Result<Self, RolesError> {
        let roles = Self {
            owner: owner.into(),
            app: app.into(),
            system: system.into(),
        };
        for name in [&roles.owner, &roles.app, &roles.system] {
            if name.is_empty() {
                return Err(RolesError::Empty);
            }
            if name.len() > 63 {
                return Err(RolesError::TooLong { name: name.clone() });
            }
        }
        if roles.app == roles.system || roles.app == roles.owner || roles.system == roles.owner {
            return Err(RolesError::NotDistinct {
                owner: roles.owner,
                app: roles.app,
                system: roles.system,
            });
        }
        Ok(roles)
    }

    /// The migration owner: owns the tables, runs the migrations.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The application role: what a `TenantPool` logs in as.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The system role (`BYPASSRLS`): what a `SystemPool` logs in as.
    pub fn system(&self) -> &str {
        &self.system
    }

    /// The SQL that creates the roles if needed, sets their attributes and
    /// grants them what they need on the current database and `tables`.
    ///
    /// Run it as a role that may create roles (a superuser: `BYPASSRLS`
    /// needs one), in one transaction, before the first migration and
    /// again after each migration that adds a table (grants need the
    /// tables to exist). It is idempotent: running it again changes
    /// nothing.
    pub fn sql(&self, tables: &Ordered) -> String {
        let owner = quote(&self.owner);
        let app = quote(&self.app);
        let system = quote(&self.system);
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
        // On Citus, grants on distributed and reference tables in one
        // transaction: one connection per worker, or Citus refuses.
        do_block(
            &mut out,
            "IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN\n    \
             PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);\n\
             END IF;",
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
        self.citus(&mut out);
        out
    }

    /// On a Citus coordinator (nothing elsewhere): Citus grants PUBLIC
    /// functions that run any SQL on other nodes ([`CITUS_REMOTE_SQL`]),
    /// on every node; only the owner keeps them. On the coordinator the
    /// application role also loses `assign_distributed_transaction_id`,
    /// so only `tenancy.citus_enter` gives a transaction its id there and
    /// no transaction can take another's (the workers keep it: Citus calls
    /// it as the application role when it begins a transaction there).
    fn citus(&self, out: &mut String) {
        let owner = quote(&self.owner);
        let app = quote(&self.app);
        let names: Vec<String> = CITUS_REMOTE_SQL.iter().map(|n| literal::quote(n)).collect();
        let list = names.join(", ");
        // On the workers only PUBLIC had them (the roles may not be there
        // yet: Citus creates them in this transaction, which the workers'
        // own connections do not see); the owner needs them on the
        // coordinator only (tenancy.citus_sync_keys).
        let revoke = |from: &str, grant: &str| {
            format!(
                "DECLARE f regprocedure; BEGIN \
                 FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p \
                 WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname IN ({list}) LOOP \
                 EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM {from}', f); {grant}\
                 END LOOP; END"
            )
        };
        let here = revoke(
            &format!("PUBLIC, {app}"),
            &format!("EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO {owner}', f); "),
        );
        let workers = revoke("PUBLIC", "");
        let _ = writeln!(
            out,
            "-- Citus (only where the citus extension is): no SQL of the application role runs\n\
             -- on another node but what Citus itself sends there."
        );
        do_block(
            out,
            &format!(
                "IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN\n    \
                 EXECUTE {here};\n    \
                 IF EXISTS (SELECT FROM pg_catalog.run_command_on_workers({workers}) r WHERE NOT r.success) THEN\n        \
                 RAISE EXCEPTION 'revoking Citus''s remote-SQL functions on a worker failed'\n            \
                 USING HINT = 'Every worker must be up; see SELECT * FROM run_command_on_workers(''SELECT 1'').';\n    \
                 END IF;\n    \
                 REVOKE EXECUTE ON FUNCTION pg_catalog.assign_distributed_transaction_id(integer, bigint, timestamptz) FROM PUBLIC, {app};\n    \
                 GRANT EXECUTE ON FUNCTION pg_catalog.assign_distributed_transaction_id(integer, bigint, timestamptz) TO {owner};\n\
                 END IF;",
                here = literal::quote(&format!("DO {}", literal::dollar_quote(&here))),
                workers = literal::quote(&format!("DO {}", literal::dollar_quote(&workers))),
            ),
        );
    }
}

/// The functions of the citus extension that run SQL text on other nodes
/// (or locally, from a statement Citus pushed down to a worker), which
/// Citus grants to PUBLIC: `tenant roles` revokes them from the
/// application role on every node, and `tenant check` fails when it can
/// execute one.
pub const CITUS_REMOTE_SQL: &[&str] = &[
    "citus_run_local_command",
    "master_run_on_worker",
    "run_command_on_all_nodes",
    "run_command_on_colocated_placements",
    "run_command_on_coordinator",
    "run_command_on_placements",
    "run_command_on_shards",
    "run_command_on_workers",
];

fn do_block(out: &mut String, body: &str) {
    let _ = writeln!(
        out,
        "DO {};",
        literal::dollar_quote(&format!(" BEGIN\n    {body}\nEND "))
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_role_in_two_jobs_is_refused() {
        assert!(matches!(
            Roles::new("o", "a", "a"),
            Err(RolesError::NotDistinct { .. })
        ));
        assert!(matches!(
            Roles::new("a", "a", "s"),
            Err(RolesError::NotDistinct { .. })
        ));
        assert_eq!(Roles::new("o", "", "s"), Err(RolesError::Empty));
        assert!(matches!(
            Roles::new("o", "a".repeat(64), "s"),
            Err(RolesError::TooLong { .. })
        ));
        assert!(Roles::new("o", "a", "s").is_ok());
    }

    #[test]
    fn names_are_quoted() {
        let roles = Roles::new("Own\"er", "app", "sys").unwrap();
        let sql = roles.sql(&Ordered::new([]).unwrap());
        assert!(sql.contains(r#"CREATE ROLE "Own""er" LOGIN"#), "{sql}");
        assert!(sql.contains(r#"REVOKE "sys" FROM "app";"#), "{sql}");
    }
}
