-- tenant-members: what a membership change may do, enforced for every
-- role (the application's, raw SQL included), not only by the Rust API.
ALTER TABLE public.memberships DROP CONSTRAINT IF EXISTS memberships_role_known;
ALTER TABLE public.memberships ADD CONSTRAINT memberships_role_known
    CHECK (role IN ('owner', 'admin', 'member', 'viewer'));

-- The rank (owner 4, admin 3, member 2, viewer 1, none 0) of a user in a
-- tenant. Runs as the caller, so it sees what row-level security lets the
-- caller see: in a tenant transaction, that tenant's memberships only.
CREATE OR REPLACE FUNCTION tenancy.member_rank(p_tenant uuid, p_user uuid) RETURNS integer
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT coalesce((SELECT CASE m.role WHEN 'owner' THEN 4 WHEN 'admin' THEN 3 WHEN 'member' THEN 2 WHEN 'viewer' THEN 1 END
                       FROM public.memberships m
                      WHERE m.tenant_id = p_tenant AND m.user_id = p_user), 0)
$fn$;

-- Whether the acting role is trusted with memberships as a whole: the
-- system role (BYPASSRLS, or a superuser: sign-up, support, purges), or
-- the tables' owner, which is who runs the migrations and whose SECURITY
-- DEFINER functions (tenancy.accept_invitation) act in its name. The
-- application role is neither (tenant check fails if it could become one).
CREATE OR REPLACE FUNCTION tenancy.trusted_actor() RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT (SELECT r.rolbypassrls OR r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)
        OR CURRENT_USER = (SELECT n.nspowner::regrole::name FROM pg_catalog.pg_namespace n WHERE n.nspname = 'tenancy')
$fn$;

-- The acting user is the verified one of the transaction
-- (tenancy.current_user_id(), which SQL cannot forge). A trusted actor
-- may change any membership, but not leave a live tenant without an owner
-- either.
CREATE OR REPLACE FUNCTION tenancy.guard_membership() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_tenant uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
    v_actor uuid := tenancy.current_user_id();
    v_rank integer;
BEGIN
    IF NOT tenancy.trusted_actor() THEN
        -- A row of another tenant: row-level security refuses it right
        -- after this trigger, with its own error (TN003).
        IF v_tenant IS DISTINCT FROM (SELECT c.tenant FROM tenancy.context c) THEN
            RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        END IF;
        v_rank := tenancy.member_rank(v_tenant, v_actor);
        -- Anyone may leave; every other change needs an admin, and
        -- touching the owner role an owner.
        IF NOT (TG_OP = 'DELETE' AND OLD.user_id = v_actor) THEN
            IF v_rank < 3 THEN
                RAISE EXCEPTION 'membership change refused: only an admin or owner of the tenant changes its memberships'
                    USING ERRCODE = 'TN011',
                          DETAIL = pg_catalog.json_build_object('needed', 'admin')::text,
                          HINT = 'Begin the transaction with TenantPool::begin_as for a user who is admin or owner there.';
            END IF;
            IF ((TG_OP <> 'INSERT' AND OLD.role = 'owner') OR (TG_OP <> 'DELETE' AND NEW.role = 'owner'))
               AND v_rank < 4 THEN
                RAISE EXCEPTION 'membership change refused: only an owner grants, changes or removes the owner role'
                    USING ERRCODE = 'TN011',
                          DETAIL = pg_catalog.json_build_object('needed', 'owner')::text,
                          HINT = 'Ask an owner of the tenant to make this change.';
            END IF;
        END IF;
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.role = 'owner' AND (TG_OP = 'DELETE' OR NEW.role <> 'owner')
       AND NOT EXISTS (SELECT 1 FROM public.tenants t WHERE t.id = OLD.tenant_id AND t.deleted_at IS NOT NULL) THEN
        -- Lock the tenant's owners first: two owners demoting each other
        -- at once then run one after the other, and the second sees the
        -- first's change.
        PERFORM 1 FROM public.memberships m WHERE m.tenant_id = OLD.tenant_id AND m.role = 'owner' FOR UPDATE;
        IF NOT EXISTS (SELECT 1 FROM public.memberships m
                        WHERE m.tenant_id = OLD.tenant_id AND m.role = 'owner' AND m.id <> OLD.id) THEN
            RAISE EXCEPTION 'the last owner of tenant % cannot leave or be demoted', OLD.tenant_id
                USING ERRCODE = 'TN010',
                      DETAIL = pg_catalog.json_build_object('tenant', OLD.tenant_id)::text,
                      HINT = 'Make another member owner first.';
        END IF;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$fn$;

DROP TRIGGER IF EXISTS tenancy_guard_membership ON public.memberships;
CREATE TRIGGER tenancy_guard_membership
    BEFORE INSERT OR UPDATE OR DELETE ON public.memberships
    FOR EACH ROW EXECUTE FUNCTION tenancy.guard_membership();

-- A user's organisations, for tenancy.my_tenants() alone. Memberships are
-- under FORCE row-level security, which binds their owner too, so no
-- function can read them across tenants; this mirror, kept by the trigger
-- below, has no grant at all (its column is `tenant`, not `tenant_id`: it
-- is not a tenant table, nothing but these two functions reads it).
CREATE TABLE IF NOT EXISTS tenancy.member_tenants (
    user_id uuid NOT NULL,
    tenant uuid NOT NULL,
    role text NOT NULL,
    PRIMARY KEY (user_id, tenant)
);
REVOKE ALL ON tenancy.member_tenants FROM PUBLIC;

-- Copies each membership change, after the guard and row-level security
-- let it through: the mirror says exactly what memberships say.
CREATE OR REPLACE FUNCTION tenancy.mirror_membership() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM tenancy.member_tenants m WHERE m.user_id = OLD.user_id AND m.tenant = OLD.tenant_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO tenancy.member_tenants (user_id, tenant, role) VALUES (NEW.user_id, NEW.tenant_id, NEW.role);
    END IF;
    RETURN NULL;
END
$fn$;
REVOKE EXECUTE ON FUNCTION tenancy.mirror_membership() FROM PUBLIC;

DROP TRIGGER IF EXISTS tenancy_mirror_membership ON public.memberships;
CREATE TRIGGER tenancy_mirror_membership
    AFTER INSERT OR UPDATE OR DELETE ON public.memberships
    FOR EACH ROW EXECUTE FUNCTION tenancy.mirror_membership();

-- The organisations of the transaction's verified user (begin_global_as),
-- live ones only: the narrow path that lists them with no tenant context
-- and without the system role. No user, no rows.
CREATE OR REPLACE FUNCTION tenancy.my_tenants() RETURNS TABLE (tenant_id uuid, slug text, name text, role text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT m.tenant, t.slug, t.name, m.role
      FROM tenancy.member_tenants m JOIN public.tenants t ON t.id = m.tenant
     WHERE m.user_id = tenancy.current_user_id() AND t.deleted_at IS NULL
     ORDER BY t.name, m.tenant
$fn$;
GRANT EXECUTE ON FUNCTION tenancy.my_tenants() TO PUBLIC;

-- Users: global (one row per person, across tenants), written by the
-- system role alone (sign-up, where the email was verified, and profile
-- changes), so an email here is one the application vouched for:
-- invitations are accepted by the user whose email it is. The
-- application role reads its own row, and in a tenant transaction the
-- rows of that tenant's members; nothing else, and never writes.
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                WHERE a.attrelid = pg_catalog.to_regclass('public.users')
                  AND a.attname = 'tenant_id' AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'public.users is a tenant table here, but tenant-members ships the global users table under that name'
            USING HINT = 'Rename the model (#[tenant_table(name = "..")]), or see tenant-members'' README on keeping your own users table.';
    END IF;
END
$do$;
CREATE TABLE IF NOT EXISTS public.users (
    id uuid PRIMARY KEY,
    email text NOT NULL,
    name text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_shape CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$' AND length(email) <= 320)
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON public.users (lower(email));
ALTER TABLE public.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.users FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS users_visible ON public.users;
-- CASE, not AND: the membership test runs only inside a tenant, where
-- reading memberships is allowed (outside one it would raise TN001).
CREATE POLICY users_visible ON public.users FOR SELECT
    USING (id = tenancy.current_user_id()
           OR CASE WHEN tenancy.entered_tenant() IS NULL THEN false
                   ELSE id IN (SELECT m.user_id FROM public.memberships m) END);

-- The user's role in the tenant, which tenancy.enter hands back with the
-- begin message (TenantTx::user_in_tenant, read by role_of_current_user
-- and the Member extractor): no statement of its own per request. It
-- runs as enter's definer once the tenant is entered, so the memberships
-- policy applies.
CREATE OR REPLACE FUNCTION tenancy.user_in_tenant(p_tenant uuid, p_user uuid) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RETURN (SELECT m.role FROM public.memberships m WHERE m.tenant_id = p_tenant AND m.user_id = p_user);
END
$fn$;
REVOKE EXECUTE ON FUNCTION tenancy.user_in_tenant(uuid, uuid) FROM PUBLIC;
