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

/// `print!` that ends quietly when stdout is closed early (`tenant check |
/// head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` that ends quietly when stdout is closed early.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod add_table;
mod catalog;
mod check;
mod db;
mod emit;
mod init;
mod migrations;
mod seed;
mod skeleton;

use std::process::ExitCode;

use clap::Parser;

pub use add_table::AddTableArgs;
pub use check::CheckArgs;
pub use emit::EmitArgs;
pub use init::InitArgs;
pub use seed::SeedArgs;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to report.
    Ok,
    /// Drift or failed checks were found and printed.
    Findings,
}

/// Print the row-level security DDL for the registered models, write it as
/// a sqlx migration (-o DIR), or check a migration folder for drift
/// (--check DIR).
#[derive(Debug, Parser)]
#[command(name = "emit-rls", version)]
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
#[command(name = "tenant", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print the RLS DDL, write it as a sqlx migration (-o), or check a
    /// migration folder for drift (--check).
    EmitRls(EmitArgs),
    /// Validate a live database's tenant isolation as the application role
    /// (roles, policies, keys, grants, views, drift from the models) and
    /// probe it in a transaction that is always rolled back.
    #[command(
        after_help = "Exit codes: 0 when no validation of severity error failed, 1 when one did \
                            (or a warning, with --strict), 2 on a usage or connection error."
    )]
    Check(CheckArgs),
    /// Create a tenant through the system role and print its id.
    #[command(
        after_help = "Exit codes: 0 created, 1 the --slug is taken (nothing created; with \
                            --json the tenant that has it is printed), 2 on a usage or connection error."
    )]
    Seed(SeedArgs),
    /// Write model skeletons and the first RLS migration from an existing
    /// database's tables that have a tenant column.
    Init(InitArgs),
    /// Print the model skeleton of one table of the database.
    AddTable(AddTableArgs),
}

/// Entry point of the full command line (`tenant <command>`): parses the
/// process arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    finish(match &cli.command {
        Command::EmitRls(args) => emit::run(args),
        Command::Check(args) => check::run(args),
        Command::Seed(args) => seed::run(args),
        Command::Init(args) => init::run(args),
        Command::AddTable(args) => add_table::run(args),
    })
}

/// What `out!` and `outln!` call.
fn write_stdout(text: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    if let Err(e) = std::io::stdout().lock().write_fmt(text)
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write to stdout: {e}");
    }
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
