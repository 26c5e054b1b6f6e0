//! How generated code names a field's type, so that a type that is not a
//! `ColumnValue` gives one error, at that type, with the trait's message.
//!
//! Every use goes through `<T as SupportedColumnType>::T`, an identity that
//! requires `ColumnValue`: when `T` is unsupported, each use fails with the
//! same obligation at the same span and the compiler prints the error once
//! (a plain `T` would also fail as `Cells::next`'s bound, which rustc reports
//! as a second, different error). The generated tokens take the spans of the
//! type's first and last tokens, so the report underlines the whole type.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};

/// The identity trait; emitted once inside the entity's `const _` block.
pub fn definition() -> TokenStream {
    quote! {
        trait SupportedColumnType {
            type T;
        }

        impl<T: __p::ColumnValue> SupportedColumnType for T {
            type T = T;
        }
    }
}

/// The spans of the first and last tokens of some user tokens.
#[derive(Clone, Copy)]
pub struct Range {
    pub first: Span,
    pub last: Span,
}

impl Range {
    pub fn of(tokens: &impl ToTokens) -> Range {
        let mut trees = tokens.to_token_stream().into_iter();
        let first = trees.next().map_or_else(Span::call_site, |t| t.span());
        let last = trees.last().map_or(first, |t| t.span());
        Range { first, last }
    }
}

/// A field's type as generated code uses it.
pub struct ColumnType<'a> {
    ty: &'a syn::Type,
    range: Range,
}

impl<'a> ColumnType<'a> {
    pub fn new(ty: &'a syn::Type) -> Self {
        ColumnType {
            ty,
            range: Range::of(ty),
        }
    }

    /// `<T as SupportedColumnType>::T`.
    pub fn checked(&self) -> TokenStream {
        let Range { first, last } = self.range;
        let ty = self.ty;
        let open = quote_spanned!(first=> <);
        let close = quote_spanned!(last=> as SupportedColumnType>::T);
        quote!(#open #ty #close)
    }

    /// `<T as ColumnValue>::item`, e.g. `SQL_TYPE` or `to_value`.
    pub fn item(&self, item: &str) -> TokenStream {
        let Range { first, last } = self.range;
        let checked = self.checked();
        let item = proc_macro2::Ident::new(item, last);
        let open = quote_spanned!(first=> <);
        let close = quote_spanned!(last=> as __p::ColumnValue>::#item);
        quote!(#open #checked #close)
    }

    /// `function::<T>`, e.g. `__p::Cells::next::<T>`.
    pub fn turbofish(&self, function: TokenStream) -> TokenStream {
        let Range { first, last } = self.range;
        let checked = self.checked();
        let open = quote_spanned!(first=> #function::<);
        let close = quote_spanned!(last=> >);
        quote!(#open #checked #close)
    }
}
