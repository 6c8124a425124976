//! Repository tools, run as `cargo xtask <command>` (the alias is in `.cargo/config.toml`).
//!
//! - `layers [--check] [--root DIR]`: the import graph of the `hoop` crate's top-level modules
//!   against the layers drawn in `docs/architecture.md`; `--check` fails on an upward edge, a
//!   cycle or a module the drawing does not place.
//! - `codegen [--check]`: regenerates `service/src/policy/classify/children.rs` from the locked
//!   pg_query's `src/protobuf.rs`; `--check` fails when the committed file differs.

use std::path::PathBuf;
use std::process::ExitCode;

mod codegen;
mod layers;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    match args.first().map(String::as_str) {
        Some("layers") => layers::main(&repo, &args[1..]),
        Some("codegen") => codegen::main(&repo, &args[1..]),
        _ => {
            eprintln!("usage: cargo xtask layers [--check] [--root DIR]");
            eprintln!("       cargo xtask codegen [--check]");
            ExitCode::from(2)
        }
    }
}
