//! One module per command. Commands never import one another: what two of them share lives in
//! `crate::args`, `crate::client`, `crate::output`, `crate::progress`, `crate::signal` or a
//! library.

pub mod alerts;
pub mod demo;
pub mod export;
pub mod monitor;
pub mod notify;
pub mod plan;
pub mod qa;
pub mod rejects;
pub mod serve;
pub mod smoke;
pub mod store;
