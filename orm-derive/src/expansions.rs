//! Snapshots of whole expansions, for a reviewer to read what the macros
//! generate: each test expands one representative input through the
//! `proc_macro2` entry points (`expand::entity`, `shared_fields::fields` and
//! `impl_fields`, `column_value::derive`), prints input and output with
//! prettyplease, and compares the text with `snapshots/<name>.snap`.
//!
//! A change to generated code shows up as a diff of these files: review it,
//! then accept it with `cargo insta review` (or `INSTA_UPDATE=always cargo
//! test -p orm-derive`) and commit the `.snap` files. The output is
//! deterministic: the expansion iterates fields and attributes in source
//! order, and spans are not printed.
//!
//! Whether generated code compiles and behaves is tested elsewhere
//! (`tests/tests/derive_expansion.rs` runs it, `tests/tests/ui` checks its
//! errors); what is wrong with an input is tested next to the pass that
//! reports it.

use proc_macro2::TokenStream;
use quote::quote;

/// Rust tokens printed as rustfmt would.
fn pretty(tokens: TokenStream) -> String {
    let file: syn::File = syn::parse2(tokens).expect("valid Rust");
    prettyplease::unparse(&file)
}

/// The input, then what it expands to, as one text.
fn input_and_expansion(input: TokenStream, expansion: syn::Result<TokenStream>) -> String {
    let expansion = expansion.unwrap_or_else(|e| panic!("unexpected error: {e}"));
    format!(
        "{}\n// ---- expands to ----\n\n{}",
        pretty(input),
        pretty(expansion)
    )
}

/// `#[entity(attr)] item` and its expansion.
fn entity(attr: TokenStream, item: TokenStream) -> String {
    let input = quote!(#[entity(#attr)] #item);
    input_and_expansion(input, crate::expand::entity(attr, item))
}

/// `#[derive(ColumnValue)] item` and its expansion.
fn column_value(item: TokenStream) -> String {
    let input = quote!(#[derive(ColumnValue)] #item);
    input_and_expansion(input, crate::column_value::derive(item))
}

/// Compares `text` with `snapshots/<name>.snap`.
fn snapshot(name: &str, text: &str) {
    insta::with_settings!({
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

/// A plain entity with a database-generated key and every column attribute:
/// `rename`, `unique`, `index`, `len`, `default`, a nullable column and
/// foreign keys (one to itself).
#[test]
fn entity_plain_auto_key() {
    snapshot(
        "entity_plain_auto_key",
        &entity(
            quote!(table = "people"),
            quote! {
                /// A person.
                #[derive(Debug, Clone)]
                pub struct User {
                    #[key(auto)] pub id: i64,
                    /// The login.
                    #[column(unique, len = 100)] pub name: String,
                    #[column(rename = "mail", index)] pub email: Option<String>,
                    #[column(default = "0")] pub score: i32,
                    #[column(references = Team, on_delete = "cascade")] pub team_id: i64,
                    #[column(references = Self, on_delete = "set_null")] pub mentor_id: Option<i64>,
                }
            },
        ),
    );
}

/// A private entity with a composite key (a tuple in field order, the key
/// fields apart), the `#[version]` counter and an `is_modified` test; the
/// table name is the default.
#[test]
fn entity_composite_key_and_version() {
    snapshot(
        "entity_composite_key_and_version",
        &entity(
            quote!(is_modified = crate::same::lines),
            quote! {
                struct OrderLine {
                    #[key] #[column(references = Order)] order_id: i64,
                    quantity: i32,
                    #[key] line: i16,
                    #[version] revision: i64,
                }
            },
        ),
    );
}

/// One relationship of each kind: a belongs-to, a keyed and a plain
/// has-many (with non-default `on_delete` and `orphans`), a many-to-many
/// with default columns and one of the entity to itself.
#[test]
fn entity_relationships() {
    snapshot(
        "entity_relationships",
        &entity(
            quote!(table = "receivers"),
            quote! {
                #[derive(Debug, Default)]
                pub struct Receiver {
                    #[key(auto)] pub id: i64,
                    #[column(references = Site)] pub site_id: i64,
                    #[belongs_to(Site, by = "site_id")] pub site: Ref<Site>,
                    #[has_many(Plane, by = "receiver_id", keyed_by = "kind")]
                    pub planes: Keyed<String, Plane>,
                    #[has_many(Alarm, by = "receiver_id", on_delete = "refuse", orphans = "detach")]
                    pub alarms: Many<Alarm>,
                    #[many_to_many(Group, via = "receiver_groups")] pub groups: Many<Group>,
                    #[many_to_many(Self, via = "peers", owner_column = "a_id", target_column = "b_id")]
                    pub peers: Many<Receiver>,
                }
            },
        ),
    );
}

/// Column types the derive cannot see through: a newtype auto key (checked
/// by a compile-time assertion), converters (`with = AsText`, and
/// `with = AsJson` on an `Option`) and a `#[derive(ColumnValue)]` enum.
#[test]
fn entity_custom_column_types() {
    snapshot(
        "entity_custom_column_types",
        &entity(
            TokenStream::new(),
            quote! {
                pub struct Gadget {
                    #[key(auto)] pub id: GadgetId,
                    #[column(with = AsText)] pub address: std::net::IpAddr,
                    #[column(with = AsJson)] pub settings: Option<Settings>,
                    pub mode: Mode,
                }
            },
        ),
    );
}

/// Schema apart from logic: the fields trait, `logic(..)` traits, a shared
/// `fields(..)` trait, `after_load` and `#[transient]` fields between the
/// columns.
#[test]
fn entity_logic_and_fields_traits() {
    snapshot(
        "entity_logic_and_fields_traits",
        &entity(
            quote!(
                logic(AccountLogic, audit::Audited),
                fields(audit::AuditFields),
                after_load = Self::loaded
            ),
            quote! {
                pub struct Account {
                    #[key(auto)] pub id: i64,
                    #[transient] pub overdrawn: bool,
                    pub balance: i64,
                    pub updated_by: String,
                    #[version] pub version: i32,
                }
            },
        ),
    );
}

/// A `#[fields]` trait (its accessor, setter and default method), then the
/// impl that its macro's `impl_fields!` writes for one entity, with the
/// entity's field types.
#[test]
fn shared_fields_trait() {
    let item = quote! {
        pub trait AuditFields {
            fn updated_by(&self) -> &String;
            fn set_updated_by(&mut self, value: String);
            fn planes(&self) -> &Many<Plane>;
            fn shout(&self) -> String { self.updated_by().to_uppercase() }
        }
    };
    let trait_part = input_and_expansion(
        quote!(#[fields] #item),
        crate::shared_fields::fields(TokenStream::new(), item),
    );
    let call = quote! {
        methods {
            get updated_by => updated_by;
            set set_updated_by => updated_by;
            get planes => planes;
        }
        crate::audit::AuditFields; Receiver;
        key id: i64, column updated_by: ::std::string::String, version v: i32,
        relation planes: Many<Plane>,
    };
    let impl_part =
        crate::shared_fields::impl_fields(call).unwrap_or_else(|e| panic!("unexpected error: {e}"));
    let text = format!(
        "{trait_part}\n// ---- for `Receiver` (key id: i64, column updated_by: \
         ::std::string::String, version v: i32, relation planes: Many<Plane>), \
         impl_fields! writes ----\n\n{}",
        pretty(impl_part)
    );
    snapshot("shared_fields_trait", &text);
}

/// An enum stored as text, by variant name or `rename`.
#[test]
fn column_value_text_enum() {
    snapshot(
        "column_value_text_enum",
        &column_value(quote! {
            #[column_value(text)]
            pub enum Status { Active, #[column_value(rename = "gone")] Retired }
        }),
    );
}

/// An enum stored as an INTEGER, by discriminant (checked to fit an i32).
#[test]
fn column_value_integer_enum() {
    snapshot(
        "column_value_integer_enum",
        &column_value(quote! {
            #[column_value(integer)]
            pub enum Priority { Low = 1, High = 10 }
        }),
    );
}

/// Newtypes stored as their field: a tuple struct, and a generic one with
/// a named field and a where clause (the bound on the field is added).
#[test]
fn column_value_newtypes() {
    let plain = column_value(quote!(
        pub struct UserId(pub i64);
    ));
    let generic = column_value(quote! {
        pub struct Code<T> where T: Copy { value: T }
    });
    snapshot("column_value_newtypes", &format!("{plain}\n{generic}"));
}

/// `crate = path` on all three macros: every path to orm-core goes through
/// the facade's path (`facade::orm::__private_v1`), none through
/// `::orm_core`.
#[test]
fn crate_path_override() {
    let entity = entity(
        quote!(crate = facade::orm, table = "tags"),
        quote! {
            pub struct Tag {
                #[key(auto)] pub id: i64,
                #[column(with = facade::orm::AsText)] pub colour: Colour,
                #[many_to_many(Post, via = "post_tags")] pub posts: Many<Post>,
            }
        },
    );
    let item = quote! {
        pub trait LabelFields {
            fn label(&self) -> &String;
        }
    };
    let fields = input_and_expansion(
        quote!(#[fields(crate = facade::orm)] #item),
        crate::shared_fields::fields(quote!(crate = facade::orm), item),
    );
    let column_value = column_value(quote! {
        #[column_value(crate = facade::orm, integer)]
        pub enum Level { Low = 1 }
    });
    let text = format!("{entity}\n{fields}\n{column_value}");
    assert!(!text.contains("orm_core"), "{text}");
    snapshot("crate_path_override", &text);
}
