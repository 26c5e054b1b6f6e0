//! The entity as the macro sees it: its table and its fields, each with the
//! column it maps to and the attributes that apply.
//!
//! Building the model parses the attributes (through `crate::attr`) and
//! strips the helper attributes from the struct; it validates nothing beyond
//! syntax. `crate::check` validates the model and `crate::expand` turns it
//! into code.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{Attribute, Fields, Ident, ItemStruct, LitStr, Path, Type, Visibility};

use crate::attr::{self, ColumnAttrs, EntityArgs, KeyAttr};
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
    /// In declaration order, which is also the column order.
    pub fields: Vec<Field>,
}

/// One field, which is one column.
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
        let fields = item
            .fields
            .iter_mut()
            .enumerate()
            .map(|(index, field)| {
                let parsed = attr::field_attrs(&mut field.attrs, errors);
                let ident = field.ident.clone().expect("named fields have idents");
                let name = ident.unraw().to_string();
                Field {
                    column: parsed
                        .column
                        .rename
                        .as_ref()
                        .map_or_else(|| name.clone(), LitStr::value),
                    ident,
                    ty: field.ty.clone(),
                    index,
                    name,
                    key: parsed.key,
                    version: parsed.version,
                    attrs: parsed.column,
                }
            })
            .collect();
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
            fields,
        })
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

/// The type without invisible groups and parentheses (a `$t:ty` from a
/// `macro_rules!` arrives wrapped in a group).
pub fn bare_type(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => bare_type(&g.elem),
        Type::Paren(p) => bare_type(&p.elem),
        other => other,
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
