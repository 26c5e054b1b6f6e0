//! `orm`: the migration command line without entities compiled in. It
//! applies, reverts, lists and prints migration files; `generate` and
//! `check` compare with entities, which only the application's own binary
//! knows: write one with [`orm_cli::main`] (three lines, see the crate docs).

fn main() -> std::process::ExitCode {
    orm_cli::main(&[])
}
