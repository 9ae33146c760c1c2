//! Topic pages that span several types. Nothing here is code to call.

pub mod timeouts;
