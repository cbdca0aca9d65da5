//! What `#[derive(TenantScoped)]` adds to compile time: two generated
//! crates of 50 models each, one deriving `sqlx::FromRow` and
//! `TenantScoped`, the other `sqlx::FromRow` alone, built in one target
//! directory (so their dependencies are built once, before measuring);
//! then each is rebuilt after a touch of its source, alternately, and the
//! median of the per-pair differences is the derive's cost.
//!
//! ```sh
//! cargo bench -p tenant-tests --bench derive_compile
//! ```
//!
//! It runs `cargo build --offline` (debug profile) with the workspace's
//! Cargo.lock, in a temporary directory it removes afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error>;

const MODELS: usize = 50;
const ROUNDS: usize = 7;

fn model_source(derive: bool) -> String {
    let mut out = String::from("#![allow(dead_code)]\nuse tenant_runtime::TenantId;\n");
    if derive {
        out.push_str("use tenant_runtime::TenantScoped;\n");
    }
    for i in 0..MODELS {
        let (derives, table) = if derive {
            (
                "sqlx::FromRow, TenantScoped",
                format!(
                    "#[tenant_table(name = \"table_{i}\", unique(tenant_id, name), index(tenant_id, done))]\n"
                ),
            )
        } else {
            ("sqlx::FromRow", String::new())
        };
        let references = if derive && i > 0 {
            format!("    #[tenant(references = \"table_{}\")]\n", i - 1)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "#[derive(Debug, Clone, {derives})]\n{table}pub struct Model{i} {{\n    pub id: i64,\n    pub tenant_id: TenantId,\n    pub name: String,\n    pub note: Option<String>,\n    pub done: bool,\n    pub score: i32,\n{references}    pub parent_id: Option<i64>,\n}}\n\n"
        ));
    }
    out
}

fn write_crate(
    dir: &Path,
    name: &str,
    derive: bool,
    workspace: &Path,
) -> Result<PathBuf, BoxError> {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("src"))?;
    let runtime = workspace.join("tenant-runtime");
    std::fs::write(
        root.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\ntenant-runtime = {{ path = {runtime:?} }}\nsqlx = {{ version = \"0.8\", default-features = false, features = [\"postgres\", \"runtime-tokio\", \"uuid\", \"macros\"] }}\n\n[workspace]\n"
        ),
    )?;
    std::fs::copy(workspace.join("Cargo.lock"), root.join("Cargo.lock"))?;
    std::fs::write(root.join("src/lib.rs"), model_source(derive))?;
    Ok(root)
}

fn build(root: &Path, target: &Path) -> Result<Duration, BoxError> {
    // Touching the source makes cargo rebuild this crate alone.
    let lib = root.join("src/lib.rs");
    let text = std::fs::read_to_string(&lib)?;
    std::fs::write(&lib, text)?;
    let start = Instant::now();
    let status = Command::new(env!("CARGO"))
        .args(["build", "--offline", "--quiet"])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target)
        .status()?;
    let took = start.elapsed();
    if !status.success() {
        return Err(format!("cargo build failed in {}", root.display()).into());
    }
    Ok(took)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), BoxError> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace")?;
    let dir = std::env::temp_dir().join(format!("tenant-derive-compile-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = (|| -> Result<(), BoxError> {
        let target = dir.join("target");
        let with = write_crate(&dir, "models_derived", true, workspace)?;
        let without = write_crate(&dir, "models_plain", false, workspace)?;
        // Dependencies, once.
        build(&with, &target)?;
        build(&without, &target)?;
        let (mut derived, mut plain, mut added) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let (d, p) = if round % 2 == 0 {
                let d = build(&with, &target)?;
                (d, build(&without, &target)?)
            } else {
                let p = build(&without, &target)?;
                (build(&with, &target)?, p)
            };
            derived.push(d.as_secs_f64());
            plain.push(p.as_secs_f64());
            added.push(d.as_secs_f64() - p.as_secs_f64());
        }
        let range = |v: &[f64]| {
            let min = v.iter().copied().fold(f64::INFINITY, f64::min);
            let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{min:.2} to {max:.2}")
        };
        println!(
            "| {MODELS} models, cargo build (debug), rebuild of the crate | seconds, median of {ROUNDS} | range |\n| --- | ---: | --- |\n| sqlx::FromRow only | {:.2} | {} |\n| sqlx::FromRow + TenantScoped | {:.2} | {} |\n| added by TenantScoped (per-round difference) | {:.2} | {} |",
            median(plain.clone()),
            range(&plain),
            median(derived.clone()),
            range(&derived),
            median(added.clone()),
            range(&added)
        );
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
