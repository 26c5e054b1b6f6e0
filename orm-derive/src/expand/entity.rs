//! The `Entity` implementation and the static `EntityMeta` it returns, both
//! inside `const _: () = { .. };` so that no helper name leaks into the
//! user's module.
//!
//! Field types are named through `super::column_type`, so that an
//! unsupported type is reported once, at the type. `from_row` fills
//! `#[transient]` fields with `Default::default()` and ends with the
//! `after_load` function, so every object built from a row (a query, a
//! refresh, the `is_modified` comparison) has its derived state.
//! Relationship fields are not columns: their metadata, accessors and
//! unloaded values come from `super::relations`.

use proc_macro2::{Literal, TokenStream};
use quote::{ToTokens, quote, quote_spanned};

use super::column_type::{self, ColumnType, Range};
use super::relations;
use crate::attr::OnDelete;
use crate::model::{Entity, Field};

pub fn expand(entity: &Entity) -> TokenStream {
    let ident = &entity.ident;
    let name = &entity.name;
    let table = &entity.table;
    let columns = entity.fields.iter().map(|f| column_meta(entity, f));
    let keys: Vec<&Field> = entity.key_fields().collect();
    let key_type = tuple(keys.iter().map(|f| f.ty.to_token_stream()));
    let key = tuple(keys.iter().map(|f| {
        let field = &f.ident;
        quote!(::core::clone::Clone::clone(&self.#field))
    }));
    let key_values = key_values(&keys);
    let key_from_row = key_from_row(&keys);
    let from_row = from_row(entity);
    let auto_key = entity
        .auto_key()
        .filter(|f| column_type::needs_auto_key_assertion(&f.ty))
        .map(|f| ColumnType::new(f).assert_auto_key());
    let decimals: Vec<TokenStream> = entity
        .fields
        .iter()
        .filter(|f| f.attrs.precision.is_some())
        .map(|f| ColumnType::new(f).assert_decimal())
        .collect();
    let to_row: Vec<TokenStream> = entity
        .fields
        .iter()
        .map(|f| {
            let field = &f.ident;
            to_value(f, quote!(&self.#field))
        })
        .collect();
    let column_indices = entity
        .fields
        .iter()
        .map(|f| Literal::usize_unsuffixed(f.index));
    let set_column = set_column(entity);
    let is_modified = is_modified(entity);
    let relation_metas = relations::metas(entity);
    let relation_accessors = relations::accessors(entity);
    let relation_checks = relations::checks(entity);
    let use_private = entity.krate.use_private();
    let indexes = index_metas(entity);

    quote! {
        const _: () = {
            #use_private

            #auto_key
            #(#decimals)*

            #relation_checks

            static __META: __p::EntityMeta = __p::EntityMeta {
                name: #name,
                table: #table,
                columns: &[#(#columns),*],
                relations: &[#(#relation_metas),*],
                indexes: &[#(#indexes),*],
                writes: __p::AtomicU64::new(0),
            };

            impl __p::Entity for #ident {
                type Key = #key_type;

                fn meta() -> &'static __p::EntityMeta {
                    &__META
                }

                fn key(&self) -> Self::Key {
                    #key
                }

                fn key_values(key: &Self::Key) -> ::std::vec::Vec<__p::Value> {
                    #key_values
                }

                fn key_from_row(values: &[__p::Value]) -> __p::Result<Self::Key> {
                    #key_from_row
                }

                #from_row

                fn to_row(&self) -> ::std::vec::Vec<__p::Value> {
                    ::std::vec![#(#to_row),*]
                }

                fn column_value(&self, index: ::core::primitive::usize) -> __p::Value {
                    match index {
                        #(#column_indices => #to_row,)*
                        _ => __p::Value::Null(__p::SqlType::Text),
                    }
                }

                #set_column

                #is_modified

                #relation_accessors
            }
        };
    }
}

/// `from_row`: the columns in order, `Default` for transient fields, then
/// `after_load`, bound to a typed fn pointer so that a function with the
/// wrong signature is reported at its path.
fn from_row(entity: &Entity) -> TokenStream {
    let ident = &entity.ident;
    let columns = entity.fields.iter().map(|f| {
        let field = &f.ident;
        let next = ColumnType::new(f).decode_with(quote!(__p::Cells::next), quote!(&mut cells));
        quote!(#field: #next?)
    });
    let transients = entity.transients.iter().map(|t| {
        let field = &t.ident;
        let Range { first, last } = Range::of(&t.ty);
        let ty = &t.ty;
        let open = quote_spanned!(first=> <);
        let close = quote_spanned!(last=> as ::core::default::Default>::default());
        quote!(#field: #open #ty #close)
    });
    let relations = relations::unloaded(entity);
    let value = quote!(#ident {
        #(#columns,)*
        #(#transients,)*
        #(#relations,)*
    });
    let body = match &entity.after_load {
        None => quote!(::core::result::Result::Ok(#value)),
        Some(path) => {
            let Range { first, last } = Range::of(path);
            let fn_type = quote_spanned!(first=> fn(&mut Self));
            let semicolon = quote_spanned!(last=> ;);
            quote! {
                let mut __value = #value;
                let __after_load: #fn_type = #path #semicolon
                __after_load(&mut __value);
                ::core::result::Result::Ok(__value)
            }
        }
    };
    quote! {
        fn from_row(values: ::std::vec::Vec<__p::Value>) -> __p::Result<Self> {
            let mut cells = __p::Cells::new(values, &__META)?;
            #body
        }
    }
}

/// `#[entity(unique(a, b), index(c))]` as `IndexMeta`s, named
/// `uq_<table>_<columns>` / `ix_<table>_<columns>` (unknown fields are
/// reported by `check` and left out here).
fn index_metas(entity: &Entity) -> Vec<TokenStream> {
    entity
        .indexes
        .iter()
        .map(|index| {
            let columns: Vec<String> = index
                .fields
                .iter()
                .filter_map(|ident| {
                    let name = syn::ext::IdentExt::unraw(ident).to_string();
                    entity
                        .fields
                        .iter()
                        .find(|f| f.name == name)
                        .map(|f| f.column.clone())
                })
                .collect();
            let prefix = if index.unique { "uq" } else { "ix" };
            let name = format!("{prefix}_{}_{}", entity.table, columns.join("_"));
            let unique = index.unique;
            quote!(__p::IndexMeta { name: #name, columns: &[#(#columns),*], unique: #unique })
        })
        .collect()
}

fn column_meta(entity: &Entity, f: &Field) -> TokenStream {
    let column = &f.column;
    let field = &f.name;
    let sql_type = ColumnType::new(f).item("SQL_TYPE");
    let nullable = ColumnType::new(f).item("NULLABLE");
    let primary_key = f.key.is_some();
    let auto_increment = f.is_auto();
    let version = f.is_version();
    let a = &f.attrs;
    let unique = a.unique;
    let indexed = a.index;
    let default = option(a.default.as_ref().map(|lit| quote!(#lit)));
    let renamed_from = option(a.renamed_from.as_ref().map(|lit| quote!(#lit)));
    let max_len = option(a.len.as_ref().map(|len| {
        let n = Literal::u32_unsuffixed(len.value);
        quote!(#n)
    }));
    let decimal = option(a.precision.as_ref().map(|p| {
        let precision = Literal::u32_unsuffixed(p.value);
        let scale = Literal::u32_unsuffixed(a.scale.as_ref().map_or(0, |s| s.value));
        quote!((#precision, #scale))
    }));
    let references = option(a.references.as_ref().map(|target| {
        // `Self` means this entity, but the static is outside the impl.
        let target = if target.is_ident("Self") {
            let ident = &entity.ident;
            quote!(#ident)
        } else {
            quote!(#target)
        };
        let Range { first, last } = Range::of(&target);
        let open = quote_spanned!(first=> <);
        let close = quote_spanned!(last=> as __p::Entity>::meta);
        let meta = quote!(#open #target #close);
        let action = match a
            .on_delete
            .as_ref()
            .map_or(OnDelete::Restrict, |o| o.action)
        {
            OnDelete::Restrict => quote!(Restrict),
            OnDelete::Cascade => quote!(Cascade),
            OnDelete::SetNull => quote!(SetNull),
        };
        quote!(__p::ForeignKey {
            target: #meta,
            on_delete: __p::OnDelete::#action,
        })
    }));
    quote! {
        __p::ColumnMeta {
            name: #column,
            field: #field,
            sql_type: #sql_type,
            nullable: #nullable,
            primary_key: #primary_key,
            auto_increment: #auto_increment,
            version: #version,
            unique: #unique,
            indexed: #indexed,
            default: #default,
            renamed_from: #renamed_from,
            max_len: #max_len,
            decimal: #decimal,
            references: #references,
        }
    }
}

fn key_values(keys: &[&Field]) -> TokenStream {
    let values: Vec<TokenStream> = match keys {
        [single] => vec![to_value(single, quote!(key))],
        _ => keys
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let i = Literal::usize_unsuffixed(i);
                to_value(f, quote!(&key.#i))
            })
            .collect(),
    };
    quote!(::std::vec![#(#values),*])
}

fn key_from_row(keys: &[&Field]) -> TokenStream {
    let decode = keys.iter().map(|f| {
        let index = Literal::usize_unsuffixed(f.index);
        ColumnType::new(f).decode_with(quote!(__p::decode_ref), quote!(values, &__META, #index))
    });
    match keys {
        [_] => quote!(#(#decode)*),
        _ => quote!(::core::result::Result::Ok((#(#decode?),*))),
    }
}

/// `set_column`: one arm per column, decoding the value as the field's type.
fn set_column(entity: &Entity) -> TokenStream {
    let arms = entity.fields.iter().map(|f| {
        let field = &f.ident;
        let index = Literal::usize_unsuffixed(f.index);
        let decode =
            ColumnType::new(f).decode_with(quote!(__p::decode), quote!(value, &__META, #index));
        quote! {
            #index => {
                self.#field = #decode?;
            }
        }
    });
    let name = entity.name.to_string();
    quote! {
        fn set_column(
            &mut self,
            index: ::core::primitive::usize,
            value: __p::Value,
        ) -> __p::Result<()> {
            match index {
                #(#arms)*
                _ => {
                    return ::core::result::Result::Err(__p::Error::Internal {
                        entity: ::core::option::Option::Some(#name),
                        message: ::std::format!("no column at index {index}"),
                    });
                }
            }
            ::core::result::Result::Ok(())
        }
    }
}

/// `is_modified`, when `#[entity(is_modified = path)]` gives the test: the
/// loaded values are decoded into a second object and both go to `path`. The
/// path is first bound to a typed fn pointer so that a function with the wrong
/// signature is reported at the path.
fn is_modified(entity: &Entity) -> TokenStream {
    let Some(path) = &entity.is_modified else {
        return TokenStream::new();
    };
    let Range { first, last } = Range::of(path);
    let fn_type = quote_spanned!(first=> fn(&Self, &Self) -> ::core::primitive::bool);
    let semicolon = quote_spanned!(last=> ;);
    quote! {
        fn is_modified(
            &self,
            __loaded: &[__p::Value],
        ) -> ::core::option::Option<__p::Result<::core::primitive::bool>> {
            let __is_modified: #fn_type = #path #semicolon
            ::core::option::Option::Some(
                <Self as __p::Entity>::from_row(<[__p::Value]>::to_vec(__loaded))
                    .map(|__old| __is_modified(self, &__old)),
            )
        }
    }
}

/// `<T as ColumnType>::encode(expr)`.
fn to_value(f: &Field, expr: TokenStream) -> TokenStream {
    ColumnType::new(f).encode(expr)
}

/// `T` for one item, `(A, B)` for several.
fn tuple(items: impl Iterator<Item = TokenStream>) -> TokenStream {
    let items: Vec<TokenStream> = items.collect();
    match items.as_slice() {
        [single] => single.clone(),
        _ => quote!((#(#items),*)),
    }
}

/// `Some(x)` / `None` with absolute paths.
pub(super) fn option(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    }
}
