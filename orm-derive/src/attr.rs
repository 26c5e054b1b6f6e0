//! Parses the macro's attributes into plain structs: the `#[entity(..)]`
//! arguments and each field's `#[key]` / `#[key(auto)]` / `#[version]` /
//! `#[column(..)]`.
//!
//! This module checks syntax only: known keys, the kind of each value, no key
//! given twice. Whether the attributes make sense together (one auto key, no
//! duplicate column names, one integer `#[version]`, ...) is `crate::check`'s job. Each mistake is pushed
//! to [`Errors`] and parsing goes on, so that one compilation shows them all.

use proc_macro2::TokenStream;
use quote::quote;
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Expr, ExprLit, Lit, LitInt, LitStr, Meta, Path, Token};

use crate::errors::Errors;

/// The arguments of `#[entity(..)]`.
#[derive(Default)]
pub struct EntityArgs {
    pub table: Option<LitStr>,
    /// `is_modified = path`: a `fn(&Self, &Self) -> bool`.
    pub is_modified: Option<Path>,
}

/// What a field's helper attributes say about it.
#[derive(Default)]
pub struct FieldAttrs {
    pub key: Option<KeyAttr>,
    /// `#[version]`: the whole attribute, to point at it.
    pub version: Option<Attribute>,
    pub column: ColumnAttrs,
}

/// `#[key]` or `#[key(auto)]`.
pub struct KeyAttr {
    /// The whole attribute, to point at it.
    pub attr: Attribute,
    pub auto: bool,
}

/// The keys of one field's `#[column(..)]` attributes.
#[derive(Default)]
pub struct ColumnAttrs {
    pub rename: Option<LitStr>,
    pub unique: bool,
    pub index: bool,
    pub default: Option<LitStr>,
    pub len: Option<Len>,
    pub references: Option<Path>,
    pub on_delete: Option<OnDeleteAttr>,
}

/// `len = n`.
pub struct Len {
    pub value: u32,
    pub lit: LitInt,
}

/// `on_delete = ".."`.
pub struct OnDeleteAttr {
    pub action: OnDelete,
    /// `on_delete = "..."`, to point at it.
    pub tokens: TokenStream,
}

/// The actions `on_delete` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDelete {
    Restrict,
    Cascade,
    SetNull,
}

const COLUMN_KEYS: &str =
    "`rename`, `unique`, `index`, `default`, `len`, `references`, `on_delete`";

const ENTITY_ARGS: &str = "`table = \"name\"` or `is_modified = path::to::function`";

/// Whether `attr` is one of the field attributes this macro consumes.
pub fn is_helper(attr: &Attribute) -> bool {
    let path = attr.path();
    path.is_ident("key") || path.is_ident("version") || path.is_ident("column")
}

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
            args.is_modified = function_value(&meta, errors)?;
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

/// Parses a field's helper attributes and removes them from `attrs` (an
/// attribute macro has no inert helper attributes: left in place, the
/// compiler would reject them). Other attributes are kept as they are.
pub fn field_attrs(attrs: &mut Vec<Attribute>, errors: &mut Errors) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    let mut seen: Vec<String> = Vec::new();
    attrs.retain(|attr| {
        if attr.path().is_ident("key") {
            key_attr(attr, &mut out, errors);
        } else if attr.path().is_ident("version") {
            version_attr(attr, &mut out, errors);
        } else if attr.path().is_ident("column") {
            column_attr(attr, &mut out.column, &mut seen, errors);
        } else {
            return true;
        }
        false
    });
    out
}

fn key_attr(attr: &Attribute, out: &mut FieldAttrs, errors: &mut Errors) {
    if out.key.is_some() {
        errors.spanned(attr, "duplicate #[key] on this field");
        return;
    }
    let mut auto = false;
    match &attr.meta {
        Meta::Path(_) => {}
        Meta::List(_) => {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("auto") {
                    if auto {
                        return duplicate(&meta, "#[key(..)]", errors);
                    }
                    auto = true;
                    no_value(&meta, errors)
                } else {
                    errors.spanned(
                        &meta.path,
                        format!(
                            "unknown key option `{}`; the only option is `auto`: \
                             #[key(auto)] marks a key the database generates",
                            path_name(&meta.path)
                        ),
                    );
                    skip_value(meta.input)
                }
            });
            if let Err(error) = result {
                errors.push(error);
            }
        }
        Meta::NameValue(_) => {
            errors.spanned(attr, "expected #[key] or #[key(auto)]");
        }
    }
    out.key = Some(KeyAttr {
        attr: attr.clone(),
        auto,
    });
}

/// `#[version]`, which takes no arguments.
fn version_attr(attr: &Attribute, out: &mut FieldAttrs, errors: &mut Errors) {
    const MESSAGE: &str = "#[version] takes no arguments: write just #[version]";
    if out.version.is_some() {
        errors.spanned(attr, "duplicate #[version] on this field");
        return;
    }
    match &attr.meta {
        Meta::Path(_) => {}
        Meta::List(list) => errors.push(syn::Error::new(list.delimiter.span().join(), MESSAGE)),
        Meta::NameValue(nv) => {
            let (eq, value) = (&nv.eq_token, &nv.value);
            errors.spanned(quote!(#eq #value), MESSAGE);
        }
    }
    out.version = Some(attr.clone());
}

fn column_attr(
    attr: &Attribute,
    column: &mut ColumnAttrs,
    seen: &mut Vec<String>,
    errors: &mut Errors,
) {
    if !matches!(attr.meta, Meta::List(_)) {
        errors.spanned(
            attr,
            format!("expected #[column(..)] with any of {COLUMN_KEYS}"),
        );
        return;
    }
    let result = attr.parse_nested_meta(|meta| {
        let name = path_name(&meta.path);
        if seen.contains(&name) {
            return duplicate(&meta, "#[column(..)]", errors);
        }
        seen.push(name.clone());
        match name.as_str() {
            "rename" => column.rename = string_value(&meta, "rename = \"sql_name\"", errors)?,
            "default" => {
                column.default = string_value(&meta, "default = \"SQL expression\"", errors)?
            }
            "unique" => {
                column.unique = true;
                no_value(&meta, errors)?;
            }
            "index" => {
                column.index = true;
                no_value(&meta, errors)?;
            }
            "len" => column.len = len_value(&meta, errors)?,
            "references" => column.references = path_value(&meta, errors)?,
            "on_delete" => column.on_delete = on_delete_value(&meta, errors)?,
            _ => {
                seen.pop();
                errors.spanned(
                    &meta.path,
                    format!("unknown column attribute `{name}`; expected one of {COLUMN_KEYS}"),
                );
                skip_value(meta.input)?;
            }
        }
        Ok(())
    });
    if let Err(error) = result {
        errors.push(error);
    }
}

fn duplicate(meta: &ParseNestedMeta, attr: &str, errors: &mut Errors) -> syn::Result<()> {
    errors.spanned(
        &meta.path,
        format!("duplicate `{}` in {attr}", path_name(&meta.path)),
    );
    skip_value(meta.input)
}

/// The value after `key =`, or `None` (with an error) when there is none.
fn value(meta: &ParseNestedMeta, example: &str, errors: &mut Errors) -> syn::Result<Option<Expr>> {
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

fn string_value(
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

fn len_value(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<Option<Len>> {
    const EXAMPLE: &str = "len = 64";
    Ok(match value(meta, EXAMPLE, errors)? {
        Some(Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        })) => match lit.base10_parse::<u32>() {
            Ok(value) => Some(Len { value, lit }),
            Err(error) => {
                errors.spanned(&lit, format!("`len` must fit in a u32: {error}"));
                None
            }
        },
        Some(other) => {
            errors.spanned(other, format!("expected an integer literal: `{EXAMPLE}`"));
            None
        }
        None => None,
    })
}

fn path_value(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<Option<Path>> {
    const EXAMPLE: &str = "references = OtherEntity";
    Ok(match value(meta, EXAMPLE, errors)? {
        Some(Expr::Path(expr)) if expr.qself.is_none() => Some(expr.path),
        Some(other) => {
            errors.spanned(
                other,
                format!("expected the referenced entity type: `{EXAMPLE}`"),
            );
            None
        }
        None => None,
    })
}

fn function_value(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<Option<Path>> {
    const EXAMPLE: &str = "is_modified = path::to::function";
    Ok(match value(meta, EXAMPLE, errors)? {
        Some(Expr::Path(expr)) if expr.qself.is_none() && expr.attrs.is_empty() => Some(expr.path),
        Some(other) => {
            errors.spanned(
                other,
                format!(
                    "expected the path of a function `fn(&Self, &Self) -> bool` \
                     (the object, then the object as last loaded or flushed): `{EXAMPLE}`"
                ),
            );
            None
        }
        None => None,
    })
}

fn on_delete_value(
    meta: &ParseNestedMeta,
    errors: &mut Errors,
) -> syn::Result<Option<OnDeleteAttr>> {
    let Some(lit) = string_value(meta, "on_delete = \"cascade\"", errors)? else {
        return Ok(None);
    };
    let action = match lit.value().as_str() {
        "restrict" => OnDelete::Restrict,
        "cascade" => OnDelete::Cascade,
        "set_null" => OnDelete::SetNull,
        other => {
            errors.spanned(
                &lit,
                format!("unknown on_delete action \"{other}\"; expected \"restrict\", \"cascade\" or \"set_null\""),
            );
            return Ok(None);
        }
    };
    let key = &meta.path;
    Ok(Some(OnDeleteAttr {
        action,
        tokens: quote!(#key = #lit),
    }))
}

/// For flags: `unique`, not `unique = true`.
fn no_value(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<()> {
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
fn skip_value(input: ParseStream) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}

fn path_name(path: &Path) -> String {
    quote!(#path).to_string().replace(' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn messages(errors: Errors) -> Vec<String> {
        match errors.finish() {
            Ok(()) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn helpers_are_parsed_and_stripped() {
        let field: syn::Field = parse_quote! {
            /// Docs stay.
            #[key]
            #[column(rename = "mail", index, len = 120, default = "''")]
            #[serde(rename = "m")]
            pub email: String
        };
        let mut attrs = field.attrs;
        let mut errors = Errors::new();
        let parsed = field_attrs(&mut attrs, &mut errors);
        assert!(messages(errors).is_empty());
        assert_eq!(attrs.len(), 2, "doc and serde are kept");
        assert!(attrs.iter().all(|a| !is_helper(a)));
        let key = parsed.key.expect("key");
        assert!(!key.auto);
        let c = parsed.column;
        assert_eq!(c.rename.unwrap().value(), "mail");
        assert!(c.index && !c.unique);
        assert_eq!(c.len.unwrap().value, 120);
        assert_eq!(c.default.unwrap().value(), "''");
    }

    #[test]
    fn every_mistake_in_one_attribute_is_reported() {
        let field: syn::Field = parse_quote! {
            #[column(uniq, rename = 3, unique, unique, len = "x", on_delete = "sideways")]
            pub a: i32
        };
        let mut attrs = field.attrs;
        let mut errors = Errors::new();
        field_attrs(&mut attrs, &mut errors);
        let got = messages(errors);
        assert_eq!(got.len(), 5, "{got:#?}");
        assert!(got[0].starts_with("unknown column attribute `uniq`; expected one of `rename`"));
        assert!(got[1].starts_with("expected a string literal"));
        assert_eq!(got[2], "duplicate `unique` in #[column(..)]");
        assert!(got[3].starts_with("expected an integer literal"));
        assert!(got[4].starts_with("unknown on_delete action \"sideways\""));
    }

    #[test]
    fn unknown_entity_args_are_reported() {
        let mut errors = Errors::new();
        let args = entity_args(quote!(tabel = "x", table = "users"), &mut errors);
        assert_eq!(args.table.unwrap().value(), "users");
        let got = messages(errors);
        assert_eq!(
            got,
            [
                "unknown #[entity] argument `tabel`; expected `table = \"name\"` or `is_modified = path::to::function`"
            ]
        );

        let mut errors = Errors::new();
        entity_args(quote!(table = 5), &mut errors);
        assert_eq!(
            messages(errors),
            ["expected a string literal: `table = \"name\"`"]
        );
    }

    #[test]
    fn is_modified_takes_a_path_in_any_order_with_table() {
        for tokens in [
            quote!(is_modified = crate::same::tags, table = "t"),
            quote!(table = "t", is_modified = crate::same::tags),
        ] {
            let mut errors = Errors::new();
            let args = entity_args(tokens, &mut errors);
            assert!(messages(errors).is_empty());
            assert_eq!(args.table.unwrap().value(), "t");
            assert_eq!(path_name(&args.is_modified.unwrap()), "crate::same::tags");
        }

        let mut errors = Errors::new();
        let args = entity_args(quote!(is_modified = "same_tags"), &mut errors);
        assert!(args.is_modified.is_none());
        let got = messages(errors);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("expected the path of a function `fn(&Self, &Self) -> bool`"),
            "{got:?}"
        );

        let mut errors = Errors::new();
        entity_args(
            quote!(is_modified = a, is_modified = b, is_modified),
            &mut errors,
        );
        assert_eq!(
            messages(errors),
            [
                "duplicate `is_modified` in #[entity(..)]",
                "duplicate `is_modified` in #[entity(..)]",
            ]
        );

        let mut errors = Errors::new();
        entity_args(quote!(is_modified), &mut errors);
        assert_eq!(
            messages(errors),
            ["`is_modified` needs a value: `is_modified = path::to::function`"]
        );
    }

    #[test]
    fn version_is_a_bare_flag() {
        let field: syn::Field = parse_quote!(#[version] #[column(default = "1")] v: i64);
        let mut attrs = field.attrs;
        let mut errors = Errors::new();
        let parsed = field_attrs(&mut attrs, &mut errors);
        assert!(messages(errors).is_empty());
        assert!(parsed.version.is_some());
        assert!(attrs.is_empty(), "#[version] is stripped");

        let field: syn::Field = parse_quote!(#[version(x)] #[version = 2] #[version] v: i64);
        let mut attrs = field.attrs;
        let mut errors = Errors::new();
        let parsed = field_attrs(&mut attrs, &mut errors);
        assert!(parsed.version.is_some(), "still a version field");
        assert!(attrs.is_empty());
        assert_eq!(
            messages(errors),
            [
                "#[version] takes no arguments: write just #[version]",
                "duplicate #[version] on this field",
                "duplicate #[version] on this field",
            ]
        );

        let field: syn::Field = parse_quote!(#[version = 2] v: i64);
        let mut attrs = field.attrs;
        let mut errors = Errors::new();
        field_attrs(&mut attrs, &mut errors);
        assert_eq!(
            messages(errors),
            ["#[version] takes no arguments: write just #[version]"]
        );
    }

    #[test]
    fn key_options() {
        let field: syn::Field = parse_quote!(#[key(auto)] id: i64);
        let mut attrs = field.attrs;
        let mut errors = Errors::new();
        assert!(field_attrs(&mut attrs, &mut errors).key.unwrap().auto);

        let field: syn::Field = parse_quote!(#[key(generated)] id: i64);
        let mut attrs = field.attrs;
        let mut errors = Errors::new();
        field_attrs(&mut attrs, &mut errors);
        let got = messages(errors);
        assert!(
            got[0].starts_with("unknown key option `generated`"),
            "{got:?}"
        );
    }
}
