//! Integration tests that drive the real `portcullis` binary from the outside, as a user or CI
//! would. `support` starts and stops servers; each other module is one area.

mod support;

mod admin_ui;
mod crash;
mod fusionauth_client;
mod fusionauth_python;
mod gateway;
mod import;
mod keys;
mod legacy_php;
mod map;
mod migration;
mod oidc;
mod quickstart;
mod serve;
mod shop;
mod webhooks;
mod workers;
