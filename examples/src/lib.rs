//! Examples (see `examples/`).
