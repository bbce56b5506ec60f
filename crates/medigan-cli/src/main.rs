//! The `medigan` command line.
fn main() {}
