use orm_core::entity;

#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[column(with = "AsText")]
    pub address: std::net::IpAddr,
    #[column(with)]
    pub backup: std::net::IpAddr,
}

fn main() {}
