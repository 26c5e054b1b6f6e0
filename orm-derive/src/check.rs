//! Validates an entity model: the mistakes that are about how attributes and
//! fields fit together rather than about their syntax. Each mistake is
//! reported at the token to fix.
//!
//! Field types are not checked here: the generated code requires
//! `ColumnType` of each, so an unsupported type is reported by the compiler
//! (with the trait's own message) at the field's type. The one exception is
//! `#[key(auto)]`: a type known not to be an integer is reported here, any
//! other (a newtype such as `UserId`) by a compile-time assertion on
//! `ColumnType::AUTO_KEY` in the expansion.

use std::collections::HashMap;

use quote::ToTokens;
use syn::Path;

use crate::attr::OnDelete;
use crate::errors::Errors;
use crate::model::{Entity, Field, last_segment};

/// Integer types a database can generate (`#[key(auto)]`).
const AUTO_KEY_TYPES: [&str; 3] = ["i16", "i32", "i64"];

/// Types that are certainly not generated keys; any other name may be a
/// newtype over an integer and is checked by the compiler instead.
const NOT_AUTO_KEY_TYPES: [&str; 21] = [
    "String",
    "str",
    "bool",
    "char",
    "f32",
    "f64",
    "Vec",
    "i8",
    "i128",
    "isize",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "usize",
    "NaiveDateTime",
    "DateTime",
    "NaiveDate",
    "NaiveTime",
    "Uuid",
];

/// Integer types an optimistic-lock counter can be (`#[version]`).
const VERSION_TYPES: [&str; 2] = ["i32", "i64"];

pub fn entity(entity: &Entity, errors: &mut Errors) {
    names(entity, errors);
    accessors(entity, errors);
    primary_key(entity, errors);
    version(entity, errors);
    for field in &entity.fields {
        column(field, errors);
    }
    transients(entity, errors);
    trait_lists(entity, errors);
}

/// The fields trait has `name` and `set_name` per field: no two may clash.
fn accessors(entity: &Entity, errors: &mut Errors) {
    let mut getters: HashMap<String, &str> = HashMap::new();
    for a in entity.accessors() {
        getters.insert(a.name.to_string(), a.name);
    }
    for a in entity.accessors().filter(|a| a.settable) {
        let setter = format!("set_{}", a.name);
        if let Some(field) = getters.get(&setter) {
            errors.spanned(
                a.ident,
                format!(
                    "the setter `{setter}` of field `{}` would clash with the accessor of field `{field}` in `{}Fields`; rename one of the fields",
                    a.name, entity.name
                ),
            );
        }
    }
}

/// `#[transient]` fields are not columns: no column attributes on them.
fn transients(entity: &Entity, errors: &mut Errors) {
    for t in &entity.transients {
        for (attr, what) in &t.conflicts {
            errors.spanned(
                attr,
                format!(
                    "`{}` is #[transient], not a column, so it cannot have {what}; remove one of the two",
                    t.name
                ),
            );
        }
    }
}

/// A trait listed twice in `logic(..)` or `fields(..)`.
fn trait_lists(entity: &Entity, errors: &mut Errors) {
    for (list, name) in [(&entity.logic, "logic"), (&entity.shared_fields, "fields")] {
        let mut seen: Vec<String> = Vec::new();
        for path in list {
            let text = path_text(path);
            if seen.contains(&text) {
                errors.spanned(path, format!("`{text}` is already listed in `{name}(..)`"));
            } else {
                seen.push(text);
            }
        }
    }
}

fn path_text(path: &Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
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
        } else if let Some(with) = field.attrs.with.as_ref().filter(|_| field.is_auto()) {
            errors.spanned(
                with,
                "#[key(auto)] cannot use a converter: the database generates an integer key",
            );
        } else if field.is_auto()
            && !matches!(&segment, Some((name, false)) if AUTO_KEY_TYPES.contains(&name.as_str()))
            && segment
                .as_ref()
                .is_none_or(|(name, _)| NOT_AUTO_KEY_TYPES.contains(&name.as_str()))
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
        if let Some(with) = &field.attrs.with {
            errors.spanned(
                with,
                "a #[version] field cannot use a converter: it is an i32 or i64 counter",
            );
            continue;
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
    fn transient_with_column_attributes() {
        let got = check(parse_quote! {
            struct A {
                #[key] id: i64,
                #[transient] #[key] a: String,
                #[transient] #[version] #[column(index)] b: i64,
                #[transient] ok: String,
            }
        });
        assert_eq!(
            got,
            [
                "`a` is #[transient], not a column, so it cannot have #[key]; remove one of the two",
                "`b` is #[transient], not a column, so it cannot have #[version]; remove one of the two",
                "`b` is #[transient], not a column, so it cannot have #[column(..)]; remove one of the two",
            ]
        );
    }

    #[test]
    fn converters_and_auto_keys() {
        let got = check(parse_quote! {
            struct A {
                #[key(auto)] #[column(with = AsText)] id: i64,
                #[version] #[column(with = AsText)] v: i64,
                #[column(with = AsText)] ok: std::net::IpAddr,
            }
        });
        assert_eq!(
            got,
            [
                "#[key(auto)] cannot use a converter: the database generates an integer key",
                "a #[version] field cannot use a converter: it is an i32 or i64 counter",
            ]
        );
        // A newtype may be an auto key: the compiler checks it.
        assert!(
            check(parse_quote!(
                struct A {
                    #[key(auto)]
                    id: UserId,
                }
            ))
            .is_empty()
        );
        let got = check(parse_quote!(
            struct A {
                #[key(auto)]
                id: u64,
            }
        ));
        assert!(
            got[0].starts_with("#[key(auto)] needs an integer field"),
            "{got:?}"
        );
    }

    #[test]
    fn accessor_and_trait_list_mistakes() {
        let mut item: ItemStruct = parse_quote! {
            struct A {
                #[key] id: i64,
                name: String,
                set_name: String,
                #[transient] cache: String,
                #[transient] set_cache: bool,
            }
        };
        let mut errors = Errors::new();
        let args = crate::attr::entity_args(
            quote::quote!(logic(L, M, L), fields(F, crate::F, F)),
            &mut errors,
        );
        let model = Entity::new(&mut item, args, &mut errors).unwrap();
        entity(&model, &mut errors);
        let got: Vec<String> = errors
            .finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "the setter `set_name` of field `name` would clash with the accessor of field `set_name` in `AFields`; rename one of the fields",
                "the setter `set_cache` of field `cache` would clash with the accessor of field `set_cache` in `AFields`; rename one of the fields",
                "`L` is already listed in `logic(..)`",
                "`F` is already listed in `fields(..)`",
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
