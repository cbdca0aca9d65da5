//! Typed conditions and orderings on a model's columns:
//! `Appointment::STARTS_AT.ge(day)`, `Owner::EMAIL.eq("ada@example.com")`,
//! `Appointment::STARTS_AT.asc()`. The derive gives every model one
//! [`Column`] constant per field; a condition on one model's column cannot
//! be given to another model's query, and a value is compared only with a
//! column whose Rust type it matches ([`Compare`]).

use std::marker::PhantomData;

use sqlx::postgres::PgHasArrayType;
use sqlx::{Encode, Postgres, Type};

use super::run::Args;

/// A column of model `T` whose field has the Rust type `V`: made by the
/// derive as `Model::FIELD_NAME` (the field's name in capitals).
pub struct Column<T, V> {
    quoted: &'static str,
    types: PhantomData<fn() -> (T, V)>,
}

// Not derived: a derive would ask `T: Clone` and `V: Clone`.
impl<T, V> Clone for Column<T, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T, V> Copy for Column<T, V> {}

impl<T, V> std::fmt::Debug for Column<T, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Column").field(&self.quoted).finish()
    }
}

/// Values that may be compared with a column whose field has the Rust type
/// `V`: `V` itself and `&V`, `&str` for `String`, and any of those for an
/// `Option<V>` column (where `NULL` never compares equal: use
/// [`Column::is_null`]).
#[diagnostic::on_unimplemented(
    message = "a `{Self}` cannot be compared with a column of type `{V}`",
    label = "not a value of the column's type",
    note = "pass a `{V}` (or a reference to one; `&str` for a `String` column)"
)]
pub trait Compare<V> {}

/// A value compared with a column whose field has the Rust type `V`: what
/// [`Column::eq`] and the generated finders take. Implemented for every
/// [`Compare<V>`] that sqlx can bind.
#[diagnostic::on_unimplemented(
    message = "a `{Self}` cannot be compared with a column of type `{V}`",
    label = "not a value of the column's type",
    note = "pass a `{V}` (or a reference to one; `&str` for a `String` column)"
)]
pub trait Value<'v, V>: Compare<V> + Encode<'v, Postgres> + Type<Postgres> + Send + 'v {}

impl<'v, V, A> Value<'v, V> for A where
    A: Compare<V> + Encode<'v, Postgres> + Type<Postgres> + Send + 'v
{
}

impl<V> Compare<V> for V {}
impl<V> Compare<V> for &V {}
impl Compare<String> for &str {}
impl<V> Compare<Option<V>> for V {}
impl<V> Compare<Option<V>> for &V {}
impl Compare<Option<String>> for &str {}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
}

impl Op {
    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Like => "LIKE",
            Op::ILike => "ILIKE",
        }
    }
}

/// What binds a condition's value, run when the condition joins a query.
type Bind<'v> = Box<dyn FnOnce(Args) -> Args + Send + 'v>;

/// A condition on a column of model `T`, for
/// [`Scoped::filter`](super::Scoped::filter) and
/// [`Query::filter`](super::Query::filter).
#[must_use = "a condition does nothing until given to `filter`"]
pub struct Filter<'v, T> {
    column: &'static str,
    test: Test<'v>,
    model: PhantomData<fn() -> T>,
}

enum Test<'v> {
    /// `column <op> $n`.
    Compare(Op, Bind<'v>),
    /// `column = ANY ($n)`.
    In(Bind<'v>),
    /// `column IS NULL` / `IS NOT NULL`.
    Null(bool),
}

impl<T> std::fmt::Debug for Filter<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let test = match &self.test {
            Test::Compare(op, _) => format!("{} $n", op.sql()),
            Test::In(_) => "= ANY ($n)".to_owned(),
            Test::Null(true) => "IS NULL".to_owned(),
            Test::Null(false) => "IS NOT NULL".to_owned(),
        };
        write!(f, "Filter({} {test})", self.column)
    }
}

impl<T> Filter<'_, T> {
    /// Appends ` AND <condition>` (or ` WHERE ..` for the first) to `sql`,
    /// binding its value as parameter `next`; returns the parameters used.
    pub(crate) fn write(self, sql: &mut String, args: Args, next: usize) -> (Args, usize) {
        let column = self.column;
        match self.test {
            Test::Compare(op, bind) => {
                sql.push_str(&format!("{column} {} ${next}", op.sql()));
                (bind(args), 1)
            }
            Test::In(bind) => {
                sql.push_str(&format!("{column} = ANY (${next})"));
                (bind(args), 1)
            }
            Test::Null(true) => {
                sql.push_str(&format!("{column} IS NULL"));
                (args, 0)
            }
            Test::Null(false) => {
                sql.push_str(&format!("{column} IS NOT NULL"));
                (args, 0)
            }
        }
    }
}

/// A sort order on a column of model `T`, for
/// [`Query::order_by`](super::Query::order_by).
#[must_use = "an order does nothing until given to `order_by`"]
pub struct Order<T> {
    pub(crate) column: &'static str,
    pub(crate) descending: bool,
    model: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Order<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let direction = if self.descending { "DESC" } else { "ASC" };
        write!(f, "Order({} {direction})", self.column)
    }
}

impl<T, V> Column<T, V> {
    /// Used by the derive: `quoted` is the column's name as SQL text.
    #[doc(hidden)]
    pub const fn new(quoted: &'static str) -> Self {
        Self {
            quoted,
            types: PhantomData,
        }
    }

    /// The column's name as SQL text (quoted).
    pub fn sql(&self) -> &'static str {
        self.quoted
    }

    fn compare<'v>(self, op: Op, value: impl Value<'v, V>) -> Filter<'v, T> {
        Filter {
            column: self.quoted,
            test: Test::Compare(op, Box::new(move |args| args.bind(value))),
            model: PhantomData,
        }
    }

    /// `column = value`.
    pub fn eq<'v>(self, value: impl Value<'v, V>) -> Filter<'v, T> {
        self.compare(Op::Eq, value)
    }

    /// `column <> value`.
    pub fn ne<'v>(self, value: impl Value<'v, V>) -> Filter<'v, T> {
        self.compare(Op::Ne, value)
    }

    /// `column < value`.
    pub fn lt<'v>(self, value: impl Value<'v, V>) -> Filter<'v, T> {
        self.compare(Op::Lt, value)
    }

    /// `column <= value`.
    pub fn le<'v>(self, value: impl Value<'v, V>) -> Filter<'v, T> {
        self.compare(Op::Le, value)
    }

    /// `column > value`.
    pub fn gt<'v>(self, value: impl Value<'v, V>) -> Filter<'v, T> {
        self.compare(Op::Gt, value)
    }

    /// `column >= value`.
    pub fn ge<'v>(self, value: impl Value<'v, V>) -> Filter<'v, T> {
        self.compare(Op::Ge, value)
    }

    /// `column = ANY (values)`: the column equals one of `values` (none
    /// when `values` is empty).
    pub fn is_in<'v, A>(self, values: &'v [A]) -> Filter<'v, T>
    where
        A: Compare<V> + PgHasArrayType + Sync,
        &'v [A]: Encode<'v, Postgres> + Type<Postgres> + Send,
    {
        Filter {
            column: self.quoted,
            test: Test::In(Box::new(move |args| args.bind(values))),
            model: PhantomData,
        }
    }

    /// Ascending order (`NULL`s last, as PostgreSQL sorts them).
    pub fn asc(self) -> Order<T> {
        self.order(false)
    }

    /// Descending order (`NULL`s first).
    pub fn desc(self) -> Order<T> {
        self.order(true)
    }

    fn order(self, descending: bool) -> Order<T> {
        Order {
            column: self.quoted,
            descending,
            model: PhantomData,
        }
    }
}

impl<T, V> Column<T, Option<V>> {
    /// `column IS NULL`.
    pub fn is_null(self) -> Filter<'static, T> {
        self.null(true)
    }

    /// `column IS NOT NULL`.
    pub fn is_not_null(self) -> Filter<'static, T> {
        self.null(false)
    }

    fn null(self, is_null: bool) -> Filter<'static, T> {
        Filter {
            column: self.quoted,
            test: Test::Null(is_null),
            model: PhantomData,
        }
    }
}

fn text_match<'v, T>(column: &'static str, op: Op, pattern: &'v str) -> Filter<'v, T> {
    Filter {
        column,
        test: Test::Compare(op, Box::new(move |args| args.bind(pattern))),
        model: PhantomData,
    }
}

/// Pattern matches, on text columns.
macro_rules! text_columns {
    ($($ty:ty),*) => {$(
        impl<T> Column<T, $ty> {
            /// `column LIKE pattern` (`%` any run of characters, `_` one;
            /// `\` before either matches it literally).
            pub fn like(self, pattern: &str) -> Filter<'_, T> {
                text_match(self.quoted, Op::Like, pattern)
            }

            /// `column ILIKE pattern`: [`like`](Self::like), ignoring case.
            pub fn ilike(self, pattern: &str) -> Filter<'_, T> {
                text_match(self.quoted, Op::ILike, pattern)
            }
        }
    )*};
}

text_columns!(String, Option<String>);
