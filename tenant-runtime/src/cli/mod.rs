//! The command line, as library entry points for binaries of your own:
//! they must link your models for the registry to see them.
//!
//! ```no_run
//! // src/bin/emit-rls.rs in the crate that defines the models
//! fn main() -> std::process::ExitCode {
//!     tenant_runtime::cli::emit_rls()
//! }
//! ```
//!
//! Exit codes: 0 ok, 1 findings (drift, failed checks), 2 usage or
//! connection error. Errors are one line on stderr.

mod emit;
mod migrations;

use std::process::ExitCode;

use clap::Parser;

pub use emit::EmitArgs;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to report.
    Ok,
    /// Drift or failed checks were found and printed.
    Findings,
}

/// `emit-rls`: prints the row-level security DDL for the registered models,
/// or with `-o DIR` writes it as a sqlx migration, or with `--check DIR`
/// compares it to the newest one.
#[derive(Debug, Parser)]
#[command(name = "emit-rls", version, about, long_about = None)]
struct EmitRls {
    #[command(flatten)]
    args: EmitArgs,
}

/// Entry point of an `emit-rls` binary: parses the process arguments.
pub fn emit_rls() -> ExitCode {
    let cli = EmitRls::parse();
    finish(emit::run(&cli.args))
}

/// Tenant isolation for PostgreSQL: emit, check and seed the row-level
/// security set-up of the registered models.
#[derive(Debug, Parser)]
#[command(name = "tenant", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print the RLS DDL, write it as a sqlx migration (-o), or check a
    /// migration folder for drift (--check).
    EmitRls(EmitArgs),
}

/// Entry point of the full command line (`tenant <command>`): parses the
/// process arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    finish(match &cli.command {
        Command::EmitRls(args) => emit::run(args),
    })
}

fn finish(result: Result<Outcome, String>) -> ExitCode {
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
