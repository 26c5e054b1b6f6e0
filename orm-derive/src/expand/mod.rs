//! Turns an `#[entity]` struct into code: the struct itself (helper
//! attributes stripped), its `Entity` implementation with the static
//! metadata (`entity.rs`, with the relationship fields from
//! `relations.rs`), its column and relationship constants (`columns.rs`),
//! and its fields trait, logic traits and shared fields traits
//! (`accessors.rs`).
//!
//! Generated code names nothing the user may have renamed or not imported:
//! every path is absolute, through `::orm_core::__private`, `::core` or
//! `::std`.

mod accessors;
mod column_type;
mod columns;
mod entity;
mod relations;

use proc_macro2::TokenStream;
use quote::quote;
use syn::Item;

use crate::attr;
use crate::check;
use crate::errors::Errors;
use crate::model::Entity;

/// Expands `#[entity(attr)] item`, or returns every mistake found.
pub fn entity(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::new();
    let args = attr::entity_args(attr, &mut errors);
    let mut item = match syn::parse2::<Item>(item) {
        Ok(Item::Struct(item)) => item,
        Ok(other) => return Err(errors.fail(not_a_struct(&other))),
        Err(error) => return Err(errors.fail(error)),
    };
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        let generics = &item.generics;
        let where_clause = &generics.where_clause;
        errors.spanned(
            quote!(#generics #where_clause),
            "#[entity] does not support generic structs yet: remove the type, lifetime and const parameters",
        );
    }
    let Some(model) = Entity::new(&mut item, args, &mut errors) else {
        return Err(errors.finish().expect_err("Entity::new reported why"));
    };
    check::entity(&model, &mut errors);
    errors.finish()?;
    let entity_impl = entity::expand(&model);
    let columns = columns::expand(&model);
    let accessors = accessors::expand(&model);
    Ok(quote! {
        #item
        #entity_impl
        #columns
        #accessors
    })
}

/// What the macro emits when the input has mistakes: the errors, and the item
/// itself without helper attributes, so that code using the struct does not
/// fail with further, misleading errors.
pub fn with_errors(item: TokenStream, error: &syn::Error) -> TokenStream {
    let mut tokens = error.to_compile_error();
    match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(mut item)) => {
            for field in &mut item.fields {
                field.attrs.retain(|a| !attr::is_helper(a));
            }
            tokens.extend(quote!(#item));
        }
        _ => tokens.extend(item),
    }
    tokens
}

fn not_a_struct(item: &Item) -> syn::Error {
    let (what, tokens) = match item {
        Item::Enum(syn::ItemEnum {
            enum_token, ident, ..
        }) => ("an enum", quote!(#enum_token #ident)),
        Item::Union(syn::ItemUnion {
            union_token, ident, ..
        }) => ("a union", quote!(#union_token #ident)),
        _ => ("this item", TokenStream::new()),
    };
    let message =
        format!("#[entity] can only be used on a struct with named fields, not on {what}");
    if tokens.is_empty() {
        syn::Error::new(proc_macro2::Span::call_site(), message)
    } else {
        syn::Error::new_spanned(tokens, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(attr: TokenStream, item: TokenStream) -> syn::File {
        let tokens = entity(attr, item).unwrap_or_else(|e| panic!("unexpected error: {e}"));
        syn::parse2(tokens).expect("the expansion is valid Rust")
    }

    fn mistakes(attr: TokenStream, item: TokenStream) -> Vec<String> {
        match entity(attr, item) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    /// The expansion as one line of text, for `contains` checks.
    fn text(file: &syn::File) -> String {
        quote!(#file).to_string()
    }

    #[test]
    fn a_full_entity_expands() {
        let file = expand(
            quote!(table = "people"),
            quote! {
                #[derive(Debug, Clone)]
                pub struct User {
                    #[key(auto)] pub id: i64,
                    /// The login.
                    #[column(unique)] pub name: String,
                    #[column(rename = "mail", index, len = 120)] pub email: Option<String>,
                    #[column(default = "0")] pub score: i32,
                    #[column(references = Team, on_delete = "cascade")] pub team_id: Option<i64>,
                    #[column(references = Self)] pub boss: Option<i64>,
                }
            },
        );
        // The struct, the `const _` block, the inherent impl, the fields
        // trait and its impl.
        assert_eq!(file.items.len(), 5);
        let syn::Item::Struct(item) = &file.items[0] else {
            panic!("the struct comes first")
        };
        assert_eq!(item.attrs.len(), 1, "derive kept");
        let field_attrs: Vec<usize> = item.fields.iter().map(|f| f.attrs.len()).collect();
        assert_eq!(
            field_attrs,
            [0, 1, 0, 0, 0, 0],
            "helpers stripped, doc kept"
        );
        let text = text(&file);
        for expected in [
            "table : \"people\"",
            "name : \"mail\" , field : \"email\"",
            "max_len : :: core :: option :: Option :: Some (120)",
            "default : :: core :: option :: Option :: Some (\"0\")",
            "target : < Team as __p :: Entity > :: meta , on_delete : __p :: OnDelete :: Cascade",
            "target : < User as __p :: Entity > :: meta , on_delete : __p :: OnDelete :: Restrict",
            "type Key = i64 ;",
            "0 => { self . id = __p :: decode (value , & __META , 0 , < i64 as __p :: ColumnType > :: decode) ? ; }",
            "5 => { self . boss = __p :: decode (value , & __META , 5 , < Option < i64 > as __p :: ColumnType > :: decode) ? ; }",
            "_ => { return :: core :: result :: Result :: Err (__p :: Error :: Config (:: std :: format ! (\"User: no column at index {index}\") ,)) ; }",
            "auto_increment : true , version : false ,",
            "pub const EMAIL : :: orm_core :: __private :: Column < User , Option < String > > = :: orm_core :: __private :: Column :: new (\"mail\" , 2)",
            "pub fn schema ()",
        ] {
            assert!(text.contains(expected), "missing `{expected}` in\n{text}");
        }
    }

    #[test]
    fn a_composite_key_is_a_tuple_in_field_order() {
        let file = expand(
            TokenStream::new(),
            quote! {
                struct OrderLine {
                    #[key] order: i64,
                    qty: i32,
                    #[key] line: i16,
                }
            },
        );
        let text = text(&file);
        for expected in [
            "table : \"order_lines\"",
            "type Key = (i64 , i16) ;",
            "__p :: decode_ref (values , & __META , 0 , < i64 as __p :: ColumnType > :: decode) ?",
            "__p :: decode_ref (values , & __META , 2 , < i16 as __p :: ColumnType > :: decode) ?",
            "encode (& key . 1)",
            "fn set_column (& mut self , index : :: core :: primitive :: usize , value : __p :: Value ,)",
            "2 => { self . line =",
            "const QTY",
        ] {
            assert!(text.contains(expected), "missing `{expected}` in\n{text}");
        }
        assert!(
            !text.contains("pub const"),
            "a private struct gets private constants"
        );
        assert!(!text.contains("version : true"));
        assert!(
            !text.contains("fn is_modified"),
            "no is_modified: the trait's default"
        );
    }

    #[test]
    fn version_and_is_modified() {
        let file = expand(
            quote!(is_modified = crate::same::tags, table = "posts"),
            quote! {
                struct Post {
                    #[key(auto)] id: i64,
                    #[version] rev: i32,
                    tags: String,
                }
            },
        );
        let syn::Item::Struct(item) = &file.items[0] else {
            panic!("the struct comes first")
        };
        assert!(
            item.fields.iter().all(|f| f.attrs.is_empty()),
            "#[version] stripped"
        );
        let text = text(&file);
        for expected in [
            "table : \"posts\"",
            "name : \"id\" , field : \"id\" , sql_type : < i64 as __p :: ColumnType > :: SQL_TYPE , nullable : < i64 as __p :: ColumnType > :: NULLABLE , primary_key : true , auto_increment : true , version : false ,",
            "name : \"rev\" , field : \"rev\" , sql_type : < i32 as __p :: ColumnType > :: SQL_TYPE , nullable : < i32 as __p :: ColumnType > :: NULLABLE , primary_key : false , auto_increment : false , version : true ,",
            "fn is_modified (& self , __loaded : & [__p :: Value] ,) -> :: core :: option :: Option < __p :: Result < :: core :: primitive :: bool > >",
            "let __is_modified : fn (& Self , & Self) -> :: core :: primitive :: bool = crate :: same :: tags ;",
            "< Self as __p :: Entity > :: from_row (< [__p :: Value] > :: to_vec (__loaded)) . map (| __old | __is_modified (self , & __old))",
        ] {
            assert!(text.contains(expected), "missing `{expected}` in\n{text}");
        }
    }

    #[test]
    fn logic_fields_converters_and_transients() {
        let file = expand(
            quote!(
                logic(ReceiverLogic, audit::Audited),
                fields(audit::AuditFields),
                after_load = Self::derive
            ),
            quote! {
                pub struct Receiver {
                    #[key(auto)] pub id: ReceiverId,
                    #[transient] pub label: String,
                    #[column(with = AsText)] pub address: IpAddr,
                    #[column(with = AsJson)] pub backup: Option<Settings>,
                    #[version] pub version: i64,
                }
            },
        );
        let syn::Item::Struct(item) = &file.items[0] else {
            panic!("the struct comes first")
        };
        assert!(
            item.fields.iter().all(|f| f.attrs.is_empty()),
            "#[transient] stripped"
        );
        let text = text(&file);
        for expected in [
            // A newtype auto key is checked by the compiler.
            "const _ : () = :: core :: assert ! (< ReceiverId as __p :: ColumnType > :: AUTO_KEY",
            // Converters: columns typed by `With`, items through `Stores`.
            "sql_type : < AsText as __p :: Stores < IpAddr , __p :: NotNull > > :: SQL_TYPE",
            "nullable : < AsJson as __p :: Stores < Option < Settings > , __p :: Nullable > > :: NULLABLE",
            "< AsText as __p :: Stores < IpAddr , __p :: NotNull > > :: encode (& self . address)",
            "pub const ADDRESS : :: orm_core :: __private :: Column < Receiver , :: orm_core :: __private :: With < AsText , IpAddr > >",
            "pub const BACKUP : :: orm_core :: __private :: Column < Receiver , :: core :: option :: Option < :: orm_core :: __private :: With < AsJson , Settings > > >",
            // Transients: not columns, Default on load, then after_load.
            "label : < String as :: core :: default :: Default > :: default () ,",
            "let __after_load : fn (& mut Self) = Self :: derive ;",
            "__after_load (& mut __value) ;",
            // Column indices skip the transient field.
            "1 => { self . address = __p :: decode (value , & __META , 1 ,",
            // The fields trait: accessors for all, setters for non-key, non-version fields.
            "pub trait ReceiverFields",
            "fn id (& self) -> & ReceiverId ;",
            "fn set_label (& mut self , value : String) ;",
            "fn set_backup (& mut self , value : Option < Settings >) ;",
            "fn version (& self) -> & i64 ;",
            "impl ReceiverFields for Receiver",
            // Logic and shared fields traits.
            "impl ReceiverLogic for Receiver { }",
            "impl audit :: Audited for Receiver { }",
            "audit :: AuditFields ! { audit :: AuditFields ; Receiver ; key id : ReceiverId , column address : IpAddr , column backup : Option < Settings > , version version : i64 , transient label : String , }",
        ] {
            assert!(text.contains(expected), "missing `{expected}` in\n{text}");
        }
        for absent in ["set_id", "set_version", "const LABEL", "name : \"label\""] {
            assert!(!text.contains(absent), "unexpected `{absent}` in\n{text}");
        }
    }

    #[test]
    fn relationships_expand() {
        let file = expand(
            quote!(table = "receivers"),
            quote! {
                #[derive(Debug, Default)]
                pub struct Receiver {
                    #[key(auto)] pub id: i64,
                    pub name: String,
                    #[has_many(Plane, by = "receiver_id", keyed_by = "name", on_delete = "refuse", orphans = "detach")]
                    pub planes: Keyed<String, Plane>,
                    #[many_to_many(Group, via = "receiver_groups")]
                    pub groups: Many<Group>,
                    #[many_to_many(Self, via = "peers", owner_column = "a_id", target_column = "b_id")]
                    pub peers: Many<Receiver>,
                    #[belongs_to(Receiver, by = "name")]
                    pub parent: Ref<Receiver>,
                }
            },
        );
        let syn::Item::Struct(item) = &file.items[0] else {
            panic!("the struct comes first")
        };
        assert!(
            item.fields.iter().all(|f| f.attrs.is_empty()),
            "relationship attributes stripped"
        );
        let text = text(&file);
        for expected in [
            "relations : & [__p :: RelationMeta { name : \"planes\" , kind : __p :: RelationKind :: HasMany , owner : < Receiver as __p :: Entity > :: meta , target : < Plane as :: orm_core :: __private :: Entity > :: meta , by : \"receiver_id\" , keyed_by : :: core :: option :: Option :: Some (\"name\") , on_delete : __p :: OnDeleteChildren :: Refuse , orphans : __p :: Orphans :: Detach , via : :: core :: option :: Option :: None , target_ops : __p :: type_ops :: < Plane > , }",
            "name : \"groups\" , kind : __p :: RelationKind :: ManyToMany , owner : < Receiver as __p :: Entity > :: meta , target : < Group as :: orm_core :: __private :: Entity > :: meta , by : \"\" , keyed_by : :: core :: option :: Option :: None , on_delete : __p :: OnDeleteChildren :: Delete , orphans : __p :: Orphans :: Delete , via : :: core :: option :: Option :: Some (__p :: Via { table : \"receiver_groups\" , owner_column : \"receiver_id\" , target_column : \"group_id\" , }) , target_ops : __p :: type_ops :: < Group > , }",
            // `Self` is the entity (the static is outside the impl).
            "target : < Receiver as :: orm_core :: __private :: Entity > :: meta , by : \"\" , keyed_by : :: core :: option :: Option :: None , on_delete : __p :: OnDeleteChildren :: Delete , orphans : __p :: Orphans :: Delete , via : :: core :: option :: Option :: Some (__p :: Via { table : \"peers\" , owner_column : \"a_id\" , target_column : \"b_id\" , })",
            "name : \"parent\" , kind : __p :: RelationKind :: BelongsTo",
            "writes : __p :: AtomicU64 :: new (0) ,",
            // Not columns: unloaded from a row, absent from rows.
            "planes : < Keyed < String , Plane > as __p :: RelationField > :: unloaded () ,",
            "parent : < Ref < Receiver > as __p :: RelationField > :: unloaded () ,",
            "fn to_row (& self) -> :: std :: vec :: Vec < __p :: Value > { :: std :: vec ! [< i64 as __p :: ColumnType > :: encode (& self . id) , < String as __p :: ColumnType > :: encode (& self . name)] }",
            "fn column_value (& self , index : :: core :: primitive :: usize) -> __p :: Value { match index { 0 => < i64 as __p :: ColumnType > :: encode (& self . id) , 1 => < String as __p :: ColumnType > :: encode (& self . name) , _ => __p :: Value :: Null (__p :: SqlType :: Text) , } }",
            "0 => :: core :: option :: Option :: Some (__erase :: < Keyed < String , Plane > > (& self . planes)) ,",
            "3 => :: core :: option :: Option :: Some (__erase_mut :: < Ref < Receiver > > (& mut self . parent)) ,",
            // What the derive cannot see, checked by the compiler.
            "__assert_holds :: < Keyed < String , Plane > , Plane > () ;",
            "let _ = | __c : Plane | { let _ = & __c . receiver_id ; } ;",
            "let _ = | __c : Plane | { let _ = & __c . name ; } ;",
            "__assert_holds :: < Many < Receiver > , Receiver > () ;",
            // Constants, then the fields trait without setters.
            "pub const PLANES : :: orm_core :: __private :: Relation < Receiver , Plane > =",
            ":: orm_core :: __private :: Relation :: new (0) }",
            ":: orm_core :: __private :: Relation :: new (3) }",
            "fn groups (& self) -> & Many < Group > ;",
            "fn groups_mut (& mut self) -> & mut Many < Group > ;",
        ] {
            assert!(text.contains(expected), "missing `{expected}` in\n{text}");
        }
        for absent in ["set_planes", "name : \"planes\" , field", "const NAME_MUT"] {
            assert!(!text.contains(absent), "unexpected `{absent}` in\n{text}");
        }
        // One closure per has-many field name: none for belongs-to (checked
        // by the macro) or many-to-many.
        assert_eq!(text.matches("| __c :").count(), 2);
    }

    #[test]
    fn an_entity_without_relationships_keeps_the_trait_defaults() {
        let text = text(&expand(
            TokenStream::new(),
            quote!(
                struct A {
                    #[key]
                    id: i64,
                }
            ),
        ));
        assert!(text.contains("relations : & [] , writes : __p :: AtomicU64 :: new (0)"));
        assert!(text.contains("fn column_value"));
        for absent in ["fn relation", "__check_relations"] {
            assert!(!text.contains(absent), "unexpected `{absent}` in\n{text}");
        }
    }

    #[test]
    fn relationship_mistakes_are_reported_together() {
        let got = mistakes(
            TokenStream::new(),
            quote! {
                struct A {
                    #[key] id: i64,
                    b_id: i64,
                    #[belongs_to(B, by = "b")] b: Ref<B>,
                    #[has_many(C)] cs: Vec<C>,
                    #[many_to_many(Self, via = "a_links")] links: Many<A>,
                    #[has_many(C, by = "a_id")] #[key] keyed: Many<C>,
                }
            },
        );
        assert_eq!(
            got,
            [
                // The relationship itself rather than its foreign key.
                "`b` is a relationship, not a column: `by` names the column field of `A` that holds the foreign key",
                "#[has_many(..)] needs `by`, the field of `C` that holds the foreign key to `A`: `#[has_many(C, by = \"a_id\")]`",
                "a #[has_many] field must be a `Many<C>`, or a `Keyed<K, C>` with `keyed_by = \"field\"`",
                "the association table's owner and target columns would both be `a_id` (the relationship is between two objects of the same entity); name them: `owner_column = \"..\", target_column = \"..\"`",
                "`keyed` is a relationship (#[has_many]), not a column, so it cannot have #[key]; remove one of the two",
            ]
        );
    }

    #[test]
    fn version_mistakes_are_reported_at_once() {
        let got = mistakes(
            quote!(is_modified = "f"),
            quote! {
                struct A {
                    #[key] #[version] id: i64,
                    #[version(x)] a: i64,
                }
            },
        );
        assert_eq!(got.len(), 4, "{got:#?}");
        assert!(got[0].starts_with("expected the path of a function"));
        assert!(got[1].starts_with("#[version] takes no arguments"));
        assert!(got[2].starts_with("#[version] cannot be on a key field"));
        assert!(got[3].starts_with("an entity can have only one #[version] field"));
    }

    #[test]
    fn mistakes_are_reported_together() {
        let got = mistakes(
            quote!(tabel = "x"),
            quote! {
                struct A {
                    #[column(uniq)] a: i64,
                    #[key(generated)] b: i64,
                }
            },
        );
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(got[0].starts_with("unknown #[entity] argument `tabel`"));
        assert!(got[1].starts_with("unknown column attribute `uniq`"));
        assert!(got[2].starts_with("unknown key option `generated`"));
    }

    #[test]
    fn only_plain_structs_with_named_fields() {
        let enum_ = mistakes(
            TokenStream::new(),
            quote!(
                enum E {
                    A,
                }
            ),
        );
        assert_eq!(
            enum_,
            ["#[entity] can only be used on a struct with named fields, not on an enum"]
        );
        let tuple = mistakes(
            TokenStream::new(),
            quote!(
                struct P(i64, i64);
            ),
        );
        assert_eq!(
            tuple,
            ["#[entity] needs a struct with named fields; `P` is a tuple struct"]
        );
        let generic = mistakes(
            TokenStream::new(),
            quote!(
                struct G<T> {
                    #[key]
                    id: T,
                }
            ),
        );
        assert!(generic[0].starts_with("#[entity] does not support generic structs yet"));
    }

    #[test]
    fn with_errors_keeps_the_struct_without_helpers() {
        let item = quote!(
            struct A {
                #[column(uniq)]
                #[serde(skip)]
                #[version]
                a: i64,
            }
        );
        let error = entity(TokenStream::new(), item.clone()).unwrap_err();
        let text = with_errors(item, &error).to_string();
        assert!(text.contains("compile_error"));
        assert!(text.contains("serde"));
        assert!(!text.contains("# [column"), "{text}");
        assert!(!text.contains("# [version"), "{text}");
    }
}
