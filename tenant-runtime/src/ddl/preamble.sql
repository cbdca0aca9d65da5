-- The tenants table, in the shape @usebetterdev/tenant uses, so a Node
-- service and a Rust service can share one database. deleted_at marks a
-- soft-deleted tenant, kept until it is purged.
CREATE TABLE IF NOT EXISTS public.tenants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    slug text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE public.tenants ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
-- Set when a purge of the tenant begins: from then on it cannot be restored.
ALTER TABLE public.tenants ADD COLUMN IF NOT EXISTS purge_started_at timestamptz;

CREATE SCHEMA IF NOT EXISTS tenancy;
-- Policies run with the querying role's privileges, so every role must be
-- able to call these functions.
GRANT USAGE ON SCHEMA tenancy TO PUBLIC;

-- Raises the "no tenant context" error; only ever called by
-- tenancy.current_tenant() when the setting is missing or malformed.
-- Declared STABLE so that current_tenant() can still be inlined.
CREATE OR REPLACE FUNCTION tenancy.no_tenant_context(setting text) RETURNS uuid
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $fn$
BEGIN
    IF setting IS NULL OR setting = '' THEN
        RAISE EXCEPTION 'no tenant context: app.current_tenant is not set in this transaction'
            USING ERRCODE = 'TN001',
                  HINT = 'Query tenant tables inside a tenant transaction (TenantPool::begin or with_tenant), or CALL tenancy.enter_tenant(<tenant id>) in this transaction first.';
    END IF;
    RAISE EXCEPTION 'no tenant context: app.current_tenant is %, which is not a tenant id', quote_literal(setting)
        USING ERRCODE = 'TN001',
              HINT = 'Set it with CALL tenancy.enter_tenant(<tenant id>), which checks the id.';
END
$fn$;

-- The current tenant of this transaction. Every policy and column default
-- reads it through this one function, so a hardened context later changes
-- this function and no table. Unset, empty (what a pooled connection reads
-- after COMMIT) or not 36 characters long fails closed with its own error,
-- never a uuid cast error and never every row.
--
-- It is one SQL expression, so PostgreSQL inlines it into its callers: a
-- column DEFAULT then costs no function call per row (a plpgsql version
-- made 100k-row inserts about 3x slower; see BENCHMARKS.md).
CREATE OR REPLACE FUNCTION tenancy.current_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
AS $fn$
    SELECT CASE
        WHEN length(current_setting('app.current_tenant', true)) = 36
            THEN current_setting('app.current_tenant', true)::uuid
        ELSE tenancy.no_tenant_context(current_setting('app.current_tenant', true))
    END
$fn$;

-- Sets the transaction's tenant after checking it exists and is not
-- deleted. TenantPool::begin sends `CALL tenancy.enter_tenant('<id>'); BEGIN`
-- as one message: on error the implicit transaction rolls back and the
-- connection is left idle, on success BEGIN turns it into the tenant
-- transaction. A procedure, because CALL skips the planning a SELECT of a
-- function needs (about 25 us of server time per transaction, measured).
CREATE OR REPLACE PROCEDURE tenancy.enter_tenant(tenant uuid)
    LANGUAGE plpgsql
AS $fn$
DECLARE
    deleted timestamptz;
BEGIN
    SELECT t.deleted_at INTO deleted FROM public.tenants AS t WHERE t.id = tenant;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tenant not found: no tenant has id %', tenant
            USING ERRCODE = 'TN002',
                  DETAIL = json_build_object('tenant', tenant)::text,
                  HINT = 'Create the tenant first, or check the id the request resolved to.';
    END IF;
    IF deleted IS NOT NULL THEN
        RAISE EXCEPTION 'tenant deleted: tenant % was deleted at %', tenant, deleted
            USING ERRCODE = 'TN004',
                  DETAIL = json_build_object('tenant', tenant)::text,
                  HINT = 'Restore the tenant to use it again; its rows are kept until it is purged.';
    END IF;
    PERFORM set_config('app.current_tenant', tenant::text, true);
END
$fn$;

-- Raised by the policies' WITH CHECK when a row names another tenant, so
-- the caller gets a cross-tenant error instead of a generic RLS violation.
-- SCHEMA, TABLE and DETAIL (JSON) carry the facts, for programs.
CREATE OR REPLACE FUNCTION tenancy.refuse_cross_tenant_write(schema_name text, table_name text, row_tenant uuid) RETURNS boolean
    LANGUAGE plpgsql VOLATILE
AS $fn$
BEGIN
    RAISE EXCEPTION 'cross-tenant write refused: a row of tenant % cannot be written to %.% in a transaction of tenant %',
        coalesce(row_tenant::text, 'NULL'), schema_name, table_name, current_setting('app.current_tenant', true)
        USING ERRCODE = 'TN003',
              SCHEMA = schema_name,
              TABLE = table_name,
              DETAIL = json_build_object('expected', current_setting('app.current_tenant', true), 'found', row_tenant)::text,
              HINT = 'Leave the tenant column out (its default is the transaction''s tenant), or begin a transaction for the row''s tenant.';
END
$fn$;

-- Rows never change tenant, not even for a role that bypasses RLS: a
-- trigger fires for every role. TG_ARGV[0] is the tenant column.
CREATE OR REPLACE FUNCTION tenancy.refuse_tenant_move() RETURNS trigger
    LANGUAGE plpgsql
AS $fn$
BEGIN
    RAISE EXCEPTION 'cross-tenant write refused: a row of %.% cannot move from tenant % to tenant %',
        TG_TABLE_SCHEMA, TG_TABLE_NAME, to_jsonb(OLD) ->> TG_ARGV[0], to_jsonb(NEW) ->> TG_ARGV[0]
        USING ERRCODE = 'TN003',
              SCHEMA = TG_TABLE_SCHEMA,
              TABLE = TG_TABLE_NAME,
              DETAIL = json_build_object('expected', to_jsonb(OLD) ->> TG_ARGV[0], 'found', to_jsonb(NEW) ->> TG_ARGV[0])::text,
              HINT = 'Insert a copy for the other tenant and delete the original instead.';
END
$fn$;

-- Anyone may read tenants (to resolve a slug to an id); only a role with
-- BYPASSRLS (the SystemPool's) may write them, because no policy allows it.
ALTER TABLE public.tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.tenants FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS rls_tenants_read ON public.tenants;
CREATE POLICY rls_tenants_read ON public.tenants FOR SELECT USING (true);
-- @usebetterdev/tenant's write policy trusts app.bypass_rls, which any SQL can set.
DROP POLICY IF EXISTS rls_tenants_write ON public.tenants;
