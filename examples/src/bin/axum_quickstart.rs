//! Serves the notes API on 127.0.0.1:3000 (or `LISTEN`), connected as the
//! application role in `APP_DATABASE_URL`.

use std::process::ExitCode;

use tenant_runtime::TenantPool;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let Ok(url) = std::env::var("APP_DATABASE_URL") else {
        eprintln!(
            "error: set APP_DATABASE_URL to the application role's URL (not a superuser, no BYPASSRLS)"
        );
        return ExitCode::from(2);
    };
    // The context key comes from TENANT_CONTEXT_KEY (see tenant context-key new).
    let pool = match TenantPool::connect(&url).await {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return ExitCode::from(2);
        }
    };
    tracing::info!(%addr, "listening");
    match axum::serve(listener, tenant_examples::app(pool)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
