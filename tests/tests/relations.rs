//! Relationships on every backend: belongs-to, has-many (plain and keyed),
//! many-to-many; both sides in step before a flush; foreign keys of new
//! parents; association rows written by the flush alone; cascades, refusal,
//! detachment and orphans; batched loading counted in statements; rollback
//! restoring collections.

use orm_core::prelude::*;
use orm_core::{Relation, Value};
use tests::backend_tests;

#[entity(table = "rel_receivers")]
#[derive(Debug, Default)]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 64)]
    pub name: String,
    #[version]
    pub version: i64,
    #[has_many(Plane, by = "receiver_id", keyed_by = "name")]
    pub planes: Keyed<String, Plane>,
    #[many_to_many(Group, via = "rel_receiver_groups")]
    pub groups: Many<Group>,
}

#[entity(table = "rel_planes")]
#[derive(Debug, Default)]
pub struct Plane {
    #[key(auto)]
    pub id: i64,
    #[column(references = Receiver)]
    pub receiver_id: i64,
    #[column(len = 64)]
    pub name: String,
    pub config: String,
    #[belongs_to(Receiver, by = "receiver_id")]
    pub receiver: Ref<Receiver>,
    #[has_many(Part, by = "plane_id")]
    pub parts: Many<Part>,
}

#[entity(table = "rel_parts")]
#[derive(Debug, Default)]
pub struct Part {
    #[key(auto)]
    pub id: i64,
    #[column(references = Plane)]
    pub plane_id: i64,
    pub label: String,
}

#[entity(table = "rel_groups")]
#[derive(Debug, Default)]
pub struct Group {
    #[key(auto)]
    pub id: i64,
    #[column(len = 64)]
    pub name: String,
    #[many_to_many(Receiver, via = "rel_receiver_groups")]
    pub receivers: Many<Receiver>,
}

#[entity(table = "rel_libraries")]
#[derive(Debug, Default)]
pub struct Library {
    #[key(auto)]
    pub id: i64,
    pub name: String,
    #[has_many(Book, by = "library_id", on_delete = "refuse", orphans = "detach")]
    pub books: Many<Book>,
}

#[entity(table = "rel_books")]
#[derive(Debug, Default)]
pub struct Book {
    #[key(auto)]
    pub id: i64,
    #[column(references = Library)]
    pub library_id: Option<i64>,
    pub title: String,
    #[belongs_to(Library, by = "library_id")]
    pub library: Ref<Library>,
}

#[entity(table = "rel_shelves")]
#[derive(Debug, Default)]
pub struct Shelf {
    #[key(auto)]
    pub id: i64,
    pub name: String,
    #[has_many(Tag, by = "shelf_id", on_delete = "detach", orphans = "detach")]
    pub tags: Many<Tag>,
}

#[entity(table = "rel_tags")]
#[derive(Debug, Default)]
pub struct Tag {
    #[key(auto)]
    pub id: i64,
    #[column(references = Shelf)]
    pub shelf_id: Option<i64>,
    pub name: String,
}

/// A tree: has-many and belongs-to over the same self-referencing key.
#[entity(table = "rel_categories")]
#[derive(Debug, Default)]
pub struct Category {
    #[key(auto)]
    pub id: i64,
    #[column(references = Self)]
    pub parent_id: Option<i64>,
    pub name: String,
    #[has_many(Self, by = "parent_id")]
    pub children: Many<Category>,
    #[belongs_to(Self, by = "parent_id")]
    pub parent: Ref<Category>,
}

fn category(name: &str) -> Category {
    Category {
        name: name.into(),
        ..Default::default()
    }
}

fn schema() -> Vec<&'static orm_core::EntityMeta> {
    vec![
        Category::schema(),
        Receiver::schema(),
        Plane::schema(),
        Part::schema(),
        Group::schema(),
        Library::schema(),
        Book::schema(),
        Shelf::schema(),
        Tag::schema(),
    ]
}

async fn setup(db: &Database) -> orm_core::Result<()> {
    db.create_all(&schema()).await
}

fn receiver(name: &str) -> Receiver {
    Receiver {
        name: name.into(),
        ..Default::default()
    }
}

fn plane(config: &str) -> Plane {
    Plane {
        config: config.into(),
        ..Default::default()
    }
}

async fn count(db: &Database, table: &str) -> i64 {
    let rows = db
        .fetch_sql(format!("SELECT COUNT(*) FROM {table}"), vec![])
        .await
        .expect("count");
    rows[0].get_at::<i64>(0).expect("a count")
}

/// The statements `f` runs in session `s`.
macro_rules! statements {
    ($s:expr, $e:expr) => {{
        let before = $s.stats().statements();
        let out = $e;
        (out, $s.stats().statements() - before)
    }};
}

backend_tests! {
    /// A new receiver with keyed planes with parts: one flush inserts the
    /// receiver, then its planes with its generated key, then their parts.
    async fn new_parents_give_children_their_keys(db) {
        setup(&db).await?;
        let mut s = db.session();
        let r = s.add(receiver("r1"));
        let routing = r.write().planes.insert("routing".into(), plane("10.0.0.1"))?;
        r.write().planes.insert("backup".into(), plane("10.0.0.2"))?;
        routing.write().parts.add_new(Part { label: "a".into(), ..Default::default() })?;
        routing.write().parts.add_new(Part { label: "b".into(), ..Default::default() })?;
        assert_eq!(routing.read().receiver.get()?.map(|h| Handle::ptr_eq(&h, &r)), Some(true));
        let ((), n) = statements!(s, s.commit().await?);
        assert_eq!(n, 3, "one INSERT per table, in foreign-key order");
        let id = r.read().id;
        assert!(id > 0);
        assert_eq!(routing.read().receiver_id, id);
        assert_eq!(count(&db, "rel_planes").await, 2);
        assert_eq!(count(&db, "rel_parts").await, 2);
        let rows = db
            .fetch_sql("SELECT receiver_id FROM rel_planes ORDER BY id", vec![])
            .await?;
        for row in rows {
            assert_eq!(row.get_at::<i64>(0)?, id);
        }
        let plane_id = routing.read().id;
        let parts = db
            .fetch_sql("SELECT plane_id FROM rel_parts", vec![])
            .await?;
        assert!(parts.iter().all(|p| p.get_at::<i64>(0).ok() == Some(plane_id)));

        // Loaded back in a new session, through the identity map.
        let mut s = db.session();
        let (found, n) = statements!(s, s.query::<Receiver>().load(Receiver::PLANES).then(Plane::PARTS).all().await?);
        assert_eq!(n, 3);
        let r = &found[0];
        let planes = r.read().planes.keys()?;
        assert_eq!(planes.len(), 2);
        let routing = r.read().planes.get("routing")?.expect("routing");
        assert_eq!(routing.read().config, "10.0.0.1");
        assert_eq!(routing.read().parts.len()?, 2);
        // The belongs-to side came with the load.
        assert!(Handle::ptr_eq(&routing.read().receiver.get()?.expect("loaded"), r));
        // The same plane through a query is the same object.
        let again = s.get::<Plane>(routing.key()).await?;
        assert!(Handle::ptr_eq(&again, &routing));
        Ok(())
    }

    /// Get-or-create by key: inserting a key twice, or the same child
    /// twice, never makes a second row; removing a key deletes the child.
    async fn keyed_collection_never_duplicates(db) {
        setup(&db).await?;
        let mut s = db.session();
        let r = s.add(receiver("r1"));
        let first = r.write().planes.insert("routing".into(), plane("a"))?;
        let second = r.write().planes.insert("routing".into(), plane("b"))?;
        assert!(Handle::ptr_eq(&first, &second));
        assert_eq!(first.read().config, "b");
        r.write().planes.insert_handle("routing".into(), &first)?;
        r.write().planes.add(&first)?;
        assert_eq!(r.read().planes.len()?, 1);
        s.commit().await?;
        assert_eq!(count(&db, "rel_planes").await, 1);

        // Again after a load, in another session: an update, not a row.
        let mut s = db.session();
        let r = s.query::<Receiver>().load(Receiver::PLANES).one().await?;
        let p = r.write().planes.insert("routing".into(), plane("c"))?;
        assert_eq!(p.read().config, "c");
        s.commit().await?;
        assert_eq!(count(&db, "rel_planes").await, 1);
        let config = db.fetch_sql("SELECT config FROM rel_planes", vec![]).await?;
        assert_eq!(config[0].get_at::<String>(0)?, "c");

        // The value view: read and write a column by key.
        let mut s = db.session();
        let r = s.query::<Receiver>().load(Receiver::PLANES).one().await?;
        {
            let mut w = r.write();
            let mut config = w.planes.view(Plane::CONFIG);
            assert_eq!(config.get("routing")?, Some("c".to_string()));
            config.set("routing".into(), "d".into())?;
            config.set("backup".into(), "e".into())?;
            config.set("backup".into(), "f".into())?;
            assert_eq!(config.get("backup")?, Some("f".to_string()));
        }
        s.commit().await?;
        assert_eq!(count(&db, "rel_planes").await, 2);

        // Orphan removal: removing a key deletes the child at the flush.
        let removed = r.write().planes.remove("backup")?.expect("present");
        assert_eq!(removed.state(), ObjectState::Persistent);
        let ((), n) = statements!(s, s.commit().await?);
        assert_eq!(n, 1, "one DELETE");
        assert_eq!(removed.state(), ObjectState::Detached);
        assert_eq!(count(&db, "rel_planes").await, 1);

        // Replacing a key's child: the old one is an orphan, the new one a row.
        let new = s.add(plane("g"));
        let old = r.read().planes.get("routing")?.expect("routing");
        r.write().planes.insert_handle("routing".into(), &new)?;
        s.commit().await?;
        assert_eq!(old.state(), ObjectState::Detached);
        assert_eq!(count(&db, "rel_planes").await, 1);
        let config = db.fetch_sql("SELECT config, name FROM rel_planes", vec![]).await?;
        assert_eq!(config[0].get_at::<String>(0)?, "g");
        assert_eq!(config[0].get_at::<String>(1)?, "routing");
        Ok(())
    }

    /// Changing a child's key attribute re-keys it in its parent's collection.
    async fn changing_the_key_attribute_rekeys(db) {
        setup(&db).await?;
        let mut s = db.session();
        let r = s.add(receiver("r1"));
        let p = r.write().planes.insert("routing".into(), plane("a"))?;
        s.commit().await?;
        p.write().name = "primary".into();
        assert!(r.read().planes.get("routing")?.is_none());
        assert!(Handle::ptr_eq(&r.read().planes.get("primary")?.expect("rekeyed"), &p));
        s.commit().await?;
        let names = db.fetch_sql("SELECT name FROM rel_planes", vec![]).await?;
        assert_eq!(names[0].get_at::<String>(0)?, "primary");
        Ok(())
    }

    /// Association rows are written and removed by the flush alone, once
    /// even when both sides changed, and both sides see it before the flush.
    async fn many_to_many_rows_follow_the_collections(db) {
        setup(&db).await?;
        let mut s = db.session();
        let r = s.add(receiver("r1"));
        let ops = s.add(Group { name: "ops".into(), ..Default::default() });
        let dev = s.add(Group { name: "dev".into(), ..Default::default() });
        r.write().groups.add(&ops)?;
        r.write().groups.add(&dev)?;
        // The other side, before any flush.
        assert!(ops.read().receivers.contains(&r)?);
        assert!(dev.read().receivers.contains(&r)?);
        let ((), n) = statements!(s, s.commit().await?);
        assert_eq!(n, 3, "receivers, groups, then one association INSERT");
        assert_eq!(count(&db, "rel_receiver_groups").await, 2);

        r.write().groups.remove(&dev)?;
        assert!(!dev.read().receivers.contains(&r)?);
        let ((), n) = statements!(s, s.commit().await?);
        assert_eq!(n, 1, "one association DELETE");
        assert_eq!(count(&db, "rel_receiver_groups").await, 1);
        assert_eq!(count(&db, "rel_groups").await, 2, "removing from a many-to-many deletes no target");

        // From the other side, loaded in a new session.
        let mut s = db.session();
        let groups = s.query::<Group>().load(Group::RECEIVERS).all().await?;
        let ops = groups.iter().find(|g| g.read().name == "ops").expect("ops");
        let dev = groups.iter().find(|g| g.read().name == "dev").expect("dev");
        assert_eq!(ops.read().receivers.len()?, 1);
        assert_eq!(dev.read().receivers.len()?, 0);
        let r = ops.read().receivers.to_vec()?.remove(0);
        assert_eq!(r.read().name, "r1");
        // The other direction on the same database (its own template).
        let mut s2 = db.session();
        let rs = s2.query::<Receiver>().load(Receiver::GROUPS).all().await?;
        let names: Vec<String> = rs[0]
            .read()
            .groups
            .iter()?
            .map(|g| g.read().name.clone())
            .collect();
        assert_eq!(names, vec!["ops".to_string()]);
        drop(s2);
        // Adding from this side writes the row too.
        dev.write().receivers.add(&r)?;
        s.commit().await?;
        assert_eq!(count(&db, "rel_receiver_groups").await, 2);

        // Deleting a group removes its rows first (their keys reference it).
        s.delete(dev)?;
        s.commit().await?;
        assert_eq!(count(&db, "rel_receiver_groups").await, 1);
        assert_eq!(count(&db, "rel_groups").await, 1);
        Ok(())
    }

    /// Adding a child to a collection sets its foreign key and reference at
    /// once; setting the reference moves it between the parents' collections.
    async fn both_sides_in_step_before_flush(db) {
        setup(&db).await?;
        let mut s = db.session();
        s.add(receiver("r1"));
        s.add(receiver("r2"));
        s.commit().await?;
        let mut s = db.session();
        let all = s.query::<Receiver>().load(Receiver::PLANES).all().await?;
        let r1 = all.iter().find(|r| r.read().name == "r1").expect("r1").clone();
        let r2 = all.iter().find(|r| r.read().name == "r2").expect("r2").clone();
        let p = r1.write().planes.insert("routing".into(), plane("a"))?;
        assert_eq!(p.read().receiver_id, r1.read().id, "foreign key set before the flush");
        assert!(Handle::ptr_eq(&p.read().receiver.get()?.expect("set"), &r1));

        Plane::RECEIVER.set(&p, Some(&r2))?;
        assert_eq!(p.read().receiver_id, r2.read().id);
        assert!(r1.read().planes.get("routing")?.is_none(), "left the old parent");
        assert!(Handle::ptr_eq(&r2.read().planes.get("routing")?.expect("moved"), &p));
        s.commit().await?;
        let rows = db.fetch_sql("SELECT receiver_id FROM rel_planes", vec![]).await?;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get_at::<i64>(0)?, r2.read().id);

        // Moving through the collections: the child is no orphan.
        r1.write().planes.add(&p)?;
        assert!(r2.read().planes.get("routing")?.is_none());
        s.commit().await?;
        assert_eq!(count(&db, "rel_planes").await, 1);
        let rows = db.fetch_sql("SELECT receiver_id FROM rel_planes", vec![]).await?;
        assert_eq!(rows[0].get_at::<i64>(0)?, r1.read().id);

        // A reference to a new parent: the flush inserts the parent first.
        let r3 = s.add(receiver("r3"));
        Plane::RECEIVER.set(&p, Some(&r3))?;
        assert!(r3.read().planes.contains_key("routing")?);
        s.commit().await?;
        assert!(r3.read().id > 0);
        let rows = db.fetch_sql("SELECT receiver_id FROM rel_planes", vec![]).await?;
        assert_eq!(rows[0].get_at::<i64>(0)?, r3.read().id);
        Ok(())
    }

    /// Deleting a receiver deletes its planes and their parts (loaded by
    /// the flush, one query per relationship), children first.
    async fn cascade_delete_is_foreign_key_safe(db) {
        setup(&db).await?;
        let mut s = db.session();
        for name in ["r1", "r2"] {
            let r = s.add(receiver(name));
            for key in ["a", "b"] {
                let p = r.write().planes.insert(key.into(), plane("x"))?;
                p.write().parts.add_new(Part { label: "p".into(), ..Default::default() })?;
            }
            let g = s.add(Group { name: format!("g{name}"), ..Default::default() });
            r.write().groups.add(&g)?;
        }
        s.commit().await?;
        assert_eq!(count(&db, "rel_parts").await, 4);

        let mut s = db.session();
        let rs = s.query::<Receiver>().all().await?;
        for r in &rs {
            s.delete(r)?;
        }
        let ((), n) = statements!(s, s.commit().await?);
        // SELECT planes, SELECT parts, DELETE association rows, DELETE parts,
        // DELETE planes, DELETE receivers.
        assert_eq!(n, 6);
        assert_eq!(count(&db, "rel_receivers").await, 0);
        assert_eq!(count(&db, "rel_planes").await, 0);
        assert_eq!(count(&db, "rel_parts").await, 0);
        assert_eq!(count(&db, "rel_receiver_groups").await, 0);
        assert_eq!(count(&db, "rel_groups").await, 2);
        Ok(())
    }

    /// `on_delete = "refuse"`: a typed error naming the parent; nothing
    /// deleted; the session rolls back and is usable after `rollback()`.
    async fn refused_delete_names_the_parent(db) {
        setup(&db).await?;
        let mut s = db.session();
        let lib = s.add(Library { name: "central".into(), ..Default::default() });
        lib.write().books.add_new(Book { title: "Dune".into(), ..Default::default() })?;
        s.commit().await?;
        let id = lib.read().id;

        let mut s = db.session();
        let lib = s.get::<Library>(id).await?;
        s.delete(&lib)?;
        match s.commit().await {
            Err(Error::Restricted { entity, key, relation, children }) => {
                assert_eq!(entity, "Library");
                assert_eq!(key, id.to_string());
                assert_eq!(relation, "Library.books");
                assert_eq!(children, 1);
            }
            other => panic!("expected Restricted, got {other:?}"),
        }
        assert!(s.has_failed());
        s.rollback().await?;
        assert_eq!(lib.state(), ObjectState::Deleted, "the pending delete is kept");
        s.rollback().await?;
        assert_eq!(lib.state(), ObjectState::Persistent);
        assert_eq!(count(&db, "rel_libraries").await, 1);
        assert_eq!(count(&db, "rel_books").await, 1);

        // Empty it first, and the delete goes through.
        let book = lib.read().books.to_vec()?.remove(0);
        Book::LIBRARY.set(&book, None)?;
        assert!(lib.read().books.is_empty()?);
        s.delete(&lib)?;
        s.commit().await?;
        assert_eq!(count(&db, "rel_libraries").await, 0);
        let rows = db.fetch_sql("SELECT library_id FROM rel_books", vec![]).await?;
        assert!(rows[0].get_at::<Option<i64>>(0)?.is_none());
        Ok(())
    }

    /// `on_delete = "detach"` and `orphans = "detach"`: children stay with a
    /// NULL foreign key.
    async fn detached_children_keep_their_rows(db) {
        setup(&db).await?;
        let mut s = db.session();
        let shelf = s.add(Shelf { name: "s".into(), ..Default::default() });
        let a = shelf.write().tags.add_new(Tag { name: "a".into(), ..Default::default() })?;
        shelf.write().tags.add_new(Tag { name: "b".into(), ..Default::default() })?;
        s.commit().await?;
        shelf.write().tags.remove(&a)?;
        s.commit().await?;
        assert_eq!(a.state(), ObjectState::Persistent);
        assert_eq!(a.read().shelf_id, None);
        s.delete(&shelf)?;
        s.commit().await?;
        assert_eq!(count(&db, "rel_tags").await, 2);
        let rows = db.fetch_sql("SELECT shelf_id FROM rel_tags", vec![]).await?;
        assert!(rows.iter().all(|r| r.get_at::<Option<i64>>(0).ok() == Some(None)));
        Ok(())
    }

    /// Touching an unloaded relationship is an error naming it, never a query.
    async fn unloaded_relationships_are_errors(db) {
        setup(&db).await?;
        let mut s = db.session();
        let r = s.add(receiver("r1"));
        r.write().planes.insert("routing".into(), plane("a"))?;
        s.commit().await?;
        let id = r.read().id;
        let mut s = db.session();
        let r = s.get::<Receiver>(id).await?;
        let before = s.stats().statements();
        match r.read().planes.get("routing") {
            Err(Error::NotLoaded { relation, key }) => {
                assert_eq!(relation, "Receiver.planes");
                assert_eq!(key, id.to_string());
            }
            other => panic!("expected NotLoaded, got {other:?}"),
        }
        assert!(matches!(r.write().planes.insert("x".into(), plane("b")), Err(Error::NotLoaded { .. })));
        assert!(matches!(r.read().groups.len(), Err(Error::NotLoaded { .. })));
        let p = s.query::<Plane>().one().await?;
        assert!(matches!(p.read().receiver.get(), Err(Error::NotLoaded { .. })));
        assert_eq!(s.stats().statements() - before, 1, "only the plane query");
        // Loading is explicit, and the belongs-to side comes in one query.
        let (_, n) = statements!(s, s.load(std::slice::from_ref(&p), Plane::RECEIVER).await?);
        assert_eq!(n, 1);
        assert!(Handle::ptr_eq(&p.read().receiver.get()?.expect("loaded"), &r));
        Ok(())
    }

    /// A rollback restores collections with the rest of the session; a
    /// failed flush keeps the pending changes.
    async fn rollback_restores_collections(db) {
        setup(&db).await?;
        let mut s = db.session();
        let r = s.add(receiver("r1"));
        r.write().planes.insert("a".into(), plane("1"))?;
        s.add(receiver("taken"));
        s.commit().await?;

        let mut s = db.session();
        let r = s.query::<Receiver>().filter(Receiver::NAME.eq("r1")).load(Receiver::PLANES).one().await?;
        r.write().planes.insert("b".into(), plane("2"))?;
        r.write().planes.remove("a")?;
        s.flush().await?;
        assert_eq!(r.read().planes.keys()?, vec!["b".to_string()]);
        s.rollback().await?;
        assert_eq!(r.read().planes.keys()?, vec!["a".to_string()]);
        assert_eq!(count(&db, "rel_planes").await, 1);

        // A failed flush (the receiver's new name is taken): the added
        // plane is still pending, and goes in once the cause is fixed.
        r.write().planes.insert("c".into(), plane("3"))?;
        r.write().name = "taken".into();
        assert!(s.commit().await.is_err());
        s.rollback().await?;
        assert_eq!(r.read().planes.len()?, 2);
        r.write().name = "r1b".into();
        s.commit().await?;
        assert_eq!(count(&db, "rel_planes").await, 2);
        Ok(())
    }

    /// Three levels for 1,000 receivers: exactly three queries.
    async fn three_levels_for_a_thousand_parents(db) {
        setup(&db).await?;
        let mut s = db.session();
        for i in 0..1000 {
            let r = s.add(receiver(&format!("r{i}")));
            for key in ["a", "b"] {
                let p = r.write().planes.insert(key.into(), plane("x"))?;
                p.write().parts.add_new(Part { label: format!("{i}{key}"), ..Default::default() })?;
            }
        }
        s.commit().await?;
        assert_eq!(count(&db, "rel_parts").await, 2000);

        let mut s = db.session();
        let (rs, n) = statements!(
            s,
            s.query::<Receiver>().load(Receiver::PLANES.then(Plane::PARTS)).all().await?
        );
        assert_eq!(rs.len(), 1000);
        assert_eq!(n, 3);
        let parts: usize = rs
            .iter()
            .map(|r| {
                r.read()
                    .planes
                    .values()
                    .unwrap()
                    .map(|p| p.read().parts.len().unwrap())
                    .sum::<usize>()
            })
            .sum();
        assert_eq!(parts, 2000);

        // Session::load over the same objects: loaded fields are kept, no
        // query is needed for them, the groups level is one query.
        let (_, n) = statements!(s, s.load(&rs, Receiver::GROUPS).await?);
        assert_eq!(n, 1);
        let (_, n) = statements!(s, s.load(&rs, Receiver::PLANES).await?);
        assert_eq!(n, 0);
        Ok(())
    }
}

backend_tests! {
    /// A three-level tree of new objects with generated keys: each level
    /// waits for its parent's key, so the flush inserts level by level.
    async fn self_referencing_tree_in_one_flush(db) {
        setup(&db).await?;
        let mut s = db.session();
        let root = s.add(category("root"));
        let child = root.write().children.add_new(category("child"))?;
        let leaf = child.write().children.add_new(category("leaf"))?;
        assert!(Handle::ptr_eq(&leaf.read().parent.get()?.expect("set"), &child));
        let ((), n) = statements!(s, s.commit().await?);
        assert_eq!(n, 3, "one INSERT per level");
        assert_eq!(child.read().parent_id, Some(root.read().id));
        assert_eq!(leaf.read().parent_id, Some(child.read().id));

        let mut s = db.session();
        let (roots, n) = statements!(
            s,
            s.query::<Category>()
                .filter(Category::PARENT_ID.is_null())
                .load(Category::CHILDREN)
                .then(Category::CHILDREN)
                .all()
                .await?
        );
        assert_eq!(n, 3);
        let child = roots[0].read().children.to_vec()?.remove(0);
        assert_eq!(child.read().children.to_vec()?[0].read().name, "leaf");

        // Deleting the root deletes the subtree, leaves first.
        s.delete(&roots[0])?;
        s.commit().await?;
        assert_eq!(count(&db, "rel_categories").await, 0);
        Ok(())
    }

    /// A failure in the second pass (after the parents' INSERT ran) rolls
    /// everything back: the parent is new again without a key, the child
    /// still pending in its collection; fixing the cause and committing works.
    async fn failure_after_the_parents_insert_loses_nothing(db) {
        setup(&db).await?;
        let mut s = db.session();
        s.hooks().before_insert::<Plane>(0, |p| {
            if p.config == "bad" {
                return Err(Error::Config("refused plane".into()));
            }
            Ok(())
        });
        let r = s.add(receiver("r1"));
        let p = r.write().planes.insert("routing".into(), plane("bad"))?;
        assert!(s.commit().await.is_err());
        s.rollback().await?;
        assert_eq!(r.state(), ObjectState::New);
        assert_eq!(r.read().id, 0, "the generated key was taken back");
        assert_eq!(p.state(), ObjectState::New);
        assert!(Handle::ptr_eq(&r.read().planes.get("routing")?.expect("kept"), &p));
        assert_eq!(count(&db, "rel_receivers").await, 0);
        p.write().config = "good".into();
        s.commit().await?;
        assert_eq!(count(&db, "rel_planes").await, 1);
        assert_eq!(p.read().receiver_id, r.read().id);
        Ok(())
    }

    /// A before-flush hook sees children added through collections (cascade
    /// on save runs before it) and may add children itself.
    async fn hooks_see_and_add_collection_children(db) {
        setup(&db).await?;
        let mut s = db.session();
        s.hooks().before_flush(0, |s| {
            // Every new plane gets a part, through the plane's collection.
            for p in s.new_objects::<Plane>() {
                let empty = p.read().parts.is_empty()?;
                if empty {
                    p.write().parts.add_new(Part { label: "auto".into(), ..Default::default() })?;
                }
            }
            Ok(())
        });
        let r = s.add(receiver("r1"));
        r.write().planes.insert("a".into(), plane("1"))?;
        r.write().planes.insert("b".into(), plane("2"))?;
        s.commit().await?;
        assert_eq!(count(&db, "rel_planes").await, 2);
        assert_eq!(count(&db, "rel_parts").await, 2);
        Ok(())
    }

    /// A savepoint that fails puts collections back as they were before it.
    async fn savepoint_restores_collections(db) {
        setup(&db).await?;
        let mut s = db.session();
        let r = s.add(receiver("r1"));
        r.write().planes.insert("a".into(), plane("1"))?;
        s.flush().await?;
        let result: orm_core::Result<()> = s
            .nested(async |s| {
                let r = s.query::<Receiver>().one().await?;
                r.write().planes.insert("b".into(), plane("2"))?;
                r.write().planes.remove("a")?;
                s.flush().await?;
                Err(Error::Config("changed my mind".into()))
            })
            .await;
        assert!(result.is_err());
        assert_eq!(r.read().planes.keys()?, vec!["a".to_string()]);
        s.commit().await?;
        let names = db.fetch_sql("SELECT name FROM rel_planes", vec![]).await?;
        assert_eq!(names.len(), 1);
        assert_eq!(names[0].get_at::<String>(0)?, "a");
        Ok(())
    }
}

/// 40,000 parents: the IN list is split at the backend's bind limit.
async fn forty_thousand(db: Database) -> tests::TestResult {
    setup(&db).await?;
    let mut s = db.session();
    for i in 0..40_000 {
        let r = s.add(receiver(&format!("r{i}")));
        if i % 100 == 0 {
            r.write().planes.insert("a".into(), plane("x"))?;
        }
    }
    s.commit().await?;
    let mut s = db.session();
    let rs = s.query::<Receiver>().all().await?;
    assert_eq!(rs.len(), 40_000);
    let (_, n) = statements!(s, s.load(&rs, Receiver::PLANES).await?);
    // Lists are padded to powers of two, so a chunk is the largest power of
    // two within the bind limit.
    let limit = db.bind_limit();
    let chunk = 1usize << (usize::BITS - 1 - limit.leading_zeros());
    if db.dialect() == orm_core::Dialect::Postgres {
        assert_eq!(n, 1, "one array parameter");
    } else {
        // Split only past the bind limit (the template layer pads up to it).
        assert!(
            n >= 40_000usize.div_ceil(limit) as u64,
            "bind limit {limit}: {n}"
        );
        assert!(
            n <= 40_000usize.div_ceil(chunk) as u64,
            "bind limit {limit}: {n}"
        );
    }
    let with_planes = rs
        .iter()
        .filter(|r| r.read().planes.len().unwrap() == 1)
        .count();
    assert_eq!(with_planes, 400);
    let (_, n) = statements!(s, s.load(&rs, Receiver::GROUPS).await?);
    assert_eq!(n, 40_000usize.div_ceil(chunk) as u64);
    Ok(())
}

#[tokio::test]
async fn forty_thousand_parents_sqlite() {
    tests::run(tests::Backend::Sqlite, forty_thousand).await
}

#[tokio::test]
async fn forty_thousand_parents_postgres() {
    tests::run(tests::Backend::Postgres, forty_thousand).await
}

#[tokio::test]
async fn forty_thousand_parents_mysql() {
    tests::run(tests::Backend::MySql, forty_thousand).await
}

#[test]
fn relation_constants_are_typed() {
    let planes: Relation<Receiver, Plane> = Receiver::PLANES;
    assert_eq!(planes.meta().describe(), "Receiver.planes");
    assert_eq!(Plane::RECEIVER.meta().by, "receiver_id");
    let _ = Value::I64(0);
}

backend_tests! {
    /// `plan_rows()` lists the row statements of tracked objects exactly as
    /// the flush runs them, and leaves out what its docs say: hook work,
    /// children added through collections, association rows.
    async fn plan_rows_is_what_the_flush_runs_less_what_it_leaves_out(db) {
        db.create_all(&schema()).await?;
        let mut s = db.session();
        let r = s.add(Receiver { name: "rx".into(), ..Default::default() });
        let g1 = s.add(Group { name: "g1".into(), ..Default::default() });
        let g2 = s.add(Group { name: "g2".into(), ..Default::default() });
        r.write().groups.add(&g1)?;
        s.commit().await?;
        let _ = g2;

        let mut s = db.session();
        let r = s.query::<Receiver>().load(Receiver::GROUPS).load(Receiver::PLANES).one().await?;
        let g2 = s.query::<Group>().filter(Group::NAME.eq("g2")).load(Group::RECEIVERS).one().await?;
        r.write().name = "renamed".into();                  // a row change: planned
        r.write().groups.add(&g2)?;                         // an association row: not planned
        r.write()
            .planes
            .insert("routing".into(), Plane { config: "c".into(), ..Default::default() })?; // cascade: not planned
        s.hooks().before_flush(0, |s| {
            if s.new_objects::<Group>().is_empty() {
                s.add(Group { name: "audit".into(), ..Default::default() }); // hook work: not planned
            }
            Ok(())
        });
        let planned: Vec<String> = s.plan_rows()?.iter().map(|st| st.sql().to_string()).collect();
        s.stats().log_statements(true);
        s.flush().await?;
        let ran = s.stats().take_log();
        assert_eq!(planned.len(), 1, "{planned:?}");
        assert!(planned[0].starts_with("UPDATE") && planned[0].contains("rel_receivers"), "{planned:?}");
        let mut extra: Vec<&String> = ran.iter().filter(|sql| !planned.contains(sql)).collect();
        assert_eq!(ran.len(), planned.len() + extra.len(), "every planned statement ran: {ran:?}");
        extra.sort();
        let kinds: Vec<bool> = vec![
            extra.iter().any(|q| q.starts_with("INSERT") && q.contains("rel_groups")),
            extra.iter().any(|q| q.starts_with("INSERT") && q.contains("rel_planes")),
            extra.iter().any(|q| q.starts_with("INSERT") && q.contains("rel_receiver_groups")),
        ];
        assert_eq!(kinds, [true, true, true], "hook, cascade and association inserts ran: {extra:?}");
        assert_eq!(extra.len(), 3, "nothing else: {extra:?}");
        s.commit().await?;
        Ok(())
    }
}
