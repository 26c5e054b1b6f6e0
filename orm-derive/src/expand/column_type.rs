//! How generated code names a field's column type, so that a type that is
//! not storable gives one error, at that type, with the trait's message.
//!
//! The column type is the field type `T` itself, or `With<C, T>` (and
//! `Option<With<C, T>>` for a field spelled `Option<T>`) when the field says
//! `#[column(with = C)]`; see `orm_core::types`. Generated code uses it only
//! as `<T as ColumnType>::item` (`SQL_TYPE`, `encode`, `decode`, ...), every
//! token spanned at the field's type, and passes decoders to
//! the private API as functions instead of naming `T` in a generic bound. Every
//! failure of an unsupported type is then the same obligation at the same
//! span, which the compiler reports once, with `ColumnType`'s message.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};

use crate::crate_path::CratePath;
use crate::model::{Field, last_segment, option_inner};
pub use crate::spans::Range;

/// Whether a `#[key(auto)]` type needs the compile-time assertion: the
/// integer types are known, and `crate::check` reports the known others.
pub fn needs_auto_key_assertion(ty: &syn::Type) -> bool {
    !matches!(last_segment(ty), Some((name, false)) if ["i16", "i32", "i64", "u8", "u16", "u32", "u64"].contains(&name.as_str()))
}

/// A field's column type as generated code uses it.
pub struct ColumnType<'a> {
    field: &'a Field,
    /// What generated code calls the items on: `<T as ColumnType>` for
    /// plain fields, `<C as Stores<F, NotNull>>` (or `Nullable`) for
    /// `with = C`, so that a failure names the type or the converter.
    storage: TokenStream,
    range: Range,
}

impl<'a> ColumnType<'a> {
    pub fn new(field: &'a Field) -> Self {
        let range = Range::of(&field.ty);
        let Range { first, last } = range;
        let ty = &field.ty;
        let open = quote_spanned!(first=> <);
        let storage = match &field.attrs.with {
            None => {
                let close = quote_spanned!(last=> as __p::ColumnType>);
                quote!(#open #ty #close)
            }
            Some(converter) => {
                let marker = match option_inner(ty) {
                    Some(_) => quote_spanned!(last=> __p::Nullable),
                    None => quote_spanned!(last=> __p::NotNull),
                };
                let close = quote_spanned!(last=> as __p::Stores<#ty, #marker> >);
                quote!(#open #converter #close)
            }
        };
        ColumnType {
            field,
            storage,
            range,
        }
    }

    /// The column type, for column constants (outside the `const _` block,
    /// so through `krate`): `T`, `With<C, T>` or, for a field spelled
    /// `Option<T>`, `Option<With<C, T>>`.
    pub fn codec(&self, krate: &CratePath) -> TokenStream {
        let ty = &self.field.ty;
        let Some(converter) = &self.field.attrs.with else {
            return ty.to_token_stream();
        };
        let Range { first, last } = self.range;
        let with = |ty: &syn::Type| {
            let private = krate.private_at(first);
            let open = quote_spanned!(first=> #private::With<);
            let close = quote_spanned!(last=> >);
            quote!(#open #converter, #ty #close)
        };
        match option_inner(ty) {
            Some(inner) => {
                let with = with(inner);
                let open = quote_spanned!(first=> ::core::option::Option<);
                let close = quote_spanned!(last=> >);
                quote!(#open #with #close)
            }
            None => with(ty),
        }
    }

    /// `<T as ColumnType>::item` (or `<C as Stores<F, _>>::item`), e.g.
    /// `SQL_TYPE` or `encode`.
    pub fn item(&self, item: &str) -> TokenStream {
        let storage = &self.storage;
        let item = proc_macro2::Ident::new(item, self.range.last);
        let sep = quote_spanned!(self.range.last=> ::);
        quote!(#storage #sep #item)
    }

    /// A compile-time check that a `#[key(auto)]` type (a newtype the
    /// derive cannot see through) is an integer the database can generate.
    pub fn assert_auto_key(&self) -> TokenStream {
        let Range { first, last } = self.range;
        let auto_key = self.item("AUTO_KEY");
        let message = quote_spanned!(last=>
            "#[key(auto)] needs an integer column type (i16, i32 or i64, or a newtype over one): the database generates its value"
        );
        quote_spanned!(first=> const _: () = ::core::assert!(#auto_key, #message);)
    }

    /// `precision` / `scale` on a column that is no decimal: a compile
    /// error at the field's type (its SQL type is known only to the
    /// compiler, through `ColumnValue`).
    pub fn assert_decimal(&self) -> TokenStream {
        let Range { first, last } = self.range;
        let sql_type = self.item("SQL_TYPE");
        let message = quote_spanned!(last=>
            "#[column(precision = .., scale = ..)] needs a decimal column (rust_decimal::Decimal, or an Option or newtype of one)"
        );
        quote_spanned!(first=> const _: () = ::core::assert!(
            ::core::matches!(#sql_type, __p::SqlType::Decimal),
            #message
        );)
    }

    /// `function(args, <T as ColumnType>::decode)`, e.g.
    /// `__p::Cells::next(&mut cells, ..)`. The decoder is passed as a function
    /// (not as a `T: ColumnType` bound of `function`) so that every failure
    /// of an unsupported type is the same projection at the same span, which
    /// the compiler reports once.
    pub fn decode_with(&self, function: TokenStream, args: TokenStream) -> TokenStream {
        let decoder = self.item("decode");
        quote!(#function(#args, #decoder))
    }

    /// `<T as ColumnType>::encode(expr)`. The parentheses take the type's
    /// last span, so that the call's own obligation is reported at the type
    /// too (and merged with the type's error).
    pub fn encode(&self, expr: TokenStream) -> TokenStream {
        let encode = self.item("encode");
        let mut args = proc_macro2::Group::new(proc_macro2::Delimiter::Parenthesis, expr);
        args.set_span(self.range.last);
        quote!(#encode #args)
    }
}
