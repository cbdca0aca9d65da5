//! The command line of [tenant-runtime](https://docs.rs/tenant-runtime):
//! `emit-rls`, `check`, `seed`, `init`, `add-table`, `roles`, `context-key`,
//! `compat` and `adopt-node`.
//!
//! The registry only sees the `#[derive(TenantScoped)]` models linked into
//! the running binary, so the command line is a library a binary of yours
//! calls, in the crate that defines the models:
//!
//! ```no_run
//! // src/bin/tenant.rs
//! fn main() -> std::process::ExitCode {
//!     tenant_cli::main()
//! }
//! ```
//!
//! [`Command`] is also a `clap::Subcommand`, to nest the commands under a
//! command line of your own. The `tenant-cli` binary of this crate is the
//! same with no models (fine for `check`, `seed`, `init`, `add-table`).
//!
//! Every command that connects takes `--database-url` (the application
//! role, `$DATABASE_URL`) and `--system-url` (the system role,
//! `$SYSTEM_DATABASE_URL`), read from a `.env` file too, as sqlx-cli
//! does. Exit codes: 0 ok, 1 findings (drift, failed checks, a taken
//! slug), 2 usage or connection error; errors are one line on stderr.
//!
//! # Versioning
//!
//! The commands, their flags, output formats and exit codes are the
//! stable interface and follow semver. The Rust API of this crate follows
//! the command line and is exempt from semver, as sqlx-cli's is.

#![forbid(unsafe_code)]

/// `print!` that ends quietly when stdout is closed early (`tenant check |
/// head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` that ends quietly when stdout is closed early.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod add_table;
mod adopt;
mod catalog;
mod check;
mod compat;
mod context_key;
mod db;
mod emit;
mod init;
mod migrations;
mod roles;
mod seed;
mod skeleton;

use std::process::ExitCode;

use clap::Parser;

pub use add_table::AddTableArgs;
pub use adopt::AdoptNodeArgs;
pub use check::CheckArgs;
pub use compat::CompatArgs;
pub use context_key::{ContextKeyArgs, KeyAction};
pub use db::{AdminArgs, ConnectArgs};
pub use emit::EmitArgs;
pub use init::InitArgs;
pub use roles::RolesArgs;
pub use seed::SeedArgs;

/// How a command ended, when it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to report.
    Ok,
    /// Drift, failed checks or a taken slug were found and printed.
    Findings,
}

/// The commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
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
    /// Print (or apply) the least-privilege roles and grants for the linked
    /// models: the migration owner, the application role, the system role.
    Roles(RolesArgs),
    /// Make, retire or list the context keys tenant pools open their
    /// connections with (`TENANT_CONTEXT_KEY`).
    ContextKey(ContextKeyArgs),
    /// Let a separate role enter tenants with set_config alone, as
    /// @usebetterdev/tenant does (off by default; see SECURITY.md).
    Compat(CompatArgs),
    /// Move a database built by @usebetterdev/tenant to this library's
    /// policies in one transaction, keeping the Node service's role in
    /// compatibility mode (see MIGRATING-FROM-NODE.md).
    AdoptNode(AdoptNodeArgs),
}

impl Command {
    /// Runs the command.
    pub fn run(&self) -> anyhow::Result<Outcome> {
        match self {
            Command::EmitRls(args) => emit::run(args),
            Command::Check(args) => check::run(args),
            Command::Seed(args) => seed::run(args),
            Command::Init(args) => init::run(args),
            Command::AddTable(args) => add_table::run(args),
            Command::Roles(args) => roles::run(args),
            Command::ContextKey(args) => context_key::run(args),
            Command::Compat(args) => compat::run(args),
            Command::AdoptNode(args) => adopt::run(args),
        }
    }
}

/// Tenant isolation for PostgreSQL: emit, check and seed the row-level
/// security set-up of the registered models.
#[derive(Debug, Parser)]
#[command(name = "tenant", version)]
struct Cli {
    /// Do not read a `.env` file.
    #[arg(long, global = true)]
    no_dotenv: bool,
    #[command(subcommand)]
    command: Command,
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

/// `check` against `models` instead of the models linked into the binary:
/// for tools and tests that build model metadata at run time (the
/// registry is fixed when the binary is linked). It prints its report
/// like the command; it starts a runtime of its own, so call it from
/// outside one (`tokio::task::spawn_blocking`).
pub fn check_models(
    args: &CheckArgs,
    models: &[&'static tenant_runtime::meta::TableMeta],
) -> anyhow::Result<Outcome> {
    check::run_with_models(args, models)
}

/// Entry point of the full command line (`tenant <command>`): parses the
/// process arguments, reads `.env`, runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cli.no_dotenv {
        // Like sqlx-cli: a missing file is fine, the variables may be set.
        let _ = dotenvy::dotenv();
    }
    exit(cli.command.run())
}

/// Entry point of an `emit-rls` binary (no database, so no `.env`).
pub fn emit_rls() -> ExitCode {
    exit(emit::run(&EmitRls::parse().args))
}

/// Stops a command that means nothing without models (`emit-rls`,
/// `check`) when none is linked: the usual cause is a binary that calls
/// `tenant_cli::main()` but names nothing of the crate that defines the
/// models, so the linker drops their registrations.
pub(crate) fn require_models(command: &str) -> anyhow::Result<()> {
    if tenant_runtime::registry::tables()?.is_empty() {
        anyhow::bail!(
            "no #[derive(TenantScoped)] model is linked into this binary, so {command} has nothing to work on. \
             The binary must use something of the crate that defines the models, or the linker drops their \
             registrations: add `pub fn link() {{}}` to that crate and call it first, \
             `fn main() -> std::process::ExitCode {{ my_models::link(); tenant_cli::main() }}` \
             (models defined in the binary's own crate are always linked)"
        );
    }
    Ok(())
}

/// The exit code for a command's result; an error is printed as one line.
pub fn exit(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {}", db::one_line(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
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
