use orm_core::fields;

#[fields(strict)]
pub trait AuditFields<T> {
    fn updated_by(&self) -> String;
    fn set_(&mut self, value: String);
    fn set_both(&mut self, a: String, b: String);
    fn revision_mut(&mut self) -> &mut i64;
    const MAX: i64;
    fn shout(&self) -> String {
        String::new()
    }
}

#[fields]
pub struct NotATrait;

fn main() {}
