
-- Citus: the tenant context on every node.
--
-- A tenant's statement runs on a worker, in a backend of its own, inside
-- the distributed transaction the coordinator started. The coordinator's
-- verified context (any mechanism above) is carried there as a signed
-- token: tenancy.citus_enter, called by TenantPool as the first statement
-- of a tenant transaction on a Citus coordinator, gives the transaction a
-- fresh random distributed transaction id, and sets tenancy.citus_token to
-- c1.<key id>.<tenant>.<user>.<HMAC under the context key of both ids and
-- the distributed transaction id>, as a SET LOCAL that Citus sends to
-- every worker the transaction reaches. Every node checks it against its
-- own copy of the key (tenancy.citus_sync_keys) and against the
-- distributed transaction id Citus gave the worker's backend when it began
-- it, before any statement of the transaction ran there: the token is
-- worth nothing in another transaction, SQL that sets it with set_config
-- only makes a token that is refused, and no node trusts the setting.

-- The distributed transaction id of this backend, as bytes, when Citus
-- assigned it in an earlier statement of the transaction (in the begin
-- message of a worker's remote transaction, or by citus_enter on the
-- coordinator); NULL otherwise, so SQL that assigns one itself within
-- the statement that reads it (an autocommit statement on a worker, whose
-- transaction started with it) gets no context.
CREATE OR REPLACE FUNCTION tenancy.citus_transaction() RETURNS bytea
    LANGUAGE sql STABLE PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT pg_catalog.int4send(t.initiator_node_identifier) || pg_catalog.int8send(t.transaction_number)
           || pg_catalog.int8send((EXTRACT(EPOCH FROM t.transaction_stamp) * 1000000)::bigint)
      FROM pg_catalog.get_current_transaction_id() t
     WHERE t.transaction_number <> 0
       AND pg_catalog.statement_timestamp() > pg_catalog.transaction_timestamp()
$fn$;

-- The context a Citus token carries, when it verifies on this node.
CREATE OR REPLACE FUNCTION tenancy.citus_context(OUT tenant uuid, OUT user_id uuid)
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v text := pg_catalog.current_setting('tenancy.citus_token', true);
    p text[];
    k record;
    tx bytea;
BEGIN
    IF v IS NULL OR v !~ '^c1\.[0-9]{1,9}\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?\.[0-9a-f]{64}$' THEN
        RETURN;
    END IF;
    tx := tenancy.citus_transaction();
    IF tx IS NULL THEN
        RETURN;
    END IF;
    p := pg_catalog.string_to_array(v, '.');
    SELECT c.ipad, c.opad INTO k FROM tenancy.context_keys c WHERE c.key_id = p[2]::integer AND c.retired_at IS NULL;
    IF FOUND AND pg_catalog.sha256(pg_catalog.convert_to(p[5], 'UTF8'))
       = pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.encode(pg_catalog.sha256(k.opad
             || pg_catalog.sha256(k.ipad || 'tenancy/citus/v1'::bytea
                                  || coalesce('\x01'::bytea || pg_catalog.uuid_send(NULLIF(p[3], '')::uuid), '\x00'::bytea)
                                  || coalesce('\x01'::bytea || pg_catalog.uuid_send(NULLIF(p[4], '')::uuid), '\x00'::bytea)
                                  || tx)), 'hex'), 'UTF8')) THEN
        tenant := NULLIF(p[3], '')::uuid;
        user_id := NULLIF(p[4], '')::uuid;
    END IF;
END
$fn$;
GRANT EXECUTE ON FUNCTION tenancy.citus_context() TO PUBLIC;

-- The tenant every policy of a distributed table compares its rows to (a
-- function: Citus refuses sub-selects in policies): the verified context
-- of this node when it has one (the coordinator; Citus made
-- tenancy.entered_tenant on every node with the rest of the schema's
-- functions, and a worker's backend has none of its contexts), else a
-- Citus token that verifies here (a worker), else "no tenant context"
-- (TN001).
CREATE OR REPLACE FUNCTION tenancy.policy_tenant() RETURNS uuid
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v uuid;
BEGIN
    v := tenancy.entered_tenant();
    IF v IS NULL THEN
        v := (tenancy.citus_context()).tenant;
    END IF;
    IF v IS NULL THEN
        RAISE EXCEPTION 'no tenant context: this transaction did not enter a tenant'
            USING ERRCODE = 'TN001',
                  HINT = 'Query tenant tables inside a tenant transaction (TenantPool::begin or with_tenant); on Citus the coordinator''s context reaches a worker only through tenancy.citus_enter.';
    END IF;
    RETURN v;
END
$fn$;
GRANT EXECUTE ON FUNCTION tenancy.policy_tenant() TO PUBLIC;

-- The policies' WITH CHECK on a distributed table, for a row of another
-- tenant: raises "cross-tenant write refused" (TN003) on the node the row
-- is written on. STABLE: Citus refuses volatile functions in an UPDATE.
CREATE OR REPLACE FUNCTION tenancy.citus_refuse_cross_tenant_write(schema_name text, table_name text, row_tenant uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    verified uuid := tenancy.policy_tenant();
BEGIN
    RAISE EXCEPTION 'cross-tenant write refused: a row of tenant % cannot be written to %.% in a transaction of tenant %',
        coalesce(row_tenant::text, 'NULL'), schema_name, table_name, verified
        USING ERRCODE = 'TN003',
              SCHEMA = schema_name,
              TABLE = table_name,
              DETAIL = pg_catalog.json_build_object('expected', verified, 'found', row_tenant)::text,
              HINT = 'Leave the tenant column out (its default is the transaction''s tenant), or begin a transaction for the row''s tenant.';
END
$fn$;
GRANT EXECUTE ON FUNCTION tenancy.citus_refuse_cross_tenant_write(text, text, uuid) TO PUBLIC;

-- Carries this transaction's verified context to the workers (TenantPool
-- calls it right after BEGIN; Citus sends the setting to the workers the
-- transaction reached already, and to every one it reaches later). The
-- token names the transaction's distributed id, which Citus's counter or
-- this function gave it: tenant roles revokes
-- assign_distributed_transaction_id on the coordinator from the
-- application role, so no other transaction can take that id and replay
-- the token.
CREATE OR REPLACE FUNCTION tenancy.citus_enter() RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_tenant uuid := tenancy.entered_tenant();
    v_user uuid := tenancy.current_user_id();
    k record;
    tx bytea;
BEGIN
    IF v_tenant IS NULL AND v_user IS NULL THEN
        RAISE EXCEPTION 'no tenant context: this transaction did not enter a tenant'
            USING ERRCODE = 'TN001',
                  HINT = 'Enter a tenant (TenantPool::begin) before tenancy.citus_enter().';
    END IF;
    SELECT c.key_id, c.ipad, c.opad INTO k FROM tenancy.context_keys c
     WHERE c.retired_at IS NULL ORDER BY c.key_id DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no live context key on the coordinator'
            USING ERRCODE = 'TN005',
                  HINT = 'tenant context-key new, then SELECT tenancy.citus_sync_keys() as the owner.';
    END IF;
    -- An id Citus gave this transaction already (the begin message read
    -- the tenants table, a reference table) comes from its counter, new
    -- for every transaction; else this gives one, at random.
    IF (SELECT t.transaction_number FROM pg_catalog.get_current_transaction_id() t) = 0 THEN
        PERFORM pg_catalog.assign_distributed_transaction_id(
            (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g),
            ('x' || pg_catalog.substr(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 1, 15))::bit(60)::bigint,
            pg_catalog.clock_timestamp());
    END IF;
    SELECT pg_catalog.int4send(t.initiator_node_identifier) || pg_catalog.int8send(t.transaction_number)
           || pg_catalog.int8send((EXTRACT(EPOCH FROM t.transaction_stamp) * 1000000)::bigint)
      INTO tx FROM pg_catalog.get_current_transaction_id() t;
    PERFORM pg_catalog.set_config('citus.propagate_set_commands', 'local', true);
    EXECUTE pg_catalog.format('SET LOCAL tenancy.citus_token = %L',
        'c1.' || k.key_id || '.' || coalesce(v_tenant::text, '') || '.' || coalesce(v_user::text, '') || '.'
        || pg_catalog.encode(pg_catalog.sha256(k.opad
             || pg_catalog.sha256(k.ipad || 'tenancy/citus/v1'::bytea
                                  || coalesce('\x01'::bytea || pg_catalog.uuid_send(v_tenant), '\x00'::bytea)
                                  || coalesce('\x01'::bytea || pg_catalog.uuid_send(v_user), '\x00'::bytea)
                                  || tx)), 'hex'));
    -- Only this SET: Citus sends a propagated SET with the text of the
    -- whole message it came in (a multi-statement message would run on
    -- the workers as it is).
    PERFORM pg_catalog.set_config('citus.propagate_set_commands', 'none', true);
END
$fn$;
GRANT EXECUTE ON FUNCTION tenancy.citus_enter() TO PUBLIC;

-- Copies the context keys (with their pads) to every worker, as the
-- owner: run after `tenant context-key new` or a retirement, before the
-- application uses the key on Citus. The owner's statements are not shown
-- to other roles in pg_stat_activity.
CREATE OR REPLACE FUNCTION tenancy.citus_sync_keys() RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_rows text;
    v_failed text;
BEGIN
    SELECT pg_catalog.string_agg(pg_catalog.format('(%s, %L::bytea, %L::timestamptz, %L::timestamptz, %L::bytea, %L::bytea)',
               c.key_id, c.key, c.created_at, c.retired_at, c.ipad, c.opad), ', ')
      INTO v_rows FROM tenancy.context_keys c;
    SELECT pg_catalog.string_agg(r.nodename || ':' || r.nodeport || ' ' || r.result, '; ') INTO v_failed
      FROM pg_catalog.run_command_on_workers(pg_catalog.format($sync$
        DO $do$ BEGIN
            -- The schema is there: Citus made it with the functions.
            CREATE TABLE IF NOT EXISTS tenancy.context_keys (
                key_id integer PRIMARY KEY, key bytea NOT NULL CHECK (octet_length(key) >= 32),
                created_at timestamptz NOT NULL DEFAULT now(), retired_at timestamptz, ipad bytea, opad bytea);
            REVOKE ALL ON tenancy.context_keys FROM PUBLIC;
            DELETE FROM tenancy.context_keys;
            %s
        END $do$;
      $sync$, CASE WHEN v_rows IS NULL THEN '' ELSE 'INSERT INTO tenancy.context_keys (key_id, key, created_at, retired_at, ipad, opad) VALUES ' || v_rows || ';' END)) r
     WHERE NOT r.success;
    IF v_failed IS NOT NULL THEN
        RAISE EXCEPTION 'copying the context keys to the workers failed: %', v_failed
            USING HINT = 'Run SELECT tenancy.citus_sync_keys() as the owner of the tenancy schema, with every worker up.';
    END IF;
    RETURN (SELECT pg_catalog.count(*)::integer FROM tenancy.context_keys);
END
$fn$;
REVOKE EXECUTE ON FUNCTION tenancy.citus_sync_keys() FROM PUBLIC;

-- The tenants table stays on the coordinator, where every mechanism's
-- check that a tenant exists reads it (the tenant_context extension reads
-- the table itself, and a Citus reference table keeps its rows in a shard,
-- not in the table). Its ids have a copy on every node, the reference
-- table tenancy.tenant_ids, kept by a trigger, which every tenant table's
-- tenant column references: a row's tenant exists, on the worker the row
-- is on, and a tenant with rows cannot be deleted.
SET LOCAL citus.multi_shard_modify_mode TO 'sequential';
CREATE TABLE IF NOT EXISTS tenancy.tenant_ids (id uuid PRIMARY KEY);
REVOKE ALL ON tenancy.tenant_ids FROM PUBLIC;
DO $citus$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = 'tenancy.tenant_ids'::regclass) THEN
        PERFORM pg_catalog.create_reference_table('tenancy.tenant_ids');
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = 'public.tenants'::regclass) THEN
        RAISE EXCEPTION 'public.tenants is a Citus table: the tenant context needs it on the coordinator'
            USING HINT = 'SELECT undistribute_table(''public.tenants'') as its owner, then apply this migration again.';
    END IF;
END
$citus$;
CREATE OR REPLACE FUNCTION tenancy.copy_tenant_id() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO tenancy.tenant_ids (id) VALUES (NEW.id) ON CONFLICT (id) DO NOTHING;
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM tenancy.tenant_ids i WHERE i.id = OLD.id;
    ELSIF NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'a tenant''s id cannot change'
            USING HINT = 'Create a new tenant and move the rows.';
    END IF;
    RETURN NULL;
END
$fn$;
REVOKE EXECUTE ON FUNCTION tenancy.copy_tenant_id() FROM PUBLIC;
CREATE OR REPLACE TRIGGER copy_tenant_id AFTER INSERT OR UPDATE OF id OR DELETE ON public.tenants
    FOR EACH ROW EXECUTE FUNCTION tenancy.copy_tenant_id();
INSERT INTO tenancy.tenant_ids (id)
SELECT t.id FROM public.tenants t WHERE NOT EXISTS (SELECT FROM tenancy.tenant_ids i WHERE i.id = t.id);
