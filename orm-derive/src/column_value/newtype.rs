//! A newtype stored as its one field.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{DataStruct, DeriveInput, Fields, Member};

use super::TypeAttrs;
use crate::errors::Errors;
use crate::spans::Range;

pub fn expand(
    input: &DeriveInput,
    data: &DataStruct,
    attrs: &TypeAttrs,
    errors: &mut Errors,
) -> TokenStream {
    let ident = &input.ident;
    for attr in &attrs.with_storage {
        errors.spanned(
            attr,
            "#[column_value(..)] applies to enums; a newtype is stored as its field",
        );
    }
    let field = match &data.fields {
        Fields::Named(f) if f.named.len() == 1 => &f.named[0],
        Fields::Unnamed(f) if f.unnamed.len() == 1 => &f.unnamed[0],
        other => {
            errors.spanned(
                ident,
                format!(
                    "#[derive(ColumnValue)] on a struct needs exactly one field (a newtype such as `struct UserId(i64)`); `{ident}` has {}",
                    other.len()
                ),
            );
            return TokenStream::new();
        }
    };
    let inner = &field.ty;
    let member = match &field.ident {
        Some(name) => Member::Named(name.clone()),
        None => Member::Unnamed(0.into()),
    };
    let construct = match &field.ident {
        Some(name) => quote!(#ident { #name: inner }),
        None => quote!(#ident(inner)),
    };
    let name = ident.to_string();
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    // Every use names `<Inner as ColumnValue>` at the field's type, where an
    // unsupported type is reported (once). A generic newtype also needs the
    // bound; a concrete one must not have it (a where clause on a concrete
    // type that does not hold is an error of its own).
    let Range { first, last } = Range::of(inner);
    let open = quote_spanned!(first=> <);
    let close = quote_spanned!(last=> as __p::ColumnValue>);
    let inner_value = quote!(#open #inner #close);
    let column_where = if input.generics.params.is_empty() {
        quote!(#where_clause)
    } else {
        let predicates = where_clause.map(|w| &w.predicates);
        let comma = predicates
            .filter(|p| !p.empty_or_trailing())
            .map(|_| quote!(,));
        let bound = quote_spanned!(first=> #inner: __p::ColumnValue);
        quote!(where #predicates #comma #bound)
    };
    let use_private = attrs.krate.use_private();
    quote! {
        const _: () = {
            #use_private

            impl #impl_generics __p::ColumnValue for #ident #type_generics #column_where {
                const SQL_TYPE: __p::SqlType = #inner_value::SQL_TYPE;
                const NULLABLE: ::core::primitive::bool = #inner_value::NULLABLE;
                const AUTO_KEY: ::core::primitive::bool = #inner_value::AUTO_KEY;

                fn to_value(&self) -> __p::Value {
                    #inner_value::to_value(&self.#member)
                }

                fn from_value(
                    value: __p::Value,
                ) -> ::core::result::Result<Self, __p::DecodeFailure> {
                    match #inner_value::from_value(value) {
                        ::core::result::Result::Ok(inner) => ::core::result::Result::Ok(#construct),
                        ::core::result::Result::Err(failure) => {
                            ::core::result::Result::Err(__p::DecodeFailure {
                                expected: #name,
                                found: failure.found,
                            })
                        }
                    }
                }
            }

            impl #impl_generics __p::Scalar for #ident #type_generics #where_clause {}
        };
    }
}
