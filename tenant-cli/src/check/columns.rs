//! The tenant column of each tenant table: a non-null uuid referencing
//! tenants, filled from the transaction's tenant, and never changed; and
//! no planner statistics on the columns a model marks
//! `#[tenant(no_statistics)]`.

use tenant_sql::ident::quote;

use super::{Check, Ctx, Finding, Severity, TenantTable, Verdict};
use crate::catalog::mentions_column;

pub(super) const CHECKS: &[Check] = &[
    Check {
        id: "column.tenant-uuid-not-null",
        severity: Severity::Error,
        title: "every tenant table has its tenant column, as uuid NOT NULL",
        run: uuid_not_null,
    },
    Check {
        id: "column.tenant-fk",
        severity: Severity::Error,
        title: "every tenant column has a foreign key to public.tenants (id)",
        run: tenant_fk,
    },
    Check {
        id: "column.tenant-default",
        severity: Severity::Warning,
        title: "inserts fill the tenant column from the transaction's tenant (the emit-rls default reads it)",
        run: tenant_default,
    },
    Check {
        id: "column.tenant-move-guard",
        severity: Severity::Warning,
        title: "a trigger refuses to move a row to another tenant, for every role (tenancy.refuse_tenant_move)",
        run: move_guard,
    },
    Check {
        id: "column.no-statistics",
        severity: Severity::Error,
        title: "columns a model marks #[tenant(no_statistics)] have no planner statistics (SET STATISTICS 0), nor do index or statistics-object expressions over them",
        run: no_statistics,
    },
];

fn alter(t: &TenantTable<'_>, what: &str) -> String {
    format!(
        "ALTER TABLE {} ALTER COLUMN {} {what};",
        t.table.quoted(),
        t.tenant_column
    )
}

fn uuid_not_null(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        let Some(c) = t.column() else {
            let model = t.model.map_or("", |m| m.model);
            return vec![Finding::new(
                t.qualified(),
                format!("has no tenant column {} (model {model} declares it)", t.tenant_column),
                format!(
                    "ALTER TABLE {} ADD COLUMN {} uuid NOT NULL REFERENCES public.tenants (id); (backfill it first for existing rows)",
                    t.table.quoted(),
                    t.tenant_column
                ),
            )];
        };
        let mut findings = Vec::new();
        if c.sql_type != "uuid" {
            findings.push(Finding::new(
                t.qualified(),
                format!("tenant column {} is {}, not uuid", c.name, c.sql_type),
                alter(t, &format!("TYPE uuid USING {}::uuid", c.name)),
            ));
        }
        if !c.not_null {
            findings.push(Finding::new(
                t.qualified(),
                format!(
                    "tenant column {} allows NULL: a row without a tenant belongs to no one, and `NULL = tenant` hides it from everyone but bypassing roles",
                    c.name
                ),
                alter(t, "SET NOT NULL"),
            ));
        }
        findings
    })
}

fn tenant_fk(ctx: &Ctx<'_>) -> Verdict {
    let tenants = ctx.catalog.tenants().map(|t| t.oid);
    ctx.each_table(|t| {
        if t.column().is_none() {
            return Vec::new();
        }
        // On Citus, the tenant ids' reference table stands for tenants.
        let tenant_ids = ctx
            .catalog
            .citus
            .as_ref()
            .and_then(|c| c.tenant_ids)
            .filter(|_| ctx.catalog.citus_distributed(t.table.oid));
        let has = t.table.foreign_keys().any(|fk| {
            fk.columns == [t.tenant_column]
                && (Some(fk.ref_oid) == tenants || Some(fk.ref_oid) == tenant_ids)
                && fk.ref_columns == ["id"]
        });
        if has {
            return Vec::new();
        }
        vec![Finding::new(
            t.qualified(),
            format!(
                "tenant column {} has no foreign key to public.tenants (id): rows can name a tenant that does not exist, and a purged tenant can leave rows behind",
                t.tenant_column
            ),
            format!(
                "ALTER TABLE {} ADD FOREIGN KEY ({}) REFERENCES public.tenants (id);",
                t.table.quoted(),
                t.tenant_column
            ),
        )]
    })
}

fn tenant_default(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        let Some(c) = t.column() else { return Vec::new() };
        let by_default = c
            .default
            .as_deref()
            .is_some_and(|d| {
                d.contains("default_tenant()")
                    || d.contains("current_tenant()")
                    || (ctx.catalog.citus_distributed(t.table.oid) && d.contains("tenancy.policy_tenant()"))
                    || d.contains("'app.current_tenant'")
            });
        let by_trigger = t.table.triggers.iter().any(|tr| tr.enabled && tr.before && tr.on_insert);
        if by_default || by_trigger {
            return Vec::new();
        }
        vec![Finding::new(
            t.qualified(),
            format!(
                "nothing fills {} on insert (default: {}): every INSERT must name the tenant, and a raw INSERT that forgets it fails",
                c.name,
                c.default.as_deref().unwrap_or("none")
            ),
            alter(t, &format!("SET DEFAULT {}", tenant_runtime::ddl::TENANT_DEFAULT)),
        )]
    })
}

fn move_guard(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        let guarded = t.table.triggers.iter().any(|tr| {
            tr.enabled && tr.before && tr.on_update && tr.function == "tenancy.refuse_tenant_move"
        });
        // Citus refuses triggers on a distributed table, and itself refuses
        // any change of the column it distributes by.
        if guarded || t.column().is_none() || ctx.catalog.citus_distributed(t.table.oid) {
            return Vec::new();
        }
        let col = t.tenant_column;
        vec![Finding::new(
            t.qualified(),
            format!(
                "no trigger stops an UPDATE from changing {col}: the system role (which bypasses row-level security) can move a row to another tenant"
            ),
            format!(
                "CREATE TRIGGER tenant_move_guard BEFORE UPDATE ON {} FOR EACH ROW WHEN (OLD.{col} IS DISTINCT FROM NEW.{col}) EXECUTE FUNCTION tenancy.refuse_tenant_move('{col}');",
                t.table.quoted()
            ),
        )]
    })
}

/// A statistics target as a message says it.
fn target(n: i32) -> String {
    if n < 0 {
        format!("the default ({n})")
    } else {
        n.to_string()
    }
}

/// Under row-level security PostgreSQL still estimates leakproof operators
/// (`=`, `<`, `^@` on text) from a column's statistics, so EXPLAIN's row
/// estimates read out its most common values and histogram bounds, every
/// tenant's included. Index expressions get statistics of their own.
fn no_statistics(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        let Some(model) = t.model else {
            return Vec::new();
        };
        let mut findings = Vec::new();
        for marked in model.without_statistics() {
            // A column the table lacks is drift.model-columns' finding.
            let Some(c) = t.table.column(marked.name) else {
                continue;
            };
            let (table, column) = (t.table.quoted(), quote(&c.name));
            if c.stat_target != 0 {
                findings.push(Finding::new(
                    t.qualified(),
                    format!(
                        "column {} has statistics target {}, but model {} marks it #[tenant(no_statistics)]: \
                         ANALYZE samples its most common values and histogram, and EXPLAIN row estimates \
                         give them away to every tenant",
                        c.name,
                        target(c.stat_target),
                        model.model
                    ),
                    format!(
                        "apply the emit-rls migration (it sets the target and clears the statistics ANALYZE \
                         already collected), or: ALTER TABLE {table} ALTER COLUMN {column} SET STATISTICS 0; \
                         ALTER TABLE {table} ALTER COLUMN {column} TYPE {}; (the type it has, and its COLLATE \
                         if it has one: drops the old statistics without rewriting the table)",
                        c.sql_type
                    ),
                ));
            }
            for index in &t.table.indexes {
                let expressions = index.expressions.iter().zip(&index.stat_targets);
                for (position, (expression, &n)) in (1..).zip(expressions) {
                    if n == 0 || expression.is_empty() || !mentions_column(expression, &c.name) {
                        continue;
                    }
                    findings.push(Finding::new(
                        t.qualified(),
                        format!(
                            "index {} has the expression `{expression}` over {}, which model {} marks \
                             #[tenant(no_statistics)], with statistics target {}: ANALYZE samples the \
                             expression's values, and EXPLAIN estimates on it give them away to every tenant",
                            index.name,
                            c.name,
                            model.model,
                            target(n)
                        ),
                        format!(
                            "ALTER INDEX {} ALTER COLUMN {position} SET STATISTICS 0; and if ANALYZE ran since \
                             the index was made, make it again (DROP INDEX, CREATE INDEX, then this ALTER INDEX, \
                             in one transaction): REINDEX keeps its statistics",
                            tenant_sql::ident::qualified(&t.table.schema, &index.name)
                        ),
                    ));
                }
            }
        }
        // Expressions of a statistics object get statistics of their own
        // (plain columns without statistics keep ANALYZE from building the
        // object at all).
        for object in &t.table.statistics {
            let over: Vec<&str> = model
                .without_statistics()
                .map(|c| c.name)
                .filter(|name| object.expressions.iter().any(|e| mentions_column(e, name)))
                .collect();
            if object.stat_target == 0 || over.is_empty() {
                continue;
            }
            findings.push(Finding::new(
                t.qualified(),
                format!(
                    "statistics object {} has the expressions {} over {}, which model {} marks \
                     #[tenant(no_statistics)]: ANALYZE samples their values, and EXPLAIN estimates on \
                     them give them away to every tenant",
                    object.name,
                    object.expressions.join(", "),
                    over.join(", "),
                    model.model
                ),
                format!(
                    "DROP STATISTICS {}; (ALTER STATISTICS .. SET STATISTICS 0 would keep what ANALYZE built)",
                    tenant_sql::ident::qualified(&object.schema, &object.name)
                ),
            ));
        }
        findings
    })
}
