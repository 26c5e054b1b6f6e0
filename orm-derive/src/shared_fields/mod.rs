//! `#[fields]`: a small fields trait that several entities share (`AuditFields`
//! for every audited entity), implemented by `#[entity(fields(AuditFields))]`
//! with no hand-written impl.
//!
//! An attribute macro sees only its own item, and `#[entity]` sees only the
//! trait's *path*; they meet through a `macro_rules!` of the trait's name:
//!
//! 1. `#[fields]` checks that every method without a default body is an
//!    accessor `fn name(&self) -> &T;` (field `name`) or a setter
//!    `fn set_name(&mut self, value: T);` (field `name`), keeps the trait as it
//!    is, and emits `macro_rules! AuditFields` listing those methods. The
//!    macro lives in a hidden module and is re-exported next to the trait
//!    under the same name (macros and traits live in different namespaces), so
//!    any path or `use` that reaches the trait reaches the macro too.
//! 2. `#[entity(fields(path::AuditFields))]` calls `path::AuditFields! { .. }`
//!    with the entity's name and every field with its type and kind.
//! 3. The macro calls `orm_core::__private_v1::impl_fields!` (`implement.rs`)
//!    with both lists, which writes `impl AuditFields for Entity` using the
//!    *entity's* field types, resolved where the entity is declared.
//!
//! A `macro_rules!` expanded from a macro can be re-exported with
//! `pub(crate) use` but not `#[macro_export]`ed by path, so a `#[fields]` trait
//! serves entities of the same crate.

mod implement;

pub use implement::impl_fields;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::{FnArg, ItemTrait, ReturnType, Signature, TraitItem, Type};

use crate::attr::{crate_arg, path_name, skip_value};
use crate::crate_path::CratePath;
use crate::errors::Errors;

/// What a method of a `#[fields]` trait does.
enum Method {
    /// `fn name(&self) -> &T;`
    Get,
    /// `fn set_name(&mut self, value: T);`
    Set,
}

/// Expands `#[fields(attr)] item`, or returns every mistake found.
pub fn fields(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::new();
    let krate = args(attr, &mut errors);
    let item: ItemTrait = match syn::parse2(item) {
        Ok(item) => item,
        Err(error) => {
            return Err(errors.fail(syn::Error::new(
                error.span(),
                "#[fields] can only be used on a trait of field accessors and setters",
            )));
        }
    };
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        let generics = &item.generics;
        let where_clause = &generics.where_clause;
        errors.spanned(
            quote!(#generics #where_clause),
            "a #[fields] trait cannot be generic: its accessors return the entities' field types",
        );
    }
    let mut methods = Vec::new();
    for trait_item in &item.items {
        match trait_item {
            TraitItem::Fn(f) if f.default.is_some() => {}
            TraitItem::Fn(f) => match method(&f.sig) {
                Some((Method::Get, field)) => {
                    let name = &f.sig.ident;
                    methods.push(quote!(get #name => #field;));
                }
                Some((Method::Set, field)) => {
                    let name = &f.sig.ident;
                    methods.push(quote!(set #name => #field;));
                }
                None => errors.spanned(&f.sig, SHAPE),
            },
            other => errors.spanned(
                other,
                "a #[fields] trait has only accessor and setter methods (and methods with a default body)",
            ),
        }
    }
    errors.finish()?;
    let ident = &item.ident;
    let module = format_ident!("__orm_fields_{}", ident);
    let private = krate.private();
    Ok(quote! {
        #item

        #[doc(hidden)]
        #[allow(non_snake_case)]
        mod #module {
            #[allow(unused_macros)]
            macro_rules! #ident {
                ($($entity:tt)*) => {
                    #private::impl_fields! {
                        methods { #(#methods)* }
                        $($entity)*
                    }
                };
            }
            pub(crate) use #ident;
        }

        #[doc(hidden)]
        #[allow(unused_imports)]
        pub(crate) use #module::#ident;
    })
}

/// `#[fields(crate = path)]`, the only argument: the trait's methods say
/// which fields it needs.
fn args(tokens: TokenStream, errors: &mut Errors) -> CratePath {
    let mut krate = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("crate") {
            return crate_arg(&meta, "#[fields(..)]", &mut krate, errors);
        }
        errors.spanned(
            &meta.path,
            format!(
                "unknown #[fields] argument `{}`: the trait's methods say which fields it needs, \
                 and the only argument is `crate = path`",
                path_name(&meta.path)
            ),
        );
        skip_value(meta.input)
    });
    if let Err(error) = parser.parse2(tokens) {
        errors.push(error);
    }
    krate.unwrap_or_default()
}

const SHAPE: &str = "a #[fields] trait method is an accessor `fn name(&self) -> &T;` or a setter \
                     `fn set_name(&mut self, value: T);` (field `name`), or has a default body";

/// The kind of a method without a default body and the field it maps to, or
/// `None` when it has neither shape.
fn method(sig: &Signature) -> Option<(Method, syn::Ident)> {
    if sig.constness.is_some()
        || sig.asyncness.is_some()
        || sig.unsafety.is_some()
        || sig.abi.is_some()
        || !sig.generics.params.is_empty()
        || sig.generics.where_clause.is_some()
        || sig.variadic.is_some()
    {
        return None;
    }
    let receiver = match sig.inputs.first()? {
        FnArg::Receiver(r) if r.reference.is_some() && r.colon_token.is_none() => r,
        _ => return None,
    };
    if receiver.mutability.is_none() {
        let returns_ref = matches!(&sig.output, ReturnType::Type(_, ty)
            if matches!(**ty, Type::Reference(ref r) if r.mutability.is_none()));
        (sig.inputs.len() == 1 && returns_ref).then(|| (Method::Get, sig.ident.clone()))
    } else {
        let name = sig.ident.to_string();
        let field = name
            .strip_prefix("set_")
            .filter(|f| !f.is_empty() && !["self", "super", "crate", "Self", "_"].contains(f))?;
        let typed_value = matches!(sig.inputs.iter().nth(1), Some(FnArg::Typed(_)));
        if sig.inputs.len() != 2 || !typed_value || !matches!(sig.output, ReturnType::Default) {
            return None;
        }
        let span = sig.ident.span();
        let field = if syn::parse_str::<syn::Ident>(field).is_ok() {
            syn::Ident::new(field, span)
        } else {
            // `set_type` sets the field `r#type`.
            syn::Ident::new_raw(field, span)
        };
        Some((Method::Set, field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mistakes(attr: TokenStream, item: TokenStream) -> Vec<String> {
        match fields(attr, item) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn other_shapes_are_reported_each_at_its_signature() {
        let got = mistakes(
            quote!(x),
            quote! {
                trait Bad<T> {
                    fn by_value(&self) -> String;
                    fn set_(&mut self, v: String);
                    fn set_two(&mut self, a: i32, b: i32);
                    fn mutable(&mut self) -> &mut String;
                    fn generic<U>(&self) -> &U;
                    type Assoc;
                    fn ok(&self) -> &i64;
                    fn set_ok(&mut self, v: i64);
                }
            },
        );
        assert_eq!(got.len(), 8, "{got:#?}");
        assert!(got[0].starts_with("unknown #[fields] argument `x`"));
        assert!(got[1].starts_with("a #[fields] trait cannot be generic"));
        assert!(got[2..7].iter().all(|m| m == SHAPE), "{got:#?}");
        assert!(got[7].starts_with("a #[fields] trait has only accessor and setter methods"));
    }

    #[test]
    fn crate_is_the_only_argument() {
        let out = fields(
            quote!(crate = facade::orm),
            quote!(
                trait T {}
            ),
        )
        .unwrap()
        .to_string();
        assert!(
            out.contains("facade :: orm :: __private_v1 :: impl_fields !"),
            "{out}"
        );
        assert_eq!(
            mistakes(
                quote!(crate = 1, strict),
                quote!(
                    trait T {}
                )
            ),
            [
                "expected the path to orm_core, or to a crate or module that re-exports it: `crate = my_facade::orm`",
                "unknown #[fields] argument `strict`: the trait's methods say which fields it needs, and the only argument is `crate = path`",
            ]
        );
    }

    #[test]
    fn only_traits() {
        let got = mistakes(
            TokenStream::new(),
            quote!(
                struct S;
            ),
        );
        assert_eq!(
            got,
            ["#[fields] can only be used on a trait of field accessors and setters"]
        );
    }
}
