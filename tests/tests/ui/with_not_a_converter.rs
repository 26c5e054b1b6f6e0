use orm_core::entity;

#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[column(with = String)]
    pub address: std::net::IpAddr,
}

fn main() {}
