//! The one Lambda binary of all four functions: packaged as `bootstrap` once per
//! architecture, and each function picks its handler with its `Handler` property, which Lambda
//! passes in `_HANDLER` (see `patchlake_lambda::runtime::handler_from_env`).

fn main() -> Result<(), lambda_runtime::Error> {
    // Before any thread starts: the CLI's malloc settings (`patchlake_query::malloc`).
    let malloc = patchlake_query::malloc::tune();
    run(malloc)
}

#[tokio::main]
async fn run(malloc: patchlake_query::malloc::Tuning) -> Result<(), lambda_runtime::Error> {
    patchlake_lambda::runtime::init_tracing();
    tracing::debug!(?malloc, "glibc malloc settings");
    let handler = patchlake_lambda::runtime::handler_from_env()?;
    patchlake_lambda::runtime::serve(handler).await
}
