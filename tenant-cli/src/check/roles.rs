//! The roles: the application role must be subject to row-level security
//! and unable to become a role that is not; the system role must bypass it.

use tenant_sql::ident::{quote, spell};

use super::{Check, Ctx, Finding, Severity, Verdict};

pub(super) const CHECKS: &[Check] = &[
    Check {
        id: "role.not-superuser",
        severity: Severity::Error,
        title: "the application role is not a superuser",
        run: not_superuser,
    },
    Check {
        id: "role.no-bypassrls",
        severity: Severity::Error,
        title: "the application role does not have BYPASSRLS",
        run: no_bypassrls,
    },
    Check {
        id: "role.no-createrole",
        severity: Severity::Error,
        title: "the application role does not have CREATEROLE (with it, it can grant itself the system role)",
        run: no_createrole,
    },
    Check {
        id: "role.no-replication",
        severity: Severity::Error,
        title: "the application role does not have REPLICATION (with it, it can stream every tenant's rows from the WAL)",
        run: no_replication,
    },
    Check {
        id: "role.no-create-on-schemas",
        severity: Severity::Error,
        title: "the application role cannot create objects in any schema (no overloads of the context functions, no look-alike tables or operators)",
        run: no_create_on_schemas,
    },
    Check {
        id: "role.no-temp",
        severity: Severity::Error,
        title: "the application role cannot create temporary tables (one would shadow a table name in a later request on the same connection)",
        run: no_temp,
    },
    Check {
        id: "role.no-stored-settings",
        severity: Severity::Warning,
        title: "no ALTER ROLE .. SET or ALTER DATABASE .. SET default applies to the application role's connections here (no reset a session can do removes one)",
        run: no_stored_settings,
    },
    Check {
        id: "role.no-citus-remote-sql",
        severity: Severity::Error,
        title: "on Citus, the application role cannot run SQL text on other nodes (run_command_on_workers and its siblings) nor give its transaction a distributed id",
        run: no_citus_remote_sql,
    },
    Check {
        id: "role.owns-no-tenant-table",
        severity: Severity::Error,
        title: "the application role owns no tenant table",
        run: owns_no_tenant_table,
    },
    Check {
        id: "role.not-member-of-privileged",
        severity: Severity::Error,
        title: "the application role cannot SET ROLE to the system role, a superuser, a BYPASSRLS role or a tenant table's owner",
        run: not_member_of_privileged,
    },
    Check {
        id: "role.system-bypasses-rls",
        severity: Severity::Error,
        title: "the system role (--system-url) has BYPASSRLS",
        run: system_bypasses_rls,
    },
    Check {
        id: "role.system-distinct",
        severity: Severity::Error,
        title: "the system role is not the application role",
        run: system_distinct,
    },
    Check {
        id: "role.system-not-superuser",
        severity: Severity::Warning,
        title: "the system role is not a superuser (BYPASSRLS is all it needs)",
        run: system_not_superuser,
    },
];

const NO_SYSTEM_URL: &str = "no --system-url (or SYSTEM_DATABASE_URL) given";

fn app_role_attribute(ctx: &Ctx<'_>, has: bool, attribute: &str, alter: &str) -> Verdict {
    let role = &ctx.catalog.session.role;
    app_role_finding(
        ctx,
        has,
        format!(
            "role {role} is {attribute}: PostgreSQL skips every row-level security policy for it, so every tenant sees every row"
        ),
        format!(
            "ALTER ROLE {role} {alter}; (or connect the service as a role created without it, and keep this one for migrations)"
        ),
    )
}

fn not_superuser(ctx: &Ctx<'_>) -> Verdict {
    app_role_attribute(
        ctx,
        ctx.catalog.session.superuser,
        "a superuser",
        "NOSUPERUSER",
    )
}

fn no_bypassrls(ctx: &Ctx<'_>) -> Verdict {
    app_role_attribute(
        ctx,
        ctx.catalog.session.bypassrls,
        "BYPASSRLS",
        "NOBYPASSRLS",
    )
}

/// One finding on the application role, or a pass.
fn app_role_finding(ctx: &Ctx<'_>, failed: bool, message: String, fix: String) -> Verdict {
    if !failed {
        return Verdict::Pass;
    }
    Verdict::Fail(vec![Finding::new(
        ctx.catalog.session.role.as_str(),
        message,
        fix,
    )])
}

fn no_createrole(ctx: &Ctx<'_>) -> Verdict {
    let role = &ctx.catalog.session.role;
    app_role_finding(
        ctx,
        ctx.catalog.session.createrole,
        format!(
            "role {role} has CREATEROLE: injected SQL can GRANT the system role (or any role without superuser) to {role}, then SET ROLE to it and leave row-level security behind"
        ),
        format!("ALTER ROLE {} NOCREATEROLE;", quote(role)),
    )
}

fn no_replication(ctx: &Ctx<'_>) -> Verdict {
    let role = &ctx.catalog.session.role;
    app_role_finding(
        ctx,
        ctx.catalog.session.replication,
        format!(
            "role {role} has REPLICATION: a replication connection reads the WAL, which holds every tenant's rows"
        ),
        format!("ALTER ROLE {} NOREPLICATION;", quote(role)),
    )
}

fn no_create_on_schemas(ctx: &Ctx<'_>) -> Verdict {
    let role = &ctx.catalog.session.role;
    let findings = ctx
        .catalog
        .session
        .creatable_schemas
        .iter()
        .map(|schema| {
            let why = if schema == "tenancy" {
                "injected SQL can add an overload of a tenancy function that PostgreSQL picks instead of the real one, on every later request"
            } else {
                "injected SQL can create a table, function or operator there that a later request's unqualified name resolves to"
            };
            Finding::new(
                format!("schema {schema}"),
                format!("{role} may CREATE in schema {schema}: {why}"),
                format!(
                    "REVOKE CREATE ON SCHEMA {} FROM PUBLIC, {};",
                    quote(schema),
                    quote(role)
                ),
            )
        })
        .collect();
    Verdict::from_findings(findings)
}

fn no_temp(ctx: &Ctx<'_>) -> Verdict {
    let role = &ctx.catalog.session.role;
    let database = &ctx.catalog.session.database;
    app_role_finding(
        ctx,
        ctx.catalog.session.temp,
        format!(
            "{role} may create temporary tables in {database}: one created by injected SQL outlives the transaction on the pooled connection and shadows a table name in a later request's SQL"
        ),
        format!(
            "REVOKE TEMP ON DATABASE {} FROM PUBLIC, {}; (tenant roles --apply does it)",
            quote(database),
            quote(role)
        ),
    )
}

fn no_stored_settings(ctx: &Ctx<'_>) -> Verdict {
    let role = &ctx.catalog.session.role;
    const WHY: &str = "PostgreSQL applies it to every new connection, and no reset a session can do (RESET ALL, DISCARD ALL, the pool's own reset) removes it; a role may set such defaults on itself (ALTER ROLE <itself> SET ..), so one injected statement could reach every later connection";
    let findings = ctx
        .catalog
        .stored_settings
        .iter()
        .map(|s| {
            let settings = s.settings.join(", ");
            let reset_each = |alter: &str| {
                s.settings
                    .iter()
                    .map(|kv| {
                        let name = kv.split_once('=').map_or(kv.as_str(), |(name, _)| name);
                        let name: Vec<String> = name.split('.').map(spell).collect();
                        format!("{alter} RESET {};", name.join("."))
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            match (&s.role, &s.database) {
                (Some(r), Some(d)) => Finding::new(
                    format!("role {r} in database {d}"),
                    format!(
                        "ALTER ROLE {} IN DATABASE {} SET {settings}: {WHY}",
                        spell(r),
                        spell(d)
                    ),
                    format!(
                        "ALTER ROLE {} IN DATABASE {} RESET ALL; (give the service what it needs in its connection options instead)",
                        spell(r),
                        spell(d)
                    ),
                ),
                (Some(r), None) => Finding::new(
                    format!("role {r}"),
                    format!(
                        "ALTER ROLE {} SET {settings} (in every database): {WHY}",
                        spell(r)
                    ),
                    format!(
                        "ALTER ROLE {} RESET ALL; (give the service what it needs in its connection options instead)",
                        spell(r)
                    ),
                ),
                (None, d) => {
                    let d = d.as_deref().unwrap_or_default();
                    Finding::new(
                        format!("database {d}"),
                        format!(
                            "ALTER DATABASE {} SET {settings} (for every role, {role} included): {WHY}",
                            spell(d)
                        ),
                        format!(
                            "{} (or, if every role here needs it, keep it and accept that it is not per-transaction state)",
                            reset_each(&format!("ALTER DATABASE {}", spell(d)))
                        ),
                    )
                }
            }
        })
        .collect();
    Verdict::from_findings(findings)
}

fn no_citus_remote_sql(ctx: &Ctx<'_>) -> Verdict {
    let role = &ctx.catalog.session.role;
    let findings = ctx
        .catalog
        .session
        .citus_remote_sql
        .iter()
        .map(|function| {
            let why = if function.starts_with("assign_distributed_transaction_id") {
                "SQL can give its transaction the distributed id of another, whose Citus token it read, and so act as that transaction's tenant on the workers"
            } else {
                "SQL can run any statement on the other nodes of the cluster, outside the transaction that carries the tenant context"
            };
            Finding::new(
                format!("function {function}"),
                format!("{role} may execute {function}: {why}"),
                format!(
                    "REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC, {}; (tenant roles --apply does it, on every node)",
                    quote(role)
                ),
            )
        })
        .collect();
    Verdict::from_findings(findings)
}

fn owns_no_tenant_table(ctx: &Ctx<'_>) -> Verdict {
    let role = &ctx.catalog.session.role;
    ctx.each_table(|t| {
        if &t.table.owner != role {
            return Vec::new();
        }
        vec![Finding::new(
            t.qualified(),
            format!(
                "owned by the application role {role}: an owner can ALTER TABLE .. DISABLE ROW LEVEL SECURITY or drop the policy, so injected SQL could too"
            ),
            format!(
                "ALTER TABLE {} OWNER TO <migration role>; and grant {role} only SELECT, INSERT, UPDATE, DELETE",
                t.table.quoted()
            ),
        )]
    })
}

fn not_member_of_privileged(ctx: &Ctx<'_>) -> Verdict {
    let role = &ctx.catalog.session.role;
    let system = ctx.system.map(|s| s.role.as_str());
    let owners: Vec<&str> = ctx
        .tenant_tables
        .iter()
        .map(|t| t.table.owner.as_str())
        .collect();
    let findings = ctx
        .catalog
        .memberships
        .iter()
        .filter_map(|m| {
            let why = if Some(m.name.as_str()) == system {
                "the system role"
            } else if m.superuser {
                "a superuser"
            } else if m.bypassrls {
                "a BYPASSRLS role"
            } else if owners.contains(&m.name.as_str()) {
                "the owner of a tenant table"
            } else {
                return None;
            };
            Some(Finding::new(
                role.as_str(),
                format!(
                    "{role} is a member of {}, {why}: `SET ROLE {}` in any statement (injected ones too) leaves row-level security behind",
                    m.name, m.name
                ),
                format!("REVOKE {} FROM {role};", m.name),
            ))
        })
        .collect();
    Verdict::from_findings(findings)
}

fn system_bypasses_rls(ctx: &Ctx<'_>) -> Verdict {
    let Some(system) = ctx.system else {
        return Verdict::Skip(NO_SYSTEM_URL.to_owned());
    };
    if system.bypassrls || system.superuser {
        return Verdict::Pass;
    }
    Verdict::Fail(vec![Finding::new(
        system.role.as_str(),
        format!(
            "the system role {} does not bypass row-level security: cross-tenant jobs and the tenants API would see no rows (SystemPool refuses to start)",
            system.role
        ),
        format!("ALTER ROLE {} BYPASSRLS;", system.role),
    )])
}

fn system_distinct(ctx: &Ctx<'_>) -> Verdict {
    let Some(system) = ctx.system else {
        return Verdict::Skip(NO_SYSTEM_URL.to_owned());
    };
    if system.role != ctx.catalog.session.role {
        return Verdict::Pass;
    }
    Verdict::Fail(vec![Finding::new(
        system.role.as_str(),
        "--database-url and --system-url log in as the same role: the application role would have to bypass row-level security for system work, or system work would see nothing",
        "CREATE ROLE tenant_system LOGIN BYPASSRLS; use it for --system-url (the SystemPool) only, and do not grant it to the application role",
    )])
}

fn system_not_superuser(ctx: &Ctx<'_>) -> Verdict {
    let Some(system) = ctx.system else {
        return Verdict::Skip(NO_SYSTEM_URL.to_owned());
    };
    if !system.superuser {
        return Verdict::Pass;
    }
    Verdict::Fail(vec![Finding::new(
        system.role.as_str(),
        format!(
            "the system role {} is a superuser: it needs only BYPASSRLS and table privileges, and a leaked system URL should not give away the whole cluster",
            system.role
        ),
        "CREATE ROLE tenant_system LOGIN BYPASSRLS; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO tenant_system; and use it for --system-url",
    )])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, StoredSettings};

    #[test]
    fn citus_remote_sql_fails_with_the_revoke() {
        let mut catalog = Catalog::for_tests(Vec::new());
        catalog.session.citus_remote_sql = vec!["run_command_on_workers(text,boolean)".to_owned()];
        let ctx = Ctx {
            catalog: &catalog,
            tenant_tables: Vec::new(),
            models: &[],
            system: None,
            probe: None,
        };
        let Verdict::Fail(findings) = no_citus_remote_sql(&ctx) else {
            panic!("an executable run_command_on_workers must fail");
        };
        let text = format!("{findings:?}");
        assert!(
            text.contains(
                "REVOKE EXECUTE ON FUNCTION run_command_on_workers(text,boolean) FROM PUBLIC"
            ),
            "{text}"
        );
    }

    #[test]
    fn stored_settings_are_listed_with_the_reset_for_each_scope() {
        fn ctx(catalog: &Catalog) -> Ctx<'_> {
            Ctx {
                catalog,
                tenant_tables: Vec::new(),
                models: &[],
                system: None,
                probe: None,
            }
        }
        let mut catalog = Catalog::for_tests(Vec::new());
        assert_eq!(no_stored_settings(&ctx(&catalog)), Verdict::Pass);
        let stored =
            |database: Option<&str>, role: Option<&str>, settings: &[&str]| StoredSettings {
                database: database.map(str::to_owned),
                role: role.map(str::to_owned),
                settings: settings.iter().map(|s| (*s).to_owned()).collect(),
            };
        catalog.stored_settings = vec![
            stored(Some("db"), Some("app"), &["search_path=evil, public"]),
            stored(None, Some("app"), &["app.current_tenant=x"]),
            stored(Some("db"), None, &["statement_timeout=5s", "app.x=1"]),
        ];
        let Verdict::Fail(findings) = no_stored_settings(&ctx(&catalog)) else {
            panic!("stored settings are reported");
        };
        let fixes: Vec<&str> = findings.iter().map(|f| f.fix.as_str()).collect();
        assert!(
            fixes[0].starts_with("ALTER ROLE app IN DATABASE db RESET ALL;"),
            "{fixes:?}"
        );
        assert!(
            fixes[1].starts_with("ALTER ROLE app RESET ALL;"),
            "{fixes:?}"
        );
        assert!(
            fixes[2].starts_with(
                "ALTER DATABASE db RESET statement_timeout; ALTER DATABASE db RESET app.x;"
            ),
            "{fixes:?}"
        );
        assert!(findings[0].message.contains("search_path=evil, public"));
        assert!(findings[2].message.contains("app included"));
    }
}
