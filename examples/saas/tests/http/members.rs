//! Sign-up, invitations, switching and the membership rules over HTTP, as
//! the application role with two tenants and their users.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenant_members::{Invitation, Role};
use tenant_runtime::UserId;

use crate::common::{Answer, Service};

/// Signs `email` up with an organisation of its own; its user and user token.
async fn sign_up(s: &Service, email: &str) -> (UserId, String, Answer) {
    let answer = s
        .call(
            Method::POST,
            "/signup",
            None,
            Some(json!({"email": email, "name": "Someone", "organisation": format!("Org of {email}")})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    let user: UserId = answer.json["user"]["id"].as_str().unwrap().parse().unwrap();
    let token = answer.json["user_token"].as_str().unwrap().to_owned();
    (user, token, answer)
}

/// `inviter` (a token for Acme) invites `email` as `role`: the answer.
async fn invite(s: &Service, inviter: &str, email: &str, role: &str) -> Answer {
    s.post(
        "/invitations",
        inviter,
        json!({"email": email, "role": role}),
    )
    .await
}

/// `user_token` accepts `token` under `/t/acme`.
async fn accept(s: &Service, user_token: &str, token: &str) -> Answer {
    let path = format!("/t/{}/invitations/accept", s.slug(0));
    s.post(&path, user_token, json!({ "token": token })).await
}

/// Ada invites `email` to Acme as `role`, the user with that email signs
/// up and accepts: their user and Acme token.
async fn join_acme(s: &Service, email: &str, role: &str) -> (UserId, String) {
    let invited = invite(s, &s.token(0), email, role).await;
    assert_eq!(invited.status, StatusCode::CREATED, "{:?}", invited.json);
    let (user, user_token, _) = sign_up(s, email).await;
    let joined = accept(s, &user_token, invited.json["token"].as_str().unwrap()).await;
    assert_eq!(joined.status, StatusCode::OK, "{:?}", joined.json);
    (user, joined.json["token"].as_str().unwrap().to_owned())
}

fn slugs(list: &Value) -> Vec<&str> {
    let mut slugs: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    slugs.sort_unstable();
    slugs
}

#[tokio::test]
async fn sign_up_invite_accept_and_switch() {
    let s = Service::start().await;
    let (eve, eve_user, signed_up) = sign_up(&s, "eve@example.com").await;
    let own = signed_up.json["tenant"]["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let own_token = signed_up.json["token"].as_str().unwrap().to_owned();
    let mine = s.get("/me/organisations", &eve_user).await;
    assert_eq!(slugs(&mine.json), [own.as_str()]);
    assert_eq!(mine.json[0]["role"], "owner");
    assert_eq!(s.get("/projects", &own_token).await.status, StatusCode::OK);

    // Acme invites her; the token is single use and hers only.
    let invited = invite(&s, &s.token(0), "eve@example.com", "member").await;
    assert_eq!(invited.status, StatusCode::CREATED, "{:?}", invited.json);
    let token = invited.json["token"].as_str().unwrap();
    assert_eq!(
        s.count_all(
            "invitations",
            &format!("token_hash = sha256('{token}'::bytea)")
        )
        .await,
        1
    );
    let joined = accept(&s, &eve_user, token).await;
    assert_eq!(
        (joined.status, &joined.json["role"]),
        (StatusCode::OK, &json!("member"))
    );
    assert_eq!(
        accept(&s, &eve_user, token).await.refusal(),
        (409, "invitation_used")
    );

    // Two organisations now; switching gives a token for either, without
    // signing in again, and for no other.
    let mine = s.get("/me/organisations", &eve_user).await;
    assert_eq!(slugs(&mine.json), ["acme", own.as_str()]);
    let switched = s
        .post("/switch", &eve_user, json!({"tenant": "acme"}))
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{:?}", switched.json);
    let acme_token = switched.json["token"].as_str().unwrap();
    assert_eq!(s.get("/projects", acme_token).await.status, StatusCode::OK);
    let listed = s.get("/members", acme_token).await;
    let emails: Vec<&str> = listed
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["ada@example.com", "eve@example.com"],
        "Acme's members, not Globex's Dan"
    );
    let refused = s
        .post("/switch", &eve_user, json!({"tenant": s.slug(1)}))
        .await;
    assert_eq!(refused.refusal(), (403, "not_a_member"));

    // The path reaches only organisations she is in; a token naming one
    // organisation is not good for another's path.
    assert_eq!(
        s.get(&format!("/t/{}/projects", s.slug(0)), &eve_user)
            .await
            .status,
        StatusCode::OK
    );
    let other = s
        .get(&format!("/t/{}/projects", s.slug(1)), &eve_user)
        .await;
    assert_eq!(other.refusal(), (403, "not_a_member"));
    let conflict = s
        .get(&format!("/t/{}/projects", s.slug(0)), &own_token)
        .await;
    assert_eq!(conflict.refusal(), (400, "tenant_conflict"));

    // One account per email.
    let again = s
        .call(
            Method::POST,
            "/signup",
            None,
            Some(json!({"email": "EVE@example.com", "name": "E", "organisation": "Again"})),
        )
        .await;
    assert_eq!(again.refusal(), (409, "taken"));
    assert_eq!(
        s.count_all("memberships", &format!("user_id = '{eve}'"))
            .await,
        2
    );
    s.stop().await;
}

#[tokio::test]
async fn the_membership_rules_hold_over_http() {
    let s = Service::start().await;
    let (ada, ada_token) = (s.owners[0], s.token(0));
    let (bob, bob_token) = join_acme(&s, "bob@example.com", "admin").await;
    let (cy, cy_token) = join_acme(&s, "cy@example.com", "member").await;
    let member = |user: UserId| format!("/members/{user}");

    // The last owner can neither leave nor be demoted.
    assert_eq!(
        s.delete(&member(ada), &ada_token).await.refusal(),
        (409, "last_owner")
    );
    let demote = s
        .patch(&member(ada), &ada_token, json!({"role": "admin"}))
        .await;
    assert_eq!(demote.refusal(), (409, "last_owner"));

    // An admin cannot grant owner, by invitation or by role, nor touch an owner.
    assert_eq!(
        invite(&s, &bob_token, "x@example.com", "owner")
            .await
            .refusal(),
        (403, "role_required")
    );
    let promote = s
        .patch(&member(bob), &bob_token, json!({"role": "owner"}))
        .await;
    assert_eq!(promote.refusal(), (403, "role_required"));
    let demote = s
        .patch(&member(ada), &bob_token, json!({"role": "member"}))
        .await;
    assert_eq!(demote.refusal(), (403, "role_required"));
    // A member manages no one: the route needs an admin.
    assert_eq!(
        invite(&s, &cy_token, "x@example.com", "viewer")
            .await
            .refusal(),
        (403, "role_required")
    );
    let change = s
        .patch(&member(cy), &cy_token, json!({"role": "admin"}))
        .await;
    assert_eq!(change.refusal(), (403, "role_required"));
    assert_eq!(
        s.delete(&member(bob), &cy_token).await.refusal(),
        (403, "role_required")
    );
    // The owner may.
    let promoted = s
        .patch(&member(cy), &ada_token, json!({"role": "viewer"}))
        .await;
    assert_eq!(promoted.json["role"], "viewer");

    // A removed member's still-valid token is refused on the next request.
    assert_eq!(s.get("/projects", &cy_token).await.status, StatusCode::OK);
    assert_eq!(
        s.delete(&member(cy), &bob_token).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get("/projects", &cy_token).await.refusal(),
        (403, "not_a_member")
    );
    // Anyone may leave.
    assert_eq!(
        s.delete(&member(bob), &bob_token).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get("/members", &bob_token).await.refusal(),
        (403, "not_a_member")
    );

    // Invitations: only the email's user, not after expiry, not made up.
    let for_frank = invite(&s, &ada_token, "frank@example.com", "member").await;
    let frank_token = for_frank.json["token"].as_str().unwrap();
    let (_, eve_user, _) = sign_up(&s, "eve@example.com").await;
    assert_eq!(
        accept(&s, &eve_user, frank_token).await.refusal(),
        (403, "invitation_not_yours")
    );
    assert_eq!(
        accept(&s, &eve_user, "0".repeat(64).as_str())
            .await
            .refusal(),
        (404, "invitation_unknown")
    );
    let (mut stale, stale_token) = Invitation::new(
        s.id(0),
        "eve@example.com",
        Role::Member,
        time::Duration::hours(1),
    );
    stale.expires_at = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    let tx = s.system.begin().await.unwrap();
    Invitation::system(&tx).insert(&stale).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        accept(&s, &eve_user, stale_token.expose()).await.refusal(),
        (410, "invitation_expired")
    );
    // Globex's owner cannot take Frank's invitation into Globex either.
    let globex = format!("/t/{}/invitations/accept", s.slug(1));
    let elsewhere = s
        .post(&globex, &s.token(1), json!({ "token": frank_token }))
        .await;
    assert_eq!(elsewhere.refusal(), (404, "invitation_unknown"));
    assert_eq!(
        s.count_all("memberships", &format!("tenant_id = '{}'", s.id(0)))
            .await,
        1
    );
    s.stop().await;
}
