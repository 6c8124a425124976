//! The `hoop` binary: everything lives in the library; see `hoop::cli`.

fn main() -> std::process::ExitCode {
    hoop::cli::main()
}
