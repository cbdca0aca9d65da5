//! Every `#[derive(TenantScoped)]` model linked into the program, collected
//! at compile time with `inventory`.
//!
//! # Linking rule for binaries
//!
//! A registration is a static in the crate that defines the model, and the
//! linker keeps only the parts of a library a binary uses. A binary whose
//! models live in another crate of the workspace must name something from
//! that crate (a `use models::Project;` that is used, or a call such as
//! `models::link()`), or `tables()` will not see them. Models defined in the
//! binary crate itself are always registered.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use crate::meta::{ColumnMeta, TableMeta};

/// One model's entry in the registry; built by the derive.
#[derive(Debug)]
pub struct Registration {
    meta: &'static TableMeta,
}

impl Registration {
    /// Used by the generated code.
    #[doc(hidden)]
    pub const fn new(meta: &'static TableMeta) -> Self {
        Self { meta }
    }
}

inventory::collect!(Registration);

/// What is wrong with the set of registered models.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Two models map the same table.
    #[error(
        "table {table} is registered twice, by {first} and by {second}: \
         a table has one model, so remove #[derive(TenantScoped)] from one of them"
    )]
    DuplicateTable {
        /// `schema.table`.
        table: String,
        /// One model.
        first: &'static str,
        /// The other model.
        second: &'static str,
    },
    /// A `references = ".."` names a table no model maps.
    #[error(
        "{model}.{field} references `{target}`, which no registered model maps: \
         derive TenantScoped for that table, or correct `references`"
    )]
    UnknownReference {
        /// The referencing model.
        model: &'static str,
        /// The referencing field.
        field: &'static str,
        /// The table it names.
        target: &'static str,
    },
    /// Tables that reference each other in a loop: the DDL cannot order
    /// their foreign keys, and a purge cannot delete either side first.
    #[error(
        "tables {tables} reference each other in a cycle: break it by dropping one `references`"
    )]
    ReferenceCycle {
        /// The tables in the cycle, comma separated.
        tables: String,
    },
}

/// Every registered table, referenced tables before the tables that
/// reference them, otherwise by `schema.table`: the same order on every
/// run and every platform, whatever order the linker put them in.
pub fn tables() -> Result<&'static [&'static TableMeta], RegistryError> {
    static TABLES: OnceLock<Result<Vec<&'static TableMeta>, RegistryError>> = OnceLock::new();
    TABLES
        .get_or_init(|| order(inventory::iter::<Registration>.into_iter().map(|r| r.meta)))
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
}

/// The registered table named `schema.table`.
pub fn find(schema: &str, table: &str) -> Option<&'static TableMeta> {
    tables()
        .ok()?
        .iter()
        .copied()
        .find(|t| t.schema == schema && t.name == table)
}

/// The table a `references = ".."` column points at, if registered.
/// Unqualified names are looked up in the referencing table's schema.
pub fn referenced(from: &TableMeta, column: &ColumnMeta) -> Option<&'static TableMeta> {
    resolve_in(tables().ok()?, from, column)
}

/// [`referenced`] within a given set of tables.
pub(crate) fn resolve_in<'a>(
    tables: &[&'a TableMeta],
    from: &TableMeta,
    column: &ColumnMeta,
) -> Option<&'a TableMeta> {
    let (schema, table) = split_reference(from, column.references?);
    tables
        .iter()
        .copied()
        .find(|t| t.schema == schema && t.name == table)
}

fn split_reference<'a>(from: &'a TableMeta, target: &'a str) -> (&'a str, &'a str) {
    target.split_once('.').unwrap_or((from.schema, target))
}

/// Checks and orders a set of tables (exposed to the crate for tests).
pub(crate) fn order(
    metas: impl IntoIterator<Item = &'static TableMeta>,
) -> Result<Vec<&'static TableMeta>, RegistryError> {
    let mut by_name: BTreeMap<(&str, &str), &'static TableMeta> = BTreeMap::new();
    for meta in metas {
        if let Some(first) = by_name.insert((meta.schema, meta.name), meta) {
            // Name the two models in a stable order.
            let (a, b) = if first.model <= meta.model {
                (first, meta)
            } else {
                (meta, first)
            };
            return Err(RegistryError::DuplicateTable {
                table: meta.qualified_name(),
                first: a.model,
                second: b.model,
            });
        }
    }
    // Parents of each table (self-references do not constrain the order).
    let mut parents: BTreeMap<(&str, &str), BTreeSet<(&str, &str)>> = BTreeMap::new();
    for (&key, meta) in &by_name {
        let entry = parents.entry(key).or_default();
        for column in meta.references() {
            let target = column.references.unwrap_or_default();
            let parent = split_reference(meta, target);
            if !by_name.contains_key(&parent) {
                return Err(RegistryError::UnknownReference {
                    model: meta.model,
                    field: column.field,
                    target,
                });
            }
            if parent != key {
                entry.insert(parent);
            }
        }
    }
    // Kahn's algorithm, always taking the smallest ready name.
    let mut ordered = Vec::with_capacity(by_name.len());
    while !parents.is_empty() {
        let ready = parents.iter().find(|(_, p)| p.is_empty()).map(|(k, _)| *k);
        let Some(next) = ready else {
            let tables = parents
                .keys()
                .map(|(s, t)| format!("{s}.{t}"))
                .collect::<Vec<_>>();
            return Err(RegistryError::ReferenceCycle {
                tables: tables.join(", "),
            });
        };
        parents.remove(&next);
        for p in parents.values_mut() {
            p.remove(&next);
        }
        ordered.push(by_name[&next]);
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::__private::INVALID_TABLE;

    const fn column(name: &'static str, references: Option<&'static str>) -> ColumnMeta {
        ColumnMeta {
            name,
            field: name,
            sql_type: "bigint",
            nullable: false,
            generated: false,
            default: None,
            references,
        }
    }

    macro_rules! table {
        ($model:literal, $name:literal, [$($col:expr),*]) => {{
            static T: TableMeta = TableMeta {
                model: $model,
                name: $name,
                schema: "public",
                columns: &[$($col),*],
                ..INVALID_TABLE
            };
            &T
        }};
    }

    fn names(tables: &[&TableMeta]) -> Vec<&'static str> {
        tables.iter().map(|t| t.name).collect()
    }

    #[test]
    fn referenced_tables_come_first_then_by_name() {
        let tasks = table!(
            "m::Task",
            "tasks",
            [
                column("project_id", Some("projects")),
                column("parent_id", Some("tasks"))
            ]
        );
        let projects = table!(
            "m::Project",
            "projects",
            [column("owner_id", Some("public.users"))]
        );
        let users = table!("m::User", "users", []);
        let audit = table!("m::Audit", "audit", []);
        let expected = ["audit", "users", "projects", "tasks"];
        assert_eq!(
            names(&order([tasks, projects, users, audit]).unwrap()),
            expected
        );
        assert_eq!(
            names(&order([audit, users, projects, tasks]).unwrap()),
            expected,
            "link order does not matter"
        );
    }

    #[test]
    fn two_models_for_one_table_are_refused() {
        let a = table!("m::Project", "projects", []);
        let b = table!("other::Project", "projects", []);
        let err = order([b, a]).unwrap_err();
        assert_eq!(
            err,
            RegistryError::DuplicateTable {
                table: "public.projects".into(),
                first: "m::Project",
                second: "other::Project"
            }
        );
        assert!(
            err.to_string()
                .contains("remove #[derive(TenantScoped)] from one of them"),
            "{err}"
        );
    }

    #[test]
    fn unknown_references_and_cycles_are_refused() {
        let tasks = table!("m::Task", "tasks", [column("project_id", Some("projects"))]);
        let err = order([tasks]).unwrap_err();
        assert!(
            matches!(
                err,
                RegistryError::UnknownReference {
                    field: "project_id",
                    target: "projects",
                    ..
                }
            ),
            "{err:?}"
        );

        let a = table!("m::A", "a", [column("b_id", Some("b"))]);
        let b = table!("m::B", "b", [column("a_id", Some("a"))]);
        let err = order([a, b]).unwrap_err();
        assert_eq!(
            err,
            RegistryError::ReferenceCycle {
                tables: "public.a, public.b".into()
            }
        );
    }
}
