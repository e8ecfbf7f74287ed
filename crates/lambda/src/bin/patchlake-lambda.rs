//! The one Lambda binary of all four functions: packaged as `bootstrap` once per
//! architecture, and each function picks its handler with its `Handler` property, which Lambda
//! passes in `_HANDLER` (see `patchlake_lambda::runtime::handler_from_env`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    patchlake_lambda::runtime::init_tracing();
    let handler = patchlake_lambda::runtime::handler_from_env()?;
    patchlake_lambda::runtime::serve(handler).await
}
