-- tenant-members: what a membership change may do, enforced for every
-- role (the application's, raw SQL included), not only by the Rust API.
ALTER TABLE public.memberships DROP CONSTRAINT IF EXISTS memberships_role_known;
ALTER TABLE public.memberships ADD CONSTRAINT memberships_role_known
    CHECK (role IN ('owner', 'admin', 'member', 'viewer'));

-- Runs as the caller (not SECURITY DEFINER), so it sees what row-level
-- security lets the caller see: the tenant of the row being changed.
-- The acting user is the verified one of the transaction
-- (tenancy.current_user_id(), which SQL cannot forge). The system role
-- (BYPASSRLS, or a superuser: sign-up, support, purges) may change any
-- membership, but not leave a live tenant without an owner either.
CREATE OR REPLACE FUNCTION tenancy.guard_membership() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_tenant uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
    v_actor uuid := tenancy.current_user_id();
    v_rank integer;
BEGIN
    IF NOT (SELECT r.rolbypassrls OR r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER) THEN
        -- A row of another tenant: row-level security refuses it right
        -- after this trigger, with its own error (TN003).
        IF v_tenant IS DISTINCT FROM (SELECT c.tenant FROM tenancy.context c) THEN
            RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        END IF;
        SELECT CASE m.role WHEN 'owner' THEN 4 WHEN 'admin' THEN 3 WHEN 'member' THEN 2 WHEN 'viewer' THEN 1 END
          INTO v_rank
          FROM public.memberships m
         WHERE m.tenant_id = v_tenant AND m.user_id = v_actor;
        -- Anyone may leave; every other change needs an admin, and
        -- touching the owner role an owner.
        IF NOT (TG_OP = 'DELETE' AND OLD.user_id = v_actor) THEN
            IF coalesce(v_rank, 0) < 3 THEN
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
