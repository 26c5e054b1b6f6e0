//! `impl_fields!`: writes `impl SharedFields for Entity` from the trait's
//! methods (sent by the trait's `macro_rules!`) and the entity's fields (sent
//! by `#[entity(fields(..))]`):
//!
//! ```text
//! methods { get updated_by => updated_by; set set_updated_by => updated_by; }
//! path::AuditFields; Receiver; key id: i64, column updated_by: String, ..
//! ```
//!
//! Each accessor returns `&` the field's type as the entity declares it, so
//! types resolve where the entity is; a trait that declares another type is
//! reported by the compiler as an incompatible method. Missing fields and
//! setters of keys, of the `#[version]` counter or of relationship fields
//! are reported here, at the trait's path in `fields(..)`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::{Ident, Path, Token, Type, braced};

use crate::errors::Errors;
use crate::spans::Range;

struct Method {
    setter: bool,
    name: Ident,
    field: Ident,
}

struct EntityField {
    kind: Ident,
    ident: Ident,
    ty: Type,
}

struct Input {
    methods: Vec<Method>,
    path: Path,
    entity: Ident,
    fields: Vec<EntityField>,
}

impl Parse for Input {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let keyword: Ident = input.parse()?;
        if keyword != "methods" {
            return Err(syn::Error::new(keyword.span(), "expected `methods { .. }`"));
        }
        let content;
        braced!(content in input);
        let mut methods = Vec::new();
        while !content.is_empty() {
            let kind: Ident = content.parse()?;
            let name: Ident = content.parse()?;
            content.parse::<Token![=>]>()?;
            let field: Ident = content.parse()?;
            content.parse::<Token![;]>()?;
            methods.push(Method {
                setter: kind == "set",
                name,
                field,
            });
        }
        let path: Path = input.parse()?;
        input.parse::<Token![;]>()?;
        let entity: Ident = input.parse()?;
        input.parse::<Token![;]>()?;
        let mut fields = Vec::new();
        while !input.is_empty() {
            let kind: Ident = input.parse()?;
            let ident: Ident = input.parse()?;
            input.parse::<Token![:]>()?;
            let ty: Type = input.parse()?;
            input.parse::<Token![,]>()?;
            fields.push(EntityField { kind, ident, ty });
        }
        Ok(Input {
            methods,
            path,
            entity,
            fields,
        })
    }
}

pub fn impl_fields(input: TokenStream) -> syn::Result<TokenStream> {
    let Input {
        methods,
        path,
        entity,
        fields,
    } = syn::parse2(input)?;
    let trait_name = path
        .segments
        .last()
        .map_or_else(String::new, |s| s.ident.to_string());
    let mut errors = Errors::new();
    let mut definitions = Vec::new();
    for m in &methods {
        let name = &m.name;
        let field_name = m.field.to_string();
        let Some(field) = fields.iter().find(|f| f.ident == m.field) else {
            errors.spanned(
                &path,
                format!(
                    "`{entity}` has no field `{}`, which `{trait_name}::{name}` {}; add the field or remove `{trait_name}` from `fields(..)`",
                    field_name.trim_start_matches("r#"),
                    if m.setter { "sets" } else { "reads" },
                ),
            );
            continue;
        };
        let (ident, ty) = (&field.ident, &field.ty);
        if !m.setter {
            // `&` at the field's type: a trait that declares another return
            // type is reported at the entity's field.
            let amp = quote_spanned!(Range::of(ty).first=> &);
            definitions.push(quote! {
                fn #name(&self) -> #amp #ty {
                    &self.#ident
                }
            });
        } else if field.kind == "key" || field.kind == "version" {
            let what = if field.kind == "key" {
                "part of the primary key"
            } else {
                "the #[version] counter"
            };
            errors.spanned(
                &path,
                format!(
                    "`{trait_name}::{name}` would set `{entity}::{ident}`, which is {what}: keys and version counters have no setter"
                ),
            );
        } else if field.kind == "relation" {
            errors.spanned(
                &path,
                format!(
                    "`{trait_name}::{name}` would set `{entity}::{ident}`, which is a relationship: relationship fields have no setter (change the collection or reference itself)"
                ),
            );
        } else {
            definitions.push(quote! {
                fn #name(&mut self, value: #ty) {
                    self.#ident = value;
                }
            });
        }
    }
    errors.finish()?;
    Ok(quote! {
        impl #path for #entity {
            #(#definitions)*
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mistakes `impl_fields!` reports for an input (what it writes is in
    /// the `shared_fields_trait` snapshot).
    fn mistakes(input: TokenStream) -> Vec<String> {
        match impl_fields(input) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn relationship_fields_have_no_setter() {
        let got = mistakes(quote! {
            methods { set set_planes => planes; }
            PlaneFields; Receiver;
            relation planes: Many<Plane>,
        });
        assert_eq!(
            got,
            [
                "`PlaneFields::set_planes` would set `Receiver::planes`, which is a relationship: relationship fields have no setter (change the collection or reference itself)"
            ]
        );
    }

    #[test]
    fn missing_fields_and_key_setters_are_reported() {
        let got = mistakes(quote! {
            methods { get updated_by => updated_by; set set_id => id; set set_v => v; }
            AuditFields; Receiver;
            key id: i64, version v: i32,
        });
        assert_eq!(
            got,
            [
                "`Receiver` has no field `updated_by`, which `AuditFields::updated_by` reads; add the field or remove `AuditFields` from `fields(..)`",
                "`AuditFields::set_id` would set `Receiver::id`, which is part of the primary key: keys and version counters have no setter",
                "`AuditFields::set_v` would set `Receiver::v`, which is the #[version] counter: keys and version counters have no setter",
            ]
        );
    }
}
