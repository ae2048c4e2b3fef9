//! One module per subcommand.

pub mod convert;
pub mod demo;
pub mod eeg;
pub mod info;
pub mod models;
pub mod preprocess;
pub mod run;
pub mod seg;
pub mod simulate;
