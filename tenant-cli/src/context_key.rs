//! `context-key`: the keys a `TenantPool` proves it holds when it opens a
//! connection (SECURITY.md). A key is made here, installed with a bind
//! parameter (so its bytes are never in query text, logs or
//! `pg_stat_activity`), and printed once, for the service's secret store.

use anyhow::bail;
use sqlx::Row as _;
use tenant_runtime::tx::{CONTEXT_KEY_ENV, ContextKey};

use crate::Outcome;
use crate::db::{self, AdminArgs, QueryContext as _};

/// Options of `context-key`.
#[derive(Debug, clap::Args)]
pub struct ContextKeyArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: KeyAction,
    /// Who may write `tenancy.context_keys`: the migration owner.
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// The key actions.
#[derive(Debug, clap::Subcommand)]
pub enum KeyAction {
    /// Make a key, install it, and print it as `TENANT_CONTEXT_KEY=<id>:<hex>`
    /// (the only time it is shown).
    New {
        /// The key's id. Default: one more than the largest in use.
        #[arg(long)]
        id: Option<i32>,
    },
    /// Retire a key: connections opened with it stop at their next
    /// transaction, and no new one opens with it.
    Retire {
        /// The key's id.
        id: i32,
        /// Retire it even when it is the last key in use (every tenant
        /// pool stops until a new key is installed).
        #[arg(long)]
        force: bool,
    },
    /// List the keys: id, created, retired (never the key).
    List,
}

pub(crate) fn run(args: &ContextKeyArgs) -> anyhow::Result<Outcome> {
    let url = args
        .admin
        .require("the keys can be read and written only by the tenancy schema's owner")?;
    db::block_on(async {
        let mut conn = url.connect().await?;
        match &args.action {
            KeyAction::New { id } => {
                let id = match id {
                    Some(id) => *id,
                    None => sqlx::query_scalar::<_, i32>(
                        "SELECT coalesce(max(key_id), 0) + 1 FROM tenancy.context_keys",
                    )
                    .fetch_one(&mut conn)
                    .await
                    .doing(MISSING)?,
                };
                if id < 1 {
                    bail!("--id {id}: a key id is a positive integer");
                }
                let key = ContextKey::generate(id);
                let done = sqlx::query(
                    "INSERT INTO tenancy.context_keys (key_id, key) VALUES ($1, $2) ON CONFLICT (key_id) DO NOTHING",
                )
                .bind(key.id())
                .bind(key.expose_bytes())
                .execute(&mut conn)
                .await
                .doing(MISSING)?;
                if done.rows_affected() == 0 {
                    bail!(
                        "key {id} exists already: key ids are never reused (omit --id to take the next)"
                    );
                }
                eprintln!(
                    "installed context key {id}; give it to the service as {CONTEXT_KEY_ENV} (a secret: it is not shown again)"
                );
                outln!("{CONTEXT_KEY_ENV}={}", key.expose_spec());
            }
            KeyAction::Retire { id, force } => {
                let others: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM tenancy.context_keys WHERE retired_at IS NULL AND key_id <> $1",
                )
                .bind(id)
                .fetch_one(&mut conn)
                .await
                .doing(MISSING)?;
                if others == 0 && !force {
                    bail!(
                        "key {id} is the last key in use: retiring it stops every tenant pool; \
                         install the next with `context-key new` and deploy it first, or pass --force"
                    );
                }
                let done = sqlx::query(
                    "UPDATE tenancy.context_keys SET retired_at = now() WHERE key_id = $1 AND retired_at IS NULL",
                )
                .bind(id)
                .execute(&mut conn)
                .await
                .doing(MISSING)?;
                if done.rows_affected() == 0 {
                    bail!("there is no key {id} in use (see `context-key list`)");
                }
                outln!("retired context key {id}");
            }
            KeyAction::List => {
                let rows = sqlx::query(
                    "SELECT key_id, created_at::text, coalesce(retired_at::text, '') \
                     FROM tenancy.context_keys ORDER BY key_id",
                )
                .fetch_all(&mut conn)
                .await
                .doing(MISSING)?;
                outln!("{:<6} {:<32} retired", "id", "created");
                for row in rows {
                    outln!(
                        "{:<6} {:<32} {}",
                        row.get::<i32, _>(0),
                        row.get::<String, _>(1),
                        row.get::<String, _>(2)
                    );
                }
            }
        }
        Ok(Outcome::Ok)
    })
}

const MISSING: &str = "using tenancy.context_keys (apply the emit-rls migration first, as the tenancy schema's owner)";
