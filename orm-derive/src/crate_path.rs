//! How generated code names orm-core: `::orm_core`, and only its private
//! module [`PRIVATE_MODULE`] (`::orm_core::__private_v1`), the small API the
//! macros are written against.
//!
//! Every path to orm-core that any macro emits is built here, so that the
//! crate's name and the private module's name are each written once.
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

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};

/// The name of orm-core's private module, with the version of its API.
pub const PRIVATE_MODULE: &str = "__private_v1";

/// The path generated code takes to orm-core.
#[derive(Clone)]
pub struct CratePath {
    /// `::orm_core`.
    krate: TokenStream,
}

impl Default for CratePath {
    fn default() -> Self {
        CratePath {
            krate: quote!(::orm_core),
        }
    }
}

impl CratePath {
    /// `::orm_core::__private_v1`.
    pub fn private(&self) -> TokenStream {
        let krate = &self.krate;
        let module = format_ident!("{PRIVATE_MODULE}");
        quote!(#krate::#module)
    }

    /// The private module's path shown at `span` (what it resolves to is
    /// unchanged): a path inside tokens spanned at the user's code, so that
    /// an error about the whole expression is reported there.
    pub fn private_at(&self, span: Span) -> TokenStream {
        self.private()
            .into_iter()
            .map(|mut tree| {
                tree.set_span(tree.span().located_at(span));
                tree
            })
            .collect()
    }

    /// `use ::orm_core::__private_v1 as __p;`, the alias generated code uses
    /// inside its `const _: () = { .. };` blocks.
    pub fn use_private(&self) -> TokenStream {
        let private = self.private();
        quote!(use #private as __p;)
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
}
