//! Indexes, unique keys and foreign keys of tenant tables: each is scoped
//! to the tenant, or one tenant's rows can block, reveal or point at
//! another's.

use super::{Check, Ctx, Finding, Severity, Verdict};
use crate::catalog::Index;
use tenant_runtime::meta::TableMeta;

pub(super) const CHECKS: &[Check] = &[
    Check {
        id: "index.leads-with-tenant",
        severity: Severity::Warning,
        title: "every tenant table has an index that leads with the tenant column",
        run: leads_with_tenant,
    },
    Check {
        id: "unique.includes-tenant",
        severity: Severity::Error,
        title: "every unique key of a tenant table includes the tenant column, unless the model declares it global_unique",
        run: unique_includes_tenant,
    },
    Check {
        id: "fk.includes-tenant",
        severity: Severity::Error,
        title: "every foreign key between tenant tables pairs the tenant columns: (tenant, x) -> (tenant, id)",
        run: fk_includes_tenant,
    },
];

fn leads_with_tenant(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        let leads = t.table.indexes.iter().any(|i| !i.partial && i.columns.first().is_some_and(|c| c == t.tenant_column));
        if leads || t.column().is_none() {
            return Vec::new();
        }
        let key = t.table.primary_key().join(", ");
        let columns = if key.is_empty() { t.tenant_column.to_owned() } else { format!("{}, {key}", t.tenant_column) };
        vec![Finding::new(
            t.qualified(),
            format!(
                "no index leads with {}: the policy's filter scans the whole table for every query of every tenant",
                t.tenant_column
            ),
            format!("CREATE INDEX ON {} ({columns});", t.table.quoted()),
        )]
    })
}

/// Whether the model declares `index`'s columns `global_unique(..)`.
fn declared_global(model: Option<&TableMeta>, index: &Index) -> bool {
    model.is_some_and(|m| {
        m.uniques.iter().any(|u| {
            u.global
                && u.columns.len() == index.columns.len()
                && u.columns
                    .iter()
                    .all(|c| index.columns.iter().any(|i| i == c))
        })
    })
}

fn unique_includes_tenant(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        t.table
            .indexes
            .iter()
            .filter(|i| i.unique && !i.primary)
            .filter(|i| !i.columns.iter().any(|c| c == t.tenant_column) && !declared_global(t.model, i))
            .map(|i| {
                let columns = i.columns.iter().map(|c| if c.is_empty() { "(expression)" } else { c }).collect::<Vec<_>>().join(", ");
                Finding::new(
                    t.qualified(),
                    format!(
                        "unique index {} on ({columns}) leaves out {}: one tenant's value blocks every other tenant, and the duplicate-key error tells a tenant that another tenant has it",
                        i.name, t.tenant_column
                    ),
                    format!(
                        "CREATE UNIQUE INDEX ON {} ({}, {columns}); then DROP INDEX {} (or its constraint); if it must be unique across tenants, declare global_unique({columns}) on the model",
                        t.table.quoted(),
                        t.tenant_column,
                        i.name
                    ),
                )
            })
            .collect()
    })
}

fn fk_includes_tenant(ctx: &Ctx<'_>) -> Verdict {
    ctx.each_table(|t| {
        t.table
            .foreign_keys()
            .filter_map(|fk| {
                let target = ctx.tenant_table(fk.ref_oid)?;
                let paired = fk
                    .columns
                    .iter()
                    .zip(&fk.ref_columns)
                    .any(|(from, to)| from == t.tenant_column && to == target.tenant_column);
                if paired {
                    return None;
                }
                let from = fk.columns.join(", ");
                let to = fk.ref_columns.join(", ");
                Some(Finding::new(
                    t.qualified(),
                    format!(
                        "foreign key {} ({from}) -> {} ({to}) leaves out the tenant: a row can point at another tenant's row, because foreign key checks do not go through row-level security",
                        fk.name,
                        target.qualified()
                    ),
                    format!(
                        "ALTER TABLE {} ADD FOREIGN KEY ({}, {from}) REFERENCES {} ({}, {to}); then drop {} (the target needs a unique index on ({}, {to}))",
                        t.table.quoted(),
                        t.tenant_column,
                        target.table.quoted(),
                        target.tenant_column,
                        fk.name,
                        target.tenant_column
                    ),
                ))
            })
            .collect()
    })
}
