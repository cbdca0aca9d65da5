//! The checked model: every name is a valid SQL identifier, the tenant column
//! and primary key are known, and every column reference resolves.

/// A `#[derive(TenantScoped)]` struct after validation.
pub(crate) struct Model {
    pub(crate) ident: syn::Ident,
    pub(crate) schema: String,
    pub(crate) table: String,
    pub(crate) columns: Vec<Column>,
    /// Index into `columns`.
    pub(crate) tenant: usize,
    /// Index into `columns`.
    pub(crate) primary_key: usize,
    pub(crate) uniques: Vec<ColumnSet>,
    pub(crate) indexes: Vec<ColumnSet>,
}

/// One struct field and the column it maps to.
pub(crate) struct Column {
    pub(crate) field: syn::Ident,
    pub(crate) ty: syn::Type,
    pub(crate) name: String,
    pub(crate) sql_type: String,
    pub(crate) nullable: bool,
    pub(crate) generated: bool,
    pub(crate) default: Option<String>,
    pub(crate) references: Option<String>,
}

/// The columns of a `unique(..)` or `index(..)`, as SQL column names.
pub(crate) struct ColumnSet {
    pub(crate) columns: Vec<String>,
    pub(crate) global: bool,
}

impl Model {
    pub(crate) fn tenant_column(&self) -> &Column {
        &self.columns[self.tenant]
    }

    pub(crate) fn primary_key_column(&self) -> &Column {
        &self.columns[self.primary_key]
    }

    /// Columns an INSERT sends: all but the ones the database generates.
    pub(crate) fn insert_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| !c.generated)
    }

    /// Columns an UPDATE sets: never the key, the tenant or a generated one.
    pub(crate) fn update_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns
            .iter()
            .enumerate()
            .filter(|(i, c)| *i != self.tenant && *i != self.primary_key && !c.generated)
            .map(|(_, c)| c)
    }
}
