//! `#[entity(..)]` on the struct: `table = "name"`, the hook functions
//! `is_modified = path` and `after_load = path`, the trait lists
//! `logic(..)` and `fields(..)`, the table's multi-column constraints
//! `unique(a, b)` and `index(c, d)` (any number of each), and `crate = path`,
//! the path generated code takes to orm-core.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Expr, LitStr, Path, Token};

use super::values::{crate_arg, duplicate, path_name, skip_value, string_value, type_path, value};
use crate::crate_path::CratePath;
use crate::errors::Errors;

/// The arguments of `#[entity(..)]`.
#[derive(Default)]
pub struct EntityArgs {
    pub table: Option<LitStr>,
    /// `is_modified = path`: a `fn(&Self, &Self) -> bool`.
    pub is_modified: Option<Path>,
    /// `after_load = path`: a `fn(&mut Self)` run by `from_row`.
    pub after_load: Option<Path>,
    /// `logic(A, B)`: traits with only default methods, implemented empty.
    pub logic: Vec<Path>,
    /// `fields(A, B)`: `#[fields]` traits the derive implements.
    pub fields: Vec<Path>,
    /// `crate = path`: orm-core re-exported by another crate or module.
    pub krate: Option<CratePath>,
    /// `unique(a, b)` / `index(c, d)`, in the order given: field names.
    pub indexes: Vec<IndexArg>,
}

/// One `unique(..)` or `index(..)` of `#[entity(..)]`.
pub struct IndexArg {
    pub unique: bool,
    /// `unique` / `index`, to point at.
    pub keyword: Path,
    pub fields: Vec<syn::Ident>,
}

const ENTITY_ARGS: &str = "`table = \"name\"`, `is_modified = path`, `after_load = path`, \
                           `logic(Trait, ..)`, `fields(Trait, ..)`, `unique(field, ..)`, \
                           `index(field, ..)` or `crate = path`";

/// Parses the tokens inside `#[entity(..)]`.
pub fn entity_args(tokens: TokenStream, errors: &mut Errors) -> EntityArgs {
    let mut args = EntityArgs::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("table") {
            if args.table.is_some() {
                return duplicate(&meta, "#[entity(..)]", errors);
            }
            args.table = string_value(&meta, "table = \"name\"", errors)?;
        } else if meta.path.is_ident("is_modified") {
            if args.is_modified.is_some() {
                return duplicate(&meta, "#[entity(..)]", errors);
            }
            args.is_modified = function_value(&meta, IS_MODIFIED, errors)?;
        } else if meta.path.is_ident("after_load") {
            if args.after_load.is_some() {
                return duplicate(&meta, "#[entity(..)]", errors);
            }
            args.after_load = function_value(&meta, AFTER_LOAD, errors)?;
        } else if meta.path.is_ident("logic") || meta.path.is_ident("fields") {
            let list = if meta.path.is_ident("logic") {
                &mut args.logic
            } else {
                &mut args.fields
            };
            if !list.is_empty() {
                errors.spanned(
                    &meta.path,
                    format!(
                        "duplicate `{0}` in #[entity(..)]: list every trait in one `{0}(..)`",
                        path_name(&meta.path)
                    ),
                );
                return skip_value(meta.input);
            }
            *list = trait_list(&meta, errors)?;
        } else if meta.path.is_ident("unique") || meta.path.is_ident("index") {
            if let Some(fields) = field_list(&meta, errors)? {
                args.indexes.push(IndexArg {
                    unique: meta.path.is_ident("unique"),
                    keyword: meta.path.clone(),
                    fields,
                });
            }
        } else if meta.path.is_ident("crate") {
            crate_arg(&meta, "#[entity(..)]", &mut args.krate, errors)?;
        } else {
            errors.spanned(
                &meta.path,
                format!(
                    "unknown #[entity] argument `{}`; expected {ENTITY_ARGS}",
                    path_name(&meta.path)
                ),
            );
            skip_value(meta.input)?;
        }
        Ok(())
    });
    if let Err(error) = parser.parse2(tokens) {
        errors.push(error);
    }
    args
}

/// What a function-valued `#[entity]` argument takes: an example and the
/// function's signature, explained.
struct FunctionArg {
    example: &'static str,
    signature: &'static str,
}

const IS_MODIFIED: FunctionArg = FunctionArg {
    example: "is_modified = path::to::function",
    signature: "`fn(&Self, &Self) -> bool` (the object, then the object as last loaded or flushed)",
};

const AFTER_LOAD: FunctionArg = FunctionArg {
    example: "after_load = path::to::function",
    signature: "`fn(&mut Self)` (run on every object built from a row)",
};

fn function_value(
    meta: &ParseNestedMeta,
    arg: FunctionArg,
    errors: &mut Errors,
) -> syn::Result<Option<Path>> {
    let FunctionArg { example, signature } = arg;
    Ok(match value(meta, example, errors)? {
        Some(Expr::Path(expr)) if expr.qself.is_none() && expr.attrs.is_empty() => Some(expr.path),
        Some(other) => {
            errors.spanned(
                other,
                format!("expected the path of a function {signature}: `{example}`"),
            );
            None
        }
        None => None,
    })
}

/// `unique(a, b)` / `index(c)`: a parenthesised, non-empty list of field names.
fn field_list(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<Option<Vec<syn::Ident>>> {
    let name = path_name(&meta.path);
    let example = format!("{name}(field_a, field_b)");
    if !meta.input.peek(syn::token::Paren) {
        errors.spanned(
            &meta.path,
            format!("`{name}` takes a list of the entity's fields: `{example}`"),
        );
        skip_value(meta.input)?;
        return Ok(None);
    }
    let content;
    syn::parenthesized!(content in meta.input);
    let list = syn::punctuated::Punctuated::<syn::Ident, Token![,]>::parse_terminated(&content);
    match list {
        Ok(list) if list.is_empty() => {
            errors.spanned(
                &meta.path,
                format!("`{name}()` lists no field: `{example}`"),
            );
            Ok(None)
        }
        Ok(list) => Ok(Some(list.into_iter().collect())),
        Err(e) => {
            errors.push(syn::Error::new(
                e.span(),
                format!("expected field names: `{example}`"),
            ));
            // The rest of the list is consumed by the error.
            let _: TokenStream = content.parse()?;
            Ok(None)
        }
    }
}

/// `logic(A, b::B)` / `fields(..)`: a parenthesised list of trait paths.
fn trait_list(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<Vec<Path>> {
    let name = path_name(&meta.path);
    let example = format!("{name}(TraitA, path::to::TraitB)");
    if !meta.input.peek(syn::token::Paren) {
        errors.spanned(
            &meta.path,
            format!("`{name}` takes a list of traits: `{example}`"),
        );
        skip_value(meta.input)?;
        return Ok(Vec::new());
    }
    let content;
    syn::parenthesized!(content in meta.input);
    let mut paths = Vec::new();
    let mut wrong_items = false;
    while !content.is_empty() {
        match type_path(&content)? {
            Ok(path) => paths.push(path),
            Err(wrong) => {
                wrong_items = true;
                errors.spanned(wrong, format!("expected the path of a trait: `{example}`"));
            }
        }
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    if paths.is_empty() && !wrong_items {
        errors.spanned(
            &meta.path,
            format!("`{name}()` lists no trait: `{example}`, or remove it"),
        );
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;
    use crate::attr::tests::messages;

    /// The arguments parsed from `tokens`, and the mistakes.
    fn parse(tokens: TokenStream) -> (EntityArgs, Vec<String>) {
        let mut errors = Errors::new();
        let args = entity_args(tokens, &mut errors);
        (args, messages(errors))
    }

    #[test]
    fn unknown_entity_args_are_reported() {
        let (args, got) = parse(quote!(tabel = "x", table = "users"));
        assert_eq!(args.table.unwrap().value(), "users");
        assert_eq!(
            got,
            [
                "unknown #[entity] argument `tabel`; expected `table = \"name\"`, `is_modified = path`, \
                 `after_load = path`, `logic(Trait, ..)`, `fields(Trait, ..)`, `unique(field, ..)`, \
                 `index(field, ..)` or `crate = path`"
            ]
        );

        let (_, got) = parse(quote!(table = 5));
        assert_eq!(got, ["expected a string literal: `table = \"name\"`"]);
    }

    #[test]
    fn is_modified_takes_a_path_in_any_order_with_table() {
        for tokens in [
            quote!(is_modified = crate::same::tags, table = "t"),
            quote!(table = "t", is_modified = crate::same::tags),
        ] {
            let (args, got) = parse(tokens);
            assert!(got.is_empty());
            assert_eq!(args.table.unwrap().value(), "t");
            assert_eq!(path_name(&args.is_modified.unwrap()), "crate::same::tags");
        }

        let (args, got) = parse(quote!(is_modified = "same_tags"));
        assert!(args.is_modified.is_none());
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("expected the path of a function `fn(&Self, &Self) -> bool`"),
            "{got:?}"
        );

        let (_, got) = parse(quote!(is_modified = a, is_modified = b, is_modified));
        assert_eq!(
            got,
            [
                "duplicate `is_modified` in #[entity(..)]",
                "duplicate `is_modified` in #[entity(..)]",
            ]
        );

        let (_, got) = parse(quote!(is_modified));
        assert_eq!(
            got,
            ["`is_modified` needs a value: `is_modified = path::to::function`"]
        );
    }

    #[test]
    fn logic_fields_and_after_load() {
        let (args, got) = parse(quote!(
            logic(ReceiverLogic, crate::audit::Audited,),
            after_load = Self::derive,
            fields(AuditFields)
        ));
        assert!(got.is_empty());
        let logic: Vec<String> = args.logic.iter().map(path_name).collect();
        assert_eq!(logic, ["ReceiverLogic", "crate::audit::Audited"]);
        assert_eq!(path_name(&args.fields[0]), "AuditFields");
        assert_eq!(path_name(&args.after_load.unwrap()), "Self::derive");

        let (_, got) = parse(quote!(
            logic = A,
            fields("AuditFields", &B, C),
            logic(),
            after_load = "f",
            fields(D)
        ));
        assert_eq!(
            got,
            [
                "`logic` takes a list of traits: `logic(TraitA, path::to::TraitB)`",
                "expected the path of a trait: `fields(TraitA, path::to::TraitB)`",
                "expected the path of a trait: `fields(TraitA, path::to::TraitB)`",
                "`logic()` lists no trait: `logic(TraitA, path::to::TraitB)`, or remove it",
                "expected the path of a function `fn(&mut Self)` (run on every object built from a row): `after_load = path::to::function`",
                "duplicate `fields` in #[entity(..)]: list every trait in one `fields(..)`",
            ]
        );
    }

    #[test]
    fn crate_takes_a_plain_path() {
        let (args, got) = parse(quote!(crate = ::my_facade::orm, table = "t"));
        assert!(got.is_empty());
        assert_eq!(
            args.krate.expect("a crate path").private().to_string(),
            ":: my_facade :: orm :: __private_v1"
        );

        let expected = "expected the path to orm_core, or to a crate or module that re-exports it: \
                        `crate = my_facade::orm`";
        for tokens in [
            quote!(crate = "orm_core"),
            quote!(crate = orm::<T>),
            quote!(crate = &orm),
        ] {
            let (args, got) = parse(tokens.clone());
            assert!(args.krate.is_none(), "{tokens}");
            assert_eq!(got, [expected], "{tokens}");
        }

        let (_, got) = parse(quote!(crate = a, crate = b, crate));
        assert_eq!(
            got,
            [
                "duplicate `crate` in #[entity(..)]",
                "duplicate `crate` in #[entity(..)]",
            ]
        );
        let (_, got) = parse(quote!(crate));
        assert_eq!(got, ["`crate` needs a value: `crate = my_facade::orm`"]);
    }
}
