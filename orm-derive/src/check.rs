//! Validates an entity model: the mistakes that are about how attributes and
//! fields fit together rather than about their syntax. Each mistake is
//! reported at the token to fix.
//!
//! Field types are not checked here: the generated code requires
//! `ColumnValue` of each, so an unsupported type is reported by the compiler
//! (with the trait's own message) at the field's type.

use std::collections::HashMap;

use crate::attr::OnDelete;
use crate::errors::Errors;
use crate::model::{Entity, Field, last_segment};

/// Integer types a database can generate (`#[key(auto)]`).
const AUTO_KEY_TYPES: [&str; 3] = ["i16", "i32", "i64"];

/// Integer types an optimistic-lock counter can be (`#[version]`).
const VERSION_TYPES: [&str; 2] = ["i32", "i64"];

pub fn entity(entity: &Entity, errors: &mut Errors) {
    names(entity, errors);
    primary_key(entity, errors);
    version(entity, errors);
    for field in &entity.fields {
        column(field, errors);
    }
}

fn names(entity: &Entity, errors: &mut Errors) {
    if let Some(lit) = &entity.table_lit
        && lit.value().is_empty()
    {
        errors.spanned(lit, "the table name cannot be empty");
    }
    let mut columns: HashMap<&str, &Field> = HashMap::new();
    let mut constants: HashMap<String, &Field> = HashMap::new();
    for field in &entity.fields {
        if field.column.is_empty() {
            errors.spanned(field.column_tokens(), "the column name cannot be empty");
        } else if let Some(first) = columns.insert(&field.column, field) {
            errors.spanned(
                field.column_tokens(),
                format!(
                    "column `{}` is already used by field `{}`; give one of them another name with #[column(rename = \"..\")]",
                    field.column, first.name
                ),
            );
            columns.insert(&first.column, first);
        }
        let constant = field.constant().to_string();
        if let Some(first) = constants.get(&constant) {
            errors.spanned(
                &field.ident,
                format!(
                    "fields `{}` and `{}` would both get the column constant `{}::{constant}`",
                    first.name, field.name, entity.name
                ),
            );
        } else {
            constants.insert(constant, field);
        }
    }
}

fn primary_key(entity: &Entity, errors: &mut Errors) {
    let keys: Vec<&Field> = entity.key_fields().collect();
    if keys.is_empty() {
        errors.spanned(
            &entity.ident,
            "an entity needs a primary key: mark a field with #[key] or #[key(auto)]",
        );
        return;
    }
    for field in &keys {
        let segment = last_segment(&field.ty);
        let name = segment.as_ref().map(|(name, _)| name.as_str());
        if name == Some("Option") {
            errors.spanned(&field.ty, "primary key columns cannot be nullable");
        } else if matches!(name, Some("f32" | "f64")) {
            errors.spanned(
                &field.ty,
                "primary key columns cannot be f32 or f64: a key must compare exactly (Eq and Hash)",
            );
        } else if field.is_auto()
            && !matches!(&segment, Some((name, false)) if AUTO_KEY_TYPES.contains(&name.as_str()))
        {
            errors.spanned(
                &field.ty,
                "#[key(auto)] needs an integer field (i16, i32 or i64): the database generates its value",
            );
        }
    }
    if let Some(auto) = entity.auto_key()
        && keys.len() > 1
    {
        for field in &keys[1..] {
            let attr = &field.key.as_ref().expect("a key field").attr;
            errors.spanned(
                attr,
                format!(
                    "`{}` is #[key(auto)], so it must be the only key: a database-generated key cannot be part of a composite primary key",
                    auto.name
                ),
            );
        }
    }
}

/// At most one `#[version]` field, a non-key, non-nullable i32 or i64.
fn version(entity: &Entity, errors: &mut Errors) {
    let mut first: Option<&Field> = None;
    for field in entity.fields.iter().filter(|f| f.is_version()) {
        let attr = field.version.as_ref().expect("a version field");
        match first {
            Some(first) => errors.spanned(
                attr,
                format!(
                    "an entity can have only one #[version] field; `{}` is already the version column",
                    first.name
                ),
            ),
            None => first = Some(field),
        }
        if field.key.is_some() {
            // The key's own checks already cover its type.
            errors.spanned(
                attr,
                format!(
                    "#[version] cannot be on a key field: `{}` is part of the primary key, \
                     and the version counter changes on every update; add a separate field",
                    field.name
                ),
            );
            continue;
        }
        match last_segment(&field.ty) {
            Some((name, _)) if name == "Option" => errors.spanned(
                &field.ty,
                "a #[version] field cannot be an Option: use i32 or i64 (the counter is 1 after insert)",
            ),
            Some((name, false)) if VERSION_TYPES.contains(&name.as_str()) => {}
            _ => errors.spanned(
                &field.ty,
                "#[version] needs an integer field (i32 or i64): it counts the updates of the row",
            ),
        }
    }
}

fn column(field: &Field, errors: &mut Errors) {
    let attrs = &field.attrs;
    if let Some(len) = &attrs.len
        && len.value == 0
    {
        errors.spanned(&len.lit, "`len` must be at least 1");
    }
    if let Some(on_delete) = &attrs.on_delete {
        if attrs.references.is_none() {
            errors.spanned(
                &on_delete.tokens,
                "`on_delete` only applies to a foreign key: add `references = OtherEntity`",
            );
        } else if on_delete.action == OnDelete::SetNull
            && last_segment(&field.ty).is_none_or(|(name, _)| name != "Option")
        {
            errors.spanned(
                &on_delete.tokens,
                format!(
                    "on_delete = \"set_null\" needs a nullable column: make `{}` an Option<..>",
                    field.name
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use syn::{ItemStruct, parse_quote};

    use super::*;
    use crate::attr::EntityArgs;

    fn check(mut item: ItemStruct) -> Vec<String> {
        let mut errors = Errors::new();
        let model = Entity::new(&mut item, EntityArgs::default(), &mut errors).unwrap();
        entity(&model, &mut errors);
        match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn a_valid_entity_passes() {
        let got = check(parse_quote! {
            struct Member {
                #[key] team: i64,
                #[key] user: i64,
                #[column(references = Team, on_delete = "set_null")] other: Option<i64>,
            }
        });
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn key_mistakes() {
        assert_eq!(
            check(parse_quote!(
                struct A {
                    a: i64,
                }
            )),
            ["an entity needs a primary key: mark a field with #[key] or #[key(auto)]"]
        );
        assert_eq!(
            check(parse_quote!(
                struct A {
                    #[key(auto)]
                    a: Option<i64>,
                }
            )),
            ["primary key columns cannot be nullable"]
        );
        let got = check(parse_quote!(
            struct A {
                #[key(auto)]
                a: String,
            }
        ));
        assert!(
            got[0].starts_with("#[key(auto)] needs an integer field"),
            "{got:?}"
        );
        let got = check(parse_quote!(
            struct A {
                #[key]
                a: f64,
            }
        ));
        assert!(
            got[0].starts_with("primary key columns cannot be f32 or f64"),
            "{got:?}"
        );
        let got = check(parse_quote!(
            struct A {
                #[key(auto)]
                a: i64,
                #[key]
                b: i64,
            }
        ));
        assert!(
            got[0].starts_with("`a` is #[key(auto)], so it must be the only key"),
            "{got:?}"
        );
    }

    #[test]
    fn a_version_field_passes() {
        for ty in [
            quote::quote!(i32),
            quote::quote!(i64),
            quote::quote!(::core::primitive::i64),
        ] {
            let got = check(parse_quote! {
                struct A {
                    #[key(auto)] id: i64,
                    #[version] v: #ty,
                }
            });
            assert!(got.is_empty(), "{ty}: {got:?}");
        }
    }

    #[test]
    fn version_mistakes() {
        let got = check(parse_quote! {
            struct A {
                #[key] id: i64,
                #[version] a: String,
                #[version] b: Option<i64>,
                #[version] c: i16,
                #[version] d: Wrapper<i64>,
            }
        });
        assert_eq!(got.len(), 7, "{got:#?}");
        assert!(got[0].starts_with("#[version] needs an integer field (i32 or i64)"));
        assert_eq!(
            got[1],
            "an entity can have only one #[version] field; `a` is already the version column"
        );
        assert!(got[2].starts_with("a #[version] field cannot be an Option"));
        assert!(got[3].starts_with("an entity can have only one #[version] field"));
        assert!(got[4].starts_with("#[version] needs an integer field"));
        assert!(got[5].starts_with("an entity can have only one #[version] field"));
        assert!(got[6].starts_with("#[version] needs an integer field"));

        let got = check(parse_quote! {
            struct A {
                #[key] #[version] id: i64,
            }
        });
        assert_eq!(
            got,
            [
                "#[version] cannot be on a key field: `id` is part of the primary key, and the version counter changes on every update; add a separate field"
            ]
        );
    }

    #[test]
    fn column_mistakes() {
        let got = check(parse_quote! {
            struct A {
                #[key] a: i64,
                #[column(rename = "a")] b: i64,
                #[column(len = 0)] c: String,
                #[column(on_delete = "cascade")] d: i64,
                #[column(references = A, on_delete = "set_null")] e: i64,
            }
        });
        assert_eq!(got.len(), 4, "{got:#?}");
        assert!(got[0].starts_with("column `a` is already used by field `a`"));
        assert_eq!(got[1], "`len` must be at least 1");
        assert!(got[2].starts_with("`on_delete` only applies to a foreign key"));
        assert!(got[3].starts_with("on_delete = \"set_null\" needs a nullable column"));
    }
}
