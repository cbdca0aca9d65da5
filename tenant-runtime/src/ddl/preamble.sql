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

-- The tenancy schema holds the tenant context. Nobody but its owner may
-- create objects in it: an overload of one of its functions would be
-- picked by later calls.
CREATE SCHEMA IF NOT EXISTS tenancy;
REVOKE CREATE ON SCHEMA tenancy FROM PUBLIC;
GRANT USAGE ON SCHEMA tenancy TO PUBLIC;

-- The keys the application proves it holds when it opens a connection
-- (`tenant context-key new` adds one). Two may be valid at once, for
-- rotation; retiring one stops the connections that opened with it at
-- their next transaction. Only this schema's owner reads them.
CREATE TABLE IF NOT EXISTS tenancy.context_keys (
    key_id integer PRIMARY KEY,
    key bytea NOT NULL CHECK (octet_length(key) >= 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz
);
REVOKE ALL ON tenancy.context_keys FROM PUBLIC;
-- Which keys are live is no secret: the tenant_context extension reads it
-- as the application role at every begin. The key never is.
GRANT SELECT (key_id, retired_at) ON tenancy.context_keys TO PUBLIC;
-- The HMAC pads of each key, so a check of a bound token (below) costs
-- two sha256 calls, not a derivation of the pads.
ALTER TABLE tenancy.context_keys ADD COLUMN IF NOT EXISTS ipad bytea;
ALTER TABLE tenancy.context_keys ADD COLUMN IF NOT EXISTS opad bytea;

-- Roles whose sessions may set the tenant with set_config alone, as
-- @usebetterdev/tenant does (compatibility mode, off until a role is
-- added with `tenant compat --allow-role`). Any SQL running as such a
-- role can switch tenants: give that service its own role, never the
-- application role of this library.
CREATE TABLE IF NOT EXISTS tenancy.compat_roles (
    role_name name PRIMARY KEY,
    added_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON tenancy.compat_roles FROM PUBLIC;
GRANT SELECT ON tenancy.compat_roles TO PUBLIC;

-- The previous, forgeable way in: anyone could call it to switch tenant;
-- and the helper of the previous current_tenant(), which pinned no
-- search_path.
DROP PROCEDURE IF EXISTS tenancy.enter_tenant(uuid);
-- The signature before the user joined the context.
DROP PROCEDURE IF EXISTS tenancy.enter(uuid, bigint, text);
DROP FUNCTION IF EXISTS tenancy.no_tenant_context(text);

-- HMAC-SHA256 from the built-in sha256 (no extension needed): the inner
-- and outer padded keys of RFC 2104.
CREATE OR REPLACE FUNCTION tenancy.hmac_pads(key bytea, OUT ipad bytea, OUT opad bytea)
    LANGUAGE plpgsql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    k bytea := CASE WHEN pg_catalog.octet_length(key) > 64 THEN pg_catalog.sha256(key) ELSE key END;
BEGIN
    k := k || pg_catalog.decode(pg_catalog.repeat('00', 64 - pg_catalog.octet_length(k)), 'hex');
    ipad := k;
    opad := k;
    FOR i IN 0..63 LOOP
        ipad := pg_catalog.set_byte(ipad, i, pg_catalog.get_byte(k, i) # 54);
        opad := pg_catalog.set_byte(opad, i, pg_catalog.get_byte(k, i) # 92);
    END LOOP;
END
$fn$;
REVOKE EXECUTE ON FUNCTION tenancy.hmac_pads(bytea) FROM PUBLIC;

CREATE OR REPLACE FUNCTION tenancy.fill_key_pads() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    SELECT p.ipad, p.opad INTO NEW.ipad, NEW.opad FROM tenancy.hmac_pads(NEW.key) p;
    RETURN NEW;
END
$fn$;
REVOKE EXECUTE ON FUNCTION tenancy.fill_key_pads() FROM PUBLIC;
CREATE OR REPLACE TRIGGER fill_key_pads BEFORE INSERT OR UPDATE OF key ON tenancy.context_keys
    FOR EACH ROW EXECUTE FUNCTION tenancy.fill_key_pads();
UPDATE tenancy.context_keys k SET ipad = p.ipad, opad = p.opad
  FROM tenancy.context_keys k2 CROSS JOIN LATERAL tenancy.hmac_pads(k2.key) p
 WHERE k.ipad IS NULL AND k2.key_id = k.key_id;

-- Raises "no tenant context" (TN001): what every policy ends in when this
-- transaction did not enter a tenant. A role in tenancy.compat_roles gets
-- the plain setting instead (see above), for a tenant that exists and is
-- not deleted, as a TenantPool would; its errors speak to that service
-- (@usebetterdev/tenant's runWithTenant and runAsSystem).
CREATE OR REPLACE FUNCTION tenancy.unverified_tenant() RETURNS uuid
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    hint text := pg_catalog.current_setting('app.current_tenant', true);
    v_state smallint;
BEGIN
    IF EXISTS (SELECT 1 FROM tenancy.compat_roles r WHERE r.role_name = SESSION_USER) THEN
        IF hint ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN
            SELECT CASE WHEN t.deleted_at IS NULL THEN 1 ELSE 2 END INTO v_state
              FROM public.tenants t WHERE t.id = hint::uuid;
            IF v_state = 1 THEN
                RETURN hint::uuid;
            END IF;
            IF v_state = 2 THEN
                RAISE EXCEPTION 'tenant deleted: tenant % is deleted, so role % (a compatibility role) cannot enter it', hint, SESSION_USER
                    USING ERRCODE = 'TN004',
                          DETAIL = pg_catalog.json_build_object('tenant', hint, 'role', SESSION_USER)::text,
                          HINT = 'Restore the tenant to use it again (its rows are kept until it is purged), or stop sending its id in app.current_tenant (runWithTenant).';
            END IF;
            RAISE EXCEPTION 'tenant not found: no tenant has id %, the app.current_tenant of role % (a compatibility role)', hint, SESSION_USER
                USING ERRCODE = 'TN002',
                      DETAIL = pg_catalog.json_build_object('tenant', hint, 'role', SESSION_USER)::text,
                      HINT = 'Create the tenant first (createTenant, or tenant seed), or check the id the request resolved to.';
        END IF;
        RAISE EXCEPTION 'no tenant context: role % (a compatibility role) did not set app.current_tenant to a tenant id in this transaction', SESSION_USER
            USING ERRCODE = 'TN001',
                  HINT = 'Run tenant queries inside runWithTenant (set_config(''app.current_tenant'', <tenant id>, true)). The system switch app.bypass_rls (runAsSystem) reaches only the tenants table for a compatibility role: run cross-tenant work on tenant tables through the system role.';
    END IF;
    RAISE EXCEPTION 'no tenant context: this transaction did not enter a tenant'
        USING ERRCODE = 'TN001',
              HINT = 'Query tenant tables inside a tenant transaction (TenantPool::begin or with_tenant); setting app.current_tenant does not enter one.';
END
$fn$;

-- Opens a connection's tenancy session, once per connection: the library
-- sends a fresh random secret and a proof that it holds a context key, as
-- bind parameters (so neither is ever in query text). The secret lives in
-- a temporary table owned by this function's owner: the application role
-- can neither read nor write it. The counter and the context live in
-- temporary sequences, whose setval survives a rollback.
CREATE OR REPLACE FUNCTION tenancy.open_session(p_key_id integer, p_secret bytea, p_proof bytea) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_key bytea;
    v_pads record;
BEGIN
    IF pg_catalog.has_database_privilege(SESSION_USER, pg_catalog.current_database(), 'TEMP') THEN
        RAISE EXCEPTION 'role % may create temporary tables, which could stand in for the tenancy session', SESSION_USER
            USING ERRCODE = 'TN008',
                  HINT = 'REVOKE TEMP ON DATABASE <database> FROM PUBLIC, <role> (tenant roles --apply does it).';
    END IF;
    -- Any error below is replaced by one that says nothing: a constraint
    -- error would print the row, and the row holds the secret.
    BEGIN
        SELECT k.key INTO v_key FROM tenancy.context_keys k
         WHERE k.key_id = p_key_id AND k.retired_at IS NULL;
        SELECT * INTO v_pads FROM tenancy.hmac_pads(v_key);
        IF v_key IS NULL OR p_secret IS NULL OR pg_catalog.octet_length(p_secret) <> 32 OR p_proof IS NULL
           OR pg_catalog.sha256(p_proof) <> pg_catalog.sha256(pg_catalog.sha256(v_pads.opad
                  || pg_catalog.sha256(v_pads.ipad || 'tenancy/open/v1'::bytea || p_secret))) THEN
            RAISE EXCEPTION 'rejected';
        END IF;
        -- Temporary objects of these names that the tenancy schema's
        -- owner (this function's owner) did not make were planted (a
        -- DISCARD TEMP, then a window in which the role could create
        -- temporary tables): refuse rather than use them.
        IF pg_catalog.to_regclass('pg_temp.tenancy_session') IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM pg_catalog.pg_class c, pg_catalog.pg_namespace n
                WHERE c.oid = pg_catalog.to_regclass('pg_temp.tenancy_session')
                  AND n.nspname = 'tenancy' AND c.relowner = n.nspowner) THEN
            RAISE EXCEPTION 'rejected';
        END IF;
        IF pg_catalog.to_regclass('pg_temp.tenancy_session') IS NULL THEN
            CREATE TEMP TABLE tenancy_session (key_id integer NOT NULL, database_id oid NOT NULL, ipad bytea NOT NULL, opad bytea NOT NULL);
            CREATE TEMP SEQUENCE tenancy_counter MINVALUE 0 START 0;
            -- The verified tenant (two halves) and the transaction it is
            -- for: its start time in microseconds, which no later
            -- transaction of this backend has.
            CREATE TEMP SEQUENCE tenancy_ctx_hi MINVALUE -9223372036854775808;
            CREATE TEMP SEQUENCE tenancy_ctx_lo MINVALUE -9223372036854775808;
            CREATE TEMP SEQUENCE tenancy_ctx_at MINVALUE -9223372036854775808;
            -- The same for the user the transaction acts for.
            CREATE TEMP SEQUENCE tenancy_user_hi MINVALUE -9223372036854775808;
            CREATE TEMP SEQUENCE tenancy_user_lo MINVALUE -9223372036854775808;
            CREATE TEMP SEQUENCE tenancy_user_at MINVALUE -9223372036854775808;
            EXECUTE pg_catalog.format('GRANT SELECT ON SEQUENCE pg_temp.tenancy_ctx_hi, pg_temp.tenancy_ctx_lo, pg_temp.tenancy_ctx_at, '
                                      'pg_temp.tenancy_user_hi, pg_temp.tenancy_user_lo, pg_temp.tenancy_user_at TO %I', SESSION_USER);
        END IF;
        SELECT * INTO v_pads FROM tenancy.hmac_pads(p_secret);
        IF EXISTS (SELECT 1 FROM pg_temp.tenancy_session s WHERE s.ipad = v_pads.ipad) THEN
            RAISE EXCEPTION 'rejected';  -- an old secret is never armed again
        END IF;
        DELETE FROM pg_temp.tenancy_session;
        INSERT INTO pg_temp.tenancy_session
            SELECT p_key_id, d.oid, v_pads.ipad, v_pads.opad
              FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database();
        PERFORM pg_catalog.setval('pg_temp.tenancy_counter', 0), pg_catalog.setval('pg_temp.tenancy_ctx_at', 0),
                pg_catalog.setval('pg_temp.tenancy_user_at', 0);
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'tenancy session refused: the context key is unknown, retired or wrong'
            USING ERRCODE = 'TN006',
                  DETAIL = pg_catalog.json_build_object('key_id', p_key_id)::text,
                  HINT = 'Give the pool the key `tenant context-key new` installed (TENANT_CONTEXT_KEY), or install this one.';
    END;
END
$fn$;
GRANT EXECUTE ON FUNCTION tenancy.open_session(integer, bytea, bytea) TO PUBLIC;

-- What a linked library reports, as `enter` ends, of the user in the
-- tenant just entered (tenant-members: the user's membership role), so a
-- request learns it from its begin message instead of a statement of its
-- own. Nothing here: a library's SQL, which the migration runs after this
-- preamble, replaces it. It runs as enter's definer, with the context
-- already entered, so the tenant's row-level security applies to it.
CREATE OR REPLACE FUNCTION tenancy.user_in_tenant(p_tenant uuid, p_user uuid) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RETURN NULL;
END
$fn$;
REVOKE EXECUTE ON FUNCTION tenancy.user_in_tenant(uuid, uuid) FROM PUBLIC;

-- Enters a tenant, a user, or both, for this transaction.
-- TenantPool::begin sends `CALL tenancy.enter('<tenant>'::uuid,
-- '<user>'::uuid or NULL::uuid, <n>::int8, '<mac>'::text, NULL::text);
-- BEGIN` as one simple-query message, and reads back p_user_in_tenant
-- (tenancy.user_in_tenant, when both a tenant and a user are entered); the text is visible in pg_stat_activity, so the
-- token is worth nothing there: it is a MAC under this connection's secret
-- (another connection has another) of the tenant and a counter that is
-- spent on first use, rollback or not. The verified context is the tenant
-- (and, apart, the user) and this transaction's start time, in sequences only this procedure can
-- write (setval needs no transaction id, so a read-only request costs
-- none): another transaction, or a connection without a session, reads as
-- no context, and the setting app.current_tenant is only a hint. Nothing
-- may follow the BEGIN in the message: a second transaction in the same
-- message would share the start time.
CREATE OR REPLACE PROCEDURE tenancy.enter(p_tenant uuid, p_user uuid, p_counter bigint, p_mac text, INOUT p_user_in_tenant text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_ipad bytea;
    v_opad bytea;
    v_spent bigint;
    v_key_ok boolean;
    v_temp boolean;
    v_owned boolean;
    v_tenant smallint;
BEGIN
    p_user_in_tenant := NULL;
    -- SQL can drop the session (DISCARD TEMP): say so, rather than fail
    -- on the missing table.
    IF pg_catalog.to_regclass('pg_temp.tenancy_session') IS NULL THEN
        RAISE EXCEPTION 'no tenancy session on this connection'
            USING ERRCODE = 'TN005',
                  HINT = 'Connections of a TenantPool open one; SQL that drops temporary objects closes it.';
    END IF;
    -- One query, scalar sub-selects only: a join over a temporary table
    -- (which has no statistics) is planned as a hash join that costs more
    -- than all the rest.
    SELECT s.ipad, s.opad,
           pg_catalog.pg_sequence_last_value(pg_catalog.to_regclass('pg_temp.tenancy_counter')),
           EXISTS (SELECT 1 FROM tenancy.context_keys k WHERE k.key_id = s.key_id AND k.retired_at IS NULL),
           pg_catalog.has_database_privilege(SESSION_USER, s.database_id, 'TEMP'),
           (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = s.tableoid)
             = (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.oid = 'tenancy'::regnamespace),
           (SELECT CASE WHEN t.deleted_at IS NULL THEN 1 ELSE 2 END FROM public.tenants t WHERE t.id = p_tenant)
      INTO v_ipad, v_opad, v_spent, v_key_ok, v_temp, v_owned, v_tenant
      FROM pg_temp.tenancy_session s;
    -- Not owned by the tenancy schema's owner: planted, with a secret the
    -- planter knows.
    IF NOT FOUND OR NOT v_key_ok OR v_temp OR v_owned IS NOT TRUE THEN
        RAISE EXCEPTION 'no tenancy session on this connection'
            USING ERRCODE = 'TN005',
                  HINT = 'Connections of a TenantPool open one; a retired key or temporary tables of the application role close it.';
    END IF;
    -- The MAC is compared as text (a malformed one simply differs), through
    -- sha256 of both sides so the comparison's time says nothing of it.
    -- Each id is preceded by a presence byte, so that no id stands for
    -- "none".
    IF p_counter IS NULL OR p_counter <= v_spent OR p_mac IS NULL
       OR pg_catalog.sha256(pg_catalog.convert_to(p_mac, 'UTF8'))
          <> pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.encode(pg_catalog.sha256(v_opad
                 || pg_catalog.sha256(v_ipad || 'tenancy/enter/v2'::bytea
                                             || coalesce('\x01'::bytea || pg_catalog.uuid_send(p_tenant), '\x00'::bytea)
                                             || coalesce('\x01'::bytea || pg_catalog.uuid_send(p_user), '\x00'::bytea)
                                             || pg_catalog.int8send(p_counter))), 'hex'), 'UTF8')) THEN
        RAISE EXCEPTION 'tenant token refused: forged, or already used'
            USING ERRCODE = 'TN007',
                  HINT = 'Only TenantPool::begin can enter a tenant.';
    END IF;
    -- Every begin of the pool spends one, a transaction without a tenant
    -- too: no token issued on the connection outlives the next begin.
    PERFORM pg_catalog.setval('pg_temp.tenancy_counter', p_counter);
    IF p_user IS NULL THEN
        PERFORM pg_catalog.setval('pg_temp.tenancy_user_at', 0);
    ELSE
        PERFORM pg_catalog.setval('pg_temp.tenancy_user_hi', ('x' || pg_catalog.left(pg_catalog.encode(pg_catalog.uuid_send(p_user), 'hex'), 16))::bit(64)::bigint),
                pg_catalog.setval('pg_temp.tenancy_user_lo', ('x' || pg_catalog.right(pg_catalog.encode(pg_catalog.uuid_send(p_user), 'hex'), 16))::bit(64)::bigint),
                pg_catalog.setval('pg_temp.tenancy_user_at', (EXTRACT(EPOCH FROM pg_catalog.transaction_timestamp()) * 1000000)::bigint);
    END IF;
    IF p_tenant IS NULL THEN
        -- A user without a tenant: the tenant context stays invalid.
        RETURN;
    END IF;
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'tenant not found: no tenant has id %', p_tenant
            USING ERRCODE = 'TN002',
                  DETAIL = pg_catalog.json_build_object('tenant', p_tenant)::text,
                  HINT = 'Create the tenant first, or check the id the request resolved to.';
    END IF;
    IF v_tenant = 2 THEN
        RAISE EXCEPTION 'tenant deleted: tenant % is deleted', p_tenant
            USING ERRCODE = 'TN004',
                  DETAIL = pg_catalog.json_build_object('tenant', p_tenant)::text,
                  HINT = 'Restore the tenant to use it again; its rows are kept until it is purged.';
    END IF;
    PERFORM pg_catalog.set_config('app.current_tenant', p_tenant::text, true),
            pg_catalog.setval('pg_temp.tenancy_ctx_hi', ('x' || pg_catalog.left(pg_catalog.encode(pg_catalog.uuid_send(p_tenant), 'hex'), 16))::bit(64)::bigint),
            pg_catalog.setval('pg_temp.tenancy_ctx_lo', ('x' || pg_catalog.right(pg_catalog.encode(pg_catalog.uuid_send(p_tenant), 'hex'), 16))::bit(64)::bigint),
            pg_catalog.setval('pg_temp.tenancy_ctx_at', (EXTRACT(EPOCH FROM pg_catalog.transaction_timestamp()) * 1000000)::bigint);
    IF p_user IS NOT NULL THEN
        p_user_in_tenant := tenancy.user_in_tenant(p_tenant, p_user);
    END IF;
END
$fn$;
GRANT EXECUTE ON PROCEDURE tenancy.enter(uuid, uuid, bigint, text, text) TO PUBLIC;

-- The begin message of the release before (no p_user_in_tenant), kept so
-- that its binaries go on entering tenants between this migration and
-- their restart.
CREATE OR REPLACE PROCEDURE tenancy.enter(p_tenant uuid, p_user uuid, p_counter bigint, p_mac text)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_ignored text;
BEGIN
    CALL tenancy.enter(p_tenant, p_user, p_counter, p_mac, v_ignored);
END
$fn$;
GRANT EXECUTE ON PROCEDURE tenancy.enter(uuid, uuid, bigint, text) TO PUBLIC;

-- The context of a bound token, the mechanism for a transaction pooler
-- (PgBouncer in transaction mode) and a hot standby, where nothing can be
-- kept on a backend: TenantPool reads the backend's pid and the
-- transaction's start time after BEGIN, and sets tenancy.token to
-- b1.<key id>.<tenant>.<user>.<HMAC under the context key of both ids,
-- the pid and the start time>. Checked here, once per statement (the
-- policies read it in an initPlan), as the owner, who reads the key's
-- pads: a token is worth nothing in another transaction or backend, and
-- only the key's holder can make one. PARALLEL RESTRICTED: a worker has
-- another pid, so it runs in the leader.
CREATE OR REPLACE FUNCTION tenancy.bound_context(OUT tenant uuid, OUT user_id uuid)
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v text := pg_catalog.current_setting('tenancy.token', true);
    p text[];
    k record;
BEGIN
    IF v IS NULL OR v !~ '^b1\.[0-9]{1,9}\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?\.[0-9a-f]{64}$' THEN
        RETURN;
    END IF;
    p := pg_catalog.string_to_array(v, '.');
    SELECT c.ipad, c.opad INTO k FROM tenancy.context_keys c WHERE c.key_id = p[2]::integer AND c.retired_at IS NULL;
    IF FOUND AND pg_catalog.sha256(pg_catalog.convert_to(p[5], 'UTF8'))
       = pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.encode(pg_catalog.sha256(k.opad
             || pg_catalog.sha256(k.ipad || 'tenancy/bound/v1'::bytea
                                  || coalesce('\x01'::bytea || pg_catalog.uuid_send(NULLIF(p[3], '')::uuid), '\x00'::bytea)
                                  || coalesce('\x01'::bytea || pg_catalog.uuid_send(NULLIF(p[4], '')::uuid), '\x00'::bytea)
                                  || pg_catalog.int4send(pg_catalog.pg_backend_pid())
                                  || pg_catalog.int8send((EXTRACT(EPOCH FROM pg_catalog.transaction_timestamp()) * 1000000)::bigint))), 'hex'), 'UTF8')) THEN
        tenant := NULLIF(p[3], '')::uuid;
        user_id := NULLIF(p[4], '')::uuid;
    END IF;
END
$fn$;
GRANT EXECUTE ON FUNCTION tenancy.bound_context() TO PUBLIC;

-- Whether the context uses the tenant_context extension when it is there:
-- install_context(false) writes the plain-SQL context even with the
-- extension installed (before DROP EXTENSION tenant_context, say), and
-- the choice stays for later migrations; install_context(true) undoes it.
CREATE TABLE IF NOT EXISTS tenancy.context_choice (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    use_extension boolean NOT NULL
);
REVOKE ALL ON tenancy.context_choice FROM PUBLIC;

-- Writes the verified context for what the database has: the view
-- tenancy.context, which every policy reads the tenant through, and
-- tenancy.entered_tenant() and tenancy.current_user_id(). The first
-- source is the tenant_context extension when it is installed (native
-- checks; its reader is parallel safe), else the connection's tenancy
-- session (temporary sequences that only enter writes); then a bound
-- token; then "no tenant context" (TN001). Called below, and again by
-- the owner after CREATE EXTENSION tenant_context.
DROP FUNCTION IF EXISTS tenancy.install_context();
CREATE OR REPLACE FUNCTION tenancy.install_context(p_use_extension boolean DEFAULT NULL) RETURNS text[]
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_extension boolean;
    -- The context of this transaction from the session's sequences, valid
    -- only while the stored start time is this transaction's and the
    -- sequence was made by tenancy.open_session, not planted (only its
    -- owner can set it). tenancy_ctx_hi and _lo are made with it and
    -- cannot be replaced alone: dropping them needs their owner.
    v_session text := $sql$CASE
        WHEN pg_catalog.pg_sequence_last_value(pg_catalog.to_regclass('pg_temp.tenancy_%1$s_at'))
             = (EXTRACT(EPOCH FROM pg_catalog.transaction_timestamp()) * 1000000)::bigint
             AND (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass('pg_temp.tenancy_%1$s_at'))
                 = (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.oid = 'tenancy'::regnamespace)
            THEN pg_catalog.encode(pg_catalog.int8send(pg_catalog.pg_sequence_last_value(pg_catalog.to_regclass('pg_temp.tenancy_%1$s_hi')))
                                   || pg_catalog.int8send(pg_catalog.pg_sequence_last_value(pg_catalog.to_regclass('pg_temp.tenancy_%1$s_lo'))), 'hex')::uuid
    END$sql$;
    v_tenant text;
    v_user text;
    -- Read after a bound token: the SQL session of a release still running.
    v_after text := '';
    v_user_after text := '';
    v_pinned text;
    v_parallel text;
    v_mechanisms text[];
BEGIN
    IF p_use_extension IS NOT NULL THEN
        INSERT INTO tenancy.context_choice (use_extension) VALUES (p_use_extension)
            ON CONFLICT (one) DO UPDATE SET use_extension = EXCLUDED.use_extension;
    END IF;
    v_extension := coalesce((SELECT c.use_extension FROM tenancy.context_choice c), true)
        AND EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = 'tenant_context');
    IF v_extension THEN
        -- The session's context too, so that connections opened before the
        -- extension came (a release still running) keep entering tenants
        -- until they are replaced; wrapped in a function that runs in the
        -- leader only, so plans stay parallel. The extension's context is
        -- read first, and is all a pool of this release reads.
        -- PL/pgSQL: it keeps its plan for the session (a SQL function that
        -- is not inlined is planned at every call).
        EXECUTE pg_catalog.format(
            'CREATE OR REPLACE FUNCTION tenancy.session_context(OUT tenant uuid, OUT user_id uuid) '
            'LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SET search_path = pg_catalog, pg_temp AS %L',
            pg_catalog.format('BEGIN tenant := %s; user_id := %s; END',
                              pg_catalog.format(v_session, 'ctx'), pg_catalog.format(v_session, 'user')));
        v_tenant := 'tenant_context.tenant()';
        v_user := 'tenant_context.user_id()';
        v_after := '(tenancy.session_context()).tenant, ';
        v_user_after := '(tenancy.session_context()).user_id, ';
        v_parallel := 'RESTRICTED';
        v_mechanisms := ARRAY['extension', 'session', 'bound'];
    ELSE
        v_tenant := pg_catalog.format(v_session, 'ctx');
        v_user := pg_catalog.format(v_session, 'user');
        -- pg_sequence_last_value is parallel unsafe.
        v_parallel := 'UNSAFE';
        v_mechanisms := ARRAY['session', 'bound'];
    END IF;
    -- A view, not a function: the policy's sub-select then costs no
    -- function call per statement.
    EXECUTE pg_catalog.format(
        'CREATE OR REPLACE VIEW tenancy.context AS SELECT COALESCE(%s, (tenancy.bound_context()).tenant, %stenancy.unverified_tenant()) AS tenant',
        v_tenant, v_after);
    GRANT SELECT ON tenancy.context TO PUBLIC;
    -- The verified tenant, or NULL where tenancy.context would raise TN001:
    -- for policies of tables that are readable outside a tenant too
    -- (tenant-members' users), which must not fail there.
    -- With the extension these are inlined where they are called (no SET
    -- clause, every name qualified): a policy that reads them per row, or
    -- a function that reads them once, pays no call of its own.
    v_pinned := CASE WHEN v_extension THEN '' ELSE 'SET search_path = pg_catalog, pg_temp ' END;
    EXECUTE pg_catalog.format(
        'CREATE OR REPLACE FUNCTION tenancy.entered_tenant() RETURNS uuid LANGUAGE sql STABLE PARALLEL %s '
        '%sAS %L',
        v_parallel, v_pinned, pg_catalog.format('SELECT COALESCE(%s, (tenancy.bound_context()).tenant%s)', v_tenant, pg_catalog.rtrim(', ' || v_after, ', ')));
    -- The verified user of this transaction, or NULL (TenantPool::begin_as,
    -- begin_global_as). Unlike the tenant, none is not an error.
    EXECUTE pg_catalog.format(
        'CREATE OR REPLACE FUNCTION tenancy.current_user_id() RETURNS uuid LANGUAGE sql STABLE PARALLEL %s '
        '%sAS %L',
        v_parallel, v_pinned, pg_catalog.format('SELECT COALESCE(%s, (tenancy.bound_context()).user_id%s)', v_user, pg_catalog.rtrim(', ' || v_user_after, ', ')));
    -- The tenant column's default: the verified tenant when the extension
    -- keeps it (a C call per row), else the hint setting app.current_tenant
    -- that the begin message sets (an expression: inlined, it costs nothing
    -- per row); with no tenant entered, "no tenant context" (TN001). A
    -- forged hint only makes a row the policy's WITH CHECK refuses.
    -- Inlined into each INSERT, so no SET clause, and every name qualified.
    EXECUTE pg_catalog.format(
        'CREATE OR REPLACE FUNCTION tenancy.default_tenant() RETURNS uuid LANGUAGE sql STABLE AS %L',
        pg_catalog.format('SELECT COALESCE(%s, CASE WHEN pg_catalog.length(pg_catalog.current_setting(''app.current_tenant'', true)) OPERATOR(pg_catalog.=) 36 '
                          'THEN pg_catalog.current_setting(''app.current_tenant'', true)::pg_catalog.uuid ELSE tenancy.unverified_tenant() END)',
                          CASE WHEN v_extension THEN 'tenant_context.tenant()' ELSE 'NULL::pg_catalog.uuid' END));
    -- What the pool asks at start-up to choose its mechanism, and check
    -- reports.
    EXECUTE pg_catalog.format(
        'CREATE OR REPLACE FUNCTION tenancy.context_mechanisms() RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE '
        'SET search_path = pg_catalog, pg_temp AS %L',
        pg_catalog.format('SELECT %L::text[]', v_mechanisms));
    RETURN v_mechanisms;
END
$fn$;
REVOKE EXECUTE ON FUNCTION tenancy.install_context(boolean) FROM PUBLIC;

-- The strongest mechanism the server offers: when the tenant_context
-- extension is installed on it (its files; it is a trusted extension, so
-- a database owner or a role with CREATE on the database may create it),
-- create it here. Without the right, say so and go on with plain SQL.
DO $ext$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions a WHERE a.name = 'tenant_context')
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = 'tenant_context')
       AND coalesce((SELECT c.use_extension FROM tenancy.context_choice c), true) THEN
        BEGIN
            CREATE EXTENSION tenant_context;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'the tenant_context extension is available but % may not create it: tenant transactions use plain SQL', current_user
                USING HINT = 'CREATE EXTENSION tenant_context as the database owner, then SELECT tenancy.install_context(true) as this role.';
        END;
    END IF;
END
$ext$;
SELECT tenancy.install_context();

-- The same, as a function, for hand-written SQL (`SELECT tenancy.current_tenant()`).
CREATE OR REPLACE FUNCTION tenancy.current_tenant() RETURNS uuid
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RETURN (SELECT c.tenant FROM tenancy.context c);
END
$fn$;

-- The acting user's role in the entered tenant (tenancy.user_in_tenant,
-- as its definer, so the memberships policy applies), for a begin message
-- that does not go through tenancy.enter: the extension's and a bound
-- token's. It reads only the transaction's own verified tenant and user.
CREATE OR REPLACE FUNCTION tenancy.user_in_entered_tenant() RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_tenant uuid := tenancy.entered_tenant();
    v_user uuid := tenancy.current_user_id();
BEGIN
    IF v_tenant IS NULL OR v_user IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN tenancy.user_in_tenant(v_tenant, v_user);
END
$fn$;
GRANT EXECUTE ON FUNCTION tenancy.user_in_entered_tenant() TO PUBLIC;

-- Raised by the policies' WITH CHECK when a row names another tenant, so
-- the caller gets a cross-tenant error instead of a generic RLS violation.
-- SCHEMA, TABLE and DETAIL (JSON) carry the facts, for programs.
CREATE OR REPLACE FUNCTION tenancy.refuse_cross_tenant_write(schema_name text, table_name text, row_tenant uuid) RETURNS boolean
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    verified uuid := (SELECT c.tenant FROM tenancy.context c);
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

-- Rows never change tenant, not even for a role that bypasses RLS: a
-- trigger fires for every role. TG_ARGV[0] is the tenant column.
CREATE OR REPLACE FUNCTION tenancy.refuse_tenant_move() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RAISE EXCEPTION 'cross-tenant write refused: a row of %.% cannot move from tenant % to tenant %',
        TG_TABLE_SCHEMA, TG_TABLE_NAME, pg_catalog.to_jsonb(OLD) ->> TG_ARGV[0], pg_catalog.to_jsonb(NEW) ->> TG_ARGV[0]
        USING ERRCODE = 'TN003',
              SCHEMA = TG_TABLE_SCHEMA,
              TABLE = TG_TABLE_NAME,
              DETAIL = pg_catalog.json_build_object('expected', pg_catalog.to_jsonb(OLD) ->> TG_ARGV[0], 'found', pg_catalog.to_jsonb(NEW) ->> TG_ARGV[0])::text,
              HINT = 'Insert a copy for the other tenant and delete the original instead.';
END
$fn$;

-- The last statement before COMMIT of a transaction that ran hand-written
-- SQL, after the library reset the session's settings, cursors, LISTENs,
-- advisory locks and sequence state. Reseeds random() from a strong
-- source (setseed survives every reset, and would make a later request's
-- random() predictable), then refuses (and so aborts the transaction, and
-- the library closes the connection) when SQL-level PREPARE or DEALLOCATE
-- changed the connection's prepared statements (the next request would
-- run a statement the attacker wrote under a name the client trusts;
-- expected_statements is NULL behind a transaction pooler, whose backends
-- other clients share), or when SQL dropped the connection's tenancy
-- session (DISCARD TEMP), so the connection is replaced before anyone
-- else gets it.
CREATE OR REPLACE FUNCTION tenancy.leave(expected_statements integer, has_session boolean) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM pg_catalog.setseed(('x' || pg_catalog.substr(pg_catalog.md5(pg_catalog.gen_random_uuid()::text), 1, 13))::bit(52)::bigint
                               / 2251799813685248.0 - 1);
    IF (SELECT pg_catalog.count(*) FILTER (WHERE p.from_sql) <> 0
               OR pg_catalog.count(*) FILTER (WHERE NOT p.from_sql) <> expected_statements
          FROM pg_catalog.pg_prepared_statements p) THEN
        RAISE EXCEPTION 'the connection''s prepared statements were changed by SQL in this transaction'
            USING ERRCODE = 'TN009',
                  HINT = 'The connection is closed and the transaction rolled back; do not PREPARE or DEALLOCATE in tenant transactions.';
    END IF;
    IF has_session AND pg_catalog.to_regclass('pg_temp.tenancy_session') IS NULL THEN
        RAISE EXCEPTION 'the connection''s tenancy session was dropped by SQL in this transaction'
            USING ERRCODE = 'TN009',
                  HINT = 'The connection is closed and the transaction rolled back; do not DISCARD in tenant transactions.';
    END IF;
END
$fn$;

-- The form of the release before, kept so that its binaries go on ending
-- transactions between this migration and their restart.
CREATE OR REPLACE FUNCTION tenancy.leave(expected_statements integer) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT tenancy.leave(expected_statements, false)
$fn$;

-- Anyone may read tenants (to resolve a slug to an id); only a role with
-- BYPASSRLS (the SystemPool's) may write them, because no policy allows it.
ALTER TABLE public.tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.tenants FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS rls_tenants_read ON public.tenants;
CREATE POLICY rls_tenants_read ON public.tenants FOR SELECT USING (true);
-- @usebetterdev/tenant's write policy trusts app.bypass_rls, which any SQL can set.
DROP POLICY IF EXISTS rls_tenants_write ON public.tenants;
-- The one exception: @usebetterdev/tenant's system switch (runAsSystem,
-- createTenant, updateTenant, deleteTenant, its CLI's seed set
-- app.bypass_rls) is honoured on the tenants table for a compatibility
-- role only, which can already enter any tenant by setting
-- app.current_tenant; never for the application role of a TenantPool.
CREATE OR REPLACE FUNCTION tenancy.compat_system() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT pg_catalog.current_setting('app.bypass_rls', true) = 'true'
       AND EXISTS (SELECT 1 FROM tenancy.compat_roles r WHERE r.role_name = SESSION_USER)
$fn$;
DROP POLICY IF EXISTS rls_tenants_compat_system ON public.tenants;
CREATE POLICY rls_tenants_compat_system ON public.tenants
    USING ((SELECT tenancy.compat_system()))
    WITH CHECK ((SELECT tenancy.compat_system()));
