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
//! and, when asked ([`Roles::with_compat`]), the role of a
//! @usebetterdev/tenant service in compatibility mode. Only roles this
//! SQL creates are ever altered (it records them in `tenancy.roles`).
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
    compat: Option<String>,
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
    /// A compatibility role that is also one of the other three.
    #[error(
        "the compatibility role {compat} is also the owner, application or system role: a role that enters \
         tenants with set_config alone must be a role of its own (see SECURITY.md, Compatibility mode)"
    )]
    CompatNotDistinct {
        /// The compatibility role's name.
        compat: String,
    },
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
            compat: None,
        };
        for name in [&roles.owner, &roles.app, &roles.system] {
            valid_name(name)?;
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

    /// The same roles, and `compat`: the role of a service that enters
    /// tenants with `set_config('app.current_tenant', ..)` alone, as
    /// @usebetterdev/tenant does (`tenant compat --allow-role`). It gets
    /// the application role's privileges on the tables and their
    /// sequences, and may write the tenants table (where the policies
    /// honour its `app.bypass_rls` only); it is created, if it is not
    /// there, as a login role without superuser or `BYPASSRLS`.
    pub fn with_compat(mut self, compat: impl Into<String>) -> Result<Self, RolesError> {
        let compat = compat.into();
        valid_name(&compat)?;
        if [&self.owner, &self.app, &self.system].contains(&&compat) {
            return Err(RolesError::CompatNotDistinct { compat });
        }
        self.compat = Some(compat);
        Ok(self)
    }

    /// The compatibility role, if one was given ([`Roles::with_compat`]).
    pub fn compat(&self) -> Option<&str> {
        self.compat.as_deref()
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
    /// grants them what they need on the current database and `tables`
    /// (their sequences included, and default privileges for later tables
    /// and sequences of the owner).
    ///
    /// Run it as a role that may create roles (a superuser: `BYPASSRLS`
    /// needs one), in one transaction, before the first migration and
    /// again after each migration that adds a table (grants need the
    /// tables to exist). It is idempotent: running it again changes
    /// nothing.
    ///
    /// It records in `tenancy.roles` (creating the schema, owned by the
    /// migration owner, if the migration has not yet) each role's job and
    /// whether this SQL created it, and sets attributes (`ALTER ROLE`)
    /// only on roles it created: a role that was there before is never
    /// altered. When such a role cannot do its job safely (an application
    /// or compatibility role that is a superuser or has `BYPASSRLS`,
    /// `CREATEROLE` or `REPLICATION`, a system role without `BYPASSRLS`)
    /// the SQL fails and says what to do;
    /// a superuser as the migration owner gets a warning.
    pub fn sql(&self, tables: &Ordered) -> String {
        let owner = quote(&self.owner);
        let app = quote(&self.app);
        let system = quote(&self.system);
        let compat = self.compat.as_deref().map(quote);
        // Who gets the application role's privileges on the model tables.
        let users = match &compat {
            Some(c) => format!("{app}, {system}, {c}"),
            None => format!("{app}, {system}"),
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "-- Least-privilege roles for tenant isolation, written by `tenant roles`.\n\
             -- Run it as a role that may create roles (a superuser: BYPASSRLS needs one),\n\
             -- before the first migration and again after each migration that adds a\n\
             -- table; running it again changes nothing. Give the roles passwords with\n\
             -- ALTER ROLE .. PASSWORD '..'. Roles that exist already are not altered.\n\
             --   {owner}: owns the tables and runs the migrations (row-level security is forced on it)\n\
             --   {app}: the TenantPool's: subject to row-level security, owns nothing\n\
             --   {system}: the SystemPool's: BYPASSRLS, for cross-tenant work and the tenants table"
        );
        if let Some(c) = &compat {
            let _ = writeln!(
                out,
                "--   {c}: a set_config service's (compatibility mode, `tenant compat --allow-role`)"
            );
        }
        // On Citus, grants on distributed and reference tables in one
        // transaction: one connection per worker, or Citus refuses.
        do_block(
            &mut out,
            "IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN\n    \
             PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);\n\
             END IF;",
        );
        let _ = writeln!(
            out,
            "-- Which roles this SQL created (only those are ever altered), and each role's job."
        );
        do_block(
            &mut out,
            "IF NOT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = 'tenancy') THEN\n        \
             CREATE SCHEMA tenancy;\n        \
             PERFORM pg_catalog.set_config('tenant_roles.new_schema', 'on', true);\n    \
             END IF;\n    \
             CREATE TABLE IF NOT EXISTS tenancy.roles (\n        \
             role_name name PRIMARY KEY,\n        \
             job text NOT NULL CHECK (job IN ('owner', 'app', 'system', 'compat')),\n        \
             created_here boolean NOT NULL,\n        \
             recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now()\n    \
             );\n    \
             REVOKE ALL ON tenancy.roles FROM PUBLIC;\n    \
             GRANT SELECT ON tenancy.roles TO PUBLIC;",
        );
        let mut jobs = vec![
            (
                &owner,
                &self.owner,
                "owner",
                "NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOREPLICATION",
            ),
            (
                &app,
                &self.app,
                "app",
                "NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION",
            ),
            (
                &system,
                &self.system,
                "system",
                "NOSUPERUSER BYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION",
            ),
        ];
        if let (Some(c), Some(name)) = (&compat, &self.compat) {
            jobs.push((
                c,
                name,
                "compat",
                "NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION",
            ));
        }
        for (role, name, job, attributes) in jobs {
            let lit = literal::quote(name);
            do_block(
                &mut out,
                &format!(
                    "IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {lit}) THEN\n        \
                     CREATE ROLE {role} LOGIN;\n        \
                     INSERT INTO tenancy.roles (role_name, job, created_here) VALUES ({lit}, '{job}', true)\n            \
                     ON CONFLICT (role_name) DO UPDATE SET job = EXCLUDED.job, created_here = true;\n    \
                     ELSE\n        \
                     INSERT INTO tenancy.roles (role_name, job, created_here) VALUES ({lit}, '{job}', false)\n            \
                     ON CONFLICT (role_name) DO UPDATE SET job = EXCLUDED.job;\n    \
                     END IF;\n    \
                     IF (SELECT r.created_here FROM tenancy.roles r WHERE r.role_name = {lit}) THEN\n        \
                     ALTER ROLE {role} {attributes};\n    \
                     ELSE\n        \
                     {}\n    \
                     END IF;",
                    unfit(job, &lit, role)
                ),
            );
        }
        do_block(
            &mut out,
            &format!(
                "IF pg_catalog.current_setting('tenant_roles.new_schema', true) = 'on' THEN\n        \
                 ALTER SCHEMA tenancy OWNER TO {owner};\n    \
                 END IF;\n    \
                 EXECUTE pg_catalog.format('ALTER TABLE tenancy.roles OWNER TO %I',\n        \
                 (SELECT pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace n WHERE n.nspname = 'tenancy'));"
            ),
        );
        let _ = writeln!(
            out,
            "-- The application role must not be able to become either of the others.\n\
             REVOKE {owner} FROM {app};\n\
             REVOKE {system} FROM {app};"
        );
        if let Some(c) = &compat {
            let _ = writeln!(out, "REVOKE {owner} FROM {c};\nREVOKE {system} FROM {c};");
        }
        // These lists stand inside format()'s string literal below: a
        // quote in a role name is doubled there.
        let connect = in_literal(&match &compat {
            Some(c) => format!("{owner}, {app}, {system}, {c}"),
            None => format!("{owner}, {app}, {system}"),
        });
        let no_temp = in_literal(&match &compat {
            Some(c) => format!("PUBLIC, {app}, {c}"),
            None => format!("PUBLIC, {app}"),
        });
        let owner_text = in_literal(&owner);
        do_block(
            &mut out,
            &format!(
                "EXECUTE pg_catalog.format('GRANT CONNECT ON DATABASE %I TO {connect}', pg_catalog.current_database());\n    \
                 -- The migration creates the tenancy schema.\n    \
                 EXECUTE pg_catalog.format('GRANT CREATE ON DATABASE %I TO {owner_text}', pg_catalog.current_database());\n    \
                 -- A temporary table would outlive a transaction on a pooled connection,\n    \
                 -- and could stand in for the tenancy session. The tenancy functions\n    \
                 -- (owned by the owner) keep that session in temporary objects.\n    \
                 EXECUTE pg_catalog.format('REVOKE TEMP ON DATABASE %I FROM {no_temp}', pg_catalog.current_database());\n    \
                 EXECUTE pg_catalog.format('GRANT TEMP ON DATABASE %I TO {owner_text}', pg_catalog.current_database());"
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
                     GRANT USAGE ON SCHEMA {s} TO {users};\n    \
                     ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {users};\n    \
                     -- serial and nextval() defaults need the sequence too.\n    \
                     ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {s} GRANT USAGE, SELECT ON SEQUENCES TO {users};\n\
                     END IF;",
                    literal::quote(schema)
                ),
            );
        }
        for t in tables.iter() {
            let name = qualified(t.schema, t.name);
            do_block_declaring(
                &mut out,
                "seq text;",
                &format!(
                    "IF pg_catalog.to_regclass({lit}) IS NOT NULL THEN\n    \
                     GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {users};\n    \
                     -- The sequences its columns own or their defaults call (serial, identity).\n    \
                     FOR seq IN SELECT DISTINCT d.objid::regclass::text FROM pg_catalog.pg_depend d\n            \
                     JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'\n            \
                     WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refobjid = {lit}::regclass AND d.deptype IN ('a', 'i')\n        \
                     UNION SELECT DISTINCT d.refobjid::regclass::text FROM pg_catalog.pg_attrdef ad\n            \
                     JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.objid = ad.oid\n                \
                     AND d.refclassid = 'pg_catalog.pg_class'::regclass\n            \
                     JOIN pg_catalog.pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'\n            \
                     WHERE ad.adrelid = {lit}::regclass\n    \
                     LOOP\n        \
                     EXECUTE pg_catalog.format('GRANT USAGE, SELECT ON SEQUENCE %s TO {users_escaped}', seq);\n    \
                     END LOOP;\n\
                     END IF;",
                    lit = literal::quote(&name),
                    users_escaped = in_literal(&users),
                ),
            );
        }
        let _ = writeln!(
            out,
            "-- The tenants table: read by the application role, written only by the system role."
        );
        let compat_tenants = match &compat {
            Some(c) => format!(
                "\n    -- Writes reach the compatibility role only with @usebetterdev/tenant's system\n    \
                 -- switch (app.bypass_rls), which the policies honour for it alone.\n    \
                 GRANT SELECT, INSERT, UPDATE, DELETE ON public.tenants TO {c};"
            ),
            None => String::new(),
        };
        do_block(
            &mut out,
            &format!(
                "IF pg_catalog.to_regclass('public.tenants') IS NOT NULL THEN\n    \
                 REVOKE ALL ON public.tenants FROM {app};\n    \
                 GRANT SELECT ON public.tenants TO {app};\n    \
                 GRANT SELECT, INSERT, UPDATE, DELETE ON public.tenants TO {system};{compat_tenants}\n\
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
            &in_literal(&format!("PUBLIC, {app}")),
            &format!(
                "EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO {}', f); ",
                in_literal(&owner)
            ),
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

/// What happens to a role `tenant roles` did not create, by job: it is
/// never altered, and refused when it cannot do the job safely.
fn unfit(job: &str, lit: &str, role: &str) -> String {
    let lit_sql = |text: &str| literal::quote(text);
    match job {
        "owner" => format!(
            "IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {lit} AND (rolsuper OR rolbypassrls)) THEN\n            \
             RAISE WARNING 'role % is a superuser or has BYPASSRLS, and tenant roles did not create it: it is left as it is (no ALTER ROLE)', {lit}\n                \
             USING HINT = {};\n        \
             END IF;",
            lit_sql(&format!(
                "Row-level security does not hold for it. Prefer a migration owner of its own: pass --owner-role with a new name (tenant roles creates it) and ALTER TABLE .. OWNER TO it; or ALTER ROLE {role} NOSUPERUSER NOBYPASSRLS yourself if nothing else needs it."
            ))
        ),
        "system" => format!(
            "IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {lit} AND (rolsuper OR rolbypassrls)) THEN\n            \
             RAISE EXCEPTION 'role % (the system role) has no BYPASSRLS, and tenant roles did not create it, so it does not alter it', {lit}\n                \
             USING HINT = {};\n        \
             END IF;",
            lit_sql(&format!(
                "Pass --system-role with a new name (tenant roles creates it), or ALTER ROLE {role} BYPASSRLS yourself."
            ))
        ),
        _ => format!(
            "IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {lit} AND (rolsuper OR rolbypassrls OR rolcreaterole OR rolreplication)) THEN\n            \
             RAISE EXCEPTION 'role % (the {} role) is a superuser or has BYPASSRLS, CREATEROLE or REPLICATION, so row-level security would not hold for it (it would skip the policies, grant itself the system role, or read every row from the WAL); tenant roles did not create it and does not demote it', {lit}\n                \
             USING HINT = {};\n        \
             END IF;",
            if job == "app" {
                "application"
            } else {
                "compatibility"
            },
            lit_sql(&format!(
                "Pass --{}-role with a new name (tenant roles creates it), or ALTER ROLE {role} NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOREPLICATION yourself if nothing else needs it.",
                if job == "app" { "app" } else { "compat" }
            ))
        ),
    }
}

/// `sql` as the text of a string literal: its quotes doubled.
fn in_literal(sql: &str) -> String {
    sql.replace('\'', "''")
}

fn valid_name(name: &str) -> Result<(), RolesError> {
    if name.is_empty() {
        return Err(RolesError::Empty);
    }
    if name.len() > 63 {
        return Err(RolesError::TooLong {
            name: name.to_owned(),
        });
    }
    Ok(())
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

fn do_block_declaring(out: &mut String, declare: &str, body: &str) {
    let _ = writeln!(
        out,
        "DO {};",
        literal::dollar_quote(&format!(" DECLARE {declare} BEGIN\n    {body}\nEND "))
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
