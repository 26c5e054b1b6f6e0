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

use crate::attr::{OnDelete, RelationKind, path_name};
use crate::errors::Errors;
use crate::model::{Entity, Field, Relation, field_ident, last_segment};

/// Integer types a database can generate (`#[key(auto)]`).
const AUTO_KEY_TYPES: [&str; 7] = ["i16", "i32", "i64", "u8", "u16", "u32", "u64"];

/// Types that are certainly not generated keys; any other name may be a
/// newtype over an integer and is checked by the compiler instead.
const NOT_AUTO_KEY_TYPES: [&str; 18] = [
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
    for relation in &entity.relations {
        self::relation(entity, relation, errors);
    }
    trait_lists(entity, errors);
    indexes(entity, errors);
}

/// `unique(a, b)` / `index(c)` name column fields, each once.
fn indexes(entity: &Entity, errors: &mut Errors) {
    for index in &entity.indexes {
        let kind = path_name(&index.keyword);
        let mut seen: Vec<String> = Vec::new();
        for ident in &index.fields {
            let name = syn::ext::IdentExt::unraw(ident).to_string();
            if !entity.fields.iter().any(|f| f.name == name) {
                let known: Vec<&str> = entity.fields.iter().map(|f| f.name.as_str()).collect();
                errors.spanned(
                    ident,
                    format!(
                        "`{name}` in {kind}(..) is not a column field of `{}`; expected one of {}",
                        entity.name,
                        known.join(", ")
                    ),
                );
            } else if seen.contains(&name) {
                errors.spanned(ident, format!("`{name}` is listed twice in {kind}(..)"));
            }
            seen.push(name);
        }
    }
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
    for r in &entity.relations {
        let accessor = format!("{}_mut", r.name);
        if let Some(field) = getters.get(&accessor) {
            errors.spanned(
                &r.ident,
                format!(
                    "the accessor `{accessor}` of relationship `{}` would clash with the accessor of field `{field}` in `{}Fields`; rename one of the fields",
                    r.name, entity.name
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

/// A relationship field: no column attributes, the arguments its kind needs,
/// and the field type its kind holds (`Ref`, `Many` or `Keyed`, recognised
/// by name; the generated code checks the target type).
fn relation(entity: &Entity, r: &Relation, errors: &mut Errors) {
    let a = &r.attr;
    let kind = a.kind.attr_name();
    for (attr, what) in &r.conflicts {
        errors.spanned(
            attr,
            format!(
                "`{}` is a relationship (#[{kind}]), not a column, so it cannot have {what}; remove one of the two",
                r.name
            ),
        );
    }
    let target = a
        .target
        .as_ref()
        .map_or_else(|| "Target".to_string(), path_name);
    let shape = last_segment(&r.ty).map(|(name, _)| name);
    let shape = shape.as_deref();
    match a.kind {
        RelationKind::BelongsTo => {
            match &a.by {
                None if a.target.is_none() => {}
                None => errors.spanned(
                    &a.attr,
                    format!(
                        "#[belongs_to(..)] needs `by`, the column field of `{}` that holds the foreign key: `#[belongs_to({target}, by = \"{}_id\")]`",
                        entity.name, r.name
                    ),
                ),
                Some(by) => belongs_to_column(entity, &by.value(), by, errors),
            }
            if shape != Some("Ref") {
                errors.spanned(
                    &r.ty,
                    format!("a #[belongs_to] field must be a `Ref<{target}>`"),
                );
            }
        }
        RelationKind::HasMany => {
            match &a.by {
                None if a.target.is_none() => {}
                None => errors.spanned(
                    &a.attr,
                    format!(
                        "#[has_many(..)] needs `by`, the field of `{target}` that holds the foreign key to `{}`: `#[has_many({target}, by = \"{}_id\")]`",
                        entity.name,
                        crate::naming::snake_case(&entity.name)
                    ),
                ),
                Some(by) => target_field(by, "by", &target, errors),
            }
            if let Some(keyed_by) = &a.keyed_by {
                target_field(keyed_by, "keyed_by", &target, errors);
            }
            match (shape, &a.keyed_by) {
                (Some("Many"), None) | (Some("Keyed"), Some(_)) => {}
                (Some("Many"), Some(keyed_by)) => errors.spanned(
                    &r.ty,
                    format!(
                        "`keyed_by = {:?}` makes a keyed collection: make `{}` a `Keyed<K, {target}>` (K: the type of `{target}::{}`), or remove `keyed_by`",
                        keyed_by.value(),
                        r.name,
                        keyed_by.value()
                    ),
                ),
                (Some("Keyed"), None) => errors.spanned(
                    &r.ty,
                    format!(
                        "a `Keyed` collection needs `keyed_by = \"field\"` in #[has_many(..)], the field of `{target}` its children are keyed by; or make `{}` a `Many<{target}>`",
                        r.name
                    ),
                ),
                _ => errors.spanned(
                    &r.ty,
                    format!(
                        "a #[has_many] field must be a `Many<{target}>`, or a `Keyed<K, {target}>` with `keyed_by = \"field\"`"
                    ),
                ),
            }
        }
        RelationKind::ManyToMany => {
            match &a.via {
                None if a.target.is_none() => {}
                None => {
                    let table = r.target_name(entity).map_or_else(
                        || "association_table".to_string(),
                        |t| {
                            let owner = crate::naming::snake_case(&entity.name);
                            crate::naming::plural(&format!(
                                "{owner}_{}",
                                crate::naming::snake_case(&t)
                            ))
                        },
                    );
                    errors.spanned(
                        &a.attr,
                        format!(
                            "#[many_to_many(..)] needs `via`, the association table: `#[many_to_many({target}, via = \"{table}\")]`"
                        ),
                    )
                }
                Some(via) if via.value().is_empty() => {
                    errors.spanned(via, "the association table name cannot be empty")
                }
                Some(_) => {}
            }
            for lit in [&a.owner_column, &a.target_column].into_iter().flatten() {
                if lit.value().is_empty() {
                    errors.spanned(lit, "the column name cannot be empty");
                }
            }
            if let Some(target_column) = r.target_column(entity) {
                let owner_column = r.owner_column(entity);
                if owner_column == target_column && !owner_column.is_empty() {
                    let why = if r.target_name(entity).as_deref() == Some(entity.name.as_str()) {
                        " (the relationship is between two objects of the same entity)"
                    } else {
                        ""
                    };
                    let message = format!(
                        "the association table's owner and target columns would both be `{owner_column}`{why}; name them: `owner_column = \"..\", target_column = \"..\"`"
                    );
                    match a.target_column.as_ref().or(a.owner_column.as_ref()) {
                        Some(lit) => errors.spanned(lit, message),
                        None => errors.spanned(&a.attr, message),
                    }
                }
            }
            if shape != Some("Many") {
                errors.spanned(
                    &r.ty,
                    format!("a #[many_to_many] field must be a `Many<{target}>`"),
                );
            }
        }
    }
}

/// `by` of a belongs-to: a column field of this entity.
fn belongs_to_column(entity: &Entity, by: &str, lit: &syn::LitStr, errors: &mut Errors) {
    if entity.fields.iter().any(|f| f.name == by) {
        return;
    }
    let not_column = if entity.transients.iter().any(|t| t.name == by) {
        Some("#[transient]")
    } else if entity.relations.iter().any(|r| r.name == by) {
        Some("a relationship")
    } else {
        None
    };
    let message = match not_column {
        _ if by.is_empty() => format!(
            "`by` cannot be empty: it names the column field of `{}` that holds the foreign key",
            entity.name
        ),
        Some(what) => format!(
            "`{by}` is {what}, not a column: `by` names the column field of `{}` that holds the foreign key",
            entity.name
        ),
        None => format!(
            "`{}` has no field `{by}`: `by` names the column field that holds the foreign key",
            entity.name
        ),
    };
    errors.spanned(lit, message);
}

/// `by` or `keyed_by` of a has-many: a field of the target, checked by the
/// compiler (generated code reads it); here only that it can name a field.
fn target_field(lit: &syn::LitStr, key: &str, target: &str, errors: &mut Errors) {
    if field_ident(lit).is_none() {
        errors.spanned(
            lit,
            format!(
                "`{key}` names a field of `{target}`, and {:?} is not a field name",
                lit.value()
            ),
        );
    }
}

/// A trait listed twice in `logic(..)` or `fields(..)`.
fn trait_lists(entity: &Entity, errors: &mut Errors) {
    for (list, name) in [(&entity.logic, "logic"), (&entity.shared_fields, "fields")] {
        let mut seen: Vec<String> = Vec::new();
        for path in list {
            let text = path_name(path);
            if seen.contains(&text) {
                errors.spanned(path, format!("`{text}` is already listed in `{name}(..)`"));
            } else {
                seen.push(text);
            }
        }
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
    let mut relation_constants: HashMap<String, &str> = HashMap::new();
    for r in &entity.relations {
        let constant = r.constant().to_string();
        let first = constants
            .get(&constant)
            .map(|f| f.name.as_str())
            .or_else(|| relation_constants.get(&constant).copied());
        match first {
            Some(first) => errors.spanned(
                &r.ident,
                format!(
                    "fields `{first}` and `{}` would both get the constant `{}::{constant}`",
                    r.name, entity.name
                ),
            ),
            None => {
                relation_constants.insert(constant, &r.name);
            }
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
                "#[key(auto)] needs an integer field (i16, i32, i64, u8, u16, u32 or u64): the database generates its value",
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
    // 65 digits and a scale of 30 are MySQL's limits (PostgreSQL's are
    // higher): within them a column means the same on every backend.
    if let Some(p) = &attrs.precision
        && !(1..=65).contains(&p.value)
    {
        errors.spanned(
            &p.lit,
            "`precision` must be 1 to 65 (digits in all, MySQL's limit)",
        );
    }
    match (&attrs.precision, &attrs.scale) {
        (None, Some(s)) => errors.spanned(
            &s.lit,
            "`scale` needs a `precision`: `#[column(precision = 12, scale = 2)]`",
        ),
        (Some(p), Some(s)) if s.value > p.value || s.value > 30 => errors.spanned(
            &s.lit,
            format!(
                "`scale` must be at most the precision ({}) and at most 30 (MySQL's limit)",
                p.value
            ),
        ),
        _ => {}
    }
    if let (Some(len), Some(p)) = (&attrs.len, &attrs.precision) {
        errors.spanned(
            &p.lit,
            format!("`precision` is for decimals and `len` for text and bytes: a column takes one (`len = {}` is here too)", len.value),
        );
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
                id: u128,
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
    fn relationship_mistakes() {
        let got = check(parse_quote! {
            struct A {
                #[key] id: i64,
                owner_id: i64,
                #[transient] cached_id: i64,
                #[belongs_to(Owner, by = "owner_id")] owner: Ref<Owner>,
                #[belongs_to(Owner, by = "cached_id")] cached: Many<Owner>,
                #[has_many(C, by = "a id", keyed_by = "name")] cs: Keyed<String, C>,
                #[has_many(C, by = "a_id", keyed_by = "name")] plain: Many<C>,
                #[has_many(C, by = "a_id")] keyed: Keyed<String, C>,
                #[many_to_many(D, via = "a_ds", owner_column = "", target_column = "a_id")] ds: Many<D>,
                #[has_many(C, by = "a_id")] r#type: Many<C>,
                #[has_many(C, by = "a_id")] type_mut: Many<C>,
                #[has_many(C, by = "a_id")] owner_ID: Many<C>,
            }
        });
        assert_eq!(
            got,
            [
                "fields `owner_id` and `owner_ID` would both get the constant `A::OWNER_ID`",
                "the accessor `type_mut` of relationship `type` would clash with the accessor of field `type_mut` in `AFields`; rename one of the fields",
                "`cached_id` is #[transient], not a column: `by` names the column field of `A` that holds the foreign key",
                "a #[belongs_to] field must be a `Ref<Owner>`",
                "`by` names a field of `C`, and \"a id\" is not a field name",
                "`keyed_by = \"name\"` makes a keyed collection: make `plain` a `Keyed<K, C>` (K: the type of `C::name`), or remove `keyed_by`",
                "a `Keyed` collection needs `keyed_by = \"field\"` in #[has_many(..)], the field of `C` its children are keyed by; or make `keyed` a `Many<C>`",
                "the column name cannot be empty",
            ]
        );
        // Defaults: `<owner>_id` and `<target>_id`, which differ.
        assert!(
            check(parse_quote! {
                struct OrderLine {
                    #[key(auto)] id: i64,
                    #[many_to_many(crate::tags::Tag, via = "line_tags")] tags: Many<Tag>,
                    #[many_to_many(Self, via = "links", owner_column = "from_id", target_column = "to_id")]
                    links: Many<OrderLine>,
                }
            })
            .is_empty()
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
        let decimals = check(parse_quote! {
            struct D {
                #[key] a: i64,
                #[column(precision = 0)] b: Decimal,
                #[column(scale = 2)] c: Decimal,
                #[column(precision = 10, scale = 11)] d: Decimal,
                #[column(precision = 10, len = 4)] e: Decimal,
                #[column(precision = 12, scale = 2)] f: Decimal,
            }
        });
        assert_eq!(decimals.len(), 4, "{decimals:#?}");
        assert!(decimals[0].starts_with("`precision` must be 1 to 65"));
        assert!(decimals[1].starts_with("`scale` needs a `precision`"));
        assert!(decimals[2].starts_with("`scale` must be at most the precision (10)"));
        assert!(decimals[3].starts_with("`precision` is for decimals"));
        assert!(got[0].starts_with("column `a` is already used by field `a`"));
        assert_eq!(got[1], "`len` must be at least 1");
        assert!(got[2].starts_with("`on_delete` only applies to a foreign key"));
        assert!(got[3].starts_with("on_delete = \"set_null\" needs a nullable column"));
    }
}
