//! Entities, a shared fields trait and column values declared through the
//! facade crate, where `orm_core` is not a name: every path the generated
//! code takes to orm-core goes through `crate = facade`. Then one unit of
//! work on SQLite in memory, through the facade's `Database`.

use facade::prelude::*;

/// A newtype stored as its field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, facade::ColumnValue)]
#[column_value(crate = facade)]
pub struct Isbn(pub String);

/// An enum stored by name.
#[derive(Debug, Clone, Copy, PartialEq, facade::ColumnValue)]
#[column_value(crate = facade, text)]
pub enum Genre {
    Novel,
    #[column_value(rename = "essay")]
    Essay,
}

#[fields(crate = facade)]
pub trait TitleFields {
    fn title(&self) -> &String;
    fn set_title(&mut self, value: String);
}

pub trait Titled: TitleFields {
    fn shout(&self) -> String {
        self.title().to_uppercase()
    }
}

#[entity(crate = facade, table = "fa_authors")]
#[derive(Debug)]
pub struct Author {
    #[key(auto)]
    pub id: i64,
    #[column(unique)]
    pub name: String,
    #[column(with = facade::AsText)]
    pub home: std::net::IpAddr,
    #[has_many(Book, by = "author_id")]
    pub books: Many<Book>,
}

#[entity(crate = facade, table = "fa_books", fields(TitleFields), logic(Titled))]
#[derive(Debug)]
pub struct Book {
    #[key(auto)]
    pub id: i64,
    #[column(references = Author, on_delete = "cascade")]
    pub author_id: i64,
    pub title: String,
    pub genre: Genre,
    pub isbn: Isbn,
    #[version]
    pub version: i32,
    #[belongs_to(Author, by = "author_id")]
    pub author: Ref<Author>,
}

#[test]
fn the_metadata_is_the_same_as_without_a_facade() {
    let meta = Book::schema();
    assert_eq!(meta.table, "fa_books");
    let columns: Vec<&str> = meta.columns.iter().map(|c| c.name).collect();
    assert_eq!(
        columns,
        ["id", "author_id", "title", "genre", "isbn", "version"]
    );
    assert_eq!(meta.version_column(), Some(5));
    assert_eq!(Book::AUTHOR.meta().describe(), "Book.author");
    assert_eq!(Author::BOOKS.index(), 0);
    let _: facade::Column<Author, facade::With<facade::AsText, std::net::IpAddr>> = Author::HOME;
}

#[tokio::test]
async fn a_unit_of_work_through_the_facade() -> facade::Result<()> {
    let db = facade::Database::connect("sqlite::memory:").await?;
    db.create_all(&[Book::schema(), Author::schema()]).await?;
    let mut s = db.session();
    let author = s.add(Author {
        id: 0,
        name: "Le Guin".into(),
        home: "127.0.0.1".parse().expect("an address"),
        books: Many::new(),
    });
    author.write().books.add_new(Book {
        id: 0,
        author_id: 0,
        title: "The Dispossessed".into(),
        genre: Genre::Novel,
        isbn: Isbn("978-0-06-051275-7".into()),
        version: 0,
        author: Ref::new(),
    })?;
    s.commit().await?;

    let mut s = db.session();
    let books = s
        .query::<Book>()
        .filter(Book::GENRE.eq(Genre::Novel))
        .load(Book::AUTHOR)
        .all()
        .await?;
    assert_eq!(books.len(), 1);
    let book = books[0].read();
    assert_eq!(book.shout(), "THE DISPOSSESSED");
    assert_eq!(book.isbn, Isbn("978-0-06-051275-7".into()));
    assert_eq!(book.version, 1);
    let author = book.author.get()?.expect("loaded with the book");
    assert_eq!(author.read().name, "Le Guin");
    assert_eq!(author.read().home.to_string(), "127.0.0.1");
    Ok(())
}
