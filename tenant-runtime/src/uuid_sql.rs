//! The sqlx impls of the UUID newtypes ([`TenantId`](crate::TenantId),
//! [`UserId`](crate::UserId)): a column, a parameter and an array element
//! exactly as a `uuid`.

/// `Type`, `PgHasArrayType`, `Encode` and `Decode` of a `uuid` for a
/// newtype over [`uuid::Uuid`] (field `.0`).
macro_rules! uuid_column {
    ($newtype:ty) => {
        impl ::sqlx::Type<::sqlx::Postgres> for $newtype {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <::uuid::Uuid as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &::sqlx::postgres::PgTypeInfo) -> bool {
                <::uuid::Uuid as ::sqlx::Type<::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl ::sqlx::postgres::PgHasArrayType for $newtype {
            fn array_type_info() -> ::sqlx::postgres::PgTypeInfo {
                <::uuid::Uuid as ::sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl ::sqlx::Encode<'_, ::sqlx::Postgres> for $newtype {
            fn encode_by_ref(
                &self,
                buf: &mut ::sqlx::postgres::PgArgumentBuffer,
            ) -> ::core::result::Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <::uuid::Uuid as ::sqlx::Encode<'_, ::sqlx::Postgres>>::encode_by_ref(&self.0, buf)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Postgres> for $newtype {
            fn decode(
                value: ::sqlx::postgres::PgValueRef<'r>,
            ) -> ::core::result::Result<Self, ::sqlx::error::BoxDynError> {
                <::uuid::Uuid as ::sqlx::Decode<'r, ::sqlx::Postgres>>::decode(value).map(Self)
            }
        }
    };
}

pub(crate) use uuid_column;
