//! EDF, EDF+, BDF and BDF+: the European Data Format family.
//!
//! Our own implementation rather than a crate: the crates checked (`edf-rs`,
//! `edfplus`) misread BDF's 24-bit samples or write headers pyedflib rejects,
//! and neurodl needs lazy record-range reads and MNE-identical scaling.
//!
//! - [`EdfReader`] reads all four variants lazily (see its docs for the exact
//!   conventions, which follow MNE-Python).
//! - [`write_edf`] writes EDF+ or BDF+ with annotations.
//!
//! Specifications: Kemp et al. 1992 (EDF), Kemp & Olivan 2003 (EDF+),
//! BioSemi's BDF notes.

mod header;
mod reader;
mod tal;
mod writer;

pub use reader::EdfReader;
pub use writer::{EdfVariant, WriteReport, write_edf};
