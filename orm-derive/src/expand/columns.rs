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
    let private = entity.krate.private();
    let constants = entity.fields.iter().map(|f| {
        let constant = f.constant();
        let column_type = ColumnType::new(f);
        let ty = column_type.codec(&entity.krate);
        let column = &f.column;
        let index = Literal::usize_unsuffixed(f.index);
        let doc = format!("Column `{column}` of `{}`.", entity.table);
        quote! {
            #[doc = #doc]
            #vis const #constant: #private::Column<#ident, #ty> =
                #private::Column::new(#column, #index);
        }
    });
    let relations = relations::constants(entity);
    let schema_doc = format!("The metadata of table `{}`.", entity.table);
    quote! {
        impl #ident {
            #(#constants)*
            #(#relations)*

            #[doc = #schema_doc]
            #vis fn schema() -> &'static #private::EntityMeta {
                <Self as #private::Entity>::meta()
            }
        }
    }
}
