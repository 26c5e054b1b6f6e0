use orm_core::entity;

#[entity(unique(name, nmae), index(age, age), index(), unique = "name")]
pub struct Person {
    #[key(auto)]
    pub id: i64,
    pub name: String,
    pub age: i32,
    #[column(renamed_from = 3)]
    pub email: String,
}

fn main() {}
