//! Connecting, for the commands that talk to a database: the URL flags
//! every command shares, errors that name the database, host and role
//! (never the password), and a time limit so an unreachable host does not
//! hang the command.

use std::str::FromStr as _;
use std::time::Duration;

use anyhow::{Context as _, bail};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// How long to wait for a server to answer before giving up.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection flags of every command that talks to a database. Each
/// falls back to its environment variable, read after `.env` is loaded
/// (as sqlx-cli does).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectArgs {
    /// Connection URL of the application role, the one your service's
    /// `TenantPool` logs in as [env: DATABASE_URL].
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Connection URL of the system role, the one your `SystemPool` logs in
    /// as (BYPASSRLS) [env: SYSTEM_DATABASE_URL].
    #[arg(long, value_name = "URL")]
    pub system_url: Option<String>,
}

/// The URL of an administrator: a role that may change what the
/// application role may not (the migration owner, or a superuser).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AdminArgs {
    /// Connection URL of a role that owns the tenancy schema or is a
    /// superuser [env: ADMIN_DATABASE_URL].
    // Global, so `context-key new --admin-url URL` works as well as
    // `context-key --admin-url URL new`.
    #[arg(long, value_name = "URL", global = true)]
    pub admin_url: Option<String>,
}

impl AdminArgs {
    /// The admin URL, or an error saying how to give it and why.
    pub(crate) fn require(&self, why: &str) -> anyhow::Result<Url> {
        given(&self.admin_url, "--admin-url", "ADMIN_DATABASE_URL").with_context(|| {
            format!("no admin role: pass --admin-url URL or set ADMIN_DATABASE_URL; {why}")
        })
    }
}

/// A URL given by flag or environment variable.
#[derive(Debug, Clone)]
pub(crate) struct Url {
    pub(crate) text: String,
    /// `--database-url`, for messages.
    pub(crate) flag: &'static str,
}

impl ConnectArgs {
    /// The application role's URL, if given.
    pub(crate) fn app(&self) -> Option<Url> {
        given(&self.database_url, "--database-url", "DATABASE_URL")
    }

    /// The system role's URL, if given.
    pub(crate) fn system(&self) -> Option<Url> {
        given(&self.system_url, "--system-url", "SYSTEM_DATABASE_URL")
    }

    /// The application role's URL, or an error saying how to give it.
    pub(crate) fn require_app(&self, why: &str) -> anyhow::Result<Url> {
        self.app().with_context(|| {
            format!("no database: pass --database-url URL (the application role's) or set DATABASE_URL; {why}")
        })
    }

    /// The system role's URL, or an error saying how to give it.
    pub(crate) fn require_system(&self, why: &str) -> anyhow::Result<Url> {
        self.system().with_context(|| {
            format!("no system role: pass --system-url URL (the system role's, BYPASSRLS) or set SYSTEM_DATABASE_URL; {why}")
        })
    }
}

pub(crate) fn given(flag_value: &Option<String>, flag: &'static str, env: &str) -> Option<Url> {
    flag_value
        .clone()
        .or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()))
        .map(|text| Url { text, flag })
}

/// Runs a command's async body on a runtime of its own.
pub(crate) fn block_on<T>(body: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(body)
}

impl Url {
    /// The parsed options.
    pub(crate) fn options(&self) -> anyhow::Result<PgConnectOptions> {
        const FORM: &str = "write postgres://ROLE[:PASSWORD]@HOST[:PORT]/DATABASE";
        // sqlx takes any scheme, and fills what is missing from PG*
        // variables: a typo would silently connect somewhere else.
        if !(self.text.starts_with("postgres://") || self.text.starts_with("postgresql://")) {
            let scheme = self.text.split_once("://").map_or("no scheme", |(s, _)| s);
            bail!("{} is not a PostgreSQL URL ({scheme}): {FORM}", self.flag);
        }
        PgConnectOptions::from_str(&self.text).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a PostgreSQL URL ({}): {FORM}",
                self.flag,
                one_line(&e)
            )
        })
    }

    /// One connection.
    pub(crate) async fn connect(&self) -> anyhow::Result<PgConnection> {
        let opts = self.options()?;
        let doing = || format!("{}: cannot connect to {}", self.flag, describe(&opts));
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&opts)).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(anyhow::anyhow!("{}", one_line(&e))).context(doing()),
            Err(_) => Err(anyhow::anyhow!(
                "no answer within {}s; check the host, the port and the firewall",
                CONNECT_TIMEOUT.as_secs()
            ))
            .context(doing()),
        }
    }

    /// Checks the server answers (with one plain connection, whose error
    /// says why, unlike a pool's timeout), then gives the options for a
    /// runtime pool.
    pub(crate) async fn reachable(&self) -> anyhow::Result<PgConnectOptions> {
        self.connect().await?.close().await.ok();
        self.options()
    }
}

/// `database "app" on 127.0.0.1:5432 as role "svc"`.
pub(crate) fn describe(opts: &PgConnectOptions) -> String {
    format!(
        "database {:?} on {}:{} as role {:?}",
        opts.get_database().unwrap_or(opts.get_username()),
        opts.get_host(),
        opts.get_port(),
        opts.get_username()
    )
}

/// The error on one line: the server's message when there is one (the
/// wrapper's "error returned from database" adds nothing).
pub(crate) fn one_line(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let text = text
        .strip_prefix("error returned from database: ")
        .unwrap_or(&text);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Adds what was being done to a failed statement's error, whose own
/// message is cut to one line: `reading the catalog: permission denied ..`.
pub(crate) trait QueryContext<T> {
    /// The error, in the context of `doing`.
    fn doing(self, doing: &str) -> anyhow::Result<T>;
}

impl<T, E: std::fmt::Display> QueryContext<T> for Result<T, E> {
    fn doing(self, doing: &str) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::anyhow!("{}", one_line(&e)))
            .with_context(|| doing.to_owned())
    }
}
