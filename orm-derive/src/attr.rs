//! Parses the macro's attributes into plain structs: the `#[entity(..)]`
//! arguments and each field's `#[key]` / `#[key(auto)]` / `#[version]` /
//! `#[transient]` / `#[column(..)]`, and the relationship attributes
//! `#[belongs_to(..)]` / `#[has_many(..)]` / `#[many_to_many(..)]`.
//!
//! This module checks syntax only: known keys, the kind of each value, no key
//! given twice. Whether the attributes make sense together (one auto key, no
//! duplicate column names, one integer `#[version]`, ...) is `crate::check`'s job. Each mistake is pushed
//! to [`Errors`] and parsing goes on, so that one compilation shows them all.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Expr, ExprLit, Ident, Lit, LitInt, LitStr, Meta, Path, Token, Type};

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
}

/// What a field's helper attributes say about it.
#[derive(Default)]
pub struct FieldAttrs {
    pub key: Option<KeyAttr>,
    /// `#[version]`: the whole attribute, to point at it.
    pub version: Option<Attribute>,
    /// `#[transient]`: the whole attribute, to point at it.
    pub transient: Option<Attribute>,
    /// The first `#[column(..)]`, to point at it.
    pub column_attr: Option<Attribute>,
    pub column: ColumnAttrs,
    /// The first relationship attribute (a field has at most one).
    pub relation: Option<RelationAttr>,
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
    /// `with = Converter`: the type that stores the field.
    pub with: Option<Type>,
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

/// Which relationship attribute a field has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelationKind {
    BelongsTo,
    HasMany,
    ManyToMany,
}

impl RelationKind {
    const ALL: [RelationKind; 3] = [
        RelationKind::BelongsTo,
        RelationKind::HasMany,
        RelationKind::ManyToMany,
    ];

    /// The kind of a relationship attribute, `None` for any other attribute.
    pub fn of(attr: &Attribute) -> Option<RelationKind> {
        RelationKind::ALL
            .into_iter()
            .find(|kind| attr.path().is_ident(kind.attr_name()))
    }

    /// `has_many`.
    pub fn attr_name(self) -> &'static str {
        match self {
            RelationKind::BelongsTo => "belongs_to",
            RelationKind::HasMany => "has_many",
            RelationKind::ManyToMany => "many_to_many",
        }
    }

    /// A complete attribute, for messages.
    pub fn example(self) -> &'static str {
        match self {
            RelationKind::BelongsTo => "#[belongs_to(Receiver, by = \"receiver_id\")]",
            RelationKind::HasMany => "#[has_many(Plane, by = \"receiver_id\")]",
            RelationKind::ManyToMany => "#[many_to_many(Group, via = \"receiver_groups\")]",
        }
    }

    /// The arguments after the target.
    fn keys(self) -> &'static [&'static str] {
        match self {
            RelationKind::BelongsTo => &["by"],
            RelationKind::HasMany => &["by", "keyed_by", "on_delete", "orphans"],
            RelationKind::ManyToMany => &["via", "owner_column", "target_column"],
        }
    }
}

/// What deleting the owner of a has-many collection does to its children
/// (`on_delete = ".."` of `#[has_many]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildrenOnDelete {
    Delete,
    Refuse,
    Detach,
}

/// What removing a child from a has-many collection does to it
/// (`orphans = ".."`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orphans {
    Delete,
    Detach,
}

/// `#[belongs_to(..)]`, `#[has_many(..)]` or `#[many_to_many(..)]`: the
/// target entity, then arguments (which ones apply to the kind is checked
/// here; which are required, and what they name, by `crate::check`).
pub struct RelationAttr {
    /// The whole attribute, to point at it.
    pub attr: Attribute,
    pub kind: RelationKind,
    /// The target entity type; `None` when missing or malformed (reported).
    pub target: Option<Path>,
    pub by: Option<LitStr>,
    pub keyed_by: Option<LitStr>,
    pub on_delete: Option<ChildrenOnDelete>,
    pub orphans: Option<Orphans>,
    pub via: Option<LitStr>,
    pub owner_column: Option<LitStr>,
    pub target_column: Option<LitStr>,
}

const COLUMN_KEYS: &str =
    "`rename`, `unique`, `index`, `default`, `len`, `references`, `on_delete`, `with`";

const ENTITY_ARGS: &str = "`table = \"name\"`, `is_modified = path`, `after_load = path`, \
                           `logic(Trait, ..)` or `fields(Trait, ..)`";

/// Whether `attr` is one of the field attributes this macro consumes.
pub fn is_helper(attr: &Attribute) -> bool {
    let path = attr.path();
    ["key", "version", "transient", "column"]
        .iter()
        .any(|name| path.is_ident(name))
        || RelationKind::of(attr).is_some()
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
            out.version = flag_attr(attr, out.version.take(), "version", errors);
        } else if attr.path().is_ident("transient") {
            out.transient = flag_attr(attr, out.transient.take(), "transient", errors);
        } else if attr.path().is_ident("column") {
            out.column_attr.get_or_insert_with(|| attr.clone());
            column_attr(attr, &mut out.column, &mut seen, errors);
        } else if let Some(kind) = RelationKind::of(attr) {
            let relation = relation_attr(attr, kind, errors);
            match &out.relation {
                Some(first) => errors.spanned(
                    attr,
                    format!(
                        "a field can have only one relationship attribute, and this one is already #[{}(..)]",
                        first.kind.attr_name()
                    ),
                ),
                None => out.relation = Some(relation),
            }
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

/// A flag attribute that takes no arguments (`#[version]`, `#[transient]`);
/// returns the attribute to keep (the first one).
fn flag_attr(
    attr: &Attribute,
    previous: Option<Attribute>,
    name: &str,
    errors: &mut Errors,
) -> Option<Attribute> {
    if previous.is_some() {
        errors.spanned(attr, format!("duplicate #[{name}] on this field"));
        return previous;
    }
    let message = format!("#[{name}] takes no arguments: write just #[{name}]");
    match &attr.meta {
        Meta::Path(_) => {}
        Meta::List(list) => errors.push(syn::Error::new(list.delimiter.span().join(), message)),
        Meta::NameValue(nv) => {
            let (eq, value) = (&nv.eq_token, &nv.value);
            errors.spanned(quote!(#eq #value), message);
        }
    }
    Some(attr.clone())
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
            "with" => column.with = converter_value(&meta, errors)?,
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

/// `#[has_many(Target, key = value, ..)]` and the other two.
fn relation_attr(attr: &Attribute, kind: RelationKind, errors: &mut Errors) -> RelationAttr {
    let mut out = RelationAttr {
        attr: attr.clone(),
        kind,
        target: None,
        by: None,
        keyed_by: None,
        on_delete: None,
        orphans: None,
        via: None,
        owner_column: None,
        target_column: None,
    };
    let name = kind.attr_name();
    let example = kind.example();
    let Meta::List(list) = &attr.meta else {
        errors.spanned(
            attr,
            format!("#[{name}] needs the target entity and its arguments: `{example}`"),
        );
        return out;
    };
    // The target first: a type path, not `key = value`.
    let rest = list.parse_args_with(|input: ParseStream| {
        if input.is_empty() || (input.peek(Ident::peek_any) && input.peek2(Token![=])) {
            errors.spanned(
                attr,
                format!("#[{name}(..)] needs the target entity first: `{example}`"),
            );
            return input.parse::<TokenStream>();
        }
        match type_path(input)? {
            Ok(path) => out.target = Some(path),
            Err(wrong) => {
                let message = format!("expected the target entity type: `{example}`");
                if wrong.is_empty() {
                    errors.spanned(attr, message);
                } else {
                    errors.spanned(wrong, message);
                }
            }
        }
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
        }
        input.parse::<TokenStream>()
    });
    let rest = match rest {
        Ok(rest) => rest,
        Err(error) => {
            errors.push(error);
            return out;
        }
    };
    let context = format!("#[{name}(..)]");
    let mut seen: Vec<String> = Vec::new();
    let parser = syn::meta::parser(|meta| {
        let key = path_name(&meta.path);
        if !kind.keys().contains(&key.as_str()) {
            let expected = kind
                .keys()
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let elsewhere = RelationKind::ALL
                .into_iter()
                .find(|other| other.keys().contains(&key.as_str()))
                .map(|other| format!(" (`{key}` is an argument of #[{}])", other.attr_name()))
                .unwrap_or_default();
            errors.spanned(
                &meta.path,
                format!("unknown #[{name}] argument `{key}`; expected {expected}{elsewhere}"),
            );
            return skip_value(meta.input);
        }
        if seen.contains(&key) {
            return duplicate(&meta, &context, errors);
        }
        seen.push(key.clone());
        match key.as_str() {
            "by" => out.by = string_value(&meta, "by = \"field\"", errors)?,
            "keyed_by" => out.keyed_by = string_value(&meta, "keyed_by = \"field\"", errors)?,
            "via" => out.via = string_value(&meta, "via = \"association_table\"", errors)?,
            "owner_column" => {
                out.owner_column = string_value(&meta, "owner_column = \"column\"", errors)?
            }
            "target_column" => {
                out.target_column = string_value(&meta, "target_column = \"column\"", errors)?
            }
            "on_delete" => {
                out.on_delete = choice_value(
                    &meta,
                    name,
                    &[
                        ("delete", ChildrenOnDelete::Delete),
                        ("refuse", ChildrenOnDelete::Refuse),
                        ("detach", ChildrenOnDelete::Detach),
                    ],
                    errors,
                )?
            }
            "orphans" => {
                out.orphans = choice_value(
                    &meta,
                    name,
                    &[("delete", Orphans::Delete), ("detach", Orphans::Detach)],
                    errors,
                )?
            }
            _ => unreachable!("every key of the kind is handled"),
        }
        Ok(())
    });
    if let Err(error) = parser.parse2(rest) {
        errors.push(error);
    }
    out
}

/// `key = "word"` where the word is one of `choices` (the first is the default).
fn choice_value<T: Copy>(
    meta: &ParseNestedMeta,
    attr: &str,
    choices: &[(&str, T)],
    errors: &mut Errors,
) -> syn::Result<Option<T>> {
    let key = path_name(&meta.path);
    let example = format!("{key} = \"{}\"", choices[0].0);
    let Some(lit) = string_value(meta, &example, errors)? else {
        return Ok(None);
    };
    let value = lit.value();
    if let Some((_, choice)) = choices.iter().find(|(word, _)| *word == value) {
        return Ok(Some(*choice));
    }
    let words: Vec<String> = choices
        .iter()
        .enumerate()
        .map(|(i, (word, _))| {
            if i == 0 {
                format!("\"{word}\" (the default)")
            } else {
                format!("\"{word}\"")
            }
        })
        .collect();
    let expected = match words.as_slice() {
        [init @ .., last] if !init.is_empty() => format!("{} or {last}", init.join(", ")),
        _ => words.join(""),
    };
    errors.spanned(
        &lit,
        format!("unknown #[{attr}] {key} \"{value}\"; expected {expected}"),
    );
    Ok(None)
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

/// `with = Converter`: a type path (generic arguments allowed).
fn converter_value(meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<Option<Type>> {
    const EXAMPLE: &str = "with = AsText";
    if !meta.input.peek(Token![=]) {
        errors.spanned(&meta.path, format!("`with` needs a value: `{EXAMPLE}`"));
        skip_value(meta.input)?;
        return Ok(None);
    }
    meta.input.parse::<Token![=]>()?;
    Ok(match type_path(meta.input)? {
        Ok(path) => Some(syn::parse_quote!(#path)),
        Err(wrong) => {
            errors.spanned(
                wrong,
                format!(
                    "expected a converter type (a `Converter<T>` such as AsText or AsJson): `{EXAMPLE}`"
                ),
            );
            None
        }
    })
}

/// Parses a path to a type or trait, up to the next `,`; anything else
/// (a literal, a reference, `T::X` with a qualified self) is returned as
/// tokens to point at.
fn type_path(input: ParseStream) -> syn::Result<Result<Path, TokenStream>> {
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
                "unknown #[entity] argument `tabel`; expected `table = \"name\"`, `is_modified = path`, \
                 `after_load = path`, `logic(Trait, ..)` or `fields(Trait, ..)`"
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
    fn logic_fields_and_after_load() {
        let mut errors = Errors::new();
        let args = entity_args(
            quote!(
                logic(ReceiverLogic, crate::audit::Audited,),
                after_load = Self::derive,
                fields(AuditFields)
            ),
            &mut errors,
        );
        assert!(messages(errors).is_empty());
        let logic: Vec<String> = args.logic.iter().map(path_name).collect();
        assert_eq!(logic, ["ReceiverLogic", "crate::audit::Audited"]);
        assert_eq!(path_name(&args.fields[0]), "AuditFields");
        assert_eq!(path_name(&args.after_load.unwrap()), "Self::derive");

        let mut errors = Errors::new();
        entity_args(
            quote!(
                logic = A,
                fields("AuditFields", &B, C),
                logic(),
                after_load = "f",
                fields(D)
            ),
            &mut errors,
        );
        assert_eq!(
            messages(errors),
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
    fn with_takes_a_converter_type_and_transient_is_a_flag() {
        let field: syn::Field = parse_quote! {
            #[column(with = orm_core::AsText, index)]
            pub address: std::net::IpAddr
        };
        let mut attrs = field.attrs;
        let mut errors = Errors::new();
        let parsed = field_attrs(&mut attrs, &mut errors);
        assert!(messages(errors).is_empty());
        let with = parsed.column.with.unwrap();
        assert_eq!(quote!(#with).to_string(), "orm_core :: AsText");
        assert!(parsed.column.index && parsed.column_attr.is_some());

        let field: syn::Field = parse_quote! {
            #[column(with = "AsText")] #[column(with)] #[transient(x)] #[transient] a: i64
        };
        let mut attrs = field.attrs;
        let mut errors = Errors::new();
        let parsed = field_attrs(&mut attrs, &mut errors);
        assert!(parsed.transient.is_some());
        assert!(attrs.is_empty());
        assert_eq!(
            messages(errors),
            [
                "expected a converter type (a `Converter<T>` such as AsText or AsJson): `with = AsText`",
                "duplicate `with` in #[column(..)]",
                "#[transient] takes no arguments: write just #[transient]",
                "duplicate #[transient] on this field",
            ]
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
    fn relation_attributes_are_parsed_and_stripped() {
        let field: syn::Field = parse_quote! {
            /// Docs stay.
            #[has_many(crate::Plane, by = "receiver_id", keyed_by = "name", orphans = "detach")]
            pub planes: Keyed<String, Plane>
        };
        let mut attrs = field.attrs;
        let mut errors = Errors::new();
        let parsed = field_attrs(&mut attrs, &mut errors);
        assert!(messages(errors).is_empty());
        assert_eq!(attrs.len(), 1, "doc kept");
        let r = parsed.relation.expect("a relationship");
        assert_eq!(r.kind, RelationKind::HasMany);
        assert_eq!(path_name(&r.target.unwrap()), "crate::Plane");
        assert_eq!(r.by.unwrap().value(), "receiver_id");
        assert_eq!(r.keyed_by.unwrap().value(), "name");
        assert_eq!(r.on_delete, None, "the default is left to the expansion");
        assert_eq!(r.orphans, Some(Orphans::Detach));

        let field: syn::Field = parse_quote! {
            #[many_to_many(Self, via = "peers", owner_column = "a_id", target_column = "b_id")]
            peers: Many<Peer>
        };
        let mut attrs = field.attrs;
        let mut errors = Errors::new();
        let r = field_attrs(&mut attrs, &mut errors).relation.unwrap();
        assert!(messages(errors).is_empty());
        assert!(r.target.unwrap().is_ident("Self"));
        assert_eq!(r.via.unwrap().value(), "peers");
        assert_eq!(r.owner_column.unwrap().value(), "a_id");
        assert_eq!(r.target_column.unwrap().value(), "b_id");
    }

    #[test]
    fn relation_argument_mistakes() {
        let field: syn::Field = parse_quote! {
            #[has_many(Plane, by = 1, via = "t", on_delete = "cascade", orphans = "keep", by = "x", cascade)]
            #[belongs_to(by = "receiver_id")]
            #[many_to_many]
            planes: Many<Plane>
        };
        let mut attrs = field.attrs;
        let mut errors = Errors::new();
        let parsed = field_attrs(&mut attrs, &mut errors);
        assert!(attrs.is_empty(), "every relationship attribute is stripped");
        assert_eq!(parsed.relation.unwrap().kind, RelationKind::HasMany);
        assert_eq!(
            messages(errors),
            [
                "expected a string literal: `by = \"field\"`",
                "unknown #[has_many] argument `via`; expected `by`, `keyed_by`, `on_delete`, `orphans` (`via` is an argument of #[many_to_many])",
                "unknown #[has_many] on_delete \"cascade\"; expected \"delete\" (the default), \"refuse\" or \"detach\"",
                "unknown #[has_many] orphans \"keep\"; expected \"delete\" (the default) or \"detach\"",
                "duplicate `by` in #[has_many(..)]",
                "unknown #[has_many] argument `cascade`; expected `by`, `keyed_by`, `on_delete`, `orphans`",
                "#[belongs_to(..)] needs the target entity first: `#[belongs_to(Receiver, by = \"receiver_id\")]`",
                "a field can have only one relationship attribute, and this one is already #[has_many(..)]",
                "#[many_to_many] needs the target entity and its arguments: `#[many_to_many(Group, via = \"receiver_groups\")]`",
                "a field can have only one relationship attribute, and this one is already #[has_many(..)]",
            ]
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
