//! Minimal MAT v5 reader for EEGLAB `.set` files (work in progress on a branch).
