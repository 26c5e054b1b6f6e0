//! Quickstart: two related entities on embedded SQLite.
//!
//! Declares authors and books (a has-many relationship and its belongs-to
//! side), creates the schema, adds rows in one unit of work, queries them
//! back, loads the relationship in one batched query, shows the identity
//! map at work, and then evolves the schema: a field added to `Book`
//! becomes one generated migration, applied with the rows kept.
//!
//! Run with `cargo run --example quickstart` (set `DATABASE_URL` to a
//! `postgres://` or `mysql://` URL to run it on a server instead).

use orm_core::prelude::*;

#[entity(table = "authors")]
#[derive(Debug, Clone)]
pub struct Author {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 100)]
    pub name: String,
    pub born: Option<i32>,
    /// The author's books: loaded explicitly, in one query for many authors.
    #[has_many(Book, by = "author_id")]
    pub books: Many<Book>,
}

#[entity(table = "books")]
#[derive(Debug, Clone)]
pub struct Book {
    #[key(auto)]
    pub id: i64,
    #[column(references = Author, index)]
    pub author_id: i64,
    pub title: String,
    pub year: i32,
    #[belongs_to(Author, by = "author_id")]
    pub author: Ref<Author>,
}

fn author(name: &str, born: Option<i32>) -> Author {
    Author {
        id: 0,
        name: name.into(),
        born,
        books: Many::new(),
    }
}

fn book(title: &str, year: i32) -> Book {
    Book {
        id: 0,
        author_id: 0, // set by the flush from the author's generated key
        title: title.into(),
        year,
        author: Ref::new(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    let db = Database::connect(&url).await?;
    println!("connected to {} ({url})", db.dialect().name());

    db.drop_all(&[Book::schema(), Author::schema()]).await?;
    // The migrations' record, from an earlier run on a server.
    db.execute_sql("DROP TABLE IF EXISTS orm_migrations", vec![])
        .await?;
    db.create_all(&[Book::schema(), Author::schema()]).await?;
    println!("created tables: authors, books (parents first)");

    // One unit of work: the books hang off their authors; the commit
    // inserts the authors, then the books with the authors' generated keys.
    let mut s = db.session();
    let le_guin = s.add(author("Ursula K. Le Guin", Some(1929)));
    let banks = s.add(author("Iain M. Banks", Some(1954)));
    s.add(author("Anonymous", None));
    {
        let mut a = le_guin.write();
        a.books.add_new(book("The Dispossessed", 1974))?;
        a.books.add_new(book("The Left Hand of Darkness", 1969))?;
    }
    {
        let mut a = banks.write();
        a.books.add_new(book("Use of Weapons", 1990))?;
        a.books.add_new(book("Excession", 1996))?;
    }
    s.commit().await?;
    let (le_guin, banks) = (le_guin.read().id, banks.read().id);
    let written = s.stats().snapshot();
    println!(
        "inserted 3 authors and 4 books in {} statements (one multi-row INSERT per table, keys read back and given to the books)",
        written.statements
    );

    // Typed queries.
    let seventies = s
        .query::<Book>()
        .filter(Book::YEAR.ge(1970).and(Book::YEAR.lt(1980)))
        .order_by(Book::TITLE.asc())
        .all()
        .await?;
    for b in &seventies {
        println!("1970s: {} ({})", b.read().title, b.read().year);
    }
    let by_two = s
        .query::<Book>()
        .filter(Book::AUTHOR_ID.is_in([le_guin, banks]))
        .count()
        .await?;
    let unknown_birth = s
        .query::<Author>()
        .filter(Author::BORN.is_null())
        .count()
        .await?;
    println!(
        "books by the two named authors: {by_two}; authors with no birth year: {unknown_birth}"
    );

    // Relationships load explicitly and in batches: one query for the books
    // of every author, never one per author.
    let mut s2 = db.session();
    let before = s2.stats().statements();
    let everyone = s2
        .query::<Author>()
        .order_by(Author::NAME.asc())
        .load(Author::BOOKS)
        .all()
        .await?;
    for a in &everyone {
        let a = a.read();
        let titles: Vec<String> = a.books.iter()?.map(|b| b.read().title.clone()).collect();
        println!("{}: {}", a.name, titles.join(", "));
    }
    println!(
        "{} authors with their books in {} statements",
        everyone.len(),
        s2.stats().statements() - before
    );
    drop(s2);

    // The identity map: one key, one object per session.
    let before = s.stats().statements();
    let a = s.get::<Author>(le_guin).await?;
    let b = s
        .query::<Author>()
        .filter(Author::NAME.like("Ursula%"))
        .one()
        .await?;
    println!(
        "get and query return the same object: {} ({} statement{} for both: get was served from the identity map)",
        Handle::ptr_eq(&a, &b),
        s.stats().statements() - before,
        if s.stats().statements() - before == 1 {
            ""
        } else {
            "s"
        }
    );
    a.write().born = Some(1930);
    let again = s.get::<Author>(le_guin).await?;
    println!(
        "an unflushed change survives a re-load: born = {:?} (the database still says 1929)",
        again.read().born
    );

    // Plain rows for hot read paths: no identity map, by name or position.
    for row in s
        .query::<Book>()
        .order_by(Book::YEAR.desc())
        .limit(2)
        .rows()
        .await?
    {
        println!(
            "row: {} / {}",
            row.get::<String>("title")?,
            row.get_at::<i32>(3)?
        );
    }

    // Evolving the schema: `Book` gains a field. The migrator compares the
    // entities with the database, writes the difference as SQL files
    // (migrations/<timestamp>_pages/up.sql and down.sql, editable), and
    // applies them once, recording each in `orm_migrations`.
    // (The session gives its connection back first: `sqlite::memory:` has one.)
    s.rollback().await?;
    drop(s);
    let dir = std::env::temp_dir().join(format!("orm-quickstart-{}", std::process::id()));
    let entities = [Author::schema(), next::Book::schema()];
    // Only our tables: a server's database may hold other programs' tables,
    // which the diff would otherwise offer to drop.
    let ours = ["authors", "books"];
    let migrator = db.migrator(&dir)?.entities(&entities).only_tables(&ours);
    println!(
        "drift before: {:?}",
        migrator
            .check()
            .await?
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
    );
    let made = migrator
        .generate("pages", Default::default())
        .await?
        .expect("a new column");
    println!("generated {}:", made.path.display());
    for line in made
        .up
        .lines()
        .filter(|l| !l.is_empty() && (!l.starts_with("-- ") || l.starts_with("-- locks")))
    {
        println!("    {line}");
    }
    let applied = db.migrator(&dir)?.up().await?;
    println!("applied {applied:?}");
    let mut s = db.session();
    let thick = s
        .query::<next::Book>()
        .filter(next::Book::PAGES.eq(0))
        .count()
        .await?;
    println!(
        "after the migration: {thick} books kept, each with pages = 0; drift: {}",
        db.migrator(&dir)?
            .entities(&entities)
            .only_tables(&ours)
            .check()
            .await?
            .len()
    );
    std::fs::remove_dir_all(&dir).ok();

    let total = db.stats().snapshot();
    println!(
        "done: {} statements, {} rows, {} transactions",
        total.statements, total.rows, total.transactions
    );
    Ok(())
}

/// The next version of the schema: `Book` with a page count.
mod next {
    use orm_core::prelude::*;

    #[entity(table = "books")]
    pub struct Book {
        #[key(auto)]
        pub id: i64,
        #[column(references = super::Author, index)]
        pub author_id: i64,
        pub title: String,
        pub year: i32,
        /// New: existing rows get the default.
        #[column(default = "0")]
        pub pages: i32,
    }
}
