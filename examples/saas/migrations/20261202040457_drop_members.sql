-- The example's own `members` table gives way to tenant-members' users,
-- memberships and invitations (the next migration).
DROP TABLE IF EXISTS public.members;
