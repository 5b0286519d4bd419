//! The `locusta` binary: parse the command line, run, exit with the code that says how it went.

use std::process::ExitCode;

use locusta::cli::{self, Command, Environment};
use locusta::commands;
use locusta::report::console::{to_stderr, to_stdout};

/// Every request allocates a little (headers, buffers, futures) on many threads at once; glibc's
/// malloc took a sixth of the CPU in a profile of a no-wait run, mimalloc a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let code = match cli::parse(std::env::args_os().collect(), &Environment::process()) {
        Ok(Command::Run(settings)) => locusta::run::execute(&settings, locusta::web::start_boxed),
        Ok(Command::Demo(args)) => locusta::demo::run(&args),
        Ok(Command::Check(args)) => commands::check::check(&args),
        Ok(Command::Report(args)) => commands::report::report(&args),
        Ok(Command::Compare(args)) => commands::compare::compare(&args),
        Ok(Command::Schema(kind)) => {
            to_stdout(&match kind {
                cli::SchemaKind::Scenario => commands::check::schema_text(),
                cli::SchemaKind::Summary => locusta::report::json::summary_schema_text(),
            });
            0
        }
        Ok(Command::Print(text)) => {
            to_stdout(&text);
            0
        }
        Err(usage) => {
            to_stderr(&format!("{usage}\n"));
            locusta::run::EXIT_USAGE
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
