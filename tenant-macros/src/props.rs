//! Property tests of attribute validation on generated models: each
//! drawn model is valid or has a known set of mistakes, and `validate`
//! must report exactly those mistakes (every one, each naming its token),
//! or accept the model with the columns, keys and indexes it declares.

use proptest::prelude::*;
use quote::{format_ident, quote};

use crate::validate::validate;

/// Optional fields a model may have, with their Rust types.
const EXTRAS: [(&str, &str); 6] = [
    ("email", "String"),
    ("name", "String"),
    ("score", "i32"),
    ("note", "Option<String>"),
    ("done", "bool"),
    ("created_at", "::time::OffsetDateTime"),
];

/// A column no model has.
const MISSING: &str = "missing_col";

#[derive(Debug, Clone)]
enum KeyList {
    None,
    /// The tenant column and these extras.
    Valid(Vec<usize>),
    /// The tenant column, these extras, and a column that does not exist.
    Unknown(Vec<usize>),
    /// These extras (at least one) without the tenant column; unique only.
    NoTenant(Vec<usize>),
}

#[derive(Debug, Clone)]
struct Spec {
    extras: Vec<usize>,
    bad_table: bool,
    no_primary_key: bool,
    duplicate: bool,
    unknown_key: bool,
    unique: KeyList,
    index: KeyList,
}

fn key_list(extras: Vec<usize>, allow_no_tenant: bool) -> impl Strategy<Value = KeyList> {
    let picks = proptest::sample::subsequence(extras.clone(), 0..=extras.len());
    let no_tenant = if allow_no_tenant && !extras.is_empty() {
        proptest::sample::subsequence(extras.clone(), 1..=extras.len())
            .prop_map(KeyList::NoTenant)
            .boxed()
    } else {
        Just(KeyList::None).boxed()
    };
    prop_oneof![
        Just(KeyList::None),
        picks.clone().prop_map(KeyList::Valid),
        picks.prop_map(KeyList::Unknown),
        no_tenant,
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    proptest::sample::subsequence((0..EXTRAS.len()).collect::<Vec<_>>(), 0..=EXTRAS.len())
        .prop_flat_map(|extras| {
            (
                Just(extras.clone()),
                any::<[bool; 4]>(),
                key_list(extras.clone(), true),
                key_list(extras, false),
            )
        })
        .prop_map(|(extras, flags, unique, index)| Spec {
            extras,
            bad_table: flags[0],
            no_primary_key: flags[1],
            duplicate: flags[2],
            unknown_key: flags[3],
            unique,
            index,
        })
}

fn columns(list: &[usize], tenant: bool, missing: bool) -> Vec<proc_macro2::Ident> {
    let mut out = Vec::new();
    if tenant {
        out.push(format_ident!("tenant_id"));
    }
    out.extend(list.iter().map(|&i| format_ident!("{}", EXTRAS[i].0)));
    if missing {
        out.push(format_ident!("{}", MISSING));
    }
    out
}

fn list_tokens(key: &str, list: &KeyList) -> Option<proc_macro2::TokenStream> {
    let key = format_ident!("{}", key);
    let cols = match list {
        KeyList::None => return None,
        KeyList::Valid(l) => columns(l, true, false),
        KeyList::Unknown(l) => columns(l, true, true),
        KeyList::NoTenant(l) => columns(l, false, false),
    };
    Some(quote!(#key(#(#cols),*)))
}

/// The struct the spec describes.
fn source(spec: &Spec) -> syn::DeriveInput {
    let table = if spec.bad_table { "Items" } else { "items" };
    let mut table_args = vec![quote!(name = #table)];
    table_args.extend(list_tokens("unique", &spec.unique));
    table_args.extend(list_tokens("index", &spec.index));
    if spec.unknown_key {
        table_args.push(quote!(colour = "red"));
    }
    let key = if spec.no_primary_key {
        quote!(pub key: i64,)
    } else {
        quote!(pub id: i64,)
    };
    let extras = spec.extras.iter().map(|&i| {
        let (name, ty) = EXTRAS[i];
        let name = format_ident!("{}", name);
        let ty: syn::Type = syn::parse_str(ty).unwrap();
        quote!(pub #name: #ty,)
    });
    let duplicate = spec
        .duplicate
        .then(|| quote!(#[tenant(column = "tenant_id")] pub alias: String,));
    syn::parse2(quote! {
        #[tenant_table(#(#table_args),*)]
        pub struct Item {
            #key
            pub tenant_id: TenantId,
            #(#extras)*
            #duplicate
        }
    })
    .unwrap()
}

/// What each mistake must say (one error each).
fn expected(spec: &Spec) -> Vec<String> {
    if spec.unknown_key {
        // An attribute that does not parse stops there: darling's error
        // alone, so the rest is not judged on a misread attribute.
        return vec!["Unknown field: `colour`".to_owned()];
    }
    let mut out = Vec::new();
    if spec.bad_table {
        out.push("table name `Items` is not a plain SQL name".to_owned());
    }
    if spec.no_primary_key {
        out.push("`Item` has no primary key".to_owned());
    }
    if spec.duplicate {
        out.push("duplicate column `tenant_id`".to_owned());
    }
    for (key, list) in [("unique", &spec.unique), ("index", &spec.index)] {
        match list {
            KeyList::Unknown(_) => out.push(format!("unknown column `{MISSING}` in {key}(..)")),
            KeyList::NoTenant(_) => out.push("leaves out the tenant column `tenant_id`".to_owned()),
            KeyList::None | KeyList::Valid(_) => {}
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn validation_reports_exactly_the_mistakes_made(spec in spec()) {
        let input = source(&spec);
        let expected = expected(&spec);
        match validate(&input) {
            Ok(model) => {
                prop_assert!(expected.is_empty(), "accepted, but expected {expected:?}");
                let mut names: Vec<&str> = vec!["id", "tenant_id"];
                names.extend(spec.extras.iter().map(|&i| EXTRAS[i].0));
                let got: Vec<&str> = model.columns.iter().map(|c| c.name.as_str()).collect();
                prop_assert_eq!(got, names);
                prop_assert_eq!(model.tenant_column().name.as_str(), "tenant_id");
                prop_assert_eq!(model.primary_key_column().name.as_str(), "id");
                let declared = |list: &KeyList| match list {
                    KeyList::Valid(l) => vec![columns(l, true, false).iter().map(ToString::to_string).collect::<Vec<_>>()],
                    _ => Vec::new(),
                };
                let uniques: Vec<Vec<String>> = model.uniques.iter().filter(|u| !u.global).map(|u| u.columns.clone()).collect();
                // (tenant_id, id) is always there, for composite foreign keys.
                for want in declared(&spec.unique) {
                    prop_assert!(uniques.contains(&want), "{uniques:?} lacks {want:?}");
                }
                let indexes: Vec<Vec<String>> = model.indexes.iter().map(|i| i.columns.clone()).collect();
                prop_assert_eq!(indexes, declared(&spec.index));
                // And it expands without panicking.
                let _ = crate::expand::expand(&model);
            }
            Err(errors) => {
                let got: Vec<String> = errors.into_iter().map(|e| e.to_string()).collect();
                prop_assert_eq!(got.len(), expected.len(), "got {:?}, expected {:?}", got, expected);
                for want in &expected {
                    prop_assert!(got.iter().any(|g| g.contains(want.as_str())), "{want:?} missing from {got:?}");
                }
            }
        }
    }
}
