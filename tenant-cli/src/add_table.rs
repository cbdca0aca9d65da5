//! `add-table`: prints the model skeleton of one table of the database.

use anyhow::bail;

use crate::Outcome;
use crate::catalog::{Catalog, Table};
use crate::db::{self, ConnectArgs};
use crate::skeleton;

/// Options of `add-table`.
#[derive(Debug, clap::Args)]
pub struct AddTableArgs {
    /// The table: `name` (looked up in every schema) or `schema.name`,
    /// written as in SQL (`"Order Items"`) or exactly as it is named.
    #[arg(value_name = "TABLE")]
    pub table: String,
    /// Where to connect (--database-url: any role that can read the
    /// catalog; nothing is written).
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The table's tenant column.
    #[arg(long, value_name = "NAME", default_value = "tenant_id")]
    pub tenant_column: String,
}

pub(crate) fn run(args: &AddTableArgs) -> anyhow::Result<Outcome> {
    let url = args.connect.require_app("add-table reads its catalog")?;
    let catalog = db::block_on(async { Catalog::read(&mut url.connect().await?).await })?;
    let table = find(&catalog, &args.table, &args.tenant_column)?;
    if table.column(&args.tenant_column).is_none() {
        bail!(
            "table {} has no {} column, so it is not a tenant table: add `{} uuid NOT NULL REFERENCES public.tenants (id)` to it, or pass --tenant-column",
            table.qualified(),
            args.tenant_column,
            args.tenant_column
        );
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
fn find<'c>(catalog: &'c Catalog, name: &str, tenant_column: &str) -> anyhow::Result<&'c Table> {
    // As written in SQL (`"Order Items"`, `billing.invoices`), or else the
    // name exactly as the catalog holds it.
    let (schema, table) = match tenant_sql::ident::parse_qualified(name) {
        Ok((schema, table)) => (schema, table),
        Err(_) => match name.split_once('.') {
            Some((schema, table)) => (Some(schema.to_owned()), table.to_owned()),
            None => (None, name.to_owned()),
        },
    };
    let found: Vec<&Table> = catalog
        .tables
        .iter()
        .filter(|t| t.name == table && schema.as_ref().is_none_or(|s| *s == t.schema))
        .collect();
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
            bail!(
                "table {name:?} not found in database {:?}; tables with a {tenant_column} column: {list}",
                catalog.session.database
            )
        }
        many => {
            let names: Vec<String> = many.iter().map(|t| t.qualified()).collect();
            bail!(
                "table {name:?} is in several schemas ({}): write schema.table",
                names.join(", ")
            )
        }
    }
}
