//! The binaries' glue: JSON logs, dependencies built on the first invocation, and the
//! `lambda_runtime` loop.

use lambda_runtime::{LambdaEvent, service_fn};
use tokio::sync::OnceCell;

use crate::{Deps, Handler};

/// JSON logs on stdout (CloudWatch), level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`
/// (default `info`).
pub fn init_tracing() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned())
        .to_ascii_lowercase();
    let filter = tracing_subscriber::EnvFilter::try_new(&level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .init();
}

/// The variable Lambda sets to the function's `Handler` property.
pub const HANDLER_VAR: &str = "_HANDLER";

/// The handler this process serves: `$_HANDLER`, which Lambda sets from the function's
/// `Handler` property (`plan`, `collect`, `finalize` or `report` in `infra/template.yaml`).
/// Anything else is an init error naming the variable and the accepted values, so a
/// misconfigured function fails at its first start instead of running the wrong step.
pub fn handler_from_env() -> Result<Handler, lambda_runtime::Error> {
    let value = std::env::var(HANDLER_VAR).unwrap_or_default();
    let value = value.trim();
    Handler::from_name(value).ok_or_else(|| {
        let accepted: Vec<&str> = Handler::ALL.iter().map(|h| h.name()).collect();
        let found = if value.is_empty() {
            "not set".to_owned()
        } else {
            format!("`{value}`")
        };
        let message = format!(
            "{HANDLER_VAR} is {found}: set the function's Handler property to one of {}",
            accepted.join(", ")
        );
        tracing::error!(%message, "no handler");
        message.into()
    })
}

/// Serves `handler` until the runtime shuts the process down.
///
/// The dependencies are built on the first invocation rather than at init, so a
/// configuration error reaches the caller as a `BadInput` naming the key (init errors only
/// show in logs), and init stays fast. A failed build is retried on the next invocation.
pub async fn serve(handler: Handler) -> Result<(), lambda_runtime::Error> {
    // One per process, for the process's life: leaked so the handler closure is 'static.
    let deps: &'static OnceCell<Deps> = Box::leak(Box::new(OnceCell::new()));
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            // Boxed for the same reason as the handlers' futures (see `Handler::invoke`).
            let deps = deps.get_or_try_init(|| Box::pin(Deps::from_env())).await?;
            tracing::info!(request_id = %event.context.request_id, function = handler.name(), "invoked");
            handler.invoke(deps, event.payload).await
        },
    ))
    .await
}
