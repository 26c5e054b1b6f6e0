//! The `#[entity]` attribute macro of `orm-core`.
//!
//! The macro runs in four passes, each in its own module, all over
//! `proc_macro2` so that they can be unit-tested outside the compiler:
//!
//! 1. [`attr`] parses `#[entity(..)]`, `#[key(..)]`, `#[version]` and
//!    `#[column(..)]` into plain structs (and strips the helper attributes
//!    from the struct);
//! 2. [`model`] builds the entity: table, fields, columns, keys;
//! 3. [`check`] validates the model;
//! 4. [`expand`] generates the code, which calls only `::orm_core::__private`.
//!
//! Mistakes are collected in [`errors::Errors`] and reported together, each at
//! the span of the token that is wrong. The attribute reference lives in the
//! `orm-core` crate docs.

use proc_macro::TokenStream;

mod attr;
mod check;
mod errors;
mod expand;
mod model;
mod naming;

/// Maps a struct to a table. See the `orm-core` crate docs for the attributes.
#[proc_macro_attribute]
pub fn entity(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match expand::entity(attr.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        Err(error) => expand::with_errors(item, &error).into(),
    }
}
