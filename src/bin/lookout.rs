//! The `lookout` command: local collector, queries, header snippets.

fn main() -> std::process::ExitCode {
    lookout::cli::main()
}
