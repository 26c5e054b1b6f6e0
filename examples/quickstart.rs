//! Quickstart: two related entities on embedded SQLite.
//!
//! Declares authors and books, creates the schema, adds rows in one unit of
//! work, queries them back, and shows the identity map at work.
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
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    let db = Database::connect(&url).await?;
    println!("connected to {} ({url})", db.dialect().name());

    db.drop_all(&[Book::schema(), Author::schema()]).await?;
    db.create_all(&[Book::schema(), Author::schema()]).await?;
    println!("created tables: authors, books (parents first)");

    // One unit of work: authors first, so their generated keys are known.
    let mut s = db.session();
    let authors = s.add_all([
        Author {
            id: 0,
            name: "Ursula K. Le Guin".into(),
            born: Some(1929),
        },
        Author {
            id: 0,
            name: "Iain M. Banks".into(),
            born: Some(1954),
        },
        Author {
            id: 0,
            name: "Anonymous".into(),
            born: None,
        },
    ]);
    s.flush().await?;
    let (le_guin, banks) = (authors[0].read().id, authors[1].read().id);
    s.add_all([
        Book {
            id: 0,
            author_id: le_guin,
            title: "The Dispossessed".into(),
            year: 1974,
        },
        Book {
            id: 0,
            author_id: le_guin,
            title: "The Left Hand of Darkness".into(),
            year: 1969,
        },
        Book {
            id: 0,
            author_id: banks,
            title: "Use of Weapons".into(),
            year: 1990,
        },
        Book {
            id: 0,
            author_id: banks,
            title: "Excession".into(),
            year: 1996,
        },
    ]);
    s.commit().await?;
    let written = s.stats().snapshot();
    println!(
        "inserted 3 authors and 4 books in {} statements (multi-row INSERTs, keys read back)",
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

    let total = db.stats().snapshot();
    println!(
        "done: {} statements, {} rows, {} transactions",
        total.statements, total.rows, total.transactions
    );
    Ok(())
}
