//! The `finalize` Lambda function (see `patchlake_lambda::finalize`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    patchlake_lambda::runtime::init_tracing();
    patchlake_lambda::runtime::serve(patchlake_lambda::Handler::Finalize).await
}
