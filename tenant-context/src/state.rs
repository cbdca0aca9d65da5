//! What this backend holds: its session (the secret of the connection's
//! tokens and the last counter spent) and the verified context of the
//! current transaction.
//!
//! A backend runs one query at a time on one thread, and parallel workers
//! are processes of their own, so plain thread-locals are the whole story.

use std::cell::{Cell, RefCell};

use pgrx::pg_sys;
use tenant_token::Id;

/// The connection's session: opened once, by [`crate::open_session`].
struct Session {
    key_id: i32,
    secret: [u8; 32],
    /// The largest counter used so far: a token must exceed it.
    spent: i64,
}

/// A verified tenant context, and the transaction it is valid in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Context {
    pub(crate) tenant: Option<Id>,
    pub(crate) user: Option<Id>,
    /// `GetCurrentTransactionStartTimestamp()` of the transaction whose
    /// token made it: no other transaction of this backend started in the
    /// same microsecond, and a parallel worker shares its leader's.
    pub(crate) xact_start: pg_sys::TimestampTz,
}

thread_local! {
    static SESSION: RefCell<Option<Session>> = const { RefCell::new(None) };
    static CONTEXT: Cell<Option<Context>> = const { Cell::new(None) };
}

/// Arms the session with `secret`; refuses (false) a secret that was
/// armed before, so nothing seen once can start a session again.
pub(crate) fn arm(key_id: i32, secret: [u8; 32]) -> bool {
    SESSION.with_borrow_mut(|session| {
        if session.as_ref().is_some_and(|s| s.secret == secret) {
            return false;
        }
        *session = Some(Session {
            key_id,
            secret,
            spent: 0,
        });
        true
    })
}

pub(crate) fn is_armed() -> bool {
    SESSION.with_borrow(Option::is_some)
}

/// Why a token was refused by the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No session on this backend.
    NoSession,
    /// A MAC that is not the session's.
    Forged,
    /// A counter not above the last one spent.
    Spent,
}

/// Checks `token` against the session and spends its counter, before
/// anything else can fail; returns the session's key id.
pub(crate) fn spend(token: &tenant_token::SessionToken) -> Result<i32, Refusal> {
    SESSION.with_borrow_mut(|session| {
        let session = session.as_mut().ok_or(Refusal::NoSession)?;
        if !token.verify(&session.secret) {
            return Err(Refusal::Forged);
        }
        if token.counter <= session.spent {
            return Err(Refusal::Spent);
        }
        session.spent = token.counter;
        Ok(session.key_id)
    })
}

/// Installs `context` (from the setting's assign hook), or clears it.
pub(crate) fn set(context: Option<Context>) {
    CONTEXT.set(context);
}

/// The context, if it was made in the current transaction.
pub(crate) fn current() -> Option<Context> {
    let context = CONTEXT.get()?;
    // SAFETY: reads a backend-local timestamp; callable at any time in a
    // backend.
    let now = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    (context.xact_start == now).then_some(context)
}
