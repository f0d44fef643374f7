//! The host inventory (see `parse`).

mod parse;

pub use parse::*;
