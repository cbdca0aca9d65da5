//! The GET /projects benchmark (written in the next commit).

fn main() {}
