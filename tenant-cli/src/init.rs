//! `init`: model skeletons and the first row-level security migration,
//! from an existing database.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use tenant_runtime::meta::TableMeta;
use tenant_runtime::{ddl, registry::Ordered};

use crate::Outcome;
use crate::catalog::Catalog;
use crate::db::{self, ConnectArgs};
use crate::migrations::{self, Written};
use crate::skeleton::{self, Model};

/// Options of `init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Where to connect (--database-url: any role that can read the
    /// catalog; nothing is written to the database).
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Folder to write `models.rs` and `migrations/<version>_tenant_rls.sql` into.
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Overwrite an existing `models.rs`. A migration already in
    /// `DIR/migrations` is never rewritten: a new one is added if the DDL differs.
    #[arg(long)]
    pub force: bool,
    /// Column that makes a table a tenant table.
    #[arg(long, value_name = "NAME", default_value = "tenant_id")]
    pub tenant_column: String,
}

/// File name of the models `init` writes.
const MODELS_FILE: &str = "models.rs";
/// Sub-folder of the migrations `init` writes.
const MIGRATIONS_DIR: &str = "migrations";

pub(crate) fn run(args: &InitArgs) -> anyhow::Result<Outcome> {
    let models_path = args.out.join(MODELS_FILE);
    let migrations_dir = args.out.join(MIGRATIONS_DIR);
    if !args.force {
        if models_path.exists() {
            bail!(
                "{} exists: pass --force to overwrite it",
                models_path.display()
            );
        }
        if let Some(newest) = migrations::newest(&migrations_dir)
            .with_context(|| migrations_dir.display().to_string())?
        {
            bail!(
                "{} exists: pass --force to add a new migration next to it if the DDL differs (it is never rewritten)",
                newest.path.display()
            );
        }
    }
    let url = args.connect.require_app("init reads its catalog")?;
    let (catalog, node) = db::block_on(async {
        let mut conn = url.connect().await?;
        let catalog = Catalog::read(&mut conn).await?;
        let node = built_by_node(&mut conn).await?;
        Ok((catalog, node))
    })?;
    let tables = skeleton::tenant_tables(&catalog, &args.tenant_column);
    if tables.is_empty() {
        bail!(
            "no table in database {:?} has a {} column, so there is nothing to generate (pass --tenant-column if yours has another name)",
            catalog.session.database,
            args.tenant_column
        );
    }
    let models = skeleton::models(&catalog, &tables, &args.tenant_column);
    let metas: Vec<&'static TableMeta> = models.iter().filter_map(skeleton::table_meta).collect();
    for m in models.iter().filter(|m| m.primary_key.is_none()) {
        eprintln!(
            "warning: {}.{} has no single-column primary key: its model needs editing, and the migration leaves it out",
            m.schema, m.table
        );
    }
    let sql = ddl::emit(&Ordered::new(metas)?);

    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    std::fs::write(
        &models_path,
        models_file(&catalog.session.database, &models, &args.tenant_column),
    )
    .with_context(|| models_path.display().to_string())?;
    let names: Vec<&str> = models.iter().map(|m| m.struct_name.as_str()).collect();
    outln!(
        "wrote {}: {} models ({})",
        models_path.display(),
        models.len(),
        names.join(", ")
    );
    let notes = models
        .iter()
        .map(|m| m.notes.len() + m.fields.iter().map(|f| f.notes.len()).sum::<usize>())
        .sum::<usize>();
    if notes > 0 {
        outln!("  {notes} `// review:` notes to read in it");
    }
    let written =
        migrations::write_if_changed(&migrations_dir, &sql, migrations::now_version(), false)
            .with_context(|| migrations_dir.display().to_string())?;
    match written {
        Written::New(path) => outln!("wrote {}", path.display()),
        Written::UpToDate(path) => outln!("{}: up to date", path.display()),
    }
    outln!(
        "next: add the models to your crate, then `emit-rls --check {}` confirms they match the migration",
        migrations_dir.display()
    );
    if let Some(signs) = node {
        outln!(
            "this database was built by @usebetterdev/tenant ({signs}): rather than applying the migration alone, \
             which leaves Node's trigger and stops a Node service still running on it (TN001), move it in one \
             transaction with the Node service up: `tenant roles --owner-role <the tables' owner> --compat-role <the Node role> --apply`, \
             then `tenant adopt-node --node-role <the Node role> --apply` (see MIGRATING-FROM-NODE.md)"
        );
    }
    Ok(Outcome::Ok)
}

/// What marks a database the Node package built: its `set_tenant_id`
/// trigger function, and policies that trust `app.bypass_rls`.
async fn built_by_node(conn: &mut sqlx::PgConnection) -> anyhow::Result<Option<String>> {
    use crate::db::QueryContext as _;
    let (function, policies): (bool, i64) = sqlx::query_as(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
                        WHERE p.proname = 'set_tenant_id' AND n.nspname = 'public'), \
                (SELECT count(*) FROM pg_catalog.pg_policies \
                  WHERE coalesce(qual, '') || coalesce(with_check, '') LIKE '%app.bypass_rls%')",
    )
    .fetch_one(&mut *conn)
    .await
    .doing("looking for @usebetterdev/tenant's trigger and policies")?;
    let mut signs = Vec::new();
    if function {
        signs.push("its set_tenant_id() trigger function".to_owned());
    }
    if policies > 0 {
        signs.push(format!("{policies} policies that trust app.bypass_rls"));
    }
    Ok((!signs.is_empty()).then(|| signs.join(", ")))
}

/// `models.rs`: a header, the `use` line and every model.
pub(crate) fn models_file(database: &str, models: &[Model], tenant_column: &str) -> String {
    let mut out = format!(
        "//! Models generated by `tenant init` from database {database:?}: one for each\n\
         //! table with a `{tenant_column}` column. Read every `// review:` note, add\n\
         //! this module to your crate, and run `emit-rls --check migrations/` to\n\
         //! confirm the models match the migration written with this file.\n"
    );
    let features = skeleton::sqlx_features(models);
    if !features.is_empty() {
        out.push_str(&format!(
            "//! The field types need these sqlx features: {}.\n",
            features.join(", ")
        ));
    }
    out.push('\n');
    out.push_str(skeleton::USES);
    for m in models {
        out.push('\n');
        out.push_str(&skeleton::render(m));
    }
    out
}
