//! Parses the macro's attributes into plain structs, one family per file:
//!
//! * [`entity`]: the arguments of `#[entity(..)]` on the struct;
//! * [`role`]: the attributes that give a field its role in the row,
//!   `#[key]` / `#[key(auto)]`, `#[version]` and `#[transient]`;
//! * [`column`]: `#[column(..)]`, how a column field's column looks;
//! * [`relation`]: `#[belongs_to(..)]`, `#[has_many(..)]` and
//!   `#[many_to_many(..)]`;
//! * [`values`]: the value parsers the families share (strings, paths,
//!   bare flags, duplicates, skipping past a mistake).
//!
//! This module owns the dispatch: [`field_attrs`] sends each helper attribute
//! of a field to its family and strips it from the struct.
//!
//! Parsing checks syntax only: known keys, the kind of each value, no key
//! given twice. Whether the attributes make sense together (one auto key, no
//! duplicate column names, one integer `#[version]`, ...) is `crate::check`'s job. Each mistake is pushed
//! to [`Errors`] and parsing goes on, so that one compilation shows them all.

mod column;
mod entity;
mod relation;
mod role;
mod values;

use syn::Attribute;

use column::column_attr;
use relation::relation_attr;
use role::{flag_attr, key_attr};

pub use column::{ColumnAttrs, OnDelete};
pub use entity::{EntityArgs, IndexArg, entity_args};
pub use relation::{ChildrenOnDelete, Orphans, RelationAttr, RelationKind};
pub use role::KeyAttr;
pub(crate) use values::{crate_arg, path_name, skip_value, string_value};

use crate::errors::Errors;

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

/// Whether `attr` is one of the field attributes this macro consumes.
pub fn is_helper(attr: &Attribute) -> bool {
    let path = attr.path();
    ["key", "version", "transient", "column"]
        .iter()
        .any(|name| path.is_ident(name))
        || RelationKind::of(attr).is_some()
}

/// Parses a field's helper attributes and removes them from `attrs` (an
/// attribute macro has no inert helper attributes: left in place, the
/// compiler would reject them). Other attributes are kept as they are.
pub fn field_attrs(attrs: &mut Vec<Attribute>, errors: &mut Errors) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    let mut seen: Vec<String> = Vec::new();
    attrs.retain(|attr| {
        if attr.path().is_ident("key") {
            key_attr(attr, &mut out.key, errors);
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

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    /// The messages of the mistakes collected, in order.
    pub(super) fn messages(errors: Errors) -> Vec<String> {
        match errors.finish() {
            Ok(()) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    /// A field's helper attributes parsed: what they say, the attributes
    /// left on the field, and the mistakes.
    pub(super) fn parse_field(field: syn::Field) -> (FieldAttrs, Vec<Attribute>, Vec<String>) {
        let mut attrs = field.attrs;
        let mut errors = Errors::new();
        let parsed = field_attrs(&mut attrs, &mut errors);
        (parsed, attrs, messages(errors))
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
        let (parsed, attrs, mistakes) = parse_field(field);
        assert!(mistakes.is_empty());
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
}
