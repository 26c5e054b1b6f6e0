//! The value parsers every attribute family shares: `key = "string"`, a
//! type or trait path, a flag without a value, a key given twice, and
//! skipping past a mistake so that the keys after it are still parsed.

use proc_macro2::TokenStream;
use quote::quote;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::{Expr, ExprLit, Lit, LitStr, Path, Token, Type};

use crate::crate_path::CratePath;
use crate::errors::Errors;

/// A key given twice in one attribute (`attr` names it for the message).
pub(super) fn duplicate(
    meta: &ParseNestedMeta,
    attr: &str,
    errors: &mut Errors,
) -> syn::Result<()> {
    errors.spanned(
        &meta.path,
        format!("duplicate `{}` in {attr}", path_name(&meta.path)),
    );
    skip_value(meta.input)
}

/// The value after `key =`, or `None` (with an error) when there is none.
pub(super) fn value(
    meta: &ParseNestedMeta,
    example: &str,
    errors: &mut Errors,
) -> syn::Result<Option<Expr>> {
    if !meta.input.peek(Token![=]) {
        errors.spanned(
            &meta.path,
            format!("`{}` needs a value: `{example}`", path_name(&meta.path)),
        );
        skip_value(meta.input)?;
        return Ok(None);
    }
    meta.value()?.parse().map(Some)
}

/// `key = "string"`; `example` shows the right form in the message.
pub(crate) fn string_value(
    meta: &ParseNestedMeta,
    example: &str,
    errors: &mut Errors,
) -> syn::Result<Option<LitStr>> {
    Ok(match value(meta, example, errors)? {
        Some(Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        })) => Some(lit),
        Some(other) => {
            errors.spanned(other, format!("expected a string literal: `{example}`"));
            None
        }
        None => None,
    })
}

/// `crate = path`, the path to orm_core or to a crate or module that
/// re-exports it, into `out`; `attr` names the attribute (`#[entity(..)]`)
/// for a duplicate. A value that is not a plain path is reported at it.
pub(crate) fn crate_arg(
    meta: &ParseNestedMeta,
    attr: &str,
    out: &mut Option<CratePath>,
    errors: &mut Errors,
) -> syn::Result<()> {
    const EXAMPLE: &str = "crate = my_facade::orm";
    if out.is_some() {
        return duplicate(meta, attr, errors);
    }
    match value(meta, EXAMPLE, errors)? {
        Some(Expr::Path(expr))
            if expr.qself.is_none()
                && expr.attrs.is_empty()
                && expr.path.segments.iter().all(|s| s.arguments.is_none()) =>
        {
            *out = Some(CratePath::new(&expr.path));
        }
        Some(other) => errors.spanned(
            other,
            format!(
                "expected the path to orm_core, or to a crate or module that re-exports it: `{EXAMPLE}`"
            ),
        ),
        None => {}
    }
    Ok(())
}

/// Parses a path to a type or trait, up to the next `,`; anything else
/// (a literal, a reference, `T::X` with a qualified self) is returned as
/// tokens to point at.
pub(super) fn type_path(input: ParseStream) -> syn::Result<Result<Path, TokenStream>> {
    if input.peek(Lit) {
        let lit: Lit = input.parse()?;
        return Ok(Err(quote!(#lit)));
    }
    let fork = input.fork();
    if let Ok(Type::Path(p)) = fork.parse::<Type>()
        && p.qself.is_none()
        && (fork.is_empty() || fork.peek(Token![,]))
    {
        input.parse::<Type>()?;
        return Ok(Ok(p.path));
    }
    let mut wrong = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        wrong.extend([input.parse::<proc_macro2::TokenTree>()?]);
    }
    Ok(Err(wrong))
}

/// For flags: `unique`, not `unique = true`.
pub(super) fn no_value(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<()> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        return Ok(());
    }
    let name = path_name(&meta.path);
    errors.spanned(
        &meta.path,
        format!("`{name}` takes no value: write just `{name}`"),
    );
    skip_value(meta.input)
}

/// Skips whatever follows a key we reported, up to the next `,`, so that the
/// keys after it are still parsed (and their mistakes reported too).
pub(crate) fn skip_value(input: ParseStream) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}

/// A path as written, without spaces, for messages (`crate::audit::Audited`).
pub(crate) fn path_name(path: &Path) -> String {
    quote!(#path).to_string().replace(' ', "")
}
