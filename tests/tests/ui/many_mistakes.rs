use orm_core::entity;

// Every mistake is reported in one compilation, each at its own token.
#[entity(tabel = "x")]
pub struct User {
    #[column(uniq)]
    pub id: i64,
    #[column(len = 0, on_delete = "cascade")]
    pub name: String,
}

fn main() {}
