//! The relationship attributes: `#[belongs_to(Target, ..)]`,
//! `#[has_many(Target, ..)]` and `#[many_to_many(Target, ..)]`, the target
//! entity first, then the arguments of the kind (`by`, `keyed_by`,
//! `on_delete`, `orphans`, `via`, `owner_column`, `target_column`).

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Ident, LitStr, Meta, Path, Token};

use super::values::{duplicate, path_name, skip_value, string_value, type_path};
use crate::errors::Errors;

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

/// `#[has_many(Target, key = value, ..)]` and the other two.
pub(super) fn relation_attr(
    attr: &Attribute,
    kind: RelationKind,
    errors: &mut Errors,
) -> RelationAttr {
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

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::*;
    use crate::attr::tests::parse_field;
    use crate::attr::values::path_name;

    #[test]
    fn relation_attributes_are_parsed_and_stripped() {
        let field: syn::Field = parse_quote! {
            /// Docs stay.
            #[has_many(crate::Plane, by = "receiver_id", keyed_by = "name", orphans = "detach")]
            pub planes: Keyed<String, Plane>
        };
        let (parsed, attrs, mistakes) = parse_field(field);
        assert!(mistakes.is_empty());
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
        let (parsed, _, mistakes) = parse_field(field);
        let r = parsed.relation.unwrap();
        assert!(mistakes.is_empty());
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
        let (parsed, attrs, mistakes) = parse_field(field);
        assert!(attrs.is_empty(), "every relationship attribute is stripped");
        assert_eq!(parsed.relation.unwrap().kind, RelationKind::HasMany);
        assert_eq!(
            mistakes,
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
}
