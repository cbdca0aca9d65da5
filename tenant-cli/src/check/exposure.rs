//! Ways around the policies: grants to PUBLIC, TRUNCATE, views that run as
//! their owner, materialized views, SECURITY DEFINER functions.

use std::collections::{BTreeMap, BTreeSet};

use super::{Check, Ctx, Finding, Severity, Verdict};
use crate::catalog::{View, contains_word};

pub(super) const CHECKS: &[Check] = &[
    Check {
        id: "grant.no-public",
        severity: Severity::Error,
        title: "no privilege on a tenant table is granted to PUBLIC",
        run: no_public,
    },
    Check {
        id: "grant.model-privileges",
        severity: Severity::Error,
        title: "the application role may SELECT, INSERT, UPDATE and DELETE every model's table, and use the sequences its column defaults call (the generated API needs all of them)",
        run: model_privileges,
    },
    Check {
        id: "grant.no-truncate",
        severity: Severity::Error,
        title: "the application role cannot TRUNCATE a tenant table (TRUNCATE ignores row-level security)",
        run: no_truncate,
    },
    Check {
        id: "view.security-invoker",
        severity: Severity::Error,
        title: "views over tenant tables are security_invoker, so the policies apply to the caller",
        run: security_invoker,
    },
    Check {
        id: "view.no-materialized",
        severity: Severity::Error,
        title: "the application role cannot read a materialized view of a tenant table (it has no row-level security)",
        run: no_materialized,
    },
    Check {
        id: "function.security-definer",
        severity: Severity::Error,
        title: "no SECURITY DEFINER function the application role can reach (by calling it, or as a trigger of a tenant table) runs as a role that bypasses row-level security or touches a tenant table",
        run: security_definer,
    },
];

fn no_public(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        if t.table.public_privileges.is_empty() {
            return Vec::new();
        }
        let privileges = t.table.public_privileges.join(", ");
        vec![Finding::new(
            t.qualified(),
            format!(
                "{privileges} granted to PUBLIC: every role, present and future, has it; the policies are then the only line, and any role with BYPASSRLS sees everything"
            ),
            format!("REVOKE ALL ON {} FROM PUBLIC; and grant the application role what it needs", t.table.quoted()),
        )]
    })
}

fn model_privileges(ctx: &Ctx<'_>) -> Verdict {
    let role = &ctx.catalog.session.role;
    ctx.each_table(|t| {
        if t.model.is_none() {
            return Vec::new();
        }
        let missing: Vec<&str> = [
            ("SELECT", t.table.can_select),
            ("INSERT", t.table.can_insert),
            ("UPDATE", t.table.can_update),
            ("DELETE", t.table.can_delete),
        ]
        .into_iter()
        .filter_map(|(privilege, has)| (!has).then_some(privilege))
        .collect();
        let mut findings = Vec::new();
        if !t.table.sequences_without_usage.is_empty() {
            let sequences = t.table.sequences_without_usage.join(", ");
            findings.push(Finding::new(
                t.qualified(),
                format!(
                    "{role} may not use sequence {sequences}, which a column default of it calls, so every insert fails with permission denied for sequence"
                ),
                format!(
                    "run `tenant roles --apply` after the migration, or: GRANT USAGE, SELECT ON SEQUENCE {sequences} TO {role};"
                ),
            ));
        }
        if missing.is_empty() {
            return findings;
        }
        findings.push(Finding::new(
            t.qualified(),
            format!(
                "{role} may not {} it, so the generated API fails on it with permission denied",
                missing.join(", ")
            ),
            format!(
                "run `tenant roles --apply` after the migration, or: GRANT {} ON {} TO {role};",
                missing.join(", "),
                t.table.quoted()
            ),
        ));
        findings
    })
}

fn no_truncate(ctx: &Ctx<'_>) -> Verdict {
    let role = &ctx.catalog.session.role;
    ctx.each_table(|t| {
        if !t.table.can_truncate {
            return Vec::new();
        }
        vec![Finding::new(
            t.qualified(),
            format!("{role} may TRUNCATE it, which empties every tenant's rows regardless of row-level security"),
            format!("REVOKE TRUNCATE ON {} FROM {role}; (and from PUBLIC)", t.table.quoted()),
        )]
    })
}

/// The tenant tables (as `schema.table`) each view reads, through other
/// views too.
fn tenant_tables_read<'v>(ctx: &Ctx<'_>, views: &'v [View]) -> Vec<(&'v View, BTreeSet<String>)> {
    let by_oid: BTreeMap<i64, &View> = views.iter().map(|v| (v.oid, v)).collect();
    views
        .iter()
        .map(|view| {
            let mut seen = BTreeSet::new();
            let mut found = BTreeSet::new();
            let mut stack: Vec<i64> = view.reads.clone();
            while let Some(oid) = stack.pop() {
                if !seen.insert(oid) {
                    continue;
                }
                if let Some(t) = ctx.tenant_table(oid) {
                    found.insert(t.qualified());
                } else if let Some(inner) = by_oid.get(&oid) {
                    stack.extend(&inner.reads);
                }
            }
            (view, found)
        })
        .filter(|(_, found)| !found.is_empty())
        .collect()
}

fn security_invoker(ctx: &Ctx<'_>) -> Verdict {
    let findings = tenant_tables_read(ctx, &ctx.catalog.views)
        .into_iter()
        .filter(|(v, _)| !v.materialized && !v.security_invoker)
        .map(|(v, tables)| {
            let fix = if ctx.catalog.session.server_version >= 150_000 {
                format!("ALTER VIEW {} SET (security_invoker = true);", v.qualified())
            } else {
                format!("upgrade to PostgreSQL 15 for security_invoker, or REVOKE ALL ON {} FROM PUBLIC and the application role", v.qualified())
            };
            Finding::new(
                v.qualified(),
                format!(
                    "view reads {} with its owner's rights: the policies are checked for the owner, not the caller, and an owner that bypasses row-level security shows every tenant's rows",
                    tables.into_iter().collect::<Vec<_>>().join(", ")
                ),
                fix,
            )
        })
        .collect();
    Verdict::from_findings(findings)
}

fn no_materialized(ctx: &Ctx<'_>) -> Verdict {
    let role = &ctx.catalog.session.role;
    let findings = tenant_tables_read(ctx, &ctx.catalog.views)
        .into_iter()
        .filter(|(v, _)| v.materialized && v.can_select)
        .map(|(v, tables)| {
            Finding::new(
                v.qualified(),
                format!(
                    "materialized view of {} is readable by {role}: it stores every tenant's rows and has no row-level security",
                    tables.into_iter().collect::<Vec<_>>().join(", ")
                ),
                format!("REVOKE ALL ON {} FROM {role}, PUBLIC; or replace it with a security_invoker view or a tenant table", v.qualified()),
            )
        })
        .collect();
    Verdict::from_findings(findings)
}

/// Whether a function is one emit-rls itself creates, word for word (they
/// read and write only the transaction's own context and the keys), or
/// belongs to the `tenant_context` extension (its session opener, the one
/// definer there, reads only the keys).
fn emitted_by_the_migration(f: &crate::catalog::Definer) -> bool {
    let body = f.body.trim();
    f.extension.as_deref() == Some("tenant_context")
        || (f.schema == "tenancy"
            && body.len() >= 40
            && tenant_runtime::ddl::PREAMBLE.contains(body))
}

/// Whether a function body is, word for word, one that a linked library
/// ships with its model (tenant-members' membership mirror and listing):
/// reviewed SQL, not something written into the database since.
fn shipped_by_an_extension(body: &str) -> bool {
    let body = body.trim();
    body.len() >= 40
        && tenant_runtime::registry::extensions()
            .iter()
            .any(|e| e.sql().contains(body))
}

fn security_definer(ctx: &Ctx<'_>) -> Verdict {
    if ctx.tenant_tables.is_empty() {
        return Verdict::Skip(ctx.no_tenant_tables());
    }
    // Trigger functions of tenant tables fire for the application role's
    // writes, whoever may call them directly.
    let triggers: BTreeSet<&str> = ctx
        .tenant_tables
        .iter()
        .flat_map(|t| t.table.triggers.iter().map(|tr| tr.function.as_str()))
        .collect();
    let findings = ctx
        .catalog
        .definers
        .iter()
        .filter(|f| !emitted_by_the_migration(f) && !shipped_by_an_extension(&f.body))
        .filter_map(|f| {
            let qualified = format!("{}.{}", f.schema, f.name);
            let reachable = f.can_execute || triggers.contains(qualified.as_str());
            let touched: Vec<String> = ctx
                .tenant_tables
                .iter()
                .filter(|t| contains_word(&f.body, &t.table.name))
                .map(|t| t.qualified())
                .collect();
            if !reachable || (touched.is_empty() && !f.owner_bypasses_rls) {
                return None;
            }
            let function = format!("{}.{}({})", f.schema, f.name, f.args);
            let why = if f.owner_bypasses_rls {
                format!(
                    "runs as {}, which bypasses row-level security: whatever it reads or writes, it does for every tenant",
                    f.owner
                )
            } else {
                format!(
                    "uses {} and runs as its owner {}: any caller gets the owner's view of those tables",
                    touched.join(", "),
                    f.owner
                )
            };
            Some(Finding::new(
                function.as_str(),
                format!("SECURITY DEFINER function the application role can reach {why}"),
                format!(
                    "ALTER FUNCTION {function} SECURITY INVOKER; or, if it must run as its owner, make the owner a role subject to the policies and REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC"
                ),
            ))
        })
        .collect();
    Verdict::from_findings(findings)
}
