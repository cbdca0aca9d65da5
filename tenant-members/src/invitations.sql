-- tenant-members: invitations. An admin (an owner, for the owner role)
-- invites an email to the tenant with a role; the invitee, signed in as
-- the user with that email, accepts with the token, once, before it
-- expires. Only a hash of the token is stored: reading the table gives no
-- one a way in.
ALTER TABLE public.invitations DROP CONSTRAINT IF EXISTS invitations_role_known;
ALTER TABLE public.invitations ADD CONSTRAINT invitations_role_known
    CHECK (role IN ('owner', 'admin', 'member', 'viewer'));
ALTER TABLE public.invitations DROP CONSTRAINT IF EXISTS invitations_token_hash_sha256;
ALTER TABLE public.invitations ADD CONSTRAINT invitations_token_hash_sha256
    CHECK (octet_length(token_hash) = 32);
CREATE UNIQUE INDEX IF NOT EXISTS invitations_token_hash_key ON public.invitations (tenant_id, token_hash);

-- For the application role: inviting needs an admin (an owner for the
-- owner role), revoking (DELETE) an admin, and an invitation is never
-- changed except by tenancy.accept_invitation, whose owner is trusted.
CREATE OR REPLACE FUNCTION tenancy.guard_invitation() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_tenant uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
    v_actor uuid := tenancy.current_user_id();
    v_rank integer;
BEGIN
    IF tenancy.trusted_actor() THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    -- Another tenant's row: row-level security refuses it (TN003).
    IF v_tenant IS DISTINCT FROM (SELECT c.tenant FROM tenancy.context c) THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'invitation refused: an invitation is changed only by accepting it'
            USING ERRCODE = 'TN012',
                  DETAIL = pg_catalog.json_build_object('reason', 'changed')::text,
                  HINT = 'Delete the invitation and invite again.';
    END IF;
    v_rank := tenancy.member_rank(v_tenant, v_actor);
    IF v_rank < 3 THEN
        RAISE EXCEPTION 'membership change refused: only an admin or owner of the tenant invites or revokes invitations'
            USING ERRCODE = 'TN011',
                  DETAIL = pg_catalog.json_build_object('needed', 'admin')::text,
                  HINT = 'Begin the transaction with TenantPool::begin_as for a user who is admin or owner there.';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.role = 'owner' AND v_rank < 4 THEN
            RAISE EXCEPTION 'membership change refused: only an owner invites an owner'
                USING ERRCODE = 'TN011',
                      DETAIL = pg_catalog.json_build_object('needed', 'owner')::text,
                      HINT = 'Ask an owner of the tenant to send this invitation.';
        END IF;
        -- Facts the inviter does not choose.
        NEW.invited_by := v_actor;
        NEW.accepted_by := NULL;
        NEW.accepted_at := NULL;
        IF NEW.expires_at <= pg_catalog.now() THEN
            RAISE EXCEPTION 'invitation refused: it expires at %, which has passed', NEW.expires_at
                USING ERRCODE = 'TN012',
                      DETAIL = pg_catalog.json_build_object('reason', 'expired')::text,
                      HINT = 'Give the invitation an expiry in the future.';
        END IF;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$fn$;

DROP TRIGGER IF EXISTS tenancy_guard_invitation ON public.invitations;
CREATE TRIGGER tenancy_guard_invitation
    BEFORE INSERT OR UPDATE OR DELETE ON public.invitations
    FOR EACH ROW EXECUTE FUNCTION tenancy.guard_invitation();

-- Accepts the invitation whose token this is, in the transaction's tenant,
-- for the transaction's verified user (TenantPool::begin_as), and returns
-- the role it grants. Refused (TN012, DETAIL's reason) when there is no
-- such invitation here, it was used, it expired, its email is not the
-- user's, or the user is a member already. SECURITY DEFINER because the
-- invitee is no member yet, so the membership guard would refuse their
-- insert; it still runs under the tenant's row-level security (FORCE
-- binds the owner), so it reaches this tenant's invitations only.
CREATE OR REPLACE FUNCTION tenancy.accept_invitation(p_token text) RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_user uuid := tenancy.current_user_id();
    v_tenant uuid := tenancy.entered_tenant();
    v_email text;
    v_invitation public.invitations%ROWTYPE;
    v_reason text;
BEGIN
    IF v_user IS NULL OR v_tenant IS NULL THEN
        v_reason := 'no_user';
    ELSE
        SELECT * INTO v_invitation FROM public.invitations i
         WHERE i.tenant_id = v_tenant
           AND i.token_hash = pg_catalog.sha256(pg_catalog.convert_to(coalesce(p_token, ''), 'UTF8'))
           FOR UPDATE;
        SELECT u.email INTO v_email FROM public.users u WHERE u.id = v_user;
        v_reason := CASE
            WHEN v_invitation.id IS NULL THEN 'unknown'
            WHEN v_invitation.accepted_at IS NOT NULL THEN 'used'
            WHEN v_invitation.expires_at <= pg_catalog.clock_timestamp() THEN 'expired'
            WHEN v_email IS NULL OR pg_catalog.lower(v_email) <> pg_catalog.lower(v_invitation.email) THEN 'not_yours'
            WHEN EXISTS (SELECT 1 FROM public.memberships m WHERE m.tenant_id = v_tenant AND m.user_id = v_user) THEN 'already_member'
        END;
    END IF;
    IF v_reason IS NOT NULL THEN
        RAISE EXCEPTION 'invitation refused: %', v_reason
            USING ERRCODE = 'TN012',
                  DETAIL = pg_catalog.json_build_object('reason', v_reason)::text;
    END IF;
    UPDATE public.invitations SET accepted_at = pg_catalog.now(), accepted_by = v_user
     WHERE id = v_invitation.id;
    INSERT INTO public.memberships (tenant_id, user_id, role) VALUES (v_tenant, v_user, v_invitation.role);
    RETURN v_invitation.role;
END
$fn$;
GRANT EXECUTE ON FUNCTION tenancy.accept_invitation(text) TO PUBLIC;
