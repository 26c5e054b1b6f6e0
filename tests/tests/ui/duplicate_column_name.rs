use orm_core::entity;

#[entity]
pub struct User {
    #[key]
    pub id: i64,
    pub email: String,
    #[column(rename = "email")]
    pub backup_email: String,
}

fn main() {}
