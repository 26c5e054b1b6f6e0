//! Subqueries as a SQLAlchemy user writes them: `User.id.in_(select(Post.
//! author_id).where(..))`, `exists().where(Post.author_id == User.id)`,
//! a scalar subquery in a comparison and in the select list
//! (`select(User.name, select(func.count()).where(..).scalar_subquery())`),
//! and a recursive CTE walking a tree. Each query is one statement, through
//! the template cache (a second run of a shape is a hit) and, in paranoid
//! mode, identical to a fresh build.

use orm_core::prelude::*;
use orm_core::{Agg, Subquery, Synchronize, TemplateMode};
use tests::backend_tests;

#[entity(table = "sq_authors")]
pub struct Author {
    #[key(auto)]
    pub id: i64,
    #[column(len = 20)]
    pub name: String,
}

#[entity(table = "sq_books")]
pub struct Book {
    #[key(auto)]
    pub id: i64,
    #[column(references = Author)]
    pub author_id: i64,
    #[column(len = 20)]
    pub title: String,
    pub year: i32,
    pub stars: i32,
}

#[entity(table = "sq_reviews")]
pub struct Review {
    #[key(auto)]
    pub id: i64,
    #[column(references = Book)]
    pub book_id: i64,
    pub score: i32,
}

/// A tree stored as a parent column (story 1's hierarchies).
#[entity(table = "sq_folders")]
pub struct Folder {
    #[key(auto)]
    pub id: i64,
    pub parent_id: Option<i64>,
    #[column(len = 20)]
    pub name: String,
}

async fn seeded(db: &Database) -> Result<Session> {
    db.create_all(&[
        Author::schema(),
        Book::schema(),
        Review::schema(),
        Folder::schema(),
    ])
    .await?;
    let mut s = db.session();
    let authors = s.add_all(["ann", "bob", "cy"].map(|n| Author {
        id: 0,
        name: n.into(),
    }));
    s.flush().await?;
    let (ann, bob) = (authors[0].read().id, authors[1].read().id);
    let books = s.add_all([
        Book {
            id: 0,
            author_id: ann,
            title: "a1".into(),
            year: 1960,
            stars: 3,
        },
        Book {
            id: 0,
            author_id: ann,
            title: "a2".into(),
            year: 1990,
            stars: 5,
        },
        Book {
            id: 0,
            author_id: bob,
            title: "b1".into(),
            year: 2001,
            stars: 4,
        },
    ]);
    s.flush().await?;
    // Only a2 is reviewed.
    s.add(Review {
        id: 0,
        book_id: books[1].read().id,
        score: 9,
    });
    s.commit().await?;
    Ok(s)
}

fn names(found: &[Handle<Author>]) -> Vec<String> {
    found.iter().map(|a| a.read().name.clone()).collect()
}

backend_tests! {
    async fn in_exists_and_scalar_subqueries_each_one_statement(db) {
        let mut s = seeded(&db).await?;
        let before = s.stats().statements();
        // IN (SELECT ..): authors with a book before 1970.
        let early = Subquery::of(Book::AUTHOR_ID).filter(Book::YEAR.lt(1970));
        let found = s.query::<Author>().filter(Author::ID.in_subquery(early)).all().await?;
        assert_eq!(names(&found), ["ann"]);
        // NOT IN: authors without a book after 2000.
        let late = Subquery::of(Book::AUTHOR_ID).filter(Book::YEAR.gt(2000));
        let found = s.query::<Author>().filter(Author::ID.not_in_subquery(late)).order_by(Author::NAME.asc()).all().await?;
        assert_eq!(names(&found), ["ann", "cy"]);
        // Correlated EXISTS and NOT EXISTS on the foreign key.
        let books_of = || Subquery::<Book, ()>::rows().correlate(Book::AUTHOR_ID, Author::ID);
        let writers = s.query::<Author>().filter(Filter::exists(books_of())).order_by(Author::NAME.asc()).all().await?;
        assert_eq!(names(&writers), ["ann", "bob"]);
        let idle = s.query::<Author>().filter(Filter::not_exists(books_of())).all().await?;
        assert_eq!(names(&idle), ["cy"]);
        // A correlated EXISTS with its own filter, combined with an outer one.
        let starred = books_of().filter(Book::STARS.ge(4));
        let n = s.query::<Author>().filter(Filter::exists(starred).and(Author::NAME.ne("bob"))).count().await?;
        assert_eq!(n, 1);
        // Nested: authors of a reviewed book (IN of an IN).
        let reviewed = Subquery::of(Review::BOOK_ID).filter(Review::SCORE.gt(5));
        let of_reviewed = Subquery::of(Book::AUTHOR_ID).filter(Book::ID.in_subquery(reviewed));
        let found = s.query::<Author>().filter(Author::ID.in_subquery(of_reviewed)).all().await?;
        assert_eq!(names(&found), ["ann"]);
        // A scalar subquery in a comparison: the newest book(s).
        let newest = s.query::<Book>().filter(Book::YEAR.eq_subquery(Subquery::of(Book::YEAR.max()))).all().await?;
        assert_eq!(newest.iter().map(|b| b.read().title.clone()).collect::<Vec<_>>(), ["b1"]);
        // Correlated scalar: books with more stars than their author's lowest.
        let lowest = Subquery::of(Book::STARS.min());
        let n = s.query::<Book>().filter(Book::STARS.gt_subquery(lowest)).count().await?;
        assert_eq!(n, 2, "uncorrelated: above the lowest of all (3)");
        // Scalar subqueries as select items: a count and a max per author.
        let per_author = s
            .query::<Author>()
            .order_by(Author::NAME.asc())
            .select((
                Author::NAME,
                Subquery::of(Agg::<Book, i64>::count()).correlate(Book::AUTHOR_ID, Author::ID),
                Subquery::of(Book::YEAR.max()).correlate(Book::AUTHOR_ID, Author::ID),
            ))
            .all()
            .await?;
        assert_eq!(
            per_author,
            [("ann".to_string(), 2, Some(1990)), ("bob".to_string(), 1, Some(2001)), ("cy".to_string(), 0, None)]
        );
        assert_eq!(s.stats().statements() - before, 9, "one statement per query");
        Ok(())
    }

    async fn self_correlation_and_tree_walks(db) {
        let mut s = seeded(&db).await?;
        // /, /etc, /etc/ssh, /etc/ssh/keys, /home; and a cycle x <-> y.
        let root = s.add(Folder { id: 0, parent_id: None, name: "/".into() });
        s.flush().await?;
        let r = root.read().id;
        let etc = s.add(Folder { id: 0, parent_id: Some(r), name: "etc".into() });
        s.add(Folder { id: 0, parent_id: Some(r), name: "home".into() });
        s.flush().await?;
        let ssh = s.add(Folder { id: 0, parent_id: Some(etc.read().id), name: "ssh".into() });
        s.flush().await?;
        s.add(Folder { id: 0, parent_id: Some(ssh.read().id), name: "keys".into() });
        let x = s.add(Folder { id: 0, parent_id: None, name: "x".into() });
        s.flush().await?;
        let y = s.add(Folder { id: 0, parent_id: Some(x.read().id), name: "y".into() });
        s.flush().await?;
        x.write().parent_id = Some(y.read().id);
        s.commit().await?;
        let folder_names = |found: Vec<Handle<Folder>>| {
            let mut n: Vec<String> = found.iter().map(|f| f.read().name.clone()).collect();
            n.sort();
            n
        };

        // Folders with a child: EXISTS over the same table, aliased inside.
        let children = Subquery::<Folder, ()>::rows().correlate(Folder::PARENT_ID, Folder::ID);
        let parents = s.query::<Folder>().filter(Filter::exists(children)).all().await?;
        assert_eq!(folder_names(parents), ["/", "etc", "ssh", "x", "y"]);
        // Leaves.
        let children = Subquery::<Folder, ()>::rows().correlate(Folder::PARENT_ID, Folder::ID);
        let leaves = s.query::<Folder>().filter(Filter::not_exists(children)).all().await?;
        assert_eq!(folder_names(leaves), ["home", "keys"]);

        let before = s.stats().statements();
        let below = Subquery::descendants(Folder::ID, Folder::PARENT_ID, Folder::NAME.eq("etc"));
        let found = s.query::<Folder>().filter(Folder::ID.in_subquery(below)).all().await?;
        assert_eq!(folder_names(found), ["etc", "keys", "ssh"]);
        let above = Subquery::ancestors(Folder::ID, Folder::PARENT_ID, Folder::NAME.eq("keys"));
        let found = s.query::<Folder>().filter(Folder::ID.in_subquery(above)).all().await?;
        assert_eq!(folder_names(found), ["/", "etc", "keys", "ssh"]);
        // The whole tree under the root, counted; and outside it.
        let all_below = Subquery::descendants(Folder::ID, Folder::PARENT_ID, Folder::PARENT_ID.is_null());
        assert_eq!(s.query::<Folder>().filter(Folder::ID.in_subquery(all_below)).count().await?, 5);
        let all_below = Subquery::descendants(Folder::ID, Folder::PARENT_ID, Folder::PARENT_ID.is_null());
        let outside = s.query::<Folder>().filter(Folder::ID.not_in_subquery(all_below)).all().await?;
        assert_eq!(folder_names(outside), ["x", "y"]);
        // A cycle ends the walk: x and y, each once.
        let ring = Subquery::descendants(Folder::ID, Folder::PARENT_ID, Folder::NAME.eq("x"));
        let found = s.query::<Folder>().filter(Folder::ID.in_subquery(ring)).all().await?;
        assert_eq!(folder_names(found), ["x", "y"]);
        assert_eq!(s.stats().statements() - before, 5, "one statement per walk, however deep");
        Ok(())
    }

    async fn subqueries_take_the_template_cache_and_match_a_fresh_build(db) {
        let mut s = seeded(&db).await?;
        db.templates().set_mode(TemplateMode::Paranoid);
        let run = |year: i32, stars: i32| {
            Author::ID.in_subquery(Subquery::of(Book::AUTHOR_ID).filter(Book::YEAR.ge(year)).filter(Book::STARS.ge(stars)))
        };
        // Warm the shape, then the same shape with other values: a hit.
        assert_eq!(s.query::<Author>().filter(run(1900, 0)).count().await?, 2);
        let before = db.templates().stats();
        assert_eq!(s.query::<Author>().filter(run(2000, 0)).count().await?, 1);
        assert_eq!(s.query::<Author>().filter(run(1900, 5)).count().await?, 1);
        assert_eq!(s.query::<Author>().filter(run(2100, 0)).count().await?, 0);
        let after = db.templates().stats();
        assert_eq!(after.misses - before.misses, 0, "{after:?}");
        assert_eq!(after.hits - before.hits, 3, "{after:?}");
        // Values around the subquery keep their places ($n on PostgreSQL).
        let tree = Subquery::descendants(Folder::ID, Folder::PARENT_ID, Folder::NAME.eq("none"));
        let mixed = s
            .query::<Author>()
            .filter(Author::NAME.ne("zed"))
            .filter(Filter::exists(Subquery::<Book, ()>::rows().correlate(Book::AUTHOR_ID, Author::ID).filter(Book::TITLE.like("a%"))))
            .filter(Author::ID.not_in_subquery(Subquery::of(Folder::ID).filter(Folder::ID.in_subquery(tree))))
            .limit(5)
            .all()
            .await?;
        assert_eq!(names(&mixed), ["ann"]);
        assert_eq!(db.templates().stats().verify_failures, 0);
        db.templates().set_mode(TemplateMode::VerifyOnStore);
        Ok(())
    }

    async fn bulk_writes_filtered_by_a_subquery(db) {
        let mut s = seeded(&db).await?;
        let ann_books = s.query::<Book>().filter(Book::TITLE.like("a%")).all().await?;
        // Every book of an author named ann gains a star, in one UPDATE.
        let of_ann = Subquery::of(Author::ID).filter(Author::NAME.eq("ann"));
        let n = s.query::<Book>().filter(Book::AUTHOR_ID.in_subquery(of_ann)).update_with([Book::STARS.set(10)], Synchronize::Fetch).await?;
        assert_eq!(n, 2);
        assert!(ann_books.iter().all(|b| b.read().stars == 10), "the identity map follows");
        // Reviews of books without stars left... none: delete by EXISTS.
        let unreviewed = Subquery::<Review, ()>::rows().correlate(Review::BOOK_ID, Book::ID);
        let gone = s.query::<Book>().filter(Filter::not_exists(unreviewed)).delete().await?;
        assert_eq!(gone, 2);
        assert_eq!(s.query::<Book>().count().await?, 1);
        Ok(())
    }
}
