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

use crate::model::meta::{ColumnMeta, TableMeta};

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

/// SQL a library ships with one of its models, beyond what the derive can
/// say (a CHECK constraint, a trigger that enforces an invariant):
/// emit-rls writes it right after that table's DDL, and only when the
/// table is in the set. It must be idempotent, like the rest of the DDL.
#[derive(Debug)]
pub struct Extension {
    schema: &'static str,
    table: &'static str,
    sql: &'static str,
    creates: &'static [(&'static str, &'static str)],
}

impl Extension {
    /// SQL for the table `schema.table`, submitted with
    /// `inventory::submit!` (see tenant-members).
    pub const fn new(schema: &'static str, table: &'static str, sql: &'static str) -> Self {
        Self {
            schema,
            table,
            sql,
            creates: &[],
        }
    }

    /// Declares the tables (`(schema, table)`) the SQL creates besides its
    /// model's, so that a model mapping one of them is refused when the
    /// registry is built ([`RegistryError::TableOfExtension`]) instead of
    /// when the migration runs.
    pub const fn creating(self, creates: &'static [(&'static str, &'static str)]) -> Self {
        Self { creates, ..self }
    }

    /// The SQL.
    pub fn sql(&self) -> &'static str {
        self.sql
    }
}

inventory::collect!(Extension);

/// Every linked extension, in a stable order.
pub fn extensions() -> Vec<&'static Extension> {
    let mut all: Vec<&'static Extension> = inventory::iter::<Extension>.into_iter().collect();
    all.sort_by_key(|e| (e.schema, e.table, e.sql));
    all
}

/// The extensions of `meta`'s table, in a stable order.
pub fn extensions_of(meta: &TableMeta) -> Vec<&'static Extension> {
    let mut all = extensions();
    all.retain(|e| e.schema == meta.schema && e.table == meta.name);
    all
}

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
        "{model}.{field} references {target}, which no registered model maps: \
         derive TenantScoped for that table, or correct `references`"
    )]
    UnknownReference {
        /// The referencing model.
        model: &'static str,
        /// The referencing field.
        field: &'static str,
        /// The table it names, `schema.table`.
        target: String,
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
    /// A model maps a table that a linked library's SQL creates as a
    /// table of its own (tenant-members' global `users`).
    #[error(
        "{model} maps {table}, which the SQL shipped with {owner} creates as a table of its own: \
         give the model another table (#[tenant_table(name = \"..\")])"
    )]
    TableOfExtension {
        /// `schema.table`.
        table: String,
        /// The model.
        model: &'static str,
        /// The table whose extension creates it, `schema.table`.
        owner: String,
    },
}

/// A set of tables that passed the registry's checks, in the order DDL
/// and purges need: referenced tables before the tables that reference
/// them, otherwise by `schema.table`, the same on every run and platform
/// whatever order the linker put them in. Every `references` is resolved,
/// so nothing that reads an `Ordered` has to look a table up again.
///
/// Only this module makes one: [`tables`] for the linked models, or
/// [`Ordered::new`] for metadata from elsewhere (`init` builds it from a
/// database).
#[derive(Debug)]
pub struct Ordered {
    tables: Vec<OrderedTable>,
}

/// One table of an [`Ordered`] set, with its references resolved.
#[derive(Debug)]
pub struct OrderedTable {
    meta: &'static TableMeta,
    references: Vec<(&'static ColumnMeta, &'static TableMeta)>,
}

impl OrderedTable {
    /// The table.
    pub fn meta(&self) -> &'static TableMeta {
        self.meta
    }

    /// Each column with `references`, and the table it points at.
    pub fn references(&self) -> &[(&'static ColumnMeta, &'static TableMeta)] {
        &self.references
    }

    /// Whether a column points at this same table (a tree of rows).
    pub fn references_itself(&self) -> bool {
        self.references
            .iter()
            .any(|(_, target)| std::ptr::eq(*target, self.meta))
    }
}

impl Ordered {
    /// Checks and orders `metas`: refuses a table registered twice, a
    /// `references` to a table not in the set, and reference cycles.
    pub fn new(
        metas: impl IntoIterator<Item = &'static TableMeta>,
    ) -> Result<Ordered, RegistryError> {
        order(metas)
    }

    /// The tables, in order.
    pub fn tables(&self) -> &[OrderedTable] {
        &self.tables
    }

    /// The tables' metadata, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &'static TableMeta> + '_ {
        self.tables.iter().map(|t| t.meta)
    }

    /// How many tables.
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// The table `schema.name`.
    pub fn find(&self, schema: &str, name: &str) -> Option<&'static TableMeta> {
        self.iter().find(|t| t.schema == schema && t.name == name)
    }
}

/// Every registered table, checked and ordered once per process.
pub fn tables() -> Result<&'static Ordered, RegistryError> {
    static TABLES: OnceLock<Result<Ordered, RegistryError>> = OnceLock::new();
    TABLES
        .get_or_init(|| {
            let ordered = order(inventory::iter::<Registration>.into_iter().map(|r| r.meta))?;
            refuse_tables_of_extensions(&ordered, &extensions())?;
            Ok(ordered)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A model must not map a table an extension of the set creates.
fn refuse_tables_of_extensions(
    ordered: &Ordered,
    extensions: &[&'static Extension],
) -> Result<(), RegistryError> {
    let in_set = |schema: &str, table: &str| {
        ordered
            .iter()
            .find(|m| m.schema == schema && m.name == table)
    };
    for extension in extensions {
        if in_set(extension.schema, extension.table).is_none() {
            continue;
        }
        for &(schema, table) in extension.creates {
            if let Some(model) = in_set(schema, table) {
                return Err(RegistryError::TableOfExtension {
                    table: model.qualified_name(),
                    model: model.model,
                    owner: format!("{}.{}", extension.schema, extension.table),
                });
            }
        }
    }
    Ok(())
}

fn order(metas: impl IntoIterator<Item = &'static TableMeta>) -> Result<Ordered, RegistryError> {
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
    // Parents of each table (self-references do not constrain the order),
    // and every reference resolved.
    let mut parents: BTreeMap<(&str, &str), BTreeSet<(&str, &str)>> = BTreeMap::new();
    let mut resolved: BTreeMap<(&str, &str), Vec<(&'static ColumnMeta, &'static TableMeta)>> =
        BTreeMap::new();
    for (&key, meta) in &by_name {
        let entry = parents.entry(key).or_default();
        let refs = resolved.entry(key).or_default();
        for column in meta.references() {
            let Some(target) = column.references else {
                continue;
            };
            let parent = target.resolve(meta);
            let Some(&target_meta) = by_name.get(&parent) else {
                return Err(RegistryError::UnknownReference {
                    model: meta.model,
                    field: column.field,
                    target: format!("{}.{}", parent.0, parent.1),
                });
            };
            refs.push((column, target_meta));
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
        ordered.push(OrderedTable {
            meta: by_name[&next],
            references: resolved.remove(&next).unwrap_or_default(),
        });
    }
    Ok(Ordered { tables: ordered })
}

/// The columns of the unique index `index` of `schema.table`, as a
/// registered model declares it (the tenant column left out, since every
/// tenant-scoped unique has it): for telling a user which of their values
/// is taken. Empty when no registered model declares such an index.
pub fn unique_columns(schema: &str, table: &str, index: &str) -> Vec<String> {
    let Ok(tables) = tables() else {
        return Vec::new();
    };
    let Some(meta) = tables.find(schema, table) else {
        return Vec::new();
    };
    meta.uniques
        .iter()
        .map(|u| u.columns)
        .chain(std::iter::once(&[meta.tenant_column, meta.primary_key][..]))
        .find(|columns| tenant_sql::names::object(meta.name, columns, "key") == index)
        .map(|columns| {
            columns
                .iter()
                .filter(|c| **c != meta.tenant_column)
                .map(|c| (*c).to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::__private::INVALID_TABLE;
    use crate::model::meta::{OnDelete, TableRef};

    const fn column(name: &'static str, references: Option<TableRef>) -> ColumnMeta {
        ColumnMeta {
            name,
            field: name,
            sql_type: "bigint",
            nullable: false,
            generated: false,
            default: None,
            references,
            no_statistics: false,
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

    fn names(tables: &Ordered) -> Vec<&'static str> {
        tables.iter().map(|t| t.name).collect()
    }

    const fn to(name: &'static str) -> Option<TableRef> {
        Some(TableRef {
            schema: None,
            name,
            on_delete: OnDelete::NoAction,
        })
    }

    #[test]
    fn referenced_tables_come_first_then_by_name() {
        let tasks = table!(
            "m::Task",
            "tasks",
            [
                column("project_id", to("projects")),
                column("parent_id", to("tasks"))
            ]
        );
        let projects = table!(
            "m::Project",
            "projects",
            [column(
                "owner_id",
                Some(TableRef {
                    schema: Some("public"),
                    name: "users",
                    on_delete: OnDelete::Cascade,
                })
            )]
        );
        let users = table!("m::User", "users", []);
        let audit = table!("m::Audit", "audit", []);
        let expected = ["audit", "users", "projects", "tasks"];
        let ordered = order([tasks, projects, users, audit]).unwrap();
        assert_eq!(names(&ordered), expected);
        let tasks_entry = &ordered.tables()[3];
        assert!(tasks_entry.references_itself());
        assert_eq!(tasks_entry.references()[0].1.name, "projects");
        assert!(!ordered.tables()[2].references_itself());
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
        let tasks = table!("m::Task", "tasks", [column("project_id", to("projects"))]);
        let err = order([tasks]).unwrap_err();
        assert!(
            matches!(
                err,
                RegistryError::UnknownReference {
                    field: "project_id",
                    ref target,
                    ..
                } if target == "public.projects"
            ),
            "{err:?}"
        );

        let a = table!("m::A", "a", [column("b_id", to("b"))]);
        let b = table!("m::B", "b", [column("a_id", to("a"))]);
        let err = order([a, b]).unwrap_err();
        assert_eq!(
            err,
            RegistryError::ReferenceCycle {
                tables: "public.a, public.b".into()
            }
        );
    }
}
