use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = docmerge::cli::Cli::parse();
    docmerge::commands::main_with(cli)
}
