//! [`OnDelete`]: what a reference between tenant tables does when the
//! referenced row is deleted.

/// What deleting a referenced row does to the rows that reference it:
/// `#[tenant(references = "..", on_delete = "..")]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDelete {
    /// Refused while referenced, checked at the end of the statement
    /// (PostgreSQL's default): `"no_action"`, or no `on_delete`.
    #[default]
    NoAction,
    /// Refused while referenced, checked at once: `"restrict"`.
    Restrict,
    /// Deletes the referencing rows too: `"cascade"`.
    Cascade,
    /// Sets the referencing column (only that column: never the tenant
    /// column the foreign key shares) to `NULL`: `"set_null"`, on an
    /// `Option` field.
    SetNull,
}

impl OnDelete {
    /// Every action, as written in the attribute.
    pub const ALL: [(&'static str, OnDelete); 4] = [
        ("no_action", OnDelete::NoAction),
        ("restrict", OnDelete::Restrict),
        ("cascade", OnDelete::Cascade),
        ("set_null", OnDelete::SetNull),
    ];

    /// The variant's name, for generated code.
    pub fn variant(self) -> &'static str {
        match self {
            OnDelete::NoAction => "NoAction",
            OnDelete::Restrict => "Restrict",
            OnDelete::Cascade => "Cascade",
            OnDelete::SetNull => "SetNull",
        }
    }

    /// The action as written in the attribute.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, action)| *action == self)
            .map_or("no_action", |(name, _)| name)
    }

    /// The action named `name` in the attribute.
    pub fn from_name(name: &str) -> Option<OnDelete> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, action)| *action)
    }

    /// `pg_constraint.confdeltype` for it.
    pub fn catalog_code(self) -> char {
        match self {
            OnDelete::NoAction => 'a',
            OnDelete::Restrict => 'r',
            OnDelete::Cascade => 'c',
            OnDelete::SetNull => 'n',
        }
    }

    /// The `ON DELETE ..` clause of a foreign key on (tenant, `column`).
    pub fn clause(self, quoted_column: &str) -> String {
        match self {
            OnDelete::NoAction => String::new(),
            OnDelete::Restrict => " ON DELETE RESTRICT".to_owned(),
            OnDelete::Cascade => " ON DELETE CASCADE".to_owned(),
            OnDelete::SetNull => format!(" ON DELETE SET NULL ({quoted_column})"),
        }
    }
}
