//! The entity as the macro sees it: its table, its column fields (each with
//! the column it maps to and the attributes that apply), its `#[transient]`
//! fields, its relationship fields, and the traits and hooks `#[entity(..)]`
//! attaches.
//!
//! Building the model parses the attributes (through `crate::attr`) and
//! strips the helper attributes from the struct; it validates nothing beyond
//! syntax. `crate::check` validates the model and `crate::expand` turns it
//! into code.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{Attribute, Fields, Ident, ItemStruct, LitStr, Path, Type, Visibility};

use crate::attr::{self, ColumnAttrs, EntityArgs, FieldAttrs, KeyAttr, RelationAttr};
use crate::crate_path::CratePath;
use crate::errors::Errors;
use crate::naming;

/// One `#[entity]` struct.
pub struct Entity {
    pub ident: Ident,
    pub vis: Visibility,
    /// The Rust name, for error messages (`User`).
    pub name: String,
    pub table: String,
    /// `table = ".."` when given.
    pub table_lit: Option<LitStr>,
    /// `is_modified = path` when given: a `fn(&Self, &Self) -> bool`.
    pub is_modified: Option<Path>,
    /// `after_load = path` when given: a `fn(&mut Self)`.
    pub after_load: Option<Path>,
    /// `logic(..)`: traits implemented with an empty body.
    pub logic: Vec<Path>,
    /// `fields(..)`: `#[fields]` traits implemented through their macro.
    pub shared_fields: Vec<Path>,
    /// The column fields in declaration order, which is also the column order.
    pub fields: Vec<Field>,
    /// `#[transient]` fields: not columns, `Default` on load.
    pub transients: Vec<Transient>,
    /// Relationship fields in declaration order, which is also the order of
    /// `EntityMeta::relations`.
    pub relations: Vec<Relation>,
    /// How generated code names orm-core.
    pub krate: CratePath,
    /// `#[entity(unique(..), index(..))]`: multi-column indexes.
    pub indexes: Vec<crate::attr::IndexArg>,
}

/// A `#[belongs_to]`, `#[has_many]` or `#[many_to_many]` field: not a
/// column, unloaded when built from a row.
pub struct Relation {
    pub ident: Ident,
    pub ty: Type,
    /// The position in the metadata's relations.
    pub index: usize,
    /// The Rust name without `r#`.
    pub name: String,
    pub attr: RelationAttr,
    /// `#[key]`, `#[version]`, `#[column(..)]` or `#[transient]` on the same
    /// field: mistakes.
    pub conflicts: Vec<(Attribute, &'static str)>,
}

/// A `#[transient]` field: state that is not stored (derived state set by
/// `after_load`, caches). Its other helper attributes are kept only to be
/// reported.
pub struct Transient {
    pub ident: Ident,
    pub ty: Type,
    /// The Rust name without `r#`.
    pub name: String,
    /// `#[key]`, `#[version]` or `#[column(..)]` on the same field: mistakes.
    pub conflicts: Vec<(Attribute, &'static str)>,
}

/// One column field.
pub struct Field {
    pub ident: Ident,
    pub ty: Type,
    /// The position in the metadata's columns and in rows.
    pub index: usize,
    /// The Rust name without `r#`.
    pub name: String,
    /// The SQL column name.
    pub column: String,
    pub key: Option<KeyAttr>,
    /// `#[version]`, to point at it.
    pub version: Option<Attribute>,
    pub attrs: ColumnAttrs,
}

/// Any field, column or transient: what the fields trait is generated from.
pub struct Accessor<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    pub name: &'a str,
    /// Whether the fields trait has a setter (not a key, not `#[version]`).
    pub settable: bool,
    /// `key`, `version`, `column`, `transient` or `relation`, for `#[fields]`
    /// traits.
    pub kind: &'static str,
}

impl Entity {
    /// Builds the model of `item` and strips the helper attributes from its
    /// fields. `None` when the struct has no named fields (an error is pushed).
    pub fn new(item: &mut ItemStruct, args: EntityArgs, errors: &mut Errors) -> Option<Entity> {
        let name = item.ident.unraw().to_string();
        let kind = match &item.fields {
            Fields::Named(_) => None,
            Fields::Unnamed(_) => Some("a tuple struct"),
            Fields::Unit => Some("a unit struct"),
        };
        if let Some(kind) = kind {
            errors.spanned(
                &item.ident,
                format!("#[entity] needs a struct with named fields; `{name}` is {kind}"),
            );
            return None;
        }
        let mut fields = Vec::new();
        let mut transients = Vec::new();
        let mut relations = Vec::new();
        for field in item.fields.iter_mut() {
            let mut parsed = attr::field_attrs(&mut field.attrs, errors);
            let ident = field.ident.clone().expect("named fields have idents");
            let name = ident.unraw().to_string();
            let ty = field.ty.clone();
            if let Some(relation) = parsed.relation.take() {
                let transient = parsed.transient.take();
                let mut conflicts = conflicts(parsed);
                if let Some(transient) = transient {
                    conflicts.push((transient, "#[transient]"));
                }
                relations.push(Relation {
                    ident,
                    ty,
                    index: relations.len(),
                    name,
                    attr: relation,
                    conflicts,
                });
                continue;
            }
            if parsed.transient.is_some() {
                transients.push(Transient {
                    conflicts: conflicts(parsed),
                    ident,
                    ty,
                    name,
                });
                continue;
            }
            fields.push(Field {
                column: parsed
                    .column
                    .rename
                    .as_ref()
                    .map_or_else(|| name.clone(), LitStr::value),
                ident,
                ty,
                index: fields.len(),
                name,
                key: parsed.key,
                version: parsed.version,
                attrs: parsed.column,
            });
        }
        Some(Entity {
            ident: item.ident.clone(),
            vis: item.vis.clone(),
            table: args
                .table
                .as_ref()
                .map_or_else(|| naming::table_name(&name), LitStr::value),
            name,
            table_lit: args.table,
            is_modified: args.is_modified,
            after_load: args.after_load,
            logic: args.logic,
            shared_fields: args.fields,
            fields,
            transients,
            relations,
            krate: args.krate.unwrap_or_default(),
            indexes: args.indexes,
        })
    }

    /// Every field: the columns in order, then the transient fields, then
    /// the relationship fields.
    pub fn accessors(&self) -> impl Iterator<Item = Accessor<'_>> {
        let columns = self.fields.iter().map(|f| Accessor {
            ident: &f.ident,
            ty: &f.ty,
            name: &f.name,
            settable: f.key.is_none() && !f.is_version(),
            kind: if f.key.is_some() {
                "key"
            } else if f.is_version() {
                "version"
            } else {
                "column"
            },
        });
        let transients = self.transients.iter().map(|t| Accessor {
            ident: &t.ident,
            ty: &t.ty,
            name: &t.name,
            settable: true,
            kind: "transient",
        });
        let relations = self.relations.iter().map(|r| Accessor {
            ident: &r.ident,
            ty: &r.ty,
            name: &r.name,
            settable: false,
            kind: "relation",
        });
        columns.chain(transients).chain(relations)
    }

    /// The primary-key fields, in declaration order.
    pub fn key_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.key.is_some())
    }

    /// The database-generated key field, if any.
    pub fn auto_key(&self) -> Option<&Field> {
        self.fields.iter().find(|f| f.is_auto())
    }
}

impl Field {
    pub fn is_auto(&self) -> bool {
        self.key.as_ref().is_some_and(|k| k.auto)
    }

    /// Whether this is the optimistic-lock counter (`#[version]`).
    pub fn is_version(&self) -> bool {
        self.version.is_some()
    }

    /// The name of the field's column constant (`TEAM_ID`).
    pub fn constant(&self) -> Ident {
        Ident::new(&naming::constant_name(&self.name), self.ident.span())
    }

    /// Where the column name comes from: `rename = ".."` or the field name.
    pub fn column_tokens(&self) -> TokenStream {
        match &self.attrs.rename {
            Some(lit) => lit.to_token_stream(),
            None => self.ident.to_token_stream(),
        }
    }
}

impl Relation {
    /// The name of the field's relationship constant (`PLANES`).
    pub fn constant(&self) -> Ident {
        Ident::new(&naming::constant_name(&self.name), self.ident.span())
    }

    /// The target's Rust name (`Self` is the entity itself), for default
    /// column names and messages; `None` when the target is missing.
    pub fn target_name(&self, entity: &Entity) -> Option<String> {
        let target = self.attr.target.as_ref()?;
        if target.is_ident("Self") {
            return Some(entity.name.clone());
        }
        target.segments.last().map(|s| s.ident.unraw().to_string())
    }

    /// The target type as generated code names it: `Self` is replaced by
    /// the entity's name (keeping the span), since the static and the
    /// assertions are outside the impl.
    pub fn target_tokens(&self, entity: &Entity) -> Option<TokenStream> {
        let target = self.attr.target.as_ref()?;
        if target.is_ident("Self") {
            let mut ident = entity.ident.clone();
            ident.set_span(target.segments[0].ident.span());
            return Some(ident.to_token_stream());
        }
        Some(target.to_token_stream())
    }

    /// The many-to-many association column holding the owner's key:
    /// `owner_column = ".."` or `<owner in snake_case>_id`.
    pub fn owner_column(&self, entity: &Entity) -> String {
        self.attr.owner_column.as_ref().map_or_else(
            || format!("{}_id", naming::snake_case(&entity.name)),
            LitStr::value,
        )
    }

    /// The many-to-many association column holding the target's key:
    /// `target_column = ".."` or `<target in snake_case>_id`.
    pub fn target_column(&self, entity: &Entity) -> Option<String> {
        match &self.attr.target_column {
            Some(lit) => Some(lit.value()),
            None => self
                .target_name(entity)
                .map(|t| format!("{}_id", naming::snake_case(&t))),
        }
    }
}

/// The identifier of a field named by a string (`by = "receiver_id"`), at
/// the string's span; `r#type` for a keyword. `None` when the string cannot
/// name a field.
pub fn field_ident(lit: &LitStr) -> Option<Ident> {
    let value = lit.value();
    if syn::parse_str::<Ident>(&value).is_ok() {
        return Some(Ident::new(&value, lit.span()));
    }
    let keyword = syn::parse::Parser::parse_str(Ident::parse_any, &value).is_ok()
        && !["self", "super", "crate", "Self", "_"].contains(&value.as_str());
    keyword.then(|| Ident::new_raw(&value, lit.span()))
}

/// The column attributes on a `#[transient]` field, which are mistakes.
fn conflicts(parsed: FieldAttrs) -> Vec<(Attribute, &'static str)> {
    let mut out = Vec::new();
    if let Some(key) = parsed.key {
        out.push((key.attr, "#[key]"));
    }
    if let Some(version) = parsed.version {
        out.push((version, "#[version]"));
    }
    if let Some(column) = parsed.column_attr {
        out.push((column, "#[column(..)]"));
    }
    out
}

/// The type without invisible groups and parentheses (a `$t:ty` from a
/// `macro_rules!` arrives wrapped in a group).
pub fn bare_type(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => bare_type(&g.elem),
        Type::Paren(p) => bare_type(&p.elem),
        other => other,
    }
}

/// `T` when the type is spelled `Option<T>` (any path ending in `Option`).
pub fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = bare_type(ty) else {
        return None;
    };
    let last = p.path.segments.last()?;
    if p.qself.is_some() || last.ident != "Option" {
        return None;
    }
    match &last.arguments {
        syn::PathArguments::AngleBracketed(args) if args.args.len() == 1 => match &args.args[0] {
            syn::GenericArgument::Type(inner) => Some(inner),
            _ => None,
        },
        _ => None,
    }
}

/// The last path segment's name when the type is a plain path (`Option`
/// for `std::option::Option<i64>`), with whether it has generic arguments.
pub fn last_segment(ty: &Type) -> Option<(String, bool)> {
    match bare_type(ty) {
        Type::Path(p) if p.qself.is_none() => p
            .path
            .segments
            .last()
            .map(|s| (s.ident.to_string(), !s.arguments.is_empty())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn columns_follow_declaration_order_and_renames() {
        let mut item: ItemStruct = parse_quote! {
            pub struct OrderLine {
                #[key] pub order_id: i64,
                #[key] pub r#line: i32,
                #[column(rename = "qty")] pub quantity: i32,
            }
        };
        let mut errors = Errors::new();
        let e = Entity::new(&mut item, EntityArgs::default(), &mut errors).unwrap();
        assert!(errors.finish().is_ok());
        assert_eq!(e.table, "order_lines");
        let columns: Vec<_> = e
            .fields
            .iter()
            .map(|f| (f.index, f.column.as_str()))
            .collect();
        assert_eq!(columns, [(0, "order_id"), (1, "line"), (2, "qty")]);
        assert_eq!(e.key_fields().count(), 2);
        assert!(e.auto_key().is_none());
        assert_eq!(e.fields[2].constant().to_string(), "QUANTITY");
        assert!(
            item.fields.iter().all(|f| f.attrs.is_empty()),
            "helpers stripped"
        );
    }

    #[test]
    fn option_is_recognised_through_paths_and_groups() {
        let ty: Type = parse_quote!(::std::option::Option<i64>);
        assert_eq!(last_segment(&ty), Some(("Option".into(), true)));
        let ty: Type = parse_quote!((i64));
        assert_eq!(last_segment(&ty), Some(("i64".into(), false)));
    }
}
