//! `#[derive(FromRow)]`: reads a struct with named fields from one row by
//! column name, each field from the column of its name or
//! `#[from_row(rename = "column")]`; `#[from_row(crate = path)]` on the
//! struct when orm-core is re-exported under another name.
//!
//! The decision: by name, never by position, so that the order of a
//! select list and of the struct's fields may differ and a missing label
//! is an error naming the struct and the column (`Error::MissingColumn`),
//! not a value read into the wrong field. Each field's type is checked
//! against `ColumnValue` at the field's span.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::attr::{crate_arg, skip_value, string_value};
use crate::crate_path::CratePath;
use crate::errors::Errors;

const ATTR: &str = "from_row";

pub fn derive(item: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(item)?;
    let mut errors = Errors::new();
    let mut krate = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident(ATTR)) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                return crate_arg(&meta, "#[from_row(..)]", &mut krate, &mut errors);
            }
            errors.spanned(
                &meta.path,
                "unknown option of #[from_row(..)] on a struct: the one option is `crate = path`",
            );
            skip_value(meta.input)
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    let krate: CratePath = krate.unwrap_or_default();
    let ident = &input.ident;
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => Some(&named.named),
            _ => {
                errors.spanned(
                    ident,
                    format!("#[derive(FromRow)] reads fields by column name: `{ident}` needs named fields"),
                );
                None
            }
        },
        Data::Enum(data) => {
            errors.spanned(
                data.enum_token,
                "#[derive(FromRow)] applies to a struct with named fields, not to an enum",
            );
            None
        }
        Data::Union(data) => {
            errors.spanned(
                data.union_token,
                "#[derive(FromRow)] applies to a struct with named fields, not to a union",
            );
            None
        }
    };
    let mut reads = Vec::new();
    let mut columns: Vec<(String, LitStr)> = Vec::new();
    for field in fields.into_iter().flatten() {
        let name = field.ident.as_ref().expect("named field");
        let mut rename: Option<LitStr> = None;
        for attr in field.attrs.iter().filter(|a| a.path().is_ident(ATTR)) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    if rename.is_some() {
                        errors.spanned(&meta.path, "duplicate `rename` in #[from_row(..)]");
                        return skip_value(meta.input);
                    }
                    rename = string_value(&meta, "rename = \"column\"", &mut errors)?;
                    return Ok(());
                }
                errors.spanned(
                    &meta.path,
                    "unknown option of #[from_row(..)] on a field: the one option is `rename = \"column\"`",
                );
                skip_value(meta.input)
            });
            if let Err(e) = result {
                errors.push(e);
            }
        }
        let column = rename.unwrap_or_else(|| {
            let text = name.to_string();
            LitStr::new(text.strip_prefix("r#").unwrap_or(&text), name.span())
        });
        if let Some((_, first)) = columns.iter().find(|(c, _)| *c == column.value()) {
            errors.spanned(
                &column,
                format!(
                    "two fields read the column {:?} (the first at `{}`)",
                    column.value(),
                    first.value()
                ),
            );
        }
        columns.push((column.value(), column.clone()));
        let ty = &field.ty;
        let read = quote_spanned!(ty.span()=> row.read_for::<#ty>(TARGET, #column)?);
        reads.push(quote!(#name: #read));
    }
    errors.finish()?;
    let use_private = krate.use_private();
    let target = ident.to_string();
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        const _: () = {
            #use_private

            impl #impl_generics __p::FromRow for #ident #type_generics #where_clause {
                fn from_row(row: &__p::Row) -> __p::Result<Self> {
                    const TARGET: &::core::primitive::str = #target;
                    ::core::result::Result::Ok(#ident { #(#reads),* })
                }
            }
        };
    })
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
        assert!(
            mistakes(quote!(
                struct P(i64, i64);
            ))[0]
                .contains("needs named fields")
        );
        assert!(
            mistakes(quote!(
                enum E {
                    A,
                }
            ))[0]
                .contains("not to an enum")
        );
        let got = mistakes(quote! {
            #[from_row(crate = facade, strict)]
            struct R { #[from_row(rename = "n")] a: i64, #[from_row(renam = "x")] b: i64, n: i64 }
        });
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(
            got[0].contains("the one option is `crate = path`"),
            "{got:?}"
        );
        assert!(got[1].contains("`rename = \"column\"`"), "{got:?}");
        assert!(
            got[2].starts_with("two fields read the column \"n\""),
            "{got:?}"
        );
    }

    #[test]
    fn fields_read_by_name() {
        let out = derive(quote!(
            struct R {
                r#type: String,
                #[from_row(rename = "sum_total")]
                total: Option<i64>,
            }
        ))
        .unwrap()
        .to_string();
        assert!(out.contains("\"type\""), "{out}");
        assert!(out.contains("\"sum_total\""), "{out}");
        assert!(out.contains("__private_v1"), "{out}");
    }
}
