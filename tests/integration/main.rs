//! Integration tests: the real `gate` binary in real temporary git repositories, all through
//! the [`test::Test`] builder.

mod attest;
mod cache;
mod errors;
mod exit_codes;
mod language;
mod manifest;
mod ml;
mod reports;
mod repository;
mod run;
mod test;
