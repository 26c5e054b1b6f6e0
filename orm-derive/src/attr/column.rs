//! `#[column(..)]` on a column field: how its column looks (`rename`,
//! `unique`, `index`, `default`, `len`, `precision` and `scale` of a
//! decimal), what it was called before
//! (`renamed_from`, read by migrations), the foreign key it holds
//! (`references`, `on_delete`) and the converter that stores it (`with`).
//! Several `#[column(..)]` attributes on one field add up; a key given twice
//! is a mistake.

use proc_macro2::TokenStream;
use quote::quote;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Expr, ExprLit, Lit, LitInt, LitStr, Meta, Path, Token, Type};

use super::values::{duplicate, no_value, path_name, skip_value, string_value, type_path, value};
use crate::errors::Errors;

/// The keys of one field's `#[column(..)]` attributes.
#[derive(Default)]
pub struct ColumnAttrs {
    pub rename: Option<LitStr>,
    pub renamed_from: Option<LitStr>,
    pub unique: bool,
    pub index: bool,
    pub default: Option<LitStr>,
    pub len: Option<Len>,
    /// `precision = p`: the digits a decimal column holds.
    pub precision: Option<Len>,
    /// `scale = s`: the digits of those after the point.
    pub scale: Option<Len>,
    pub references: Option<Path>,
    pub on_delete: Option<OnDeleteAttr>,
    /// `with = Converter`: the type that stores the field.
    pub with: Option<Type>,
}

/// `len = n` (also `precision = p`, `scale = s`).
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

const COLUMN_KEYS: &str = "`rename`, `renamed_from`, `unique`, `index`, `default`, `len`, `precision`, `scale`, `references`, `on_delete`, `with`";

/// One `#[column(..)]` into `column`; `seen` holds the keys given by this
/// field's earlier `#[column(..)]` attributes.
pub(super) fn column_attr(
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
            "renamed_from" => {
                column.renamed_from = string_value(&meta, "renamed_from = \"old_column\"", errors)?
            }
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
            "len" => column.len = len_value(&meta, "len = 64", errors)?,
            "precision" => column.precision = len_value(&meta, "precision = 12", errors)?,
            "scale" => column.scale = len_value(&meta, "scale = 2", errors)?,
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

fn len_value(
    meta: &ParseNestedMeta,
    example: &str,
    errors: &mut Errors,
) -> syn::Result<Option<Len>> {
    let key = path_name(&meta.path);
    Ok(match value(meta, example, errors)? {
        Some(Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        })) => match lit.base10_parse::<u32>() {
            Ok(value) => Some(Len { value, lit }),
            Err(error) => {
                errors.spanned(&lit, format!("`{key}` must fit in a u32: {error}"));
                None
            }
        },
        Some(other) => {
            errors.spanned(other, format!("expected an integer literal: `{example}`"));
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

#[cfg(test)]
mod tests {
    use quote::quote;
    use syn::parse_quote;

    use crate::attr::tests::parse_field;

    #[test]
    fn every_mistake_in_one_attribute_is_reported() {
        let (_, _, got) = parse_field(parse_quote! {
            #[column(uniq, rename = 3, unique, unique, len = "x", on_delete = "sideways")]
            pub a: i32
        });
        assert_eq!(got.len(), 5, "{got:#?}");
        assert!(got[0].starts_with("unknown column attribute `uniq`; expected one of `rename`"));
        assert!(got[1].starts_with("expected a string literal"));
        assert_eq!(got[2], "duplicate `unique` in #[column(..)]");
        assert!(got[3].starts_with("expected an integer literal"));
        assert!(got[4].starts_with("unknown on_delete action \"sideways\""));
    }

    #[test]
    fn with_takes_a_converter_type() {
        let (parsed, _, mistakes) = parse_field(parse_quote! {
            #[column(with = orm_core::AsText, index)]
            pub address: std::net::IpAddr
        });
        assert!(mistakes.is_empty());
        let with = parsed.column.with.unwrap();
        assert_eq!(quote!(#with).to_string(), "orm_core :: AsText");
        assert!(parsed.column.index && parsed.column_attr.is_some());

        let (_, attrs, mistakes) =
            parse_field(parse_quote!(#[column(with = "AsText")] #[column(with)] a: i64));
        assert!(attrs.is_empty());
        assert_eq!(
            mistakes,
            [
                "expected a converter type (a `Converter<T>` such as AsText or AsJson): `with = AsText`",
                "duplicate `with` in #[column(..)]",
            ]
        );
    }
}
