//! BIDS EEG dataset discovery (in progress).
