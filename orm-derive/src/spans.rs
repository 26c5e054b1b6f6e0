//! Where generated code points: the spans of the user's tokens, reused on
//! generated tokens so that the compiler reports a mistake at the user's
//! type or path rather than at the attribute.

use proc_macro2::Span;
use quote::ToTokens;

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
