//! Row-level security on each tenant table: on, forced, and filtered by a
//! policy that compares the uuid column to the transaction's tenant, read
//! once per statement through the verified context, the view
//! `tenancy.context`.

use super::{Check, Ctx, Finding, Severity, TenantTable, Verdict};
use crate::catalog::{Policy, PolicyCommand, mentions_column};
use tenant_sql::names::policy as policy_name;

pub(super) const CHECKS: &[Check] = &[
    Check {
        id: "table.rls-enabled",
        severity: Severity::Error,
        title: "row-level security is enabled on every tenant table",
        run: rls_enabled,
    },
    Check {
        id: "table.rls-forced",
        severity: Severity::Error,
        title: "row-level security is forced on every tenant table (the owner obeys the policies too)",
        run: rls_forced,
    },
    Check {
        id: "policy.present",
        severity: Severity::Error,
        title: "every tenant table has a permissive policy",
        run: present,
    },
    Check {
        id: "policy.tenant-predicate",
        severity: Severity::Error,
        title: "every policy that applies to the application role filters on the tenant column and the current tenant",
        run: tenant_predicate,
    },
    Check {
        id: "policy.exact",
        severity: Severity::Error,
        title: "every model's table has exactly the emit-rls policy: permissive, FOR ALL, TO PUBLIC, with its USING and WITH CHECK",
        run: exact,
    },
    Check {
        id: "policy.no-bypass-setting",
        severity: Severity::Error,
        title: "no policy trusts a setting other than app.current_tenant (any SQL can set one, e.g. app.bypass_rls)",
        run: no_bypass_setting,
    },
    Check {
        id: "policy.using-and-check",
        severity: Severity::Warning,
        title: "policies that allow writes have both USING and WITH CHECK",
        run: using_and_check,
    },
    Check {
        id: "policy.no-cast",
        severity: Severity::Warning,
        title: "policies compare the uuid tenant column without casting it (a cast defeats its index)",
        run: no_cast,
    },
    Check {
        id: "policy.reads-once",
        severity: Severity::Warning,
        title: "policies read the tenant once per statement, as (SELECT c.tenant FROM tenancy.context c)",
        run: reads_once,
    },
];

/// What a policy body reads the verified tenant from. The setting
/// `app.current_tenant` is only a hint that any SQL can write: a policy
/// that trusts it is forgeable.
const CONTEXT_MARKERS: &[&str] = &["tenancy.context", "tenancy.current_tenant()"];
/// What the `--citus` form's policies read the tenant through.
const CITUS_CONTEXT_MARKER: &str = "tenancy.policy_tenant()";

fn emit_hint(t: &TenantTable<'_>) -> String {
    let policy = policy_name(&t.table.name);
    format!(
        "apply the emit-rls migration (it creates policy {policy}), or: CREATE POLICY {policy} ON {} USING ({} = (SELECT c.tenant FROM tenancy.context c));",
        t.table.quoted(),
        t.tenant_column
    )
}

/// An expression as compared: no white space, no double quotes, so the
/// way `pg_get_expr` spells names does not matter.
fn normalized(expression: &str) -> String {
    expression
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '"')
        .collect()
}

/// The `USING` and `WITH CHECK` the emit-rls policy of `t` has, normalized
/// (the `--citus` form's on a table Citus distributes).
fn expected_policy(t: &TenantTable<'_>, citus: bool) -> (String, String) {
    let column = t.tenant_column;
    let (gate, refuse) = if citus {
        (
            format!("({column} = tenancy.policy_tenant())"),
            "tenancy.citus_refuse_cross_tenant_write",
        )
    } else {
        (
            format!("({column} = ( SELECT c.tenant FROM tenancy.context c))"),
            "tenancy.refuse_cross_tenant_write",
        )
    };
    let check = format!(
        "CASE WHEN {gate} THEN true ELSE {refuse}({}::text, {}::text, {column}) END",
        tenant_sql::literal::quote(&t.table.schema),
        tenant_sql::literal::quote(&t.table.name),
    );
    (normalized(&gate), normalized(&check))
}

fn exact(ctx: &Ctx<'_>) -> Verdict {
    if ctx.models.is_empty() {
        return Verdict::Skip(
            "no #[derive(TenantScoped)] model is linked into this binary".to_owned(),
        );
    }
    ctx.each_table(|t| {
        if t.model.is_none() {
            return Vec::new();
        }
        let name = policy_name(&t.table.name);
        let Some(p) = t.table.policies.iter().find(|p| p.name == name) else {
            return vec![Finding::new(
                t.qualified(),
                format!("has no policy {name}"),
                emit_hint(t),
            )];
        };
        let (using, check) = expected_policy(t, ctx.catalog.citus_distributed(t.table.oid));
        let mut wrong = Vec::new();
        if !p.permissive {
            wrong.push("it is RESTRICTIVE, not PERMISSIVE".to_owned());
        }
        if p.command != PolicyCommand::All {
            wrong.push(format!("it is FOR {:?}, not FOR ALL", p.command));
        }
        if p.roles != ["PUBLIC"] {
            wrong.push(format!("it is TO {}, not TO PUBLIC", p.roles.join(", ")));
        }
        if p.using.as_deref().map(normalized) != Some(using) {
            wrong.push(format!("its USING is `{}`", p.using.as_deref().unwrap_or("none")));
        }
        if p.check.as_deref().map(normalized) != Some(check) {
            wrong.push(format!(
                "its WITH CHECK is `{}`",
                p.check.as_deref().unwrap_or("none")
            ));
        }
        if wrong.is_empty() {
            return Vec::new();
        }
        vec![Finding::new(
            t.qualified(),
            format!(
                "policy {name} is not the one emit-rls writes: {}; a policy with the right name but another shape can leave writes, other commands or other roles unfiltered",
                wrong.join("; ")
            ),
            format!("DROP POLICY {} ON {}; then apply the emit-rls migration again", tenant_sql::ident::quote(&name), t.table.quoted()),
        )]
    })
}

fn rls_enabled(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        if t.table.rls_enabled {
            return Vec::new();
        }
        vec![Finding::new(
            t.qualified(),
            "row-level security is disabled: every role with SELECT sees every tenant's rows",
            format!(
                "ALTER TABLE {} ENABLE ROW LEVEL SECURITY;",
                t.table.quoted()
            ),
        )]
    })
}

fn rls_forced(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        if t.table.rls_forced || !t.table.rls_enabled {
            // Without RLS at all, table.rls-enabled says what to do first.
            return Vec::new();
        }
        vec![Finding::new(
            t.qualified(),
            format!(
                "row-level security is enabled but not forced, so its owner {} skips every policy (migrations, or a service that logs in as the owner)",
                t.table.owner
            ),
            format!("ALTER TABLE {} FORCE ROW LEVEL SECURITY;", t.table.quoted()),
        )]
    })
}

fn present(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        if t.table.policies.iter().any(|p| p.permissive) {
            return Vec::new();
        }
        let message = if t.table.rls_enabled {
            "row-level security is on but no permissive policy exists, so no role subject to it can read or write a row"
        } else {
            "no policy exists: once row-level security is enabled, no row will be visible"
        };
        vec![Finding::new(t.qualified(), message, emit_hint(t))]
    })
}

/// The expression that decides which rows a policy admits.
fn gate(p: &Policy) -> Option<&str> {
    if p.command == PolicyCommand::Insert {
        p.check.as_deref()
    } else {
        p.using.as_deref()
    }
}

fn tenant_predicate(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        t.table
            .policies
            .iter()
            .filter(|p| p.permissive && p.applies_to_role)
            .filter(|p| {
                let gate = gate(p).unwrap_or_default();
                // On a distributed table, the Citus form's function, which
                // reads the verified context of the node the shard is on.
                let citus = ctx.catalog.citus_distributed(t.table.oid)
                    && gate.contains(CITUS_CONTEXT_MARKER);
                !(mentions_column(gate, t.tenant_column)
                    && (citus || CONTEXT_MARKERS.iter().any(|m| gate.contains(m))))
            })
            .map(|p| {
                Finding::new(
                    t.qualified(),
                    format!(
                        "policy {} (for {}) admits rows by `{}`, which does not compare {} to the current tenant: permissive policies are OR-ed, so it opens the table to every tenant",
                        p.name,
                        p.roles.join(", "),
                        gate(p).unwrap_or("true"),
                        t.tenant_column
                    ),
                    format!(
                        "DROP POLICY {} ON {}; (limit a policy meant for another role with TO <role>, and do not grant that role to the application role)",
                        p.name,
                        t.table.quoted()
                    ),
                )
            })
            .collect()
    })
}

/// Setting names a policy expression reads with `current_setting('..')`.
fn settings_read(expression: &str) -> impl Iterator<Item = &str> {
    expression
        .match_indices("current_setting('")
        .filter_map(|(at, m)| expression[at + m.len()..].split('\'').next())
}

fn no_bypass_setting(ctx: &Ctx<'_>) -> Verdict {
    if ctx.tenant_tables.is_empty() && ctx.catalog.tenants().is_none() {
        return Verdict::Skip(ctx.no_tenant_tables());
    }
    let tenants = ctx.catalog.tenants().into_iter();
    let tables = ctx.tenant_tables.iter().map(|t| t.table).chain(tenants);
    let findings = tables
        .flat_map(|table| {
            table.policies.iter().flat_map(move |p| {
                let settings: Vec<&str> =
                    p.expressions().flat_map(settings_read).filter(|s| *s != "app.current_tenant").collect();
                settings.into_iter().map(move |setting| {
                    Finding::new(
                        table.qualified(),
                        format!(
                            "policy {} trusts the setting {setting}, which any statement can set (`SELECT set_config('{setting}', 'on', true)`), injected SQL included",
                            p.name
                        ),
                        format!(
                            "DROP POLICY {} ON {}; and run cross-tenant work as the system role (BYPASSRLS) through SystemPool",
                            p.name,
                            table.quoted()
                        ),
                    )
                })
            })
        })
        .collect();
    Verdict::from_findings(findings)
}

fn using_and_check(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        t.table
            .policies
            .iter()
            .filter(|p| p.permissive && matches!(p.command, PolicyCommand::All | PolicyCommand::Update) && p.check.is_none())
            .map(|p| {
                Finding::new(
                    t.qualified(),
                    format!(
                        "policy {} has no WITH CHECK: new rows are checked against USING, and a write for another tenant fails with PostgreSQL's generic RLS error instead of the cross-tenant error (TN003)",
                        p.name
                    ),
                    emit_hint(t),
                )
            })
            .collect()
    })
}

/// Whether `expression` casts `column` (`tenant_id::text`, deparsed as
/// `(tenant_id)::text`).
fn casts_column(expression: &str, column: &str) -> bool {
    [format!("({column})::"), format!("{column}::")]
        .iter()
        .any(|pattern| {
            expression.match_indices(pattern.as_str()).any(|(at, _)| {
                let before = expression[..at].chars().next_back();
                !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        })
}

fn no_cast(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        t.table
            .policies
            .iter()
            .filter(|p| p.expressions().any(|e| casts_column(e, t.tenant_column)))
            .map(|p| {
                Finding::new(
                    t.qualified(),
                    format!(
                        "policy {} casts {} (`{}`): the index on the uuid column cannot serve the filter, so every query scans every tenant's rows (measured: 4.7 vs 2,446 tps)",
                        p.name,
                        t.tenant_column,
                        gate(p).unwrap_or_default()
                    ),
                    emit_hint(t),
                )
            })
            .collect()
    })
}

/// Why a policy expression does not read the tenant once per statement.
fn reads_per_row(expression: &str) -> Option<&'static str> {
    if expression.contains("current_setting('app.current_tenant'") {
        return Some(
            "reads current_setting('app.current_tenant') itself: that setting is a hint any SQL can write, so the policy follows a forged tenant; read the verified tenant from tenancy.context",
        );
    }
    let per_row = expression
        .match_indices("tenancy.current_tenant()")
        .any(|(at, _)| !expression[..at].trim_end().ends_with("SELECT"));
    per_row.then_some("calls tenancy.current_tenant() outside a sub-select, so it runs once per row instead of once per statement")
}

fn reads_once(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        t.table
            .policies
            .iter()
            .filter_map(|p| {
                let why = p.expressions().find_map(reads_per_row)?;
                Some(Finding::new(
                    t.qualified(),
                    format!("policy {} {why}", p.name),
                    emit_hint(t),
                ))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_casts_of_the_column_are_found() {
        assert!(casts_column(
            "((tenant_id)::text = current_setting('app.current_tenant'::text, true))",
            "tenant_id"
        ));
        assert!(casts_column("(tenant_id::text = x)", "tenant_id"));
        assert!(!casts_column("(other_tenant_id)::text", "tenant_id"));
        assert!(!casts_column(
            "(tenant_id = ( SELECT tenancy.current_tenant() AS current_tenant))",
            "tenant_id"
        ));
    }

    #[test]
    fn settings_a_policy_reads() {
        let e = "((current_setting('app.bypass_rls'::text, true) = 'on'::text) OR (current_setting('app.current_tenant'::text) = 'x'))";
        assert_eq!(
            settings_read(e).collect::<Vec<_>>(),
            ["app.bypass_rls", "app.current_tenant"]
        );
    }

    #[test]
    fn the_emitted_policy_reads_the_tenant_once() {
        assert_eq!(
            reads_per_row("(tenant_id = ( SELECT tenancy.current_tenant() AS current_tenant))"),
            None
        );
        assert!(reads_per_row("(tenant_id = tenancy.current_tenant())").is_some());
        assert!(
            reads_per_row("(tenant_id = (current_setting('app.current_tenant'::text))::uuid)")
                .is_some()
        );
    }
}
