//! The one integration-test binary of portcullis-hash (see STYLE.md).

mod cost;
mod malformed;
mod pool;
mod properties;
mod registry;
mod rehash;
mod vectors;
