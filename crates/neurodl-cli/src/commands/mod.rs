//! One module per subcommand.

pub mod convert;
pub mod info;
pub mod models;
pub mod preprocess;
pub mod simulate;
