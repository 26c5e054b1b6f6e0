//! `#[derive(ColumnValue)]`: makes a type storable in a column *per type*
//! (every field of the type, and `Option` of it, is a column; see
//! `orm_core::types`):
//!
//! * a newtype (`struct UserId(i64)`, or one named field) is stored as its
//!   field: same SQL type, nullability and auto-key ability ([`newtype`]);
//! * a fieldless enum is stored as text, by variant name
//!   (`#[column_value(text)]`, renamed per variant with
//!   `#[column_value(rename = "..")]`), or as an INTEGER, by discriminant
//!   (`#[column_value(integer)]`) ([`enumeration`]).
//!
//! Both implement `ColumnValue` and the `Scalar` marker (so typed filters
//! compare them) inside `const _: () = { .. }`, through
//! orm-core's private module only (`crate::crate_path`).

mod enumeration;
mod newtype;

use proc_macro2::TokenStream;
use syn::{Data, DeriveInput};

use crate::crate_path::CratePath;
use crate::errors::Errors;

/// The derive's helper attribute.
const ATTR: &str = "column_value";

pub fn derive(item: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(item)?;
    let mut errors = Errors::new();
    let krate = CratePath::default();
    let tokens = match &input.data {
        Data::Struct(data) => newtype::expand(&input, data, &krate, &mut errors),
        Data::Enum(data) => enumeration::expand(&input, data, &krate, &mut errors),
        Data::Union(data) => {
            errors.spanned(
                data.union_token,
                "ColumnValue can be derived for a newtype struct or a fieldless enum, not for a union",
            );
            TokenStream::new()
        }
    };
    errors.finish()?;
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn mistakes(item: TokenStream) -> Vec<String> {
        match derive(item) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn mistakes_are_reported_together() {
        assert_eq!(
            mistakes(quote!(
                struct Pair(i64, i64);
            )),
            [
                "#[derive(ColumnValue)] on a struct needs exactly one field (a newtype such as `struct UserId(i64)`); `Pair` has 2"
            ]
        );
        assert_eq!(
            mistakes(quote!(
                #[column_value(text)]
                struct Id(i64);
            )),
            ["#[column_value(..)] applies to enums; a newtype is stored as its field"]
        );
        let got = mistakes(quote! {
            enum E { A(i32), B }
        });
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(
            got[0].starts_with("an enum needs #[column_value(text)]"),
            "{got:?}"
        );
        assert!(
            got[1].starts_with("only fieldless variants can be stored"),
            "{got:?}"
        );
        let got = mistakes(quote! {
            #[column_value(text, integer)]
            enum E { #[column_value(rename = "B")] A, B, #[column_value(renam = "c")] C }
        });
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(
            got[0].starts_with("choose one of `text` and `integer`"),
            "{got:?}"
        );
        assert!(
            got[1].starts_with("two variants are stored as \"B\""),
            "{got:?}"
        );
        assert!(got[2].starts_with("unknown option `renam`"), "{got:?}");
        let got = mistakes(quote! {
            #[column_value(integer)]
            enum E { #[column_value(rename = "b")] A }
        });
        assert!(
            got[0].starts_with("`rename` applies to text enums"),
            "{got:?}"
        );
        assert!(
            mistakes(quote!(
                #[column_value(text)]
                enum Never {}
            ))[0]
                .starts_with("an enum with no variants")
        );
        assert!(mistakes(quote!(union U { a: i32 }))[0].contains("not for a union"));
    }
}
