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
//!
//! This module parses `#[column_value(..)]` on the type, which both kinds
//! read: the storage of an enum and `crate = path` (orm-core re-exported by
//! a facade crate).

mod enumeration;
mod newtype;

use proc_macro2::TokenStream;
use syn::{Attribute, Data, DeriveInput, Ident, Path};

use crate::attr::{crate_arg, skip_value};
use crate::crate_path::CratePath;
use crate::errors::Errors;

/// The derive's helper attribute.
const ATTR: &str = "column_value";

/// How an enum is stored.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Storage {
    /// `#[column_value(text)]`: by variant name.
    Text,
    /// `#[column_value(integer)]`: by discriminant.
    Integer,
    /// `#[column_value(native_enum = "name")]`: by variant name, in the
    /// database's enum type of that name (the name is in
    /// [`TypeAttrs::native_name`]).
    Native,
}

/// What the `#[column_value(..)]` attributes on the type say.
struct TypeAttrs<'a> {
    /// `text` and `integer`, in order, each with its word to point at.
    storage: Vec<(Storage, Ident)>,
    /// Options that are none of the known ones.
    unknown: Vec<Path>,
    /// The attributes with an option other than `crate`.
    with_storage: Vec<&'a Attribute>,
    /// `crate = path`, or `::orm_core`.
    krate: CratePath,
    /// The type name of `native_enum = ".."`.
    native_name: Option<syn::LitStr>,
}

impl<'a> TypeAttrs<'a> {
    fn parse(attrs: &'a [Attribute], errors: &mut Errors) -> Self {
        let mut out = TypeAttrs {
            storage: Vec::new(),
            unknown: Vec::new(),
            with_storage: Vec::new(),
            krate: CratePath::default(),
            native_name: None,
        };
        let mut krate = None;
        for attr in attrs.iter().filter(|a| a.path().is_ident(ATTR)) {
            let mut storage_here = false;
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("crate") {
                    return crate_arg(&meta, "#[column_value(..)]", &mut krate, errors);
                }
                storage_here = true;
                if meta.path.is_ident("text") {
                    out.storage
                        .push((Storage::Text, meta.path.require_ident()?.clone()));
                } else if meta.path.is_ident("integer") {
                    out.storage
                        .push((Storage::Integer, meta.path.require_ident()?.clone()));
                } else if meta.path.is_ident("native_enum") {
                    let word = meta.path.require_ident()?.clone();
                    let value: syn::Expr = meta.value()?.parse()?;
                    match value {
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(name),
                            ..
                        }) => {
                            native_type_name(&name, errors);
                            out.native_name.get_or_insert(name);
                        }
                        other => errors.spanned(
                            other,
                            "expected the enum type's name: #[column_value(native_enum = \"mood\")]",
                        ),
                    }
                    out.storage.push((Storage::Native, word));
                } else {
                    out.unknown.push(meta.path.clone());
                    return skip_value(meta.input);
                }
                Ok(())
            });
            if let Err(error) = result {
                errors.push(error);
            }
            if storage_here {
                out.with_storage.push(attr);
            }
        }
        out.krate = krate.unwrap_or_default();
        out
    }
}

/// A database type name the DDL can write: a plain SQL identifier
/// (PostgreSQL folds and limits identifiers; a quoted odd name would work
/// in the ORM's own statements but trip every hand-written one).
fn native_type_name(name: &syn::LitStr, errors: &mut Errors) {
    let text = name.value();
    let plain = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && text.len() <= 63;
    // PostgreSQL's own types (pg_catalog comes first in the search path):
    // a column declared with one of these names would get the built-in.
    const BUILT_IN: &[&str] = &[
        "bit",
        "bool",
        "boolean",
        "box",
        "bytea",
        "char",
        "cidr",
        "circle",
        "date",
        "decimal",
        "float4",
        "float8",
        "inet",
        "int",
        "int2",
        "int4",
        "int8",
        "integer",
        "interval",
        "json",
        "jsonb",
        "line",
        "lseg",
        "macaddr",
        "macaddr8",
        "money",
        "name",
        "numeric",
        "oid",
        "path",
        "point",
        "polygon",
        "real",
        "record",
        "smallint",
        "text",
        "time",
        "timestamp",
        "timestamptz",
        "timetz",
        "tsquery",
        "tsvector",
        "uuid",
        "varbit",
        "varchar",
        "xml",
    ];
    if !plain {
        errors.spanned(
            name,
            format!(
                "the enum type's name must be a plain lowercase SQL identifier (a-z, 0-9, _, at most 63 characters): \"{text}\""
            ),
        );
    } else if BUILT_IN.contains(&text.as_str()) {
        errors.spanned(
            name,
            format!("\"{text}\" is a PostgreSQL type of its own; name the enum type differently (e.g. \"{text}_kind\")"),
        );
    }
}

pub fn derive(item: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(item)?;
    let mut errors = Errors::new();
    let attrs = TypeAttrs::parse(&input.attrs, &mut errors);
    let tokens = match &input.data {
        Data::Struct(data) => newtype::expand(&input, data, &attrs, &mut errors),
        Data::Enum(data) => enumeration::expand(&input, data, &attrs, &mut errors),
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
        crate::errors::messages(derive(item))
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
            got[0].starts_with("choose one of `text`, `integer` and `native_enum`"),
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

    #[test]
    fn crate_is_an_option_of_newtypes_and_enums() {
        for item in [
            quote!(
                #[column_value(crate = facade)]
                struct Id(i64);
            ),
            quote!(
                #[column_value(crate = facade, text)]
                enum E {
                    A,
                }
            ),
            quote!(
                #[column_value(integer)]
                #[column_value(crate = facade)]
                enum E {
                    A,
                }
            ),
        ] {
            let out = derive(item).unwrap().to_string();
            assert!(out.contains("use facade :: __private_v1 as __p ;"), "{out}");
        }
        assert_eq!(
            mistakes(quote!(
                #[column_value(crate = "facade", crate = facade)]
                struct Id(i64);
            )),
            [
                "expected the path to orm_core, or to a crate or module that re-exports it: `crate = my_facade::orm`"
            ]
        );
        assert_eq!(
            mistakes(quote!(
                #[column_value(crate = a)]
                #[column_value(crate = b, text)]
                struct Id(i64);
            )),
            [
                "duplicate `crate` in #[column_value(..)]",
                "#[column_value(..)] applies to enums; a newtype is stored as its field",
            ]
        );
    }
}
