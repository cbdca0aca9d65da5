#!/usr/bin/env bash
# Everything the test suite needs besides PostgreSQL on 127.0.0.1:5432,
# installed and started if missing (idempotent, so running it again is
# quick):
#
# - the tenant_context extension (tenant-context/, built with pgrx) in the
#   server's extension directory, with Debian's postgresql-server-dev and
#   libclang, and a pinned cargo-pgrx;
# - PgBouncer in transaction mode on 127.0.0.1:6432, in front of 5432;
# - a primary on 127.0.0.1:5434 and its streaming hot standby on
#   127.0.0.1:5435 (made with pg_basebackup), for the replica tests: two
#   clusters of their own, so the 5432 cluster's settings stay as they are;
# - the Node harness of the move from @usebetterdev/tenant
#   (tests/node-interop: the npm package pinned by its package-lock.json),
#   with `npm ci` when node_modules does not match the lock file (needs
#   Node 20 and npm, and the npm registry).
#
# Needs root (apt, the extension directory, pg_createcluster).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_MAJOR=15
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
PGRX_VERSION=0.18.1
PGBOUNCER_DIR=/var/lib/postgresql/tenant-pgbouncer
PRIMARY=tenant_primary
STANDBY=tenant_standby

say() { echo "test-services: $*"; }

wait_ready() { # port
  for _ in $(seq 120); do
    pg_isready -h 127.0.0.1 -p "$1" -q && return 0
    sleep 0.5
  done
  pg_isready -h 127.0.0.1 -p "$1"
}

# 1. Packages.
missing=()
for pkg in pgbouncer "postgresql-server-dev-$PG_MAJOR" libclang-dev clang; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. The extension.
if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
  say "installing cargo-pgrx $PGRX_VERSION"
  cargo install cargo-pgrx --version "=$PGRX_VERSION" --locked --quiet
fi
if ! grep -q "pg$PG_MAJOR" "${PGRX_HOME:-$HOME/.pgrx}/config.toml" 2>/dev/null; then
  cargo pgrx init --pg$PG_MAJOR "$PG_CONFIG" >/dev/null
fi
say "building and installing the tenant_context extension"
log=$(mktemp)
(cd tenant-context && cargo build --release --locked && cargo pgrx install --release --pg-config "$PG_CONFIG") >"$log" 2>&1 || {
  cat "$log" >&2
  exit 1
}
rm -f "$log"

# 3. PgBouncer, transaction mode. DISCARD ALL when a server connection is
# released, even in transaction mode: a transaction that SQL ended early
# must not leave its session state to the next client (SECURITY.md).
if ! pg_isready -h 127.0.0.1 -p 6432 -q 2>/dev/null; then
  say "starting PgBouncer on 6432"
  mkdir -p "$PGBOUNCER_DIR"
  cat > "$PGBOUNCER_DIR/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = 6432
unix_socket_dir =
auth_type = trust
auth_file = $PGBOUNCER_DIR/users.txt
pool_mode = transaction
server_reset_query = DISCARD ALL
server_reset_query_always = 1
max_client_conn = 1000
default_pool_size = 20
ignore_startup_parameters = extra_float_digits
logfile = $PGBOUNCER_DIR/pgbouncer.log
pidfile = $PGBOUNCER_DIR/pgbouncer.pid
INI
  # Every login role the tests use (trust still looks the name up here).
  : > "$PGBOUNCER_DIR/users.txt"
  for role in postgres tenant_rt_app tenant_rt_system saas_app saas_system saas_owner tenant_members_app tenant_members_system; do
    echo "\"$role\" \"\"" >> "$PGBOUNCER_DIR/users.txt"
  done
  chown -R postgres:postgres "$PGBOUNCER_DIR"
  su -s /bin/sh postgres -c "pgbouncer -d $PGBOUNCER_DIR/pgbouncer.ini"
  wait_ready 6432
fi

# 4. A primary and its hot standby, for the replica tests.
if ! pg_lsclusters -h | awk '{print $2}' | grep -qx "$PRIMARY"; then
  say "creating the replica tests' primary on 5434"
  pg_createcluster "$PG_MAJOR" "$PRIMARY" -p 5434 -- --auth-local=trust --auth-host=trust >/dev/null
fi
pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" "$PRIMARY" start >/dev/null 2>&1 || true
wait_ready 5434
if ! pg_lsclusters -h | awk '{print $2}' | grep -qx "$STANDBY"; then
  say "creating the hot standby on 5435 with pg_basebackup"
  pg_createcluster "$PG_MAJOR" "$STANDBY" -p 5435 -- --auth-local=trust --auth-host=trust >/dev/null
  data=$(pg_lsclusters -h | awk -v c="$STANDBY" '$2 == c {print $6}')
  find "$data" -mindepth 1 -delete
  su -s /bin/sh postgres -c "pg_basebackup -h 127.0.0.1 -p 5434 -U postgres -D '$data' -R -X stream -c fast"
fi
pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" "$STANDBY" start >/dev/null 2>&1 || true
wait_ready 5435
[ "$(psql -h 127.0.0.1 -p 5435 -U postgres -Atc 'SELECT pg_is_in_recovery()' postgres)" = t ] || {
  echo "test-services: the cluster on 5435 is not a hot standby" >&2
  exit 1
}
# The Node harness (tests/tests/integration/node_interop.rs). npm writes
# node_modules/.package-lock.json when it installs: equal to the lock file
# means nothing to do.
NODE_DIR=tests/node-interop
command -v node >/dev/null && command -v npm >/dev/null || {
  echo "test-services: node and npm are needed for $NODE_DIR (Node 20 or later)" >&2
  exit 1
}
if ! node -e '
  const fs = require("fs");
  const want = JSON.parse(fs.readFileSync(process.argv[1] + "/package-lock.json")).packages;
  const have = JSON.parse(fs.readFileSync(process.argv[1] + "/node_modules/.package-lock.json")).packages;
  for (const [k, v] of Object.entries(want)) if (k && !v.optional && (!have[k] || have[k].version !== v.version)) process.exit(1);
' "$NODE_DIR" 2>/dev/null; then
  say "installing the Node harness ($NODE_DIR, npm ci)"
  (cd "$NODE_DIR" && BETTER_TENANT_TELEMETRY=0 npm ci --no-audit --no-fund --loglevel=error)
fi
say "ready: PgBouncer 6432, primary 5434, standby 5435, tenant_context installed, Node harness in $NODE_DIR"
