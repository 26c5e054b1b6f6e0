//! A fieldless enum stored as text (the variant's name, or its `rename`) or
//! as an INTEGER (the discriminant, checked at compile time to fit an i32).
//! An unknown stored name or number is a decode failure listing what was
//! expected, never a panic.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, DataEnum, DeriveInput, Expr, ExprLit, Fields, Ident, Lit, LitStr};

use super::{ATTR, Storage, TypeAttrs};
use crate::attr::{path_name, skip_value};
use crate::crate_path::CratePath;
use crate::errors::Errors;

pub fn expand(
    input: &DeriveInput,
    data: &DataEnum,
    attrs: &TypeAttrs,
    errors: &mut Errors,
) -> TokenStream {
    let ident = &input.ident;
    let krate = &attrs.krate;
    let storage = storage(ident, attrs, errors);
    if !input.generics.params.is_empty() {
        errors.spanned(
            &input.generics,
            "a generic enum cannot derive ColumnValue: its variants are stored by name or number",
        );
    }
    if data.variants.is_empty() {
        errors.spanned(
            ident,
            "an enum with no variants has no value to store; add variants or remove the derive",
        );
    }
    let mut variants: Vec<(&Ident, String)> = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            errors.spanned(
                &variant.fields,
                format!(
                    "only fieldless variants can be stored: `{}` carries data",
                    variant.ident
                ),
            );
        }
        let rename = rename(&variant.attrs, storage, errors);
        let stored = rename.map_or_else(|| variant.ident.to_string(), |lit| lit.value());
        if storage != Some(Storage::Integer)
            && let Some((first, _)) = variants.iter().find(|(_, s)| *s == stored)
        {
            errors.spanned(
                &variant.ident,
                format!(
                    "two variants are stored as \"{stored}\": `{first}` and `{}`; rename one with #[column_value(rename = \"..\")]",
                    variant.ident
                ),
            );
        }
        variants.push((&variant.ident, stored));
    }
    if storage == Some(Storage::Native) {
        native_labels(&data.variants, &variants, errors);
    }
    match (storage, &attrs.native_name) {
        (Some(Storage::Text), _) => text(ident, &variants, krate),
        (Some(Storage::Integer), _) => integer(ident, &variants, krate),
        (Some(Storage::Native), Some(name)) => native(ident, name, &variants, krate),
        _ => TokenStream::new(),
    }
}

/// Labels a database enum type can hold as written: MariaDB strips an
/// ENUM label's trailing spaces, and the ORM's DDL quotes labels in a
/// `$orm$` block; values travel as a 16-bit index.
fn native_labels(
    declared: &syn::punctuated::Punctuated<syn::Variant, syn::Token![,]>,
    variants: &[(&Ident, String)],
    errors: &mut Errors,
) {
    if variants.len() >= usize::from(u16::MAX) {
        errors.spanned(
            &declared[0].ident,
            "a database enum holds fewer than 65,535 labels",
        );
    }
    for (ident, label) in variants {
        if label.is_empty() || label.ends_with(' ') || label.contains("$orm$") || label.len() > 63 {
            errors.spanned(
                ident,
                format!(
                    "`{ident}` is stored as {label:?}: a database enum label is 1 to 63 bytes, without trailing spaces (MariaDB drops them) or `$orm$`"
                ),
            );
        }
    }
}

/// `#[column_value(text)]` or `#[column_value(integer)]` on the enum: one
/// of them, exactly.
fn storage(ident: &Ident, attrs: &TypeAttrs, errors: &mut Errors) -> Option<Storage> {
    for unknown in &attrs.unknown {
        errors.spanned(
            unknown,
            "unknown storage; expected #[column_value(text)], #[column_value(integer)] or #[column_value(native_enum = \"type name\")]",
        );
    }
    match attrs.storage.as_slice() {
        [] => {
            errors.spanned(
                ident,
                "an enum needs #[column_value(text)] (stored by variant name), #[column_value(integer)] (stored by discriminant) or #[column_value(native_enum = \"type name\")] (a database enum type)",
            );
            None
        }
        [(storage, _)] => Some(*storage),
        [_, rest @ ..] => {
            for (_, extra) in rest {
                errors.spanned(
                    extra,
                    "choose one of `text`, `integer` and `native_enum`: an enum is stored one way",
                );
            }
            None
        }
    }
}

/// `#[column_value(rename = "..")]` on a variant (text enums only).
fn rename(attrs: &[Attribute], storage: Option<Storage>, errors: &mut Errors) -> Option<LitStr> {
    let mut out = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident(ATTR)) {
        let result = attr.parse_nested_meta(|meta| {
            if !meta.path.is_ident("rename") {
                errors.spanned(
                    &meta.path,
                    format!(
                        "unknown option `{}` on a variant; expected #[column_value(rename = \"stored name\")]",
                        path_name(&meta.path)
                    ),
                );
                return skip_value(meta.input);
            }
            let value: Expr = meta.value()?.parse()?;
            match value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(lit), ..
                }) if storage == Some(Storage::Integer) => errors.spanned(
                    &lit,
                    "`rename` applies to text enums: an integer enum is stored by its discriminant",
                ),
                Expr::Lit(ExprLit {
                    lit: Lit::Str(lit), ..
                }) => out = Some(lit),
                other => errors.spanned(
                    other,
                    "expected a string literal: #[column_value(rename = \"stored name\")]",
                ),
            }
            Ok(())
        });
        if let Err(error) = result {
            errors.push(error);
        }
    }
    out
}

/// The stored names, the variants and the decode failure's "expected"
/// text of an enum stored by name.
fn by_name<'v>(
    ident: &Ident,
    variants: &'v [(&'v Ident, String)],
) -> (Vec<&'v String>, Vec<&'v Ident>, String) {
    let names: Vec<&String> = variants.iter().map(|(_, s)| s).collect();
    let idents: Vec<&Ident> = variants.iter().map(|(i, _)| *i).collect();
    let listed: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    let expected = format!("{ident}: one of {}", listed.join(", "));
    (names, idents, expected)
}

fn text(ident: &Ident, variants: &[(&Ident, String)], krate: &CratePath) -> TokenStream {
    let (names, idents, expected) = by_name(ident, variants);
    let use_private = krate.use_private();
    quote! {
        const _: () = {
            #use_private

            impl __p::ColumnValue for #ident {
                const SQL_TYPE: __p::SqlType = __p::SqlType::Text;

                fn to_value(&self) -> __p::Value {
                    __p::Value::Text(::std::string::String::from(match self {
                        #(Self::#idents => #names,)*
                    }))
                }

                fn from_value(
                    value: __p::Value,
                ) -> ::core::result::Result<Self, __p::DecodeFailure> {
                    if let __p::Value::Text(text) = &value {
                        match text.as_str() {
                            #(#names => return ::core::result::Result::Ok(Self::#idents),)*
                            _ => {}
                        }
                    }
                    ::core::result::Result::Err(__p::DecodeFailure::new(#expected, &value))
                }
            }

            impl __p::Scalar for #ident {}
        };
    }
}

/// A database enum type: `SqlType::Enum` of a static `EnumType` with the
/// stored names as labels, in declaration order; values by index, so
/// `to_value` allocates nothing. Decodes from the label (what every
/// backend returns for the column) or from its own value.
fn native(
    ident: &Ident,
    name: &LitStr,
    variants: &[(&Ident, String)],
    krate: &CratePath,
) -> TokenStream {
    let (names, idents, expected) = by_name(ident, variants);
    let indexes: Vec<u16> = (0..variants.len() as u16).collect();
    let use_private = krate.use_private();
    quote! {
        const _: () = {
            #use_private

            static TYPE: __p::EnumType = __p::EnumType {
                name: #name,
                labels: &[#(#names),*],
            };

            impl __p::ColumnValue for #ident {
                const SQL_TYPE: __p::SqlType = __p::SqlType::Enum(&TYPE);

                fn to_value(&self) -> __p::Value {
                    __p::Value::Enum(&TYPE, match self {
                        #(Self::#idents => #indexes,)*
                    })
                }

                fn from_value(
                    value: __p::Value,
                ) -> ::core::result::Result<Self, __p::DecodeFailure> {
                    let label = match &value {
                        __p::Value::Text(text) => ::core::option::Option::Some(text.as_str()),
                        __p::Value::Enum(ty, i) if ty.name == TYPE.name => {
                            ::core::option::Option::Some(ty.label(*i))
                        }
                        _ => ::core::option::Option::None,
                    };
                    match label {
                        #(::core::option::Option::Some(#names) => ::core::result::Result::Ok(Self::#idents),)*
                        _ => ::core::result::Result::Err(__p::DecodeFailure::new(#expected, &value)),
                    }
                }
            }

            impl __p::Scalar for #ident {}
        };
    }
}

fn integer(ident: &Ident, variants: &[(&Ident, String)], krate: &CratePath) -> TokenStream {
    let idents: Vec<&Ident> = variants.iter().map(|(i, _)| *i).collect();
    let expected = format!("{ident}: the discriminant of one of its variants");
    let fits = idents.iter().map(|v| {
        let message =
            format!("the discriminant of `{ident}::{v}` does not fit an INTEGER column (i32)");
        quote_spanned! {v.span()=>
            ::core::assert!(
                #ident::#v as ::core::primitive::i128
                    == #ident::#v as ::core::primitive::i32 as ::core::primitive::i128,
                #message
            );
        }
    });
    let use_private = krate.use_private();
    quote! {
        const _: () = {
            #use_private

            const _: () = {
                #(#fits)*
            };

            impl __p::ColumnValue for #ident {
                const SQL_TYPE: __p::SqlType = __p::SqlType::Integer;

                fn to_value(&self) -> __p::Value {
                    __p::Value::I32(match self {
                        #(Self::#idents => Self::#idents as ::core::primitive::i32,)*
                    })
                }

                fn from_value(
                    value: __p::Value,
                ) -> ::core::result::Result<Self, __p::DecodeFailure> {
                    if let ::core::option::Option::Some(n) = value.as_i64() {
                        #(
                            if n == #ident::#idents as ::core::primitive::i64 {
                                return ::core::result::Result::Ok(Self::#idents);
                            }
                        )*
                    }
                    ::core::result::Result::Err(__p::DecodeFailure::new(#expected, &value))
                }
            }

            impl __p::Scalar for #ident {}
        };
    }
}
