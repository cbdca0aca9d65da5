//! Drift between the registered models and the database, both ways: a
//! model whose table, columns, policy or keys are missing, and a tenant
//! table no model declares.

use tenant_sql::types;

use super::{Check, Ctx, Finding, Severity, Verdict};
use crate::catalog::Table;
use tenant_runtime::meta::TableMeta;
use tenant_sql::names::policy as policy_name;

pub(super) const CHECKS: &[Check] = &[
    Check {
        id: "drift.model-table-exists",
        severity: Severity::Error,
        title: "every registered model's table exists",
        run: table_exists,
    },
    Check {
        id: "drift.model-columns",
        severity: Severity::Error,
        title: "every model's columns exist with the model's SQL type and nullability, and the table has no required column the model leaves out",
        run: columns,
    },
    Check {
        id: "drift.model-rls",
        severity: Severity::Error,
        title: "every model's table has the policy emit-rls creates for it (the migration is applied)",
        run: model_rls,
    },
    Check {
        id: "drift.model-keys",
        severity: Severity::Warning,
        title: "every model's declared unique(..), index(..) and references exist in the database",
        run: keys,
    },
    Check {
        id: "drift.unmodelled-table",
        severity: Severity::Warning,
        title: "every table with the tenant column is declared by a model",
        run: unmodelled,
    },
];

const NO_MODELS: &str = "no #[derive(TenantScoped)] model is linked into this binary; run check from a binary that links your models and calls tenant_cli::main()";

/// Runs `f` on every model whose table exists.
fn each_model(ctx: &Ctx<'_>, f: impl Fn(&'static TableMeta, &Table) -> Vec<Finding>) -> Verdict {
    if ctx.models.is_empty() {
        return Verdict::Skip(NO_MODELS.to_owned());
    }
    let findings = ctx
        .models
        .iter()
        .filter_map(|m| ctx.catalog.table(m.schema, m.name).map(|t| f(m, t)))
        .flatten()
        .collect();
    Verdict::from_findings(findings)
}

fn table_exists(ctx: &Ctx<'_>) -> Verdict {
    if ctx.models.is_empty() {
        return Verdict::Skip(NO_MODELS.to_owned());
    }
    let findings = ctx
        .models
        .iter()
        .filter(|m| ctx.catalog.table(m.schema, m.name).is_none())
        .map(|m| {
            Finding::new(
                m.qualified_name(),
                format!("model {} maps {}, which does not exist: its queries fail", m.model, m.qualified_name()),
                "apply the emit-rls migration (it creates missing tables), or correct #[tenant_table(name = .., schema = ..)]",
            )
        })
        .collect();
    Verdict::from_findings(findings)
}

fn columns(ctx: &Ctx<'_>) -> Verdict {
    each_model(ctx, |m, t| {
        let mut findings = Vec::new();
        let mut wrong =
            |message: String, fix: String| findings.push(Finding::new(t.qualified(), message, fix));
        for c in m.columns {
            let Some(db) = t.column(c.name) else {
                wrong(
                    format!("has no column {} (field {}.{})", c.name, m.model, c.field),
                    format!(
                        "ALTER TABLE {} ADD COLUMN {} {};",
                        t.quoted(),
                        c.name,
                        c.sql_type
                    ),
                );
                continue;
            };
            if types::canonical(c.sql_type) != types::canonical(&db.sql_type) {
                wrong(
                    format!(
                        "column {} is {} in the database and {} in {}",
                        c.name, db.sql_type, c.sql_type, m.model
                    ),
                    format!(
                        "change the field's type or #[tenant(sql_type = \"{}\")], or migrate the column",
                        db.sql_type
                    ),
                );
            }
            if !c.nullable && !db.not_null {
                wrong(
                    format!(
                        "column {} allows NULL but {}.{} is not an Option: reading a NULL fails",
                        c.name, m.model, c.field
                    ),
                    format!(
                        "ALTER TABLE {} ALTER COLUMN {} SET NOT NULL; or make the field an Option",
                        t.quoted(),
                        c.name
                    ),
                );
            }
        }
        for db in t.columns.iter().filter(|c| m.column(&c.name).is_none()) {
            if db.not_null && db.default.is_none() && !db.identity && !db.computed {
                wrong(
                    format!(
                        "column {} is NOT NULL without a default and {} has no field for it: inserts through the model fail",
                        db.name, m.model
                    ),
                    format!(
                        "add a field for {}, or ALTER TABLE {} ALTER COLUMN {} SET DEFAULT ..",
                        db.name,
                        t.quoted(),
                        db.name
                    ),
                );
            }
        }
        findings
    })
}

fn model_rls(ctx: &Ctx<'_>) -> Verdict {
    each_model(ctx, |m, t| {
        let policy = policy_name(m.name);
        if t.policies.iter().any(|p| p.name == policy) {
            return Vec::new();
        }
        vec![Finding::new(
            t.qualified(),
            format!(
                "model {} has no policy {policy} on its table: the emit-rls migration for it is not applied",
                m.model
            ),
            "run emit-rls -o migrations/ and apply the migration",
        )]
    })
}

fn keys(ctx: &Ctx<'_>) -> Verdict {
    each_model(ctx, |m, t| {
        let mut findings = Vec::new();
        let same_set = |a: &[String], b: &[&str]| {
            a.len() == b.len() && b.iter().all(|c| a.iter().any(|x| x == c))
        };
        for u in m.uniques {
            if !t
                .indexes
                .iter()
                .any(|i| i.unique && !i.partial && same_set(&i.columns, u.columns))
            {
                let kind = if u.global { "global_unique" } else { "unique" };
                findings.push(Finding::new(
                    t.qualified(),
                    format!(
                        "{} declares {kind}({}) and no unique index has those columns",
                        m.model,
                        u.columns.join(", ")
                    ),
                    "apply the emit-rls migration",
                ));
            }
        }
        for i in m.indexes {
            let covered = t.indexes.iter().any(|x| {
                !x.partial
                    && x.columns.len() >= i.columns.len()
                    && x.columns.iter().zip(i.columns).all(|(a, b)| a == b)
            });
            if !covered {
                findings.push(Finding::new(
                    t.qualified(),
                    format!(
                        "{} declares index({}) and no index starts with those columns",
                        m.model,
                        i.columns.join(", ")
                    ),
                    "apply the emit-rls migration",
                ));
            }
        }
        for c in m.references() {
            let composite = t
                .foreign_keys()
                .find(|fk| same_set(&fk.columns, &[m.tenant_column, c.name]));
            let declared = c.references.map(|r| r.on_delete).unwrap_or_default();
            if let Some(fk) = composite
                && fk.on_delete != declared.catalog_code()
            {
                findings.push(Finding::new(
                    t.qualified(),
                    format!(
                        "{}.{} declares on_delete = \"{}\" and foreign key {} deletes otherwise (confdeltype '{}')",
                        m.model,
                        c.field,
                        declared.name(),
                        fk.name,
                        fk.on_delete
                    ),
                    "apply the emit-rls migration",
                ));
            }
            if composite.is_none() {
                findings.push(Finding::new(
                    t.qualified(),
                    format!(
                        "{}.{} references {} and there is no foreign key ({}, {}) for it",
                        m.model,
                        c.field,
                        c.references.map(|r| r.to_string()).unwrap_or_default(),
                        m.tenant_column,
                        c.name
                    ),
                    "apply the emit-rls migration",
                ));
            }
        }
        findings
    })
}

fn unmodelled(ctx: &Ctx<'_>) -> Verdict {
    if ctx.models.is_empty() {
        return Verdict::Skip(NO_MODELS.to_owned());
    }
    let findings = ctx
        .tenant_tables
        .iter()
        .filter(|t| t.model.is_none())
        .map(|t| {
            Finding::new(
                t.qualified(),
                format!(
                    "has a {} column but no linked model declares it: emit-rls writes no policy for it, and check can only guess at it",
                    t.tenant_column
                ),
                format!("add a model (`tenant add-table {}` prints one), or link the crate that has it", t.qualified()),
            )
        })
        .collect();
    Verdict::from_findings(findings)
}
