//! Turns an `#[entity]` struct into code: the struct itself (helper
//! attributes stripped), its `Entity` implementation with the static
//! metadata (`entity.rs`, with the relationship fields from
//! `relations.rs`), its column and relationship constants (`columns.rs`),
//! and its fields trait, logic traits and shared fields traits
//! (`accessors.rs`).
//!
//! Generated code names nothing the user may have renamed or not imported:
//! every path is absolute, through `::orm_core::__private_v1`, `::core` or
//! `::std`.

mod accessors;
mod column_type;
mod columns;
mod entity;
mod relations;

use proc_macro2::TokenStream;
use quote::quote;
use syn::Item;

use crate::attr;
use crate::check;
use crate::errors::Errors;
use crate::model::Entity;

/// Expands `#[entity(attr)] item`, or returns every mistake found.
pub fn entity(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::new();
    let args = attr::entity_args(attr, &mut errors);
    let mut item = match syn::parse2::<Item>(item) {
        Ok(Item::Struct(item)) => item,
        Ok(other) => return Err(errors.fail(not_a_struct(&other))),
        Err(error) => return Err(errors.fail(error)),
    };
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        let generics = &item.generics;
        let where_clause = &generics.where_clause;
        errors.spanned(
            quote!(#generics #where_clause),
            "#[entity] does not support generic structs yet: remove the type, lifetime and const parameters",
        );
    }
    let Some(model) = Entity::new(&mut item, args, &mut errors) else {
        return Err(errors.finish().expect_err("Entity::new reported why"));
    };
    check::entity(&model, &mut errors);
    errors.finish()?;
    let entity_impl = entity::expand(&model);
    let columns = columns::expand(&model);
    let accessors = accessors::expand(&model);
    Ok(quote! {
        #item
        #entity_impl
        #columns
        #accessors
    })
}

/// What the macro emits when the input has mistakes: the errors, and the item
/// itself without helper attributes, so that code using the struct does not
/// fail with further, misleading errors.
pub fn with_errors(item: TokenStream, error: &syn::Error) -> TokenStream {
    let mut tokens = error.to_compile_error();
    match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(mut item)) => {
            for field in &mut item.fields {
                field.attrs.retain(|a| !attr::is_helper(a));
            }
            tokens.extend(quote!(#item));
        }
        _ => tokens.extend(item),
    }
    tokens
}

fn not_a_struct(item: &Item) -> syn::Error {
    let (what, tokens) = match item {
        Item::Enum(syn::ItemEnum {
            enum_token, ident, ..
        }) => ("an enum", quote!(#enum_token #ident)),
        Item::Union(syn::ItemUnion {
            union_token, ident, ..
        }) => ("a union", quote!(#union_token #ident)),
        _ => ("this item", TokenStream::new()),
    };
    let message =
        format!("#[entity] can only be used on a struct with named fields, not on {what}");
    if tokens.is_empty() {
        syn::Error::new(proc_macro2::Span::call_site(), message)
    } else {
        syn::Error::new_spanned(tokens, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mistakes(attr: TokenStream, item: TokenStream) -> Vec<String> {
        match entity(attr, item) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn relationship_mistakes_are_reported_together() {
        let got = mistakes(
            TokenStream::new(),
            quote! {
                struct A {
                    #[key] id: i64,
                    b_id: i64,
                    #[belongs_to(B, by = "b")] b: Ref<B>,
                    #[has_many(C)] cs: Vec<C>,
                    #[many_to_many(Self, via = "a_links")] links: Many<A>,
                    #[has_many(C, by = "a_id")] #[key] keyed: Many<C>,
                }
            },
        );
        assert_eq!(
            got,
            [
                // The relationship itself rather than its foreign key.
                "`b` is a relationship, not a column: `by` names the column field of `A` that holds the foreign key",
                "#[has_many(..)] needs `by`, the field of `C` that holds the foreign key to `A`: `#[has_many(C, by = \"a_id\")]`",
                "a #[has_many] field must be a `Many<C>`, or a `Keyed<K, C>` with `keyed_by = \"field\"`",
                "the association table's owner and target columns would both be `a_id` (the relationship is between two objects of the same entity); name them: `owner_column = \"..\", target_column = \"..\"`",
                "`keyed` is a relationship (#[has_many]), not a column, so it cannot have #[key]; remove one of the two",
            ]
        );
    }

    #[test]
    fn version_mistakes_are_reported_at_once() {
        let got = mistakes(
            quote!(is_modified = "f"),
            quote! {
                struct A {
                    #[key] #[version] id: i64,
                    #[version(x)] a: i64,
                }
            },
        );
        assert_eq!(got.len(), 4, "{got:#?}");
        assert!(got[0].starts_with("expected the path of a function"));
        assert!(got[1].starts_with("#[version] takes no arguments"));
        assert!(got[2].starts_with("#[version] cannot be on a key field"));
        assert!(got[3].starts_with("an entity can have only one #[version] field"));
    }

    #[test]
    fn mistakes_are_reported_together() {
        let got = mistakes(
            quote!(tabel = "x"),
            quote! {
                struct A {
                    #[column(uniq)] a: i64,
                    #[key(generated)] b: i64,
                }
            },
        );
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(got[0].starts_with("unknown #[entity] argument `tabel`"));
        assert!(got[1].starts_with("unknown column attribute `uniq`"));
        assert!(got[2].starts_with("unknown key option `generated`"));
    }

    #[test]
    fn only_plain_structs_with_named_fields() {
        let enum_ = mistakes(
            TokenStream::new(),
            quote!(
                enum E {
                    A,
                }
            ),
        );
        assert_eq!(
            enum_,
            ["#[entity] can only be used on a struct with named fields, not on an enum"]
        );
        let tuple = mistakes(
            TokenStream::new(),
            quote!(
                struct P(i64, i64);
            ),
        );
        assert_eq!(
            tuple,
            ["#[entity] needs a struct with named fields; `P` is a tuple struct"]
        );
        let generic = mistakes(
            TokenStream::new(),
            quote!(
                struct G<T> {
                    #[key]
                    id: T,
                }
            ),
        );
        assert!(generic[0].starts_with("#[entity] does not support generic structs yet"));
    }

    #[test]
    fn with_errors_keeps_the_struct_without_helpers() {
        let item = quote!(
            struct A {
                #[column(uniq)]
                #[serde(skip)]
                #[version]
                a: i64,
            }
        );
        let error = entity(TokenStream::new(), item.clone()).unwrap_err();
        let text = with_errors(item, &error).to_string();
        assert!(text.contains("compile_error"));
        assert!(text.contains("serde"));
        assert!(!text.contains("# [column"), "{text}");
        assert!(!text.contains("# [version"), "{text}");
    }
}
