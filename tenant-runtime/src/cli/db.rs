//! Connecting, for the commands that talk to a database: errors are one
//! line naming the database, host and role (never the password), and a
//! time limit keeps an unreachable host from hanging the command.

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

/// How long to wait for a server to answer before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a command's async body on a runtime of its own.
pub(crate) fn block_on<T>(body: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?
        .block_on(body)
}

/// Parses a URL given with `flag`.
pub(crate) fn options(url: &str, flag: &str) -> Result<PgConnectOptions, String> {
    const FORM: &str = "write postgres://ROLE[:PASSWORD]@HOST[:PORT]/DATABASE";
    // sqlx takes any scheme, and fills what is missing from PG* variables:
    // a typo would silently connect somewhere else.
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        let scheme = url.split_once("://").map_or("no scheme", |(s, _)| s);
        return Err(format!("{flag} is not a PostgreSQL URL ({scheme}): {FORM}"));
    }
    PgConnectOptions::from_str(url)
        .map_err(|e| format!("{flag} is not a PostgreSQL URL ({}): {FORM}", one_line(&e)))
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

/// One connection to the URL given with `flag`.
pub(crate) async fn connect(url: &str, flag: &str) -> Result<PgConnection, String> {
    let opts = options(url, flag)?;
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&opts)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(connect_error(flag, &opts, &e)),
        Err(_) => Err(timed_out(flag, &opts)),
    }
}

/// A one-connection pool to the URL given with `flag` (for the runtime's
/// pool types). One plain connection is made first: a pool retries until
/// its timeout and then reports only that it timed out, not why.
pub(crate) async fn pool(url: &str, flag: &str) -> Result<PgPool, String> {
    let opts = options(url, flag)?;
    connect(url, flag)
        .await?
        .close()
        .await
        .map_err(|e| connect_error(flag, &opts, &e))?;
    Ok(PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_lazy_with(opts))
}

fn connect_error(flag: &str, opts: &PgConnectOptions, e: &sqlx::Error) -> String {
    format!(
        "{flag}: cannot connect to {}: {}",
        describe(opts),
        one_line(e)
    )
}

fn timed_out(flag: &str, opts: &PgConnectOptions) -> String {
    format!(
        "{flag}: cannot connect to {}: no answer within {}s; check the host, the port and the firewall",
        describe(opts),
        CONNECT_TIMEOUT.as_secs()
    )
}

/// A failed statement: what was being done and what the server said.
pub(crate) fn query_error(doing: &str, e: &sqlx::Error) -> String {
    format!("{doing} failed: {}", one_line(e))
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
