//! The `locusta` binary: parse the command line, run, exit with the code that says how it went.

use std::process::ExitCode;

use locusta::cli::{self, Command, Environment};

fn main() -> ExitCode {
    let code = match cli::parse(std::env::args_os().collect(), &Environment::process()) {
        Ok(Command::Run(settings)) => locusta::run::execute(&settings),
        Ok(Command::Demo(args)) => locusta::demo::run(&args),
        Ok(Command::Print(text)) => {
            print!("{text}");
            0
        }
        Err(usage) => {
            eprintln!("{usage}");
            locusta::run::EXIT_USAGE
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
