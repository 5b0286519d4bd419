//! One user type, one task: `GET /` named `root`, no wait: the same load as locusta's
//! one-request scenario and wrk's single URL in bench/perf.py. Goose's own flags set the host,
//! users, hatch rate and run time.

use goose::prelude::*;

async fn root(user: &mut GooseUser) -> TransactionResult {
    let _ = user.get_named("/", "root").await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), GooseError> {
    GooseAttack::initialize()?
        .register_scenario(scenario!("Api").register_transaction(transaction!(root)))
        .execute()
        .await?;
    Ok(())
}
