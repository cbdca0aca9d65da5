//! Model sets made at run time, for the DDL's scale benchmark and its
//! property test: tenant tables shaped like what the derive accepts
//! (a generated key, the tenant column, plain and nullable columns, a
//! default, uniques and indexes that lead with the tenant, references to
//! earlier tables), without writing hundreds of structs.

use tenant_runtime::meta::{
    ColumnMeta, IndexMeta, OnDelete, TableMeta, TableRef, TableSql, UniqueMeta,
};

/// What one generated table has besides its key and tenant column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// A `unique(tenant_id, name)`.
    pub unique_name: bool,
    /// An `index(tenant_id, created_at)`.
    pub index_created: bool,
    /// A nullable `note text`.
    pub nullable_note: bool,
    /// A `parent_id` referencing the previous table of the set.
    pub references_previous: bool,
    /// What deleting the previous table's row does to `parent_id`.
    pub on_delete: OnDelete,
}

impl Shape {
    /// The same shape, its reference deleting with the next action.
    pub fn turned(self) -> Self {
        let at = OnDelete::ALL
            .iter()
            .position(|(_, action)| *action == self.on_delete)
            .unwrap_or(0);
        Self {
            on_delete: OnDelete::ALL[(at + 1) % OnDelete::ALL.len()].1,
            ..self
        }
    }
}

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

fn leak_str(value: String) -> &'static str {
    Box::leak(value.into_boxed_str())
}

fn column(name: &'static str, sql_type: &'static str) -> ColumnMeta {
    ColumnMeta {
        name,
        field: name,
        sql_type,
        nullable: false,
        generated: false,
        default: None,
        references: None,
        no_statistics: false,
    }
}

/// One table per shape, named `{prefix}_{i}`, in `public`. The metadata
/// is leaked: it must be `'static` like the derive's, and a benchmark or
/// test makes a bounded number of sets.
pub fn tables(prefix: &str, shapes: &[Shape]) -> Vec<&'static TableMeta> {
    let names: Vec<&'static str> = (0..shapes.len())
        .map(|i| leak_str(format!("{prefix}_{i}")))
        .collect();
    shapes
        .iter()
        .enumerate()
        .map(|(i, shape)| {
            let mut columns = vec![
                ColumnMeta {
                    generated: true,
                    ..column("id", "bigint")
                },
                column("tenant_id", "uuid"),
                column("name", "text"),
                ColumnMeta {
                    default: Some("now()"),
                    ..column("created_at", "timestamptz")
                },
            ];
            if shape.nullable_note {
                columns.push(ColumnMeta {
                    nullable: true,
                    ..column("note", "text")
                });
            }
            if shape.references_previous && i > 0 {
                columns.push(ColumnMeta {
                    nullable: true,
                    references: Some(TableRef {
                        schema: None,
                        name: names[i - 1],
                        on_delete: shape.on_delete,
                    }),
                    ..column("parent_id", "bigint")
                });
            }
            let uniques: &'static [UniqueMeta] = if shape.unique_name {
                Box::leak(Box::new([UniqueMeta {
                    columns: &["tenant_id", "name"],
                    global: false,
                }]))
            } else {
                &[]
            };
            let indexes: &'static [IndexMeta] = if shape.index_created {
                Box::leak(Box::new([IndexMeta {
                    columns: &["tenant_id", "created_at"],
                }]))
            } else {
                &[]
            };
            leak(TableMeta {
                model: leak_str(format!("generated::{}", names[i])),
                schema: "public",
                name: names[i],
                tenant_column: "tenant_id",
                primary_key: "id",
                columns: Box::leak(columns.into_boxed_slice()),
                uniques,
                indexes,
                sql: TableSql::NONE,
            })
        })
        .collect()
}

/// `n` shapes cycling through every combination of the four flags.
pub fn cycling_shapes(n: usize) -> Vec<Shape> {
    (0..n)
        .map(|i| Shape {
            unique_name: i & 1 != 0,
            index_created: i & 2 != 0,
            nullable_note: i & 4 != 0,
            references_previous: i & 8 != 0,
            on_delete: OnDelete::ALL[(i >> 4) % OnDelete::ALL.len()].1,
        })
        .collect()
}
