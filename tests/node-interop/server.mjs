// An unmodified @usebetterdev/tenant service (plain node:http, drizzle, pg),
// as its README wires it: the tenant comes from the x-tenant-id header.
// Started by tests/tests/integration/node_interop.rs; prints
// `listening <port>` once it answers. DATABASE_URL is the Node role's.
import http from "node:http";
import { drizzle } from "drizzle-orm/node-postgres";
import { pgTable, bigserial, text } from "drizzle-orm/pg-core";
import { sql } from "drizzle-orm";
import pg from "pg";
import { betterTenant } from "@usebetterdev/tenant";
import { drizzleDatabase, tenantId } from "@usebetterdev/tenant/drizzle";

const projects = pgTable("projects", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  ...tenantId,
  name: text("name").notNull(),
});

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
const database = drizzle(pool);
const tenant = betterTenant({
  database: drizzleDatabase(database),
  tenantResolver: { header: "x-tenant-id" },
  loadTenant: false,
  telemetry: { enabled: false },
});

function body(req) {
  return new Promise((resolve, reject) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => resolve(data ? JSON.parse(data) : {}));
    req.on("error", reject);
  });
}

function send(res, status, value) {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

// The database error's SQLSTATE and message, wherever drizzle put it.
function failure(err) {
  const cause = err?.cause ?? err;
  return { error: String(cause?.message ?? err), code: cause?.code ?? null };
}

async function route(req, res) {
  const url = new URL(req.url, "http://localhost");
  const id = req.headers["x-tenant-id"];
  const parts = url.pathname.split("/").filter(Boolean);
  if (parts[0] === "projects" && req.method === "GET") {
    const rows = await tenant.runAs(id, (db) => db.select().from(projects).orderBy(projects.id));
    return send(res, 200, rows);
  }
  if (parts[0] === "projects" && req.method === "POST") {
    const input = await body(req);
    const values = input.tenantId ? { name: input.name, tenantId: input.tenantId } : { name: input.name };
    const rows = await tenant.runAs(id, (db) => db.insert(projects).values(values).returning());
    return send(res, 201, rows[0]);
  }
  if (parts[0] === "system" && parts[1] === "projects" && req.method === "GET") {
    const rows = await tenant.runAsSystem((db) => db.select().from(projects));
    return send(res, 200, rows);
  }
  if (parts[0] === "tenants" && req.method === "GET") {
    return send(res, 200, await tenant.api.listTenants({ limit: 1000 }));
  }
  if (parts[0] === "tenants" && req.method === "POST") {
    return send(res, 201, await tenant.api.createTenant(await body(req)));
  }
  if (parts[0] === "tenants" && req.method === "PATCH") {
    return send(res, 200, await tenant.api.updateTenant(parts[1], await body(req)));
  }
  if (parts[0] === "tenants" && req.method === "DELETE") {
    await tenant.api.deleteTenant(parts[1]);
    return send(res, 200, { deleted: parts[1] });
  }
  if (parts[0] === "health") {
    const r = await pool.query("SELECT 1 AS ok");
    return send(res, 200, r.rows[0]);
  }
  return send(res, 404, { error: "no such route" });
}

const server = http.createServer((req, res) => {
  route(req, res).catch((err) => send(res, 500, failure(err)));
});
server.listen(0, "127.0.0.1", () => {
  console.log(`listening ${server.address().port}`);
});
process.on("SIGTERM", () => {
  server.close();
  pool.end().then(() => process.exit(0));
});
