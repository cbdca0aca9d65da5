//! Property tests of `TenantId` parsing: exactly the hyphenated form, in
//! any case, through `parse`, `FromStr` and serde alike, and an error
//! that never carries more than 64 characters of the input.

use proptest::prelude::*;
use tenant_runtime::TenantId;
use uuid::Uuid;

/// The accepted shape: 8-4-4-4-12 hex digits.
fn is_hyphenated(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn serde(s: &str) -> Option<TenantId> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

proptest! {
    #[test]
    fn every_uuid_round_trips_in_either_case(bytes in any::<[u8; 16]>()) {
        let uuid = Uuid::from_bytes(bytes);
        let lower = uuid.hyphenated().to_string();
        let upper = lower.to_uppercase();
        for text in [&lower, &upper] {
            let id = TenantId::parse(text).unwrap();
            prop_assert_eq!(*id.as_uuid(), uuid);
            prop_assert_eq!(id.to_string(), lower.clone());
            prop_assert_eq!(text.parse::<TenantId>().unwrap(), id);
            prop_assert_eq!(serde(text), Some(id));
        }
        // Every other spelling of the same UUID is refused, by both ways in.
        for other in [
            uuid.simple().to_string(),
            uuid.braced().to_string(),
            uuid.urn().to_string(),
            format!(" {lower}"),
            format!("{lower}\n"),
        ] {
            prop_assert!(TenantId::parse(&other).is_err(), "{}", other);
            prop_assert!(serde(&other).is_none(), "{}", other);
        }
    }

    #[test]
    fn any_string_is_accepted_exactly_when_hyphenated(s in "\\PC{0,80}|[0-9a-fA-F-]{30,40}") {
        let parsed = TenantId::parse(&s);
        prop_assert_eq!(parsed.is_ok(), is_hyphenated(&s), "{:?}", s);
        prop_assert_eq!(serde(&s), parsed.clone().ok());
        if let Err(e) = parsed {
            prop_assert!(e.input().chars().count() <= 64);
            prop_assert!(s.starts_with(e.input()));
        }
    }
}
