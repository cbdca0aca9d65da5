//! `add-table`: prints the model skeleton of one table of the database.

use super::catalog::{Catalog, Table};
use super::skeleton;
use super::{Outcome, db};

/// Options of `add-table`.
#[derive(Debug, clap::Args)]
pub struct AddTableArgs {
    /// The table: `name` (looked up in every schema) or `schema.name`.
    #[arg(value_name = "TABLE")]
    pub table: String,
    /// Connection URL of the database to read.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: String,
    /// The table's tenant column.
    #[arg(long, value_name = "NAME", default_value = "tenant_id")]
    pub tenant_column: String,
}

pub(crate) fn run(args: &AddTableArgs) -> Result<Outcome, String> {
    let catalog = db::block_on(async {
        Catalog::read(&mut db::connect(&args.database_url, "--database-url").await?).await
    })?;
    let table = find(&catalog, &args.table, &args.tenant_column)?;
    if table.column(&args.tenant_column).is_none() {
        return Err(format!(
            "table {} has no {} column, so it is not a tenant table: add `{} uuid NOT NULL REFERENCES public.tenants (id)` to it, or pass --tenant-column",
            table.qualified(),
            args.tenant_column,
            args.tenant_column
        ));
    }
    // Other tenant tables, so references to them become attributes.
    let mut tables = skeleton::tenant_tables(&catalog, &args.tenant_column);
    if !tables.iter().any(|t| t.oid == table.oid) {
        tables.push(table);
    }
    let models = skeleton::models(&catalog, &tables, &args.tenant_column);
    let model = models
        .iter()
        .find(|m| m.schema == table.schema && m.table == table.name)
        .expect("the table is among the ones described");
    out!("{}\n{}", skeleton::USES, skeleton::render(model));
    Ok(Outcome::Ok)
}

/// The table `name` or `schema.name`; an error lists what there is.
fn find<'c>(catalog: &'c Catalog, name: &str, tenant_column: &str) -> Result<&'c Table, String> {
    let found: Vec<&Table> = match name.split_once('.') {
        Some((schema, table)) => catalog.table(schema, table).into_iter().collect(),
        None => catalog.tables.iter().filter(|t| t.name == name).collect(),
    };
    match found.as_slice() {
        [one] => Ok(one),
        [] => {
            let tenant_tables: Vec<String> = skeleton::tenant_tables(catalog, tenant_column)
                .iter()
                .map(|t| t.qualified())
                .collect();
            let list = if tenant_tables.is_empty() {
                "none".to_owned()
            } else {
                tenant_tables.join(", ")
            };
            Err(format!(
                "table {name:?} not found in database {:?}; tables with a {tenant_column} column: {list}",
                catalog.session.database
            ))
        }
        many => {
            let names: Vec<String> = many.iter().map(|t| t.qualified()).collect();
            Err(format!(
                "table {name:?} is in several schemas ({}): write schema.table",
                names.join(", ")
            ))
        }
    }
}
