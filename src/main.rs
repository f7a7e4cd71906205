//! The `gate` binary: everything lives in the library; see `gate::cli`.

fn main() -> std::process::ExitCode {
    gate::cli::main()
}
