use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = docmerge::cli::Cli::parse();
    docmerge::app::main_with(cli)
}
