//! Collects the mistakes found while parsing and checking an entity, so that
//! they are all reported in one compilation, each at its own span.

use std::fmt::Display;

use quote::ToTokens;

/// The mistakes found so far.
#[derive(Default)]
pub struct Errors {
    combined: Option<syn::Error>,
}

impl Errors {
    pub fn new() -> Self {
        Errors::default()
    }

    pub fn push(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// Adds a mistake spanning `tokens` (first to last token).
    pub fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// `Ok` when nothing was wrong, otherwise every mistake at once.
    pub fn finish(self) -> syn::Result<()> {
        self.combined.map_or(Ok(()), Err)
    }

    /// Adds a mistake that stops the expansion and returns everything so far.
    pub fn fail(mut self, error: syn::Error) -> syn::Error {
        self.push(error);
        self.combined.expect("an error was just pushed")
    }
}

/// Each mistake a macro's expansion reported, as text (tests).
#[cfg(test)]
pub fn messages<T>(result: syn::Result<T>) -> Vec<String> {
    match result {
        Ok(_) => Vec::new(),
        Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
    }
}
