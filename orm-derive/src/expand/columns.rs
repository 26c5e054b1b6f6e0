//! The inherent items: one typed column constant per column field
//! (`User::NAME: Column<User, String>`, typed by the column type, see
//! `column_type`), one relationship constant per relationship field
//! (`Receiver::PLANES: Relation<Receiver, Plane>`, see `relations`) and
//! `User::schema()`.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::column_type::ColumnType;
use super::relations;
use crate::model::Entity;

pub fn expand(entity: &Entity) -> TokenStream {
    let ident = &entity.ident;
    let vis = &entity.vis;
    let constants = entity.fields.iter().map(|f| {
        let constant = f.constant();
        let column_type = ColumnType::new(f);
        let ty = column_type.codec();
        let column = &f.column;
        let index = Literal::usize_unsuffixed(f.index);
        let doc = format!("Column `{column}` of `{}`.", entity.table);
        quote! {
            #[doc = #doc]
            #vis const #constant: ::orm_core::__private::Column<#ident, #ty> =
                ::orm_core::__private::Column::new(#column, #index);
        }
    });
    let relations = relations::constants(entity);
    let schema_doc = format!("The metadata of table `{}`.", entity.table);
    quote! {
        impl #ident {
            #(#constants)*
            #(#relations)*

            #[doc = #schema_doc]
            #vis fn schema() -> &'static ::orm_core::__private::EntityMeta {
                <Self as ::orm_core::__private::Entity>::meta()
            }
        }
    }
}
