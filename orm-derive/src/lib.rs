//! The macros of `orm-core`: `#[entity]`, `#[fields]`,
//! `#[derive(ColumnValue)]` and `#[derive(FromRow)]` ([`from_row`]).
//!
//! `#[entity]` runs in four passes, each in its own module, all over
//! `proc_macro2` so that they can be unit-tested outside the compiler:
//!
//! 1. [`attr`] parses `#[entity(..)]`, `#[key(..)]`, `#[version]`,
//!    `#[transient]`, `#[column(..)]` and the relationship attributes into
//!    plain structs, one file per attribute family (and strips the helper
//!    attributes from the struct);
//! 2. [`model`] builds the entity: table, columns, transient fields, keys,
//!    attached traits;
//! 3. [`check`] validates the model;
//! 4. [`expand`] generates the code, which calls only orm-core's private
//!    module, `::orm_core::__private_v1`, through the paths of
//!    [`crate_path`] (which says why the name carries a version).
//!
//! [`shared_fields`] is `#[fields]` (fields traits shared by several
//! entities) and the hidden `impl_fields!` it relies on; [`column_value`] is
//! the derive for newtypes and enums.
//!
//! Mistakes are collected in [`errors::Errors`] and reported together, each at
//! the span of the token that is wrong. The attribute reference lives in the
//! `orm-core` crate docs. What the macros generate for a few representative
//! inputs is kept, whole and pretty-printed, in `src/snapshots/*.snap`
//! (the tests in `expansions.rs`).

#![warn(missing_docs)]

use proc_macro::TokenStream;

mod attr;
mod check;
mod column_value;
mod crate_path;
mod errors;
mod expand;
#[cfg(test)]
mod expansions;
mod from_row;
mod model;
mod naming;
mod shared_fields;
mod spans;

/// Maps a struct to a table. See the `orm-core` crate docs for the attributes.
#[proc_macro_attribute]
pub fn entity(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match expand::entity(attr.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        Err(error) => expand::with_errors(item, &error).into(),
    }
}

/// Declares a fields trait that `#[entity(fields(Trait))]` implements for
/// every entity that lists it; `#[fields(crate = path)]` when orm-core is
/// re-exported under another name. See the `orm-core` crate docs.
#[proc_macro_attribute]
pub fn fields(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match shared_fields::fields(attr.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let mut tokens = error.to_compile_error();
            tokens.extend(item);
            tokens.into()
        }
    }
}

/// Stores a newtype as its field, or a fieldless enum as text
/// (`#[column_value(text)]`) or an integer (`#[column_value(integer)]`);
/// `#[column_value(crate = path)]` when orm-core is re-exported under
/// another name. See `orm_core::types`.
#[proc_macro_derive(ColumnValue, attributes(column_value))]
pub fn column_value(item: TokenStream) -> TokenStream {
    column_value::derive(item.into())
        .unwrap_or_else(|error| error.to_compile_error())
        .into()
}

/// Implementation detail of `#[fields]`; called by the macro it generates.
#[doc(hidden)]
#[proc_macro]
pub fn __impl_fields(input: TokenStream) -> TokenStream {
    shared_fields::impl_fields(input.into())
        .unwrap_or_else(|error| error.to_compile_error())
        .into()
}

/// Reads a struct with named fields from a row by column name
/// (`#[from_row(rename = "column")]` on a field for another name,
/// `#[from_row(crate = path)]` on the struct for a facade crate). See
/// `orm_core::FromRow`.
#[proc_macro_derive(FromRow, attributes(from_row))]
pub fn from_row(item: TokenStream) -> TokenStream {
    from_row::derive(item.into())
        .unwrap_or_else(|error| error.to_compile_error())
        .into()
}
