use orm_core::prelude::*;
use orm_core::Subquery;

#[entity]
pub struct Author {
    #[key(auto)]
    pub id: i64,
}

#[entity]
pub struct Book {
    #[key(auto)]
    pub id: i64,
    pub author_id: i64,
    pub name: String,
}

#[entity]
pub struct Shelf {
    #[key(auto)]
    pub id: i64,
}

async fn queries(s: &mut Session) {
    // Correlated with Author: it reads authors.id, which a Shelf query's
    // FROM does not have.
    let books = Subquery::<Book, ()>::rows().correlate(Book::AUTHOR_ID, Author::ID);
    let _ = s.query::<Shelf>().filter(Filter::exists(books)).all().await;
    // A subquery's values must have the column's type.
    let _ = Author::ID.in_subquery(Subquery::of(Book::NAME));
}

fn main() {}
