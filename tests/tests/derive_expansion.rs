//! What `#[entity]` generates, checked in memory (no database): the metadata,
//! the column constants, keys, the row round trip, `set_column`, the
//! `#[version]` column, `#[entity(is_modified = ..)]`, and the schema-apart-
//! from-logic features: fields traits, `logic(..)`, `fields(..)`,
//! `after_load`, `#[transient]`, `#[column(with = ..)]` and
//! `#[derive(ColumnValue)]`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use orm_core::{
    AsJson, AsText, Column, ColumnMeta, Entity, EntityMeta, Error, OnDelete, SqlType, Value, With,
    entity,
};

#[entity(table = "teams")]
#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 80)]
    pub name: String,
}

/// Renames, nullable fields, a default, a foreign key and a self-reference.
#[entity]
#[derive(Debug, Clone, PartialEq)]
pub struct Player {
    #[key(auto)]
    pub id: i32,
    /// Doc comments on fields are kept.
    #[column(rename = "display_name", index)]
    pub name: String,
    #[column(rename = "mail", len = 120)]
    pub email: Option<String>,
    #[column(default = "0")]
    pub score: i32,
    #[column(references = Team, on_delete = "cascade")]
    pub team_id: i64,
    #[column(references = Self, on_delete = "set_null")]
    pub mentor_id: Option<i32>,
}

/// A composite key, in field order even when the key fields are apart.
#[entity]
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    #[key]
    pub team_id: i64,
    pub role: String,
    #[key]
    #[column(references = Player)]
    pub player_id: i32,
}

/// Every supported type, plain and optional.
#[entity]
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    #[key]
    pub id: uuid::Uuid,
    pub small: i16,
    pub int: i32,
    pub big: i64,
    pub real: f32,
    pub double: f64,
    pub flag: bool,
    pub text: String,
    pub bytes: Vec<u8>,
    pub at: NaiveDateTime,
    pub at_utc: DateTime<Utc>,
    pub day: NaiveDate,
    pub time: NaiveTime,
    pub data: serde_json::Value,
    pub maybe_small: Option<i16>,
    pub maybe_int: Option<i32>,
    pub maybe_big: Option<i64>,
    pub maybe_real: Option<f32>,
    pub maybe_double: Option<f64>,
    pub maybe_flag: Option<bool>,
    pub maybe_text: Option<String>,
    pub maybe_bytes: Option<Vec<u8>>,
    pub maybe_at: Option<chrono::NaiveDateTime>,
    pub maybe_at_utc: Option<chrono::DateTime<chrono::Utc>>,
    pub maybe_day: Option<chrono::NaiveDate>,
    pub maybe_time: Option<chrono::NaiveTime>,
    pub maybe_id: Option<uuid::Uuid>,
    pub maybe_data: Option<serde_json::Value>,
}

/// An optimistic-lock counter and a semantic change test: `tags` is a
/// comma-separated set, so reordering it is not a change.
#[entity(is_modified = article_changed, table = "articles")]
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    #[key(auto)]
    pub id: i64,
    pub title: String,
    pub tags: String,
    #[version]
    pub version: i32,
}

/// `Article`'s change test: the current object, then the object as last
/// loaded or flushed.
fn article_changed(current: &Article, loaded: &Article) -> bool {
    fn tag_set(tags: &str) -> Vec<&str> {
        let mut set: Vec<&str> = tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        set.sort_unstable();
        set
    }
    current.title != loaded.title || tag_set(&current.tags) != tag_set(&loaded.tags)
}

/// Generated code must not depend on the user's imports or names: this module
/// reaches the crate only through a rename and shadows what generated code
/// might otherwise pick up from the prelude.
mod hygiene {
    #![allow(dead_code, unused_imports, non_camel_case_types)]

    use ::orm_core as renamed;

    mod orm_core {}
    mod __private {}
    mod __private_v1 {}
    mod core {}
    mod std {}
    struct Vec;
    struct Cells;
    struct EntityMeta;
    type Result = ();
    trait Clone {}
    trait ColumnValue {}
    struct bool;
    struct usize;
    enum Shadow {
        Ok,
        Err,
        Some,
        None,
    }
    use Shadow::*;

    #[renamed::entity(table = "nested_things")]
    #[derive(Debug, PartialEq)]
    pub struct Thing {
        #[key]
        pub code: ::std::string::String,
        #[column(references = Thing)]
        pub parent: ::core::option::Option<::std::string::String>,
        #[column(references = super::Team)]
        pub team: i64,
    }

    /// `#[version]` and `is_modified`, with a path relative to the impl.
    #[renamed::entity(is_modified = Self::renamed)]
    #[derive(Debug, PartialEq)]
    pub struct Counter {
        #[key]
        pub name: ::std::string::String,
        #[version]
        pub version: i64,
    }

    impl Counter {
        fn renamed(&self, loaded: &Self) -> ::core::primitive::bool {
            self.name != loaded.name
        }
    }

    /// A newtype key, text and integer enums, a generic newtype.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, renamed::ColumnValue)]
    pub struct Code(pub i64);

    #[derive(Debug, Clone, Copy, PartialEq, renamed::ColumnValue)]
    #[column_value(text)]
    pub enum Mode {
        Fast,
        #[column_value(rename = "slow")]
        Slow,
    }

    #[derive(Debug, Clone, Copy, PartialEq, renamed::ColumnValue)]
    #[column_value(integer)]
    pub enum Level {
        Low = 1,
        High = 9,
    }

    #[derive(Debug, PartialEq, renamed::ColumnValue)]
    pub struct Wrapped<T>(pub T)
    where
        T: ::core::fmt::Debug;

    #[renamed::fields]
    pub trait LabelFields {
        fn label(&self) -> &::std::string::String;
        fn set_label(&mut self, value: ::std::string::String);
    }

    pub trait Shout: LabelFields {
        fn shout(&self) -> ::std::string::String {
            self.label().to_uppercase()
        }
    }

    /// Every new attribute at once, with transient fields between columns.
    #[renamed::entity(
        table = "gadgets",
        logic(Shout),
        fields(LabelFields),
        after_load = Self::loaded
    )]
    #[derive(Debug, PartialEq)]
    pub struct Gadget {
        #[key(auto)]
        pub id: Code,
        pub label: ::std::string::String,
        #[transient]
        pub loads: ::core::primitive::u32,
        #[column(with = renamed::AsText)]
        pub addr: ::std::net::IpAddr,
        #[column(with = renamed::AsJson)]
        pub tags: ::core::option::Option<::std::vec::Vec<::std::string::String>>,
        pub mode: Mode,
        pub level: ::core::option::Option<Level>,
        pub wrapped: Wrapped<i32>,
        #[transient]
        pub cache: ::std::string::String,
    }

    impl Gadget {
        fn loaded(&mut self) {
            self.loads += 1;
        }
    }

    /// `crate = ..` through this module's alias of orm-core, a relative
    /// path (`tests/facade` is the case where `orm_core` is no name at all).
    #[derive(Debug, Clone, Copy, PartialEq, renamed::ColumnValue)]
    #[column_value(crate = renamed)]
    pub struct Weight(pub i32);

    #[renamed::fields(crate = renamed)]
    pub trait WeightFields {
        fn weight(&self) -> &Weight;
    }

    #[renamed::entity(crate = renamed, table = "aliased_parcels", fields(WeightFields))]
    #[derive(Debug, PartialEq)]
    pub struct Parcel {
        #[key]
        pub code: ::std::string::String,
        pub weight: Weight,
        #[column(with = renamed::AsText)]
        pub addr: ::std::net::IpAddr,
        #[column(references = Thing)]
        pub thing: ::core::option::Option<::std::string::String>,
    }
}

use hygiene::{
    Code, Counter, Gadget, GadgetFields, LabelFields, Level, Mode, Parcel, Shout, Thing, Weight,
    WeightFields, Wrapped,
};

fn names(meta: &EntityMeta, f: impl Fn(&ColumnMeta) -> &'static str) -> Vec<&'static str> {
    meta.columns.iter().map(f).collect()
}

fn flags(meta: &EntityMeta, f: impl Fn(&ColumnMeta) -> bool) -> Vec<bool> {
    meta.columns.iter().map(f).collect()
}

fn player() -> Player {
    Player {
        id: 7,
        name: "Ann".into(),
        email: None,
        score: 3,
        team_id: 2,
        mentor_id: Some(5),
    }
}

#[test]
fn a_crate_path_through_a_module_alias() {
    let meta = Parcel::schema();
    assert_eq!(meta.table, "aliased_parcels");
    assert_eq!(meta.columns[1].sql_type, SqlType::Integer);
    let targets: Vec<_> = meta.references().map(|m| m.table).collect();
    assert_eq!(targets, ["nested_things"]);
    let p = Parcel {
        code: "p1".into(),
        weight: Weight(3),
        addr: "10.0.0.1".parse().unwrap(),
        thing: None,
    };
    let row = p.to_row();
    assert_eq!(row[1], Value::I32(3));
    assert_eq!(row[2], Value::Text("10.0.0.1".into()));
    assert_eq!(Parcel::from_row(row).unwrap(), p);
    assert_eq!(*WeightFields::weight(&p), Weight(3));
    let _: Column<Parcel, With<AsText, std::net::IpAddr>> = Parcel::ADDR;
}

#[test]
fn tables_default_to_snake_case_plurals() {
    assert_eq!(Team::schema().table, "teams");
    assert_eq!(Player::schema().table, "players");
    assert_eq!(Membership::schema().table, "memberships");
    assert_eq!(Sample::schema().table, "samples");
    assert_eq!(Thing::schema().table, "nested_things");
    assert_eq!(Player::schema().name, "Player");
    assert!(std::ptr::eq(Player::schema(), <Player as Entity>::meta()));
}

#[test]
fn columns_describe_the_fields() {
    let meta = Player::schema();
    assert_eq!(
        names(meta, |c| c.name),
        [
            "id",
            "display_name",
            "mail",
            "score",
            "team_id",
            "mentor_id"
        ]
    );
    assert_eq!(
        names(meta, |c| c.field),
        ["id", "name", "email", "score", "team_id", "mentor_id"]
    );
    assert_eq!(
        flags(meta, |c| c.nullable),
        [false, false, true, false, false, true]
    );
    assert_eq!(
        flags(meta, |c| c.primary_key),
        [true, false, false, false, false, false]
    );
    assert_eq!(
        flags(meta, |c| c.auto_increment),
        [true, false, false, false, false, false]
    );
    assert_eq!(
        flags(meta, |c| c.indexed),
        [false, true, false, false, false, false]
    );
    assert_eq!(flags(meta, |c| c.unique), [false; 6]);
    assert_eq!(meta.columns[2].max_len, Some(120));
    assert_eq!(meta.columns[3].default, Some("0"));
    assert_eq!(meta.columns[0].sql_type, SqlType::Integer);
    assert_eq!(meta.auto_key(), Some(0));

    let team = Team::schema();
    assert!(team.columns[1].unique);
    assert_eq!(team.columns[1].max_len, Some(80));
    assert_eq!(team.columns[1].default, None);
    assert_eq!(team.auto_key(), Some(0));
}

#[test]
fn foreign_keys_point_at_their_targets() {
    let meta = Player::schema();
    let team = meta.column("team_id").unwrap().references.unwrap();
    assert_eq!((team.target)().table, "teams");
    assert_eq!(team.on_delete, OnDelete::Cascade);
    let mentor = meta.column("mentor_id").unwrap().references.unwrap();
    assert!(
        (mentor.target)().same(meta),
        "a self-reference targets its own metadata"
    );
    assert_eq!(mentor.on_delete, OnDelete::SetNull);
    assert!(meta.column("mail").unwrap().references.is_none());

    let member = Membership::schema()
        .column("player_id")
        .unwrap()
        .references
        .unwrap();
    assert_eq!((member.target)().table, "players");
    assert_eq!(
        member.on_delete,
        OnDelete::Restrict,
        "restrict is the default"
    );

    let targets: Vec<_> = Thing::schema().references().map(|m| m.table).collect();
    assert_eq!(targets, ["nested_things", "teams"]);
}

#[test]
fn every_supported_type_maps_to_its_sql_type() {
    use SqlType::*;
    let expected = [
        Uuid,
        SmallInt,
        Integer,
        BigInt,
        Real,
        Double,
        Boolean,
        Text,
        Bytes,
        Timestamp,
        TimestampTz,
        Date,
        Time,
        Json,
    ];
    let meta = Sample::schema();
    let plain: Vec<SqlType> = meta.columns[..14].iter().map(|c| c.sql_type).collect();
    assert_eq!(plain, expected);
    assert!(meta.columns[..14].iter().all(|c| !c.nullable));
    let optional: Vec<SqlType> = meta.columns[14..].iter().map(|c| c.sql_type).collect();
    let mut expected_optional = expected[1..13].to_vec();
    expected_optional.extend([Uuid, Json]);
    assert_eq!(optional, expected_optional);
    assert!(meta.columns[14..].iter().all(|c| c.nullable));
}

#[test]
fn column_constants_carry_name_index_and_type() {
    assert_eq!(Player::ID.name(), "id");
    assert_eq!(Player::NAME.name(), "display_name");
    assert_eq!(Player::NAME.index(), 1);
    assert_eq!(Player::EMAIL.name(), "mail");
    assert_eq!(Player::MENTOR_ID.index(), 5);
    assert_eq!(Membership::PLAYER_ID.index(), 2);
    assert_eq!(Sample::MAYBE_DATA.index(), 27);
    assert_eq!(Thing::CODE.name(), "code");
    // The constants are typed by entity and field type.
    let _: Column<Player, Option<String>> = Player::EMAIL;
    let _: Column<Membership, i32> = Membership::PLAYER_ID;
    let _filter = Player::NAME.eq("Ann").and(Player::SCORE.gt(2));
    let constants = [
        Player::ID.name(),
        Player::NAME.name(),
        Player::EMAIL.name(),
        Player::SCORE.name(),
        Player::TEAM_ID.name(),
        Player::MENTOR_ID.name(),
    ];
    assert_eq!(constants[..], names(Player::schema(), |c| c.name)[..]);
}

#[test]
fn rows_round_trip_in_column_order() {
    let p = player();
    let row = p.to_row();
    assert_eq!(
        row,
        [
            Value::I32(7),
            Value::Text("Ann".into()),
            Value::Null(SqlType::Text),
            Value::I32(3),
            Value::I64(2),
            Value::I32(5),
        ]
    );
    assert_eq!(Player::key_from_row(&row).unwrap(), 7);
    assert_eq!(Player::from_row(row).unwrap(), p);

    let s = Sample {
        id: uuid::Uuid::from_u128(42),
        small: -3,
        int: 70_000,
        big: 1 << 40,
        real: 1.5,
        double: -2.25,
        flag: true,
        text: "héllo".into(),
        bytes: vec![0, 1, 255],
        at: NaiveDate::from_ymd_opt(2024, 2, 29)
            .unwrap()
            .and_hms_micro_opt(13, 14, 15, 16)
            .unwrap(),
        at_utc: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        day: NaiveDate::from_ymd_opt(1999, 12, 31).unwrap(),
        time: NaiveTime::from_hms_opt(23, 59, 58).unwrap(),
        data: serde_json::json!({"a": [1, 2]}),
        maybe_small: Some(1),
        maybe_int: None,
        maybe_big: Some(-1),
        maybe_real: None,
        maybe_double: Some(0.5),
        maybe_flag: Some(false),
        maybe_text: None,
        maybe_bytes: Some(vec![]),
        maybe_at: None,
        maybe_at_utc: Some(DateTime::from_timestamp(0, 0).unwrap()),
        maybe_day: None,
        maybe_time: Some(NaiveTime::from_hms_opt(0, 0, 0).unwrap()),
        maybe_id: None,
        maybe_data: Some(serde_json::Value::Null),
    };
    let row = s.to_row();
    assert_eq!(row.len(), Sample::schema().columns.len());
    assert_eq!(row[27], Value::Json(Box::new(serde_json::Value::Null)));
    assert_eq!(row[26], Value::Null(SqlType::Uuid));
    assert_eq!(Sample::from_row(row).unwrap(), s);
}

#[test]
fn keys() {
    let p = player();
    assert_eq!(p.key(), 7);
    assert_eq!(Player::key_values(&7), [Value::I32(7)]);

    let m = Membership {
        team_id: 2,
        role: "captain".into(),
        player_id: 7,
    };
    let key: (i64, i32) = m.key();
    assert_eq!(key, (2, 7));
    assert_eq!(Membership::key_values(&key), [Value::I64(2), Value::I32(7)]);
    assert_eq!(Membership::key_from_row(&m.to_row()).unwrap(), key);
    let key_columns: Vec<_> = Membership::schema()
        .key_columns()
        .map(|(i, c)| (i, c.name))
        .collect();
    assert_eq!(key_columns, [(0, "team_id"), (2, "player_id")]);
    assert_eq!(Membership::schema().auto_key(), None);

    let t = Thing {
        code: "x".into(),
        parent: None,
        team: 1,
    };
    assert_eq!(t.key(), "x");
}

#[test]
fn set_column_sets_one_field_by_index() {
    let mut p = player();
    p.set_column(0, Value::I64(42)).unwrap();
    assert_eq!(p.id, 42, "backends widen integers; the field narrows back");
    p.set_column(1, Value::Text("Bob".into())).unwrap();
    p.set_column(2, Value::Text("bob@example.com".into()))
        .unwrap();
    p.set_column(5, Value::Null(SqlType::Integer)).unwrap();
    assert_eq!(
        p,
        Player {
            id: 42,
            name: "Bob".into(),
            email: Some("bob@example.com".into()),
            mentor_id: None,
            ..player()
        }
    );

    // Every column of a composite-key entity, key or not.
    let mut m = Membership {
        team_id: 2,
        role: "r".into(),
        player_id: 7,
    };
    m.set_column(2, Value::I64(8)).unwrap();
    m.set_column(1, Value::Text("coach".into())).unwrap();
    assert_eq!((m.team_id, m.role.as_str(), m.player_id), (2, "coach", 8));

    let mut s = Thing {
        code: "x".into(),
        parent: None,
        team: 1,
    };
    s.set_column(1, Value::Text("y".into())).unwrap();
    assert_eq!(s.parent.as_deref(), Some("y"));
}

#[test]
fn set_column_rejects_a_bad_index() {
    let mut p = player();
    match p.set_column(6, Value::I64(1)) {
        Err(
            err @ Error::Internal {
                entity: Some("Player"),
                ..
            },
        ) => {
            assert_eq!(
                err.to_string(),
                "internal error in Player: no column at index 6"
            )
        }
        other => panic!("expected an internal error, got {other:?}"),
    }
    let err = Membership {
        team_id: 1,
        role: "r".into(),
        player_id: 1,
    }
    .set_column(usize::MAX, Value::I64(1))
    .unwrap_err();
    assert!(
        matches!(&err, Error::Internal { entity: Some("Membership"), message } if message == &format!("no column at index {}", usize::MAX)),
        "{err}"
    );
    assert_eq!(p, player(), "nothing changed");
}

#[test]
fn set_column_with_a_wrong_value_names_the_entity_and_column() {
    let mut p = player();
    match p.set_column(1, Value::I64(1)) {
        Err(Error::Decode {
            entity,
            column,
            expected,
            found,
        }) => {
            assert_eq!(
                (entity, column.as_str(), expected),
                ("Player", "display_name", "String")
            );
            assert!(found.contains("i64"), "{found}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    let err = p.set_column(0, Value::I64(i64::MAX)).unwrap_err();
    assert!(
        matches!(err, Error::Decode { entity: "Player", ref column, .. } if column == "id"),
        "an out-of-range integer: {err}"
    );
    let err = p.set_column(3, Value::Null(SqlType::Integer)).unwrap_err();
    assert!(
        matches!(err, Error::Decode { entity: "Player", ref column, .. } if column == "score"),
        "NULL in a required column: {err}"
    );
    assert_eq!(p, player(), "a failed set leaves the field as it was");
}

#[test]
fn the_version_column_is_marked_in_the_metadata() {
    let meta = Article::schema();
    assert_eq!(meta.table, "articles");
    assert_eq!(flags(meta, |c| c.version), [false, false, false, true]);
    assert_eq!(meta.version_column(), Some(3));
    assert_eq!(meta.columns[3].name, "version");
    assert_eq!(meta.columns[3].sql_type, SqlType::Integer);
    assert!(!meta.columns[3].nullable && !meta.columns[3].primary_key);
    assert_eq!(Article::VERSION.index(), 3);
    assert_eq!(Counter::schema().version_column(), Some(1));
    for other in [
        Team::schema(),
        Player::schema(),
        Membership::schema(),
        Sample::schema(),
        Thing::schema(),
    ] {
        assert_eq!(other.version_column(), None, "{}", other.name);
        assert!(other.columns.iter().all(|c| !c.version));
    }

    let mut a = article();
    a.set_column(3, Value::I64(2)).unwrap();
    assert_eq!(
        a.version, 2,
        "the session bumps the counter through set_column"
    );
}

fn article() -> Article {
    Article {
        id: 1,
        title: "Tags".into(),
        tags: "rust,orm,sql".into(),
        version: 1,
    }
}

#[test]
fn is_modified_uses_the_entity_test() {
    let loaded = article().to_row();
    let mut a = article();
    assert!(matches!(a.is_modified(&loaded), Some(Ok(false))));

    a.tags = "sql, rust,orm".into();
    assert_ne!(a.to_row(), loaded, "the columns differ...");
    assert!(
        matches!(a.is_modified(&loaded), Some(Ok(false))),
        "...but only the order of the tags changed"
    );

    a.tags = "sql,rust".into();
    assert!(matches!(a.is_modified(&loaded), Some(Ok(true))));
    let mut b = article();
    b.title = "Other".into();
    assert!(matches!(b.is_modified(&loaded), Some(Ok(true))));

    let mut bad = loaded.clone();
    bad[2] = Value::I64(3);
    assert!(
        matches!(
            article().is_modified(&bad),
            Some(Err(Error::Decode { entity: "Article", ref column, .. })) if column == "tags"
        ),
        "the loaded values are decoded like a row"
    );

    let c = Counter {
        name: "a".into(),
        version: 1,
    };
    let loaded = c.to_row();
    let renamed = Counter {
        name: "b".into(),
        version: 1,
    };
    assert!(matches!(c.is_modified(&loaded), Some(Ok(false))));
    assert!(matches!(renamed.is_modified(&loaded), Some(Ok(true))));
}

#[test]
fn without_is_modified_the_default_compares_columns() {
    let p = player();
    let mut other = player();
    other.score = 99;
    assert!(p.is_modified(&p.to_row()).is_none());
    assert!(p.is_modified(&other.to_row()).is_none());
    let t = Thing {
        code: "x".into(),
        parent: None,
        team: 1,
    };
    assert!(t.is_modified(&t.to_row()).is_none());
}

#[test]
fn a_wrong_value_names_the_entity_and_column() {
    let mut row = player().to_row();
    row[1] = Value::I64(1);
    match Player::from_row(row) {
        Err(Error::Decode {
            entity,
            column,
            expected,
            found,
        }) => {
            assert_eq!(
                (entity, column.as_str(), expected),
                ("Player", "display_name", "String")
            );
            assert!(found.contains("i64"), "{found}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }

    let mut row = Membership {
        team_id: 1,
        role: "r".into(),
        player_id: 2,
    }
    .to_row();
    row[2] = Value::Text("2".into());
    let err = Membership::key_from_row(&row).unwrap_err();
    assert!(
        matches!(err, Error::Decode { entity: "Membership", ref column, .. } if column == "player_id"),
        "{err}"
    );

    let err = Player::from_row(vec![Value::I32(1)]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Decode {
                entity: "Player",
                ..
            }
        ),
        "a short row: {err}"
    );
}

/// Raw identifiers: `r#type` gets the accessor `r#type` and `r#match` the
/// setter `set_match`, in the entity's trait and in a `#[fields]` trait.
#[orm_core::fields]
pub trait MatchFields {
    fn r#match(&self) -> &i32;
    fn set_match(&mut self, value: i32);
}

#[entity(fields(MatchFields))]
#[derive(Debug)]
pub struct Keyword {
    #[key]
    pub r#type: String,
    pub r#match: i32,
}

#[test]
fn raw_identifiers_get_accessors_and_setters() {
    let mut k = Keyword {
        r#type: "fn".into(),
        r#match: 1,
    };
    assert_eq!(KeywordFields::r#type(&k), "fn");
    KeywordFields::set_match(&mut k, 2);
    assert_eq!(*KeywordFields::r#match(&k), 2);
    MatchFields::set_match(&mut k, 3);
    assert_eq!(*MatchFields::r#match(&k), 3);
    assert_eq!(Keyword::TYPE.name(), "type");
}

fn gadget() -> Gadget {
    Gadget {
        id: Code(3),
        label: "probe".into(),
        loads: 7,
        addr: "::1".parse().unwrap(),
        tags: Some(vec!["a".into()]),
        mode: Mode::Slow,
        level: Some(Level::High),
        wrapped: Wrapped(5),
        cache: "scratch".into(),
    }
}

#[test]
fn transient_fields_are_not_columns() {
    let meta = Gadget::schema();
    assert_eq!(
        names(meta, |c| c.name),
        ["id", "label", "addr", "tags", "mode", "level", "wrapped"]
    );
    let types: Vec<SqlType> = meta.columns.iter().map(|c| c.sql_type).collect();
    use SqlType::*;
    assert_eq!(types, [BigInt, Text, Text, Json, Text, Integer, Integer]);
    assert_eq!(
        flags(meta, |c| c.nullable),
        [false, false, false, true, false, true, false]
    );
    assert_eq!(
        meta.auto_key(),
        Some(0),
        "a newtype over i64 is an auto key"
    );
    assert_eq!(
        (Gadget::ADDR.index(), Gadget::WRAPPED.index()),
        (2, 6),
        "indices skip transient fields"
    );
}

#[test]
fn converted_columns_are_typed_by_their_converter() {
    let _: Column<Gadget, With<AsText, std::net::IpAddr>> = Gadget::ADDR;
    let _: Column<Gadget, Option<With<AsJson, Vec<String>>>> = Gadget::TAGS;
    let _: Column<Gadget, Mode> = Gadget::MODE;
    let _: Column<Gadget, Code> = Gadget::ID;
    let ip: std::net::IpAddr = "10.0.0.1".parse().unwrap();
    let filter = Gadget::ADDR
        .eq(ip)
        .and(Gadget::ADDR.is_in([ip, ip]))
        .and(Gadget::MODE.eq(Mode::Fast))
        .and(Gadget::LEVEL.ge(Level::Low))
        .and(Gadget::ID.ne(Code(1)))
        .and(Gadget::WRAPPED.eq(Wrapped(2)))
        .and(Gadget::TAGS.is_null());
    let text = format!("{filter:?}");
    for expected in [
        r#"Compare("addr", Eq, Text("10.0.0.1"))"#,
        r#"Compare("mode", Eq, Text("Fast"))"#,
        r#"Compare("level", Ge, I32(1))"#,
        r#"Compare("id", Ne, I64(1))"#,
        r#"Compare("wrapped", Eq, I32(2))"#,
    ] {
        assert!(text.contains(expected), "missing {expected} in {text}");
    }
}

#[test]
fn converted_rows_round_trip_and_after_load_runs() {
    let g = gadget();
    let row = g.to_row();
    assert_eq!(
        row,
        [
            Value::I64(3),
            Value::Text("probe".into()),
            Value::Text("::1".into()),
            Value::Json(Box::new(serde_json::json!(["a"]))),
            Value::Text("slow".into()),
            Value::I32(9),
            Value::I32(5),
        ]
    );
    let back = Gadget::from_row(row).unwrap();
    assert_eq!(back.loads, 1, "Default, then after_load");
    assert_eq!(back.cache, "", "Default");
    assert_eq!(
        Gadget {
            loads: 7,
            cache: "scratch".into(),
            ..back
        },
        g
    );
    let key: Code = g.key();
    assert_eq!(Gadget::key_values(&key), [Value::I64(3)]);

    let mut nulls = gadget().to_row();
    nulls[3] = Value::Null(SqlType::Text);
    nulls[5] = Value::Null(SqlType::Integer);
    let back = Gadget::from_row(nulls).unwrap();
    assert_eq!((back.tags, back.level), (None, None));
}

#[test]
fn converted_values_that_do_not_decode_name_the_column() {
    let mut g = gadget();
    let cases = [
        (2, Value::Text("nope".into()), "addr", "text \"nope\""),
        (4, Value::Text("Slow".into()), "mode", "text \"Slow\""),
        (5, Value::I64(2), "level", "i64 2"),
        (0, Value::Text("3".into()), "id", "text \"3\""),
    ];
    for (index, value, column_name, found_text) in cases {
        match g.set_column(index, value) {
            Err(Error::Decode {
                entity: "Gadget",
                column,
                found,
                ..
            }) => assert_eq!((column.as_str(), found.as_str()), (column_name, found_text)),
            other => panic!("expected a decode error for {column_name}, got {other:?}"),
        }
    }
    let err = g.set_column(3, Value::Text("{".into())).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "cannot decode Gadget.tags: expected alloc::vec::Vec<alloc::string::String>, found text \"{\" (invalid type: map, expected a sequence"
        ),
        "{err}"
    );
    assert_eq!(g, gadget(), "nothing changed");
}

#[test]
fn fields_and_logic_traits_are_generated_and_attached() {
    let mut g = gadget();
    assert_eq!(*GadgetFields::id(&g), Code(3));
    g.set_loads(2);
    g.set_addr("127.0.0.1".parse().unwrap());
    g.set_tags(None);
    GadgetFields::set_label(&mut g, "x".into());
    assert_eq!(
        (g.loads, g.addr.to_string(), g.tags.clone()),
        (2, "127.0.0.1".into(), None)
    );
    assert_eq!(*GadgetFields::level(&g), Some(Level::High));
    // The shared `#[fields]` trait and the logic built on it.
    LabelFields::set_label(&mut g, "probe".into());
    assert_eq!(LabelFields::label(&g), "probe");
    assert_eq!(g.shout(), "PROBE");
}

/// Relationship fields of all four kinds (`#[belongs_to]`, plain and keyed
/// `#[has_many]`, `#[many_to_many]`, self-referential included): not
/// columns, unloaded when built from a row, with their metadata, typed
/// constants and fields-trait accessors; the user's derives still apply.
mod relationships {
    use orm_core::{Keyed, Many, Ref, entity};

    #[entity(table = "rx_receivers")]
    #[derive(Debug, Default, Clone)]
    pub struct Receiver {
        #[key(auto)]
        pub id: i64,
        #[column(len = 64)]
        pub name: String,
        #[has_many(Plane, by = "receiver_id", keyed_by = "name")]
        pub planes: Keyed<String, Plane>,
        #[many_to_many(Group, via = "rx_receiver_groups")]
        pub groups: Many<Group>,
        #[many_to_many(
            Self,
            via = "rx_peers",
            owner_column = "receiver_id",
            target_column = "peer_id"
        )]
        pub peers: Many<Receiver>,
    }

    #[entity(table = "rx_planes")]
    #[derive(Debug, Default, Clone)]
    pub struct Plane {
        #[key(auto)]
        pub id: i64,
        #[column(references = Receiver)]
        pub receiver_id: i64,
        #[column(references = Self, on_delete = "set_null")]
        pub parent_id: Option<i64>,
        pub name: String,
        #[belongs_to(Receiver, by = "receiver_id")]
        pub receiver: Ref<Receiver>,
        #[belongs_to(Self, by = "parent_id")]
        pub parent: Ref<Plane>,
        #[has_many(Plane, by = "parent_id", on_delete = "refuse", orphans = "detach")]
        pub children: Many<Plane>,
    }

    #[entity(table = "rx_groups")]
    #[derive(Debug, Default, Clone)]
    pub struct Group {
        #[key(auto)]
        pub id: i64,
        #[many_to_many(Receiver, via = "rx_receiver_groups")]
        pub receivers: Many<Receiver>,
    }
}

#[test]
fn relationship_fields_are_described_in_the_metadata_and_are_not_columns() {
    use orm_core::relation::{OnDeleteChildren, Orphans, RelationKind};
    use relationships::{Group, Plane, Receiver};

    let meta = Receiver::schema();
    assert_eq!(names(meta, |c| c.field), ["id", "name"]);
    let relations: Vec<_> = meta
        .relations
        .iter()
        .map(|r| (r.name, r.kind, r.by, r.keyed_by))
        .collect();
    assert_eq!(
        relations,
        [
            ("planes", RelationKind::HasMany, "receiver_id", Some("name")),
            ("groups", RelationKind::ManyToMany, "", None),
            ("peers", RelationKind::ManyToMany, "", None),
        ]
    );
    let planes = &meta.relations[0];
    assert!((planes.owner)().same(meta));
    assert!((planes.target)().same(Plane::schema()));
    assert_eq!(
        (planes.on_delete, planes.orphans),
        (OnDeleteChildren::Delete, Orphans::Delete),
        "the defaults"
    );
    assert!(planes.via.is_none());
    let groups = meta.relations[1]
        .via
        .as_ref()
        .expect("an association table");
    assert_eq!(
        (groups.table, groups.owner_column, groups.target_column),
        ("rx_receiver_groups", "receiver_id", "group_id"),
        "default columns: <owner>_id and <target>_id"
    );
    let peers = meta.relations[2].via.as_ref().unwrap();
    assert_eq!(
        (peers.table, peers.owner_column, peers.target_column),
        ("rx_peers", "receiver_id", "peer_id")
    );
    assert!(
        (meta.relations[2].target)().same(meta),
        "`Self` is the entity"
    );
    let back = Group::schema().relations[0].via.as_ref().unwrap();
    assert_eq!(
        (back.owner_column, back.target_column),
        ("group_id", "receiver_id"),
        "the other side of the same table"
    );

    let plane = Plane::schema();
    assert_eq!(
        names(plane, |c| c.field),
        ["id", "receiver_id", "parent_id", "name"]
    );
    let receiver = &plane.relations[0];
    assert_eq!(
        (receiver.name, receiver.kind, receiver.by),
        ("receiver", RelationKind::BelongsTo, "receiver_id")
    );
    assert!((receiver.target)().same(meta));
    assert!(
        (plane.relations[1].target)().same(plane),
        "`Self` is the entity"
    );
    assert_eq!(
        (plane.relations[2].on_delete, plane.relations[2].orphans),
        (OnDeleteChildren::Refuse, Orphans::Detach)
    );

    // The typed constants: index in declaration order, and the metadata.
    assert_eq!(Receiver::PLANES.index(), 0);
    assert_eq!(Receiver::PEERS.index(), 2);
    assert_eq!(Receiver::GROUPS.meta().name, "groups");
    assert_eq!(Plane::CHILDREN.meta().describe(), "Plane.children");
    assert_eq!(Group::RECEIVERS.meta().kind, RelationKind::ManyToMany);
}

#[test]
fn relationship_fields_are_unloaded_from_a_row_and_reachable_by_index() {
    use relationships::{Plane, PlaneFields, Receiver, ReceiverFields};

    let row = vec![
        Value::I64(4),
        Value::I64(1),
        Value::Null(SqlType::BigInt),
        Value::Text("routing".into()),
    ];
    let mut p = Plane::from_row(row.clone()).unwrap();
    assert_eq!(p.to_row(), row, "relationships are not in rows");
    for (i, value) in row.iter().enumerate() {
        assert_eq!(&p.column_value(i), value);
    }
    assert_eq!(p.column_value(4), Value::Null(SqlType::Text));
    assert!(!p.receiver.is_loaded() && !p.parent.is_loaded());
    assert!(!p.children.is_loaded());
    assert!(!p.relation(0).unwrap().is_loaded());
    assert!(!p.relation_mut(2).unwrap().is_loaded());
    assert!(p.relation(3).is_none());
    assert!(p.relation_mut(3).is_none());
    assert!(p.set_column(4, Value::I64(0)).is_err(), "no column 4");

    // A new object's relationships are loaded and empty.
    let r = Receiver::default();
    assert!(r.planes.is_loaded() && r.groups.is_loaded() && r.peers.is_loaded());
    assert!(r.relation(0).unwrap().is_loaded());
    let copy = r.clone();
    assert_eq!(copy.peers.len().unwrap(), 0);
    let debug = format!("{r:?}");
    assert!(debug.contains("planes: Keyed(0 children)"), "{debug}");
    assert!(format!("{p:?}").contains("receiver: Ref(unloaded)"));

    // The fields trait reads and lends relationship fields; no setter.
    assert!(!PlaneFields::receiver(&p).is_loaded());
    PlaneFields::receiver_mut(&mut p).set(None);
    assert!(p.receiver.is_loaded());
    assert_eq!(ReceiverFields::groups(&r).len().unwrap(), 0);
}

/// Relationship code must not depend on the user's imports or names either.
mod relationship_hygiene {
    #![allow(dead_code, unused_imports, non_camel_case_types)]

    use ::orm_core as renamed;

    mod orm_core {}
    mod __private {}
    mod __private_v1 {}
    mod core {}
    mod std {}
    struct Vec;
    struct Option;
    struct AtomicU64;
    struct RelationMeta;
    trait Entity {}
    trait RelationField {}
    struct usize;
    enum Shadow {
        Some,
        None,
    }
    use Shadow::*;

    #[renamed::entity(table = "hy_nodes")]
    #[derive(Debug, Default)]
    pub struct Node {
        #[key(auto)]
        pub id: i64,
        #[column(references = Self)]
        pub parent_id: ::core::option::Option<i64>,
        #[belongs_to(Self, by = "parent_id")]
        pub parent: renamed::Ref<Node>,
        #[has_many(Node, by = "parent_id", on_delete = "detach", orphans = "detach")]
        pub children: renamed::Many<Node>,
        #[many_to_many(
            Self,
            via = "hy_links",
            owner_column = "from_id",
            target_column = "to_id"
        )]
        pub links: renamed::Many<Node>,
        #[has_many(Leaf, by = "node_id", keyed_by = "name")]
        pub leaves: renamed::Keyed<::std::string::String, Leaf>,
    }

    #[renamed::entity(table = "hy_leaves")]
    #[derive(Debug, Default)]
    pub struct Leaf {
        #[key(auto)]
        pub id: i64,
        #[column(references = Node)]
        pub node_id: i64,
        pub name: ::std::string::String,
    }
}

#[test]
fn relationships_expand_whatever_the_names_in_scope() {
    use relationship_hygiene::Node;

    let meta = Node::schema();
    let names: Vec<&str> = meta.relations.iter().map(|r| r.name).collect();
    assert_eq!(names, ["parent", "children", "links", "leaves"]);
    assert_eq!(Node::LEAVES.index(), 3);
    let n = Node::from_row(vec![Value::I64(1), Value::Null(SqlType::BigInt)]).unwrap();
    assert!(!n.children.is_loaded());
    assert!(n.relation(3).is_some() && n.relation(4).is_none());
}
