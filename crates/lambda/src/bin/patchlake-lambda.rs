//! The one Lambda binary of all four functions: packaged as `bootstrap` once per
//! architecture, and each function picks its handler with its `Handler` property, which Lambda
//! passes in `_HANDLER` (see `patchlake_lambda::runtime::handler_from_env`).

use patchlake_lambda::Handler;
use patchlake_query::malloc::Tuning;

fn main() -> Result<(), lambda_runtime::Error> {
    patchlake_lambda::runtime::init_tracing();
    let handler = patchlake_lambda::runtime::handler_from_env()?;
    // Before any thread starts, and for the report function only: the query processes'
    // malloc settings (`patchlake_query::malloc`). The others keep glibc's defaults, which
    // give freed memory back: their budget is peak RSS, not query latency.
    let malloc = (handler == Handler::Report).then(patchlake_query::malloc::tune);
    run(handler, malloc)
}

#[tokio::main]
async fn run(handler: Handler, malloc: Option<Tuning>) -> Result<(), lambda_runtime::Error> {
    tracing::debug!(?handler, ?malloc, "glibc malloc settings");
    patchlake_lambda::runtime::serve(handler).await
}
