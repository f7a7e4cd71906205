//! Integration tests: the real `gate` binary in real temporary git repositories, all through
//! the [`test::Test`] builder.

mod attest;
mod cache;
mod ci;
mod errors;
mod hook;
mod language;
mod manifest;
mod precommit;
mod reports;
mod repository;
mod run;
mod test;
