//! Relationship fields (`#[belongs_to]`, `#[has_many]`, `#[many_to_many]`):
//! their `RelationMeta` in the entity's metadata, the `relation` and
//! `relation_mut` methods of `Entity`, their unloaded value in `from_row`,
//! their typed constants (`Receiver::PLANES: Relation<Receiver, Plane>`),
//! and the compile-time checks of what the derive cannot see: that the field
//! type holds the declared target (`__p::Holds`), and that the target has
//! the fields `by` and `keyed_by` of a has-many name.
//!
//! Tokens that name the target carry the target path's spans and tokens that
//! name the field type carry the type's, so that the compiler reports a
//! mistake there.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned};

use super::column_type::Range;
use crate::attr::{ChildrenOnDelete, Orphans, RelationKind};
use crate::model::{Entity, Relation, field_ident};

/// The target type, spanned at the target path (`Self` is the entity).
fn target(entity: &Entity, r: &Relation) -> TokenStream {
    r.target_tokens(entity)
        .expect("a relationship without a target is reported before expansion")
}

/// `<Target as ::orm_core::__private_v1::Entity>::meta`, at the target path.
fn target_meta(entity: &Entity, target: &TokenStream) -> TokenStream {
    let Range { first, last } = Range::of(target);
    let open = quote_spanned!(first=> <);
    let private = entity.krate.private_at(last);
    let close = quote_spanned!(last=> as #private::Entity>::meta);
    quote!(#open #target #close)
}

/// The `relations: &[..]` entries of the static metadata.
pub fn metas(entity: &Entity) -> Vec<TokenStream> {
    let ident = &entity.ident;
    entity
        .relations
        .iter()
        .map(|r| {
            let a = &r.attr;
            let name = &r.name;
            let target = target(entity, r);
            let target_meta = target_meta(entity, &target);
            let kind = match a.kind {
                RelationKind::BelongsTo => quote!(BelongsTo),
                RelationKind::HasMany => quote!(HasMany),
                RelationKind::ManyToMany => quote!(ManyToMany),
            };
            let by = a.by.as_ref().map_or_else(String::new, |lit| lit.value());
            let keyed_by = super::entity::option(a.keyed_by.as_ref().map(|lit| {
                let value = lit.value();
                quote!(#value)
            }));
            let on_delete = match a.on_delete.unwrap_or(ChildrenOnDelete::Delete) {
                ChildrenOnDelete::Delete => quote!(Delete),
                ChildrenOnDelete::Refuse => quote!(Refuse),
                ChildrenOnDelete::Detach => quote!(Detach),
            };
            let orphans = match a.orphans.unwrap_or(Orphans::Delete) {
                Orphans::Delete => quote!(Delete),
                Orphans::Detach => quote!(Detach),
            };
            let via = super::entity::option(a.via.as_ref().map(|via| {
                let table = via.value();
                let owner_column = r.owner_column(entity);
                let target_column = r.target_column(entity).unwrap_or_default();
                quote!(__p::Via {
                    table: #table,
                    owner_column: #owner_column,
                    target_column: #target_column,
                })
            }));
            let Range { first, last } = Range::of(&target);
            let ops = quote_spanned!(first=> __p::type_ops::);
            let open = quote_spanned!(first=> <);
            let close = quote_spanned!(last=> >);
            quote! {
                __p::RelationMeta {
                    name: #name,
                    kind: __p::RelationKind::#kind,
                    owner: <#ident as __p::Entity>::meta,
                    target: #target_meta,
                    by: #by,
                    keyed_by: #keyed_by,
                    on_delete: __p::OnDeleteChildren::#on_delete,
                    orphans: __p::Orphans::#orphans,
                    via: #via,
                    target_ops: #ops #open #target #close,
                }
            }
        })
        .collect()
}

/// `relation` and `relation_mut`, when the entity has relationships (the
/// trait's defaults say it has none). Each field is erased through a
/// generic function named at the field type, so that a field type that is
/// not a relationship (a target that is not an entity) is the same
/// obligation at the same span as the field's own, reported once.
pub fn accessors(entity: &Entity) -> TokenStream {
    if entity.relations.is_empty() {
        return TokenStream::new();
    }
    let arms = |erase: &str, reference: TokenStream| {
        let erase = proc_macro2::Ident::new(erase, Span::call_site());
        entity
            .relations
            .iter()
            .map(|r| {
                let index = Literal::usize_unsuffixed(r.index);
                let field = &r.ident;
                let ty = &r.ty;
                let Range { first, last } = Range::of(ty);
                let open = quote_spanned!(first=> #erase::<);
                let close = quote_spanned!(last=> >);
                let args = parenthesized(quote!(#reference self.#field), last);
                quote! {
                    #index => ::core::option::Option::Some(#open #ty #close #args),
                }
            })
            .collect::<Vec<_>>()
    };
    let shared = arms("__erase", quote!(&));
    let unique = arms("__erase_mut", quote!(&mut));
    quote! {
        fn relation(
            &self,
            index: ::core::primitive::usize,
        ) -> ::core::option::Option<&dyn __p::RelationField> {
            fn __erase<F: __p::RelationField>(field: &F) -> &dyn __p::RelationField {
                field
            }
            match index {
                #(#shared)*
                _ => ::core::option::Option::None,
            }
        }

        fn relation_mut(
            &mut self,
            index: ::core::primitive::usize,
        ) -> ::core::option::Option<&mut dyn __p::RelationField> {
            fn __erase_mut<F: __p::RelationField>(
                field: &mut F,
            ) -> &mut dyn __p::RelationField {
                field
            }
            match index {
                #(#unique)*
                _ => ::core::option::Option::None,
            }
        }
    }
}

/// The relationship fields of `from_row`: unloaded, at the field type.
pub fn unloaded(entity: &Entity) -> Vec<TokenStream> {
    entity
        .relations
        .iter()
        .map(|r| {
            let field = &r.ident;
            let ty = &r.ty;
            let Range { first, last } = Range::of(ty);
            let open = quote_spanned!(first=> <);
            let close = quote_spanned!(last=> as __p::RelationField>::unloaded());
            quote!(#field: #open #ty #close)
        })
        .collect()
}

/// A function that is never called, type-checked for its body: each field
/// type holds its target, and each has-many target has the fields `by` and
/// `keyed_by` name (read at the string's span, so that a wrong name is
/// reported there).
pub fn checks(entity: &Entity) -> TokenStream {
    if entity.relations.is_empty() {
        return TokenStream::new();
    }
    let checks = entity.relations.iter().map(|r| {
        let target = target(entity, r);
        let ty = &r.ty;
        let Range { first, last } = Range::of(ty);
        let holds = quote_spanned!(first=> __assert_holds::<);
        let call = quote_spanned!(last=> >());
        let fields = [&r.attr.by, &r.attr.keyed_by]
            .into_iter()
            .flatten()
            .filter(|_| r.attr.kind == RelationKind::HasMany)
            .filter_map(|lit| {
                // At the string, but from the expansion: the compiler
                // reports an unknown field there without suggesting to
                // replace the string with an identifier.
                let mut field = field_ident(lit)?;
                field.set_span(Span::call_site().located_at(lit.span()));
                Some(field)
            })
            .map(|field| {
                quote! {
                    let _ = |__c: #target| {
                        let _ = &__c.#field;
                    };
                }
            });
        quote! {
            #holds #ty, #target #call;
            #(#fields)*
        }
    });
    quote! {
        #[allow(dead_code, clippy::all)]
        fn __check_relations() {
            fn __assert_holds<F: __p::Holds<T>, T>() {}
            #(#checks)*
        }
    }
}

/// The inherent constants: `Receiver::PLANES: Relation<Receiver, Plane>`.
pub fn constants(entity: &Entity) -> Vec<TokenStream> {
    let ident = &entity.ident;
    let vis = &entity.vis;
    let private = entity.krate.private();
    entity
        .relations
        .iter()
        .map(|r| {
            let constant = r.constant();
            let target = target(entity, r);
            let index = Literal::usize_unsuffixed(r.index);
            let doc = format!("Relationship `{}` of `{}`.", r.name, entity.table);
            // `Relation::new` at the target path, after the target's `meta`
            // at the same path: a target that is not an entity is then the
            // same error as in the metadata, which the compiler reports once.
            let Range { first, last } = Range::of(&target);
            let private_at_target = entity.krate.private_at(first);
            let path = quote_spanned!(first=> #private_at_target::Relation::);
            let new = proc_macro2::Ident::new("new", last);
            let args = parenthesized(quote!(#index), last);
            let target_meta = target_meta(entity, &target);
            quote! {
                #[doc = #doc]
                #vis const #constant: #private::Relation<#ident, #target> = {
                    let _: fn() -> &'static #private::EntityMeta = #target_meta;
                    #path #new #args
                };
            }
        })
        .collect()
}

/// `(tokens)` with the parentheses at `span`: a call whose path and
/// parentheses are all at the user's tokens is reported there.
fn parenthesized(tokens: TokenStream, span: Span) -> proc_macro2::Group {
    let mut group = proc_macro2::Group::new(proc_macro2::Delimiter::Parenthesis, tokens);
    group.set_span(span);
    group
}
