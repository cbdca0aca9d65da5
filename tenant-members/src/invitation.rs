//! Invitations: an admin invites an email with a role; the user with that
//! email accepts, once, before it expires ([`accept_invitation`]).

use std::fmt;

use sha2::{Digest as _, Sha256};
use tenant_runtime::{TenantId, TenantScoped, UserId};
use time::{Duration, OffsetDateTime};

use crate::Role;

/// An invitation to a tenant: the table `invitations`, a tenant table like
/// any model, plus the rules of `invitations.sql` (written by emit-rls
/// after it): only an admin invites (an owner, to the owner role) or
/// revokes (deletes), the inviter and acceptance are set by the database,
/// and nothing changes a row but [`accept_invitation`].
///
/// Only the SHA-256 of the token is stored; the token itself goes to the
/// invitee (by email, in a link) and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "invitations", index(tenant_id, email))]
pub struct Invitation {
    /// The row's key.
    #[tenant(primary_key, generated)]
    pub id: i64,
    /// The tenant.
    pub tenant_id: TenantId,
    /// Who may accept it: the user with this email.
    pub email: String,
    /// The role it grants.
    #[tenant(sql_type = "text")]
    pub role: String,
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// After this, it cannot be accepted.
    pub expires_at: OffsetDateTime,
    /// The admin who sent it (set by the database: the transaction's user).
    pub invited_by: Option<UserId>,
    /// Who accepted it, once accepted.
    pub accepted_by: Option<UserId>,
    /// When it was accepted.
    pub accepted_at: Option<OffsetDateTime>,
    /// Set by the database.
    #[tenant(generated, default = "now()")]
    pub created_at: OffsetDateTime,
}

/// The secret an invitee accepts with: 32 random bytes, as 64 hex digits.
/// Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct InvitationToken(String);

impl InvitationToken {
    /// A fresh random token.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system's random number generator works");
        Self(hex::encode(bytes))
    }

    /// The token, to send to the invitee.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the table stores: SHA-256 of the token's text, as the
    /// database computes it when accepting.
    pub fn hash(&self) -> Vec<u8> {
        hash_token(&self.0)
    }
}

impl fmt::Debug for InvitationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitationToken(..)")
    }
}

fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Invitation {
    /// A new invitation of `email` to `tenant` as `role`, valid for
    /// `valid_for`, and its token (give the token to the invitee; insert
    /// the invitation with `Invitation::scoped(&tx).insert(..)` in a
    /// transaction begun with `begin_as` for an admin).
    pub fn new(
        tenant: TenantId,
        email: impl Into<String>,
        role: Role,
        valid_for: Duration,
    ) -> (Self, InvitationToken) {
        let token = InvitationToken::generate();
        let invitation = Self {
            id: 0,
            tenant_id: tenant,
            email: email.into(),
            role: role.as_str().to_owned(),
            token_hash: token.hash(),
            expires_at: OffsetDateTime::now_utc() + valid_for,
            invited_by: None,
            accepted_by: None,
            accepted_at: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        (invitation, token)
    }
}

/// Accepts the invitation with `token` to the transaction's tenant for its
/// verified user (`TenantPool::begin_as(tenant, user)`): marks it used and
/// makes the user a member with its role, which it returns. The database
/// decides (`tenancy.accept_invitation`), for raw SQL alike; a refusal is
/// `Error::InvitationRefused` with why (unknown here, used, expired, not
/// the user's email, already a member, no user).
pub async fn accept_invitation(
    tx: &tenant_runtime::TenantTx,
    token: &str,
) -> Result<Role, tenant_runtime::Error> {
    let (role,): (String,) = tx
        .static_select("SELECT tenancy.accept_invitation($1)")?
        .bind(token.to_owned())
        .fetch_one()
        .await?;
    // The table's CHECK admits the four role names only.
    Ok(role.parse().unwrap_or(Role::Viewer))
}
