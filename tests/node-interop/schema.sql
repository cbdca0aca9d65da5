-- The Node service's schema, as its ORM (drizzle-kit) writes it for
-- @usebetterdev/tenant: the tenants table (here with the nullable columns
-- of a hand-made one, which adopt-node makes NOT NULL) and a tenant table
-- with the package's tenantId column and an index on it. The package's CLI
-- (`tenant-cli migrate`) then adds its policies and trigger.
CREATE TABLE "tenants" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text,
	"slug" text,
	"created_at" timestamp with time zone DEFAULT now(),
	CONSTRAINT "tenants_slug_unique" UNIQUE("slug")
);
CREATE TABLE "projects" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" uuid DEFAULT (current_setting('app.current_tenant', true))::uuid NOT NULL,
	"name" text NOT NULL
);
ALTER TABLE "projects" ADD CONSTRAINT "projects_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;
CREATE INDEX "projects_tenant_id_idx" ON "projects" USING btree ("tenant_id");
