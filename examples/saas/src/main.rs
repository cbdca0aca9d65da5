//! `tenant-saas-example serve` runs the service; `tenant-saas-example
//! token` mints a development token. The environment is described in
//! examples/saas/README.md.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tenant_runtime::{TenantId, UserId};
use tenant_saas_example::config::{self, Config, StartError};
use tenant_saas_example::{auth, db, serve};

/// The example SaaS service.
#[derive(Debug, Parser)]
#[command(name = "tenant-saas-example")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply the migrations as the owner and exit (OWNER_DATABASE_URL):
    /// they create `tenancy.context_keys`, which a key is installed into
    /// before the first `serve`.
    Migrate,
    /// Apply the migrations as the owner, then serve the API
    /// (DATABASE_URL, SYSTEM_DATABASE_URL, OWNER_DATABASE_URL, SAAS_JWT_SECRET,
    /// TENANT_CONTEXT_KEY, LISTEN).
    Serve,
    /// Print a development token for a user, in a tenant or in none
    /// (SAAS_JWT_SECRET).
    Token {
        /// The tenant's id; without it the token names no tenant (for
        /// /me/organisations, /switch and /t/{tenant}/.. paths).
        #[arg(long)]
        tenant: Option<TenantId>,
        /// The user's id (`sub`), as /signup answers it.
        #[arg(long)]
        user: UserId,
        /// Seconds until it expires; negative for an expired one.
        #[arg(long, default_value_t = 3600, allow_negative_numbers = true)]
        expires_in: i64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let result = match Cli::parse().command {
        Command::Migrate => migrate().await,
        Command::Serve => run().await,
        Command::Token {
            tenant,
            user,
            expires_in,
        } => token(tenant, user, expires_in),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<(), StartError> {
    let config = Config::from_env()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    serve(&config, listener).await
}

async fn migrate() -> Result<(), StartError> {
    let url = std::env::var(config::OWNER_DATABASE_URL).map_err(|_| StartError::MissingVar {
        name: config::OWNER_DATABASE_URL,
        what: "the migration owner's URL",
    })?;
    db::migrate(db::options(&url, config::OWNER_DATABASE_URL)?).await?;
    println!("migrations applied");
    Ok(())
}

fn token(tenant: Option<TenantId>, user: UserId, expires_in: i64) -> Result<(), StartError> {
    let secret = std::env::var(config::JWT_SECRET).map_err(|_| StartError::MissingVar {
        name: config::JWT_SECRET,
        what: "the HS256 token secret, 32 bytes or more",
    })?;
    let token = match tenant {
        Some(tenant) => auth::mint(&secret, tenant, &user.to_string(), expires_in),
        None => auth::mint_user(&secret, user, expires_in),
    }
    .map_err(StartError::Sign)?;
    println!("{token}");
    Ok(())
}
