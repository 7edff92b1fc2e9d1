//! The HTTP API driven over real HTTP, each behaviour on SQLite and on PostgreSQL.

mod admin;
mod attacks;
mod auth;
mod bad_input;
mod bulk_delete;
mod import;
mod jobs;
mod key;
mod kickstart;
mod login;
mod migration;
mod oauth;
mod pages;
mod races;
mod resources;
mod schemes;
mod search;
mod service;
mod support;
mod tokens;
mod two_factor;
mod two_factor_pages;
mod webhooks;
