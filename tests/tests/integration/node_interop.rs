//! The move from @usebetterdev/tenant (MIGRATING-FROM-NODE.md), run end to
//! end against the real npm package (tests/node-interop, installed by
//! scripts/test-services.sh with `npm ci`): a database built by the Node
//! package's schema and its CLI's `migrate` output, an unmodified Node
//! server answering throughout, the documented command sequence, and then
//! the Rust `TenantPool` and the Node service sharing rows with isolation.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Executor as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_runtime::tx::ContextKey;
use tenant_runtime::{SystemPool, TenantId, TenantPool};
use tenant_tests::Project;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::cli_common::{stderr, stdout, tenant};

/// tests/node-interop, with its node_modules.
fn node_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("node-interop");
    assert!(
        dir.join("node_modules/@usebetterdev/tenant").is_dir(),
        "{}/node_modules is missing: run scripts/test-services.sh (it runs `npm ci` there)",
        dir.display()
    );
    dir
}

/// The Node package's CLI (`npx tenant-cli ..`), with telemetry and
/// colours off.
fn node_cli(args: &[&str]) -> std::process::Output {
    let out = Command::new("node")
        .arg("node_modules/@usebetterdev/tenant-cli/dist/cli.js")
        .args(args)
        .current_dir(node_dir())
        .env("BETTER_TENANT_TELEMETRY", "0")
        // Plain text to parse: the CLI colours its output when it sees a
        // CI variable (CI runs the tests with CI=true).
        .env("NO_COLOR", "1")
        .env_remove("FORCE_COLOR")
        .env_remove("CI")
        .env_remove("DATABASE_URL")
        .output()
        .expect("node runs (Node 20 is needed)");
    assert!(
        out.status.success(),
        "tenant-cli {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// The server of `DATABASE_URL` (a superuser), on database `db`.
fn admin(db: &str) -> PgConnectOptions {
    let url = std::env::var("DATABASE_URL").expect("the tests run with DATABASE_URL set");
    PgConnectOptions::from_str(&url)
        .expect("DATABASE_URL parses")
        .database(db)
}

fn url(opts: &PgConnectOptions, role: &str) -> String {
    format!(
        "postgres://{role}@{}:{}/{}",
        opts.get_host(),
        opts.get_port(),
        opts.get_database().expect("a database is named")
    )
}

/// The admin's URL on the test database.
fn admin_url(opts: &PgConnectOptions) -> String {
    url(opts, opts.get_username())
}

/// One HTTP/1.1 request to the Node server: status and JSON body.
async fn http(
    port: u16,
    method: &str,
    path: &str,
    tenant: Option<TenantId>,
    body: Option<Value>,
) -> std::io::Result<(u16, Value)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some(t) = tenant {
        request.push_str(&format!("x-tenant-id: {t}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP response: {text}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status: {head}")))?;
    let value =
        serde_json::from_str(body).map_err(|e| std::io::Error::other(format!("{e}: {body}")))?;
    Ok((status, value))
}

/// The Node server, stopped when dropped.
struct NodeServer {
    child: Child,
    port: u16,
    /// Kept open, so the server's later writes to stdout do not fail.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl NodeServer {
    async fn start(database_url: &str) -> NodeServer {
        let mut child = Command::new("node")
            .arg("server.mjs")
            .current_dir(node_dir())
            .env("DATABASE_URL", database_url)
            .env("BETTER_TENANT_TELEMETRY", "0")
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().unwrap();
        let read = tokio::task::spawn_blocking(move || {
            use std::io::BufRead as _;
            let mut reader = std::io::BufReader::new(stdout);
            let mut line = String::new();
            reader.read_line(&mut line).map(|_| (line, reader))
        });
        let (line, reader) = tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("the Node server starts within 30 s")
            .unwrap()
            .expect("the Node server prints `listening <port>`");
        let line = line.trim().to_owned();
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"));
        NodeServer {
            child,
            port,
            _stdout: reader,
        }
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the load against the Node server saw.
#[derive(Debug, Default)]
struct Load {
    requests: u64,
    failures: Vec<String>,
    wrong: Vec<String>,
    /// When each request ended.
    done_at: Vec<Instant>,
}

/// Inserts a project for each tenant in turn through Node and reads the
/// tenant's projects back, until `stop`: every answer must be a success,
/// the row must carry the tenant, and the list must hold the tenant's
/// rows only, the new one included.
async fn node_load(port: u16, tenants: [TenantId; 2], stop: Arc<AtomicBool>) -> Load {
    let mut load = Load::default();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let tenant = tenants[(i % 2) as usize];
        let name = format!("node-{i}");
        let inserted = http(
            port,
            "POST",
            "/projects",
            Some(tenant),
            Some(serde_json::json!({ "name": name })),
        )
        .await;
        load.requests += 1;
        load.done_at.push(Instant::now());
        let id = match inserted {
            Ok((201, row)) => {
                if row["tenantId"] != tenant.to_string() || row["name"] != name {
                    load.wrong
                        .push(format!("insert for {tenant} answered {row}"));
                }
                row["id"].clone()
            }
            Ok((status, body)) => {
                load.failures.push(format!("POST {status}: {body}"));
                Value::Null
            }
            Err(e) => {
                load.failures.push(format!("POST: {e}"));
                Value::Null
            }
        };
        let listed = http(port, "GET", "/projects", Some(tenant), None).await;
        load.requests += 1;
        load.done_at.push(Instant::now());
        match listed {
            Ok((200, Value::Array(rows))) => {
                if let Some(row) = rows.iter().find(|r| r["tenantId"] != tenant.to_string()) {
                    load.wrong
                        .push(format!("tenant {tenant} read another tenant's row {row}"));
                }
                if !id.is_null() && !rows.iter().any(|r| r["id"] == id) {
                    load.wrong
                        .push(format!("tenant {tenant} did not read back its row {id}"));
                }
            }
            Ok((status, body)) => load.failures.push(format!("GET {status}: {body}")),
            Err(e) => load.failures.push(format!("GET: {e}")),
        }
        i += 1;
    }
    load
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_database_moves_to_this_library_with_the_node_service_up() {
    let dir = node_dir();
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let database = format!("tt_node_{suffix}");
    let [migrator, node, app, system] =
        ["migrator", "node", "app", "system"].map(|r| format!("tn_{suffix}_{r}"));
    let server = admin("postgres");
    let root = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(server.clone())
        .await
        .unwrap();
    // The Node deployment: a migration role that owns the database and its
    // tables, and the service's role, which is neither owner nor superuser.
    for sql in [
        format!("CREATE ROLE {migrator} LOGIN"),
        format!("CREATE ROLE {node} LOGIN"),
        format!("CREATE DATABASE {database} OWNER {migrator}"),
    ] {
        root.execute(sql.as_str()).await.unwrap();
    }
    let opts = admin(&database);
    let as_migrator = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts.clone().username(&migrator))
        .await
        .unwrap();
    // The ORM's schema, then what the Node CLI's `migrate` prints.
    let schema = std::fs::read_to_string(dir.join("schema.sql")).unwrap();
    as_migrator.execute(schema.as_str()).await.unwrap();
    let node_rls = stdout(&node_cli(&["migrate", "--dry-run"]));
    assert!(node_rls.contains("set_tenant_id_trigger"), "{node_rls}");
    as_migrator.execute(node_rls.as_str()).await.unwrap();
    as_migrator
        .execute(format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {node}; GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {node}").as_str())
        .await
        .unwrap();
    as_migrator.close().await;
    // Two tenants, made by the Node CLI's seed (app.bypass_rls).
    let node_url = url(&opts, &node);
    let mut tenants = Vec::new();
    for name in ["Acme", "Globex"] {
        let out = stdout(&node_cli(&[
            "seed",
            "--name",
            name,
            "--database-url",
            &node_url,
        ]));
        let id = out.lines().last().unwrap().trim().to_owned();
        tenants.push(TenantId::from_str(&id).unwrap_or_else(|e| panic!("{e}: {out}")));
    }
    let tenants: [TenantId; 2] = [tenants[0], tenants[1]];

    // `tenant init` recognises the database and says what to run.
    let init_dir = std::env::temp_dir().join(format!("tt_node_init_{suffix}"));
    let init = tenant(&[
        "init",
        "--database-url",
        &node_url,
        "-o",
        init_dir.to_str().unwrap(),
    ]);
    assert_eq!(init.status.code(), Some(0), "{}", stderr(&init));
    assert!(
        stdout(&init).contains("built by @usebetterdev/tenant")
            && stdout(&init).contains("tenant adopt-node --node-role"),
        "{}",
        stdout(&init)
    );
    std::fs::remove_dir_all(&init_dir).unwrap();

    let server_node = NodeServer::start(&node_url).await;
    let port = server_node.port;
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(node_load(port, tenants, stop.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The documented sequence (MIGRATING-FROM-NODE.md), with the load on.
    let admin_url = admin_url(&opts);
    let names = [
        "--owner-role",
        &migrator,
        "--app-role",
        &app,
        "--system-role",
        &system,
    ];
    let mut roles = vec!["roles", "--compat-role", &node];
    roles.extend_from_slice(&names);
    roles.extend_from_slice(&["--apply", "--admin-url", &admin_url]);
    let run = |args: &[&str]| {
        let out = tenant(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "tenant {args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    };
    let roles_out = tokio::task::block_in_place(|| run(&roles));
    assert!(roles_out.contains("compatibility role"), "{roles_out}");
    let mut adopt = vec![
        "adopt-node",
        "--node-role",
        &node,
        "--app-role",
        &app,
        "--system-role",
        &system,
    ];
    adopt.extend_from_slice(&["--apply", "--admin-url", &admin_url]);
    let adopt_started = Instant::now();
    let adopted = tokio::task::block_in_place(|| run(&adopt));
    let adopt_ended = Instant::now();
    assert!(
        adopted.contains("1 Node trigger(s), 1 index(es) and 1 foreign key(s) dropped"),
        "{adopted}"
    );
    let key_out = tokio::task::block_in_place(|| {
        run(&["context-key", "new", "--admin-url", &url(&opts, &migrator)])
    });
    let key = key_out
        .lines()
        .find_map(|l| l.strip_prefix("TENANT_CONTEXT_KEY="))
        .map(|k| ContextKey::from_str(k.trim()).unwrap())
        .unwrap_or_else(|| panic!("no key in: {key_out}"));
    let app_url = url(&opts, &app);
    let system_url = url(&opts, &system);
    let check = tokio::task::block_in_place(|| {
        tenant(&[
            "check",
            "--database-url",
            &app_url,
            "--system-url",
            &system_url,
        ])
    });
    assert_eq!(
        check.status.code(),
        Some(0),
        "check after the move: {}",
        stdout(&check)
    );
    // Running the move again changes nothing and says so.
    let again = tokio::task::block_in_place(|| run(&adopt));
    assert!(
        again.contains("0 Node trigger(s), 0 index(es) and 0 foreign key(s) dropped"),
        "{again}"
    );
    // check names a sequence grant the application role lacks (inserts
    // into Node's bigserial table would fail), and roles gives it back.
    let as_owner = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(opts.clone().username(&migrator))
        .await
        .unwrap();
    as_owner
        .execute(format!("REVOKE USAGE, SELECT ON SEQUENCE projects_id_seq FROM {app}").as_str())
        .await
        .unwrap();
    let check_args = [
        "check",
        "--database-url",
        &app_url,
        "--system-url",
        &system_url,
    ];
    let missing = tokio::task::block_in_place(|| tenant(&check_args));
    assert_eq!(missing.status.code(), Some(1), "{}", stdout(&missing));
    assert!(
        stdout(&missing).contains("may not use sequence projects_id_seq"),
        "{}",
        stdout(&missing)
    );
    let roles_again = tokio::task::block_in_place(|| run(&roles));
    assert!(roles_again.contains("compatibility role"), "{roles_again}");
    let fixed = tokio::task::block_in_place(|| tenant(&check_args));
    assert_eq!(fixed.status.code(), Some(0), "{}", stdout(&fixed));
    as_owner.close().await;

    // The load goes on a little after the move, then stops.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let load = load.await.unwrap();
    let during = load
        .done_at
        .iter()
        .filter(|t| **t >= adopt_started && **t <= adopt_ended)
        .count();
    let after = load.done_at.iter().filter(|t| **t > adopt_ended).count();
    let before = load.done_at.iter().filter(|t| **t < adopt_started).count();
    eprintln!(
        "node interop: {} Node requests answered: {before} before adopt-node, {during} while it ran ({:?}), {after} after it; {} failures, {} wrong answers",
        load.requests,
        adopt_ended - adopt_started,
        load.failures.len(),
        load.wrong.len()
    );
    assert!(load.failures.is_empty(), "{:#?}", load.failures);
    assert!(load.wrong.is_empty(), "{:#?}", load.wrong);
    // Answers on both sides of the move (and none failed or was wrong
    // in between, whenever they landed).
    assert!(
        before >= 2 && after >= 2,
        "the Node service answered before and after the move: {load:?}"
    );

    // The Rust side: a TenantPool (the application role: no superuser, no
    // BYPASSRLS, owns nothing) reads Node's rows of its tenant only, and
    // Node reads the Rust rows the same way.
    let pool = TenantPool::options()
        .context_key(key)
        .max_connections(2)
        .connect_with(opts.clone().username(&app))
        .await
        .unwrap();
    let [a, b] = tenants;
    let tx = pool.begin(a).await.unwrap();
    let rust_rows = Project::scoped(&tx).all().await.unwrap();
    assert!(
        rust_rows.len() >= 2 && rust_rows.iter().all(|p| p.tenant_id == a),
        "{rust_rows:?}"
    );
    let mine = Project::scoped(&tx)
        .insert(&Project {
            id: 0,
            tenant_id: a,
            name: "from-rust".to_owned(),
        })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (_, a_rows) = http(port, "GET", "/projects", Some(a), None).await.unwrap();
    assert!(
        a_rows
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == mine.id),
        "{a_rows}"
    );
    let (_, b_rows) = http(port, "GET", "/projects", Some(b), None).await.unwrap();
    assert!(
        b_rows
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["tenantId"] == b.to_string()),
        "{b_rows}"
    );
    assert!(!b_rows.as_array().unwrap().is_empty());
    // Node may no longer write another tenant's row (its own DDL allowed it).
    let (status, body) = http(
        port,
        "POST",
        "/projects",
        Some(a),
        Some(serde_json::json!({ "name": "x", "tenantId": b.to_string() })),
    )
    .await
    .unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (500, Some("TN003")),
        "{body}"
    );

    // The Node package's system path, for the compatibility role:
    // createTenant, updateTenant, deleteTenant and the CLI's seed work on
    // the tenants table; runAsSystem on a tenant table fails loudly.
    let (status, created) = http(
        port,
        "POST",
        "/tenants",
        None,
        Some(serde_json::json!({ "name": "Initech", "slug": "initech" })),
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{created}");
    let initech = created["id"].as_str().unwrap().to_owned();
    let (status, renamed) = http(
        port,
        "PATCH",
        &format!("/tenants/{initech}"),
        None,
        Some(serde_json::json!({ "name": "Initrode" })),
    )
    .await
    .unwrap();
    assert_eq!(
        (status, renamed["name"].as_str()),
        (200, Some("Initrode")),
        "{renamed}"
    );
    let (status, _) = http(port, "DELETE", &format!("/tenants/{initech}"), None, None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (_, listed) = http(port, "GET", "/tenants", None, None).await.unwrap();
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == initech.as_str()),
        "deleteTenant deleted: {listed}"
    );
    let seeded = stdout(&node_cli(&[
        "seed",
        "--name",
        "Umbrella",
        "--database-url",
        &node_url,
    ]));
    assert!(seeded.contains("Created tenant"), "{seeded}");
    let (status, body) = http(port, "GET", "/system/projects", None, None)
        .await
        .unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (500, Some("TN001")),
        "{body}"
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("compatibility role"),
        "{body}"
    );

    // A soft-deleted tenant is closed to Node too, with a TN code.
    let sys = SystemPool::options()
        .max_connections(1)
        .connect_with(opts.clone().username(&system))
        .await
        .unwrap();
    let stx = sys.begin().await.unwrap();
    stx.tenants().delete(b).await.unwrap();
    stx.commit().await.unwrap();
    let (status, body) = http(port, "GET", "/projects", Some(b), None).await.unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (500, Some("TN004")),
        "{body}"
    );

    // An id no tenant has is refused too (the Node package's own policy
    // answered with no rows).
    let unknown = TenantId::from(uuid::Uuid::new_v4());
    let (status, body) = http(port, "GET", "/projects", Some(unknown), None)
        .await
        .unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (500, Some("TN002")),
        "{body}"
    );

    // The application role cannot be made a compatibility role.
    let refused = tokio::task::block_in_place(|| {
        tenant(&[
            "compat",
            "--allow-role",
            &app,
            "--admin-url",
            &url(&opts, &migrator),
        ])
    });
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("records it as the application role"),
        "{}",
        stderr(&refused)
    );

    drop(server_node);
    pool.close();
    sys.close();
    root.execute(format!("DROP DATABASE {database} WITH (FORCE)").as_str())
        .await
        .unwrap();
    for role in [&app, &system, &node, &migrator] {
        root.execute(format!("DROP ROLE {role}").as_str())
            .await
            .unwrap();
    }
    root.close().await;
}
