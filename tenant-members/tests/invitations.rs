//! Users and invitations, as the application role with two tenants and
//! four users (plus invitees), each test in a fresh database.

mod common;

use common::World;

use sqlx::Executor as _;
use tenant_members::{Invitation, InvitationToken, Role, accept_invitation, users};
use tenant_runtime::{Error, InvitationRefusal, UserId};
use time::Duration;

const A_WEEK: Duration = Duration::days(7);

fn refused(result: Result<impl std::fmt::Debug, Error>, reason: InvitationRefusal) {
    match result {
        Err(Error::InvitationRefused { reason: got }) => assert_eq!(got, reason),
        other => panic!("expected the invitation refused ({reason:?}), got {other:?}"),
    }
}

impl World {
    /// `actor` invites `email` to Acme as `role`.
    async fn invite(
        &self,
        actor: UserId,
        email: &str,
        role: Role,
    ) -> Result<(Invitation, InvitationToken), Error> {
        let (invitation, token) = Invitation::new(self.acme(), email, role, A_WEEK);
        let tx = self.app.begin_as(self.acme(), actor).await?;
        let row = Invitation::scoped(&tx).insert(&invitation).await?;
        tx.commit().await?;
        Ok((row, token))
    }

    /// `user` accepts `token` in `tenant`.
    async fn accept(
        &self,
        tenant: tenant_runtime::TenantId,
        user: UserId,
        token: &str,
    ) -> Result<Role, Error> {
        let tx = self.app.begin_as(tenant, user).await?;
        let role = accept_invitation(&tx, token).await?;
        tx.commit().await?;
        Ok(role)
    }
}

#[tokio::test]
async fn users_see_themselves_and_their_tenants_members_only() {
    let w = World::new().await;
    // Outside a tenant: one's own row, and nobody else's.
    let tx = w.app.begin_global_as(w.cy).await.unwrap();
    let me = users::current_user(&tx).await.unwrap().unwrap();
    assert_eq!((me.id, me.email.as_str()), (w.cy, "cy@example.com"));
    let (n,): (i64,) = tx
        .raw("SELECT count(*) FROM users")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(n, 1, "a global transaction sees its own user only");
    drop(tx);
    let tx = w.app.begin_global().await.unwrap();
    let (n,): (i64,) = tx
        .raw("SELECT count(*) FROM users")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(n, 0, "no user, no rows");
    drop(tx);

    // In Acme: Acme's members; Globex's owner is not one of them.
    let tx = w.app.begin_as(w.acme(), w.cy).await.unwrap();
    let emails: Vec<String> = users::tenant_members(&tx)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.email)
        .collect();
    assert_eq!(
        emails,
        ["ada@example.com", "bob@example.com", "cy@example.com"]
    );
    let (n,): (i64,) = tx
        .raw("SELECT count(*) FROM users")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(n, 3);
    drop(tx);
    let tx = w.app.begin_as(w.tenants[1], w.dan).await.unwrap();
    let (n,): (i64,) = tx
        .raw("SELECT count(*) FROM users")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(n, 1, "Globex has one member");
    drop(tx);

    // The application role never writes users: not its own email (which
    // would let it accept someone else's invitation), not a new user.
    let mut tx = w.app.begin_as(w.acme(), w.cy).await.unwrap();
    let changed = tx
        .conn()
        .execute("UPDATE users SET email = 'dan@example.com.evil' WHERE true")
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 0);
    let insert = format!(
        "INSERT INTO users (id, email) VALUES ('{}', 'mallory@example.com')",
        tenant_runtime::UserId::new_v4()
    );
    let err = tx.conn().execute(insert.as_str()).await.unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("42501")
    );
    drop(tx);
    let tx = w.app.begin_global_as(w.cy).await.unwrap();
    let me = users::current_user(&tx).await.unwrap().unwrap();
    assert_eq!(me.email, "cy@example.com");
}

#[tokio::test]
async fn an_invitation_is_accepted_once_by_its_emails_user_before_it_expires() {
    let w = World::new().await;
    let eve = w.sign_up("Eve@Example.com").await;
    let frank = w.sign_up("frank@example.com").await;
    let (row, token) = w
        .invite(w.bob, "eve@example.com", Role::Member)
        .await
        .unwrap();
    assert_eq!(row.invited_by, Some(w.bob), "set by the database");
    assert_eq!(row.token_hash, token.hash());
    assert!(!format!("{token:?}").contains(token.expose()));

    // Not Frank's to accept, nor anyone's in another tenant, nor a made-up token.
    refused(
        w.accept(w.acme(), frank, token.expose()).await,
        InvitationRefusal::NotYours,
    );
    refused(
        w.accept(w.tenants[1], eve, token.expose()).await,
        InvitationRefusal::Unknown,
    );
    refused(
        w.accept(w.acme(), eve, InvitationToken::generate().expose())
            .await,
        InvitationRefusal::Unknown,
    );
    assert_eq!(w.membership(frank).await, None);

    // Eve's (emails compare case-insensitively), once.
    assert_eq!(
        w.accept(w.acme(), eve, token.expose()).await.unwrap(),
        Role::Member
    );
    assert_eq!(
        w.membership(eve).await.unwrap().role().unwrap(),
        Role::Member
    );
    refused(
        w.accept(w.acme(), eve, token.expose()).await,
        InvitationRefusal::Used,
    );
    w.remove(w.ada, eve).await.unwrap();
    refused(
        w.accept(w.acme(), eve, token.expose()).await,
        InvitationRefusal::Used,
    );
    assert_eq!(
        w.membership(eve).await,
        None,
        "a used token does not bring her back"
    );

    // Expired: refused at accept (the system role may write any expiry).
    let (mut stale, stale_token) =
        Invitation::new(w.acme(), "frank@example.com", Role::Viewer, A_WEEK);
    stale.expires_at = time::OffsetDateTime::now_utc() - Duration::minutes(1);
    let tx = w.system.begin().await.unwrap();
    Invitation::system(&tx).insert(&stale).await.unwrap();
    tx.commit().await.unwrap();
    refused(
        w.accept(w.acme(), frank, stale_token.expose()).await,
        InvitationRefusal::Expired,
    );
    // and the application role cannot make one that is expired already.
    let tx = w.app.begin_as(w.acme(), w.bob).await.unwrap();
    refused(
        Invitation::scoped(&tx).insert(&stale).await,
        InvitationRefusal::Expired,
    );
    drop(tx);

    // No verified user: nothing to accept for.
    let tx = w.app.begin(w.acme()).await.unwrap();
    refused(
        accept_invitation(&tx, token.expose()).await,
        InvitationRefusal::NoUser,
    );
}

#[tokio::test]
async fn only_admins_invite_only_owners_invite_owners_and_sql_cannot_rearm_one() {
    let w = World::new().await;
    let needs = |result: Result<_, Error>, role: &str| match result {
        Err(Error::MembershipChangeRefused { needed }) => assert_eq!(needed, role),
        other => panic!("expected a refusal that needs {role}, got {other:?}"),
    };
    needs(
        w.invite(w.cy, "x@example.com", Role::Viewer)
            .await
            .map(|_| ()),
        "admin",
    );
    needs(
        w.invite(w.bob, "x@example.com", Role::Owner)
            .await
            .map(|_| ()),
        "owner",
    );
    let (_, owner_token) = w.invite(w.ada, "x@example.com", Role::Owner).await.unwrap();
    let (row, token) = w
        .invite(w.bob, "y@example.com", Role::Viewer)
        .await
        .unwrap();
    let y = w.sign_up("y@example.com").await;
    w.accept(w.acme(), y, token.expose()).await.unwrap();

    // An admin's raw SQL cannot re-arm, re-address or forge one.
    let mut tx = w.app.begin_as(w.acme(), w.bob).await.unwrap();
    let rearm = format!(
        "UPDATE invitations SET accepted_at = NULL, email = 'z@example.com' WHERE id = {}",
        row.id
    );
    let err = tx.conn().execute(rearm.as_str()).await.unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("TN012")
    );
    drop(tx);
    let mut tx = w.app.begin_as(w.acme(), w.bob).await.unwrap();
    let forged = format!(
        "INSERT INTO invitations (email, role, token_hash, expires_at, invited_by, accepted_at) \
         VALUES ('z@example.com', 'owner', '\\x{}', now() + interval '1 day', '{}', now())",
        "00".repeat(32),
        w.ada
    );
    let err = tx.conn().execute(forged.as_str()).await.unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("TN011")
    );
    drop(tx);

    // An invitee cannot skip the invitation: inserting their own membership
    // is a membership change by a non-admin.
    let z = w.sign_up("z@example.com").await;
    let mut tx = w.app.begin_as(w.acme(), z).await.unwrap();
    let join = format!("INSERT INTO memberships (user_id, role) VALUES ('{z}', 'owner')");
    let err = tx.conn().execute(join.as_str()).await.unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("TN011")
    );
    drop(tx);
    // The owner invitation is still good for its own email only.
    refused(
        w.accept(w.acme(), z, owner_token.expose()).await,
        InvitationRefusal::NotYours,
    );

    // Two accepts of one token at once: one wins.
    let (_, token) = w
        .invite(w.bob, "z@example.com", Role::Member)
        .await
        .unwrap();
    let (first, second) = tokio::join!(
        w.accept(w.acme(), z, token.expose()),
        w.accept(w.acme(), z, token.expose())
    );
    let wins = [&first, &second].iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{first:?} {second:?}");
    assert_eq!(w.membership(z).await.unwrap().role().unwrap(), Role::Member);
}
