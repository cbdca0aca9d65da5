#!/usr/bin/env bash
# Cold build figures for BENCHMARKS.md (issue 19, item 7): builds a target
# from nothing in a fresh target directory and prints the wall time, the
# CPU time (user + system, steadier than wall time on a shared machine) and
# the number of crates compiled.
#
#   bash scripts/cold-build.sh emit-rls      # cargo build --bin emit-rls, as the README's main job
#   bash scripts/cold-build.sh runtime       # a service that depends on tenant-runtime alone
#   bash scripts/cold-build.sh sqlx          # the same service on sqlx alone, no isolation: the baseline
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
what=${1:?usage: cold-build.sh emit-rls|runtime|sqlx}
target=$(mktemp -d)
trap 'rm -rf "$target"' EXIT

# A scratch crate named $1 whose [dependencies] are stdin, beside the
# workspace's lock file (so the versions are the ones measured); its
# main.rs is written by the caller.
scratch() {
  dir=$(mktemp -d)
  mkdir -p "$dir/src"
  {
    printf '[package]\nname = "%s"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n[dependencies]\n' "$1"
    cat
    printf '\n[workspace]\n'
  } >"$dir/Cargo.toml"
  cp "$root/Cargo.lock" "$dir/Cargo.lock"
  args=(build)
}

case "$what" in
  emit-rls)
    dir=$root
    args=(build --locked --bin emit-rls)
    ;;
  runtime)
    # A crate with one model, as a service that only needs the runtime
    # would have (tenant-runtime, sqlx's FromRow, tokio).
    scratch runtime-only <<TOML
tenant-runtime = { path = "$root/tenant-runtime" }
sqlx = { version = "0.8.6", default-features = false, features = ["postgres", "runtime-tokio", "derive"] }
tokio = { version = "1", features = ["rt-multi-thread", "macros"] }
TOML
    cat >"$dir/src/main.rs" <<'RS'
use tenant_runtime::{TenantId, TenantPool, TenantScoped};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "notes")]
pub struct Note {
    #[tenant(primary_key, generated)]
    pub id: i64,
    pub tenant_id: TenantId,
    pub body: String,
}

#[tokio::main]
async fn main() -> Result<(), tenant_runtime::Error> {
    let url = std::env::var("DATABASE_URL").unwrap_or_default();
    let pool = TenantPool::connect(&url).await?;
    let tenant = TenantId::parse("3f333df6-90a4-4fda-8dd3-9485d27cee36")?;
    let tx = pool.begin(tenant).await?;
    println!("{}", Note::scoped(&tx).count().await?);
    tx.commit().await
}
RS
    ;;
  sqlx)
    # The same service by hand: sqlx, tokio and uuid, the query written out.
    scratch sqlx-only <<TOML
sqlx = { version = "0.8.6", default-features = false, features = ["postgres", "runtime-tokio", "derive", "uuid"] }
tokio = { version = "1", features = ["rt-multi-thread", "macros"] }
uuid = "1"
TOML
    cat >"$dir/src/main.rs" <<'RS'
#[tokio::main]
async fn main() -> Result<(), sqlx::Error> {
    let url = std::env::var("DATABASE_URL").unwrap_or_default();
    let pool = sqlx::PgPool::connect(&url).await?;
    let tenant = uuid::Uuid::parse_str("3f333df6-90a4-4fda-8dd3-9485d27cee36").unwrap();
    let mut tx = pool.begin().await?;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM notes WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(&mut *tx)
        .await?;
    println!("{n}");
    tx.commit().await
}
RS
    ;;
  *)
    echo "unknown target $what: emit-rls, runtime or sqlx" >&2
    exit 2
    ;;
esac

start=$(date +%s.%N)
out=$(cd "$dir" && CARGO_TARGET_DIR="$target" /usr/bin/time -f '%U %S' cargo "${args[@]}" 2>&1)
end=$(date +%s.%N)
cpu=$(printf '%s\n' "$out" | tail -n 1 | awk '{ printf "%.0f", $1 + $2 }')
crates=$(printf '%s\n' "$out" | grep -c '^ *Compiling ' || true)
wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
echo "$what: wall ${wall} s, CPU ${cpu} s, ${crates} crates compiled ($(nproc) cores)"
