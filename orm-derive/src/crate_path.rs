//! How generated code names orm-core: `::orm_core`, or the path of
//! `crate = path` (`#[entity(crate = ..)]`, `#[fields(crate = ..)]`,
//! `#[column_value(crate = ..)]`) when a facade crate re-exports the macros
//! and `orm_core` may not be nameable where they expand; and in it only the
//! private module [`PRIVATE_MODULE`] (`::orm_core::__private_v1`), the small
//! API the macros are written against.
//!
//! Every path to orm-core that any macro emits is built here, so that the
//! crate's path and the private module's name are each written once.
//!
//! # Why the private module's name carries a version
//!
//! orm-core and orm-derive are one program split in two crates: the code
//! the macros emit calls items of orm-core's private module, and those items
//! change with the derive. A derive from one release expanding against an
//! orm-core of another would compile against items that are not what it
//! expects, and fail, if at all, with errors about them deep in generated
//! code. Two things keep a pair matched, as serde and diesel do it:
//!
//! * orm-core depends on orm-derive with an exact version requirement
//!   (`=0.1.0`, in the workspace's `Cargo.toml`), as serde does for
//!   serde_derive (`=1.0.x`; diesel pins diesel_derives to its minor
//!   release, `~1.4.0` in diesel 1.4), so Cargo never resolves a pair of
//!   different versions;
//! * the private module is named with the version of its API,
//!   `__private_v1`, as serde names its own after its release
//!   (`serde::__private228`): generated code names the module of the API it
//!   was written for, so a derive that reaches an orm-core without it (a
//!   direct dependency on another orm-derive, a patched or vendored copy, a
//!   checkout between releases) fails at once, at the `#[entity]` attribute,
//!   with ``could not find `__private_v1` in `orm_core` ``.
//!
//! The number goes up, here and in orm-core's `lib.rs`, whenever an item of
//! the private API is added, removed, or changes signature or meaning.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};

use crate::spans::Range;

/// The name of orm-core's private module, with the version of its API.
pub const PRIVATE_MODULE: &str = "__private_v1";

/// The path generated code takes to orm-core: `::orm_core` unless
/// `crate = path` gives another.
#[derive(Clone, Default)]
pub struct CratePath {
    given: Option<syn::Path>,
}

impl CratePath {
    /// The path of `crate = path`.
    pub fn new(path: &syn::Path) -> Self {
        CratePath {
            given: Some(path.clone()),
        }
    }

    /// Where a mistake in the path is reported: at the end of a given path
    /// (a path that does not lead to orm-core), at the attribute otherwise.
    fn span(&self) -> Span {
        self.given
            .as_ref()
            .map_or_else(Span::call_site, |path| Range::of(path).last)
    }

    /// `::orm_core::__private_v1`. A given path keeps its tokens (so that
    /// `$crate` from a `macro_rules!` still resolves where it was written).
    pub fn private(&self) -> TokenStream {
        let module = Ident::new(PRIVATE_MODULE, self.span());
        match &self.given {
            None => quote!(::orm_core::#module),
            Some(path) => quote!(#path::#module),
        }
    }

    /// The private module's path for tokens spanned at the user's code
    /// (`<Target as ..::Entity>::meta` at the target type), so that an error
    /// about the whole expression is reported there: `::orm_core` is
    /// spanned at `span`; a given path only shown there (what it resolves to
    /// is unchanged).
    pub fn private_at(&self, span: Span) -> TokenStream {
        if self.given.is_none() {
            let module = Ident::new(PRIVATE_MODULE, span);
            return quote_spanned!(span=> ::orm_core::#module);
        }
        self.private()
            .into_iter()
            .map(|mut tree| {
                tree.set_span(tree.span().located_at(span));
                tree
            })
            .collect()
    }

    /// `use ::orm_core::__private_v1 as __p;`, the alias generated code uses
    /// inside its `const _: () = { .. };` blocks, spanned at [`Self::span`]
    /// (rustc reports an unresolved import at the whole import).
    pub fn use_private(&self) -> TokenStream {
        let private = self.private();
        let span = self.span();
        let (use_, as_p) = (quote_spanned!(span=> use), quote_spanned!(span=> as __p;));
        quote!(#use_ #private #as_p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_code_names_the_versioned_module() {
        let krate = CratePath::default();
        assert_eq!(krate.private().to_string(), ":: orm_core :: __private_v1");
        assert_eq!(
            krate.use_private().to_string(),
            "use :: orm_core :: __private_v1 as __p ;"
        );
        let at = krate.private_at(Span::call_site());
        assert_eq!(at.to_string(), krate.private().to_string());
    }

    #[test]
    fn a_facade_path_replaces_orm_core() {
        let krate = CratePath::new(&syn::parse_quote!(my_facade::orm));
        assert_eq!(
            krate.private().to_string(),
            "my_facade :: orm :: __private_v1"
        );
    }
}
