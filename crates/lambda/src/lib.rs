//! patchlake on AWS Lambda: the four steps of a run as handlers for a Step Functions state
//! machine (`infra/statemachine.asl.json`).
//!
//! `plan` discovers accounts and regions and stores the task list, `collect` collects and
//! stages one account-region (run by a Distributed Map, many at once), `finalize` commits the
//! run, `report` writes the report suite into the lake. Each handler is a plain async fn over
//! injected [`Deps`] and a serde event ([`events`]), so tests call it with hand-built events;
//! the one binary in `src/bin/` only picks the handler named by the function's `Handler`
//! property and wires it to `lambda_runtime` ([`runtime::serve`]). Failures
//! carry an [`ErrorKind`] that becomes the Lambda `errorType` the state machine retries on.
//!
//! This crate must not collect, write Parquet or compute compliance itself: it sequences the
//! library crates exactly as the CLI's `collect_run` does, split at the task boundary.

mod collect;
mod deps;
pub mod error;
pub mod events;
mod finalize;
mod plan;
mod report;
pub mod runtime;

pub use collect::collect;
pub use deps::{CONFIG_FILE_VAR, CONFIG_TOML_VAR, Deps, config_from_vars};
pub use error::{ErrorKind, HandlerError, Result};
pub use finalize::finalize;
pub use plan::{plan, tasks_key};
pub use report::{EVIDENCE_OBJECT, report, reports_prefix};

use error::parse_event;
use futures::future::BoxFuture;

/// The four functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    Plan,
    Collect,
    Finalize,
    Report,
}

impl Handler {
    pub const ALL: [Handler; 4] = [
        Handler::Plan,
        Handler::Collect,
        Handler::Finalize,
        Handler::Report,
    ];

    /// The handler's (and function's) name: the function's `Handler` property.
    pub fn name(self) -> &'static str {
        match self {
            Handler::Plan => "plan",
            Handler::Collect => "collect",
            Handler::Finalize => "finalize",
            Handler::Report => "report",
        }
    }

    /// The handler named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Handler> {
        Handler::ALL.into_iter().find(|h| h.name() == name)
    }

    /// Runs the handler on a raw JSON event: a malformed event is [`ErrorKind::BadInput`]
    /// naming the field.
    ///
    /// Each handler's future is boxed: their types nest deep enough (collector, lake writer,
    /// DataFusion) to overflow rustc's layout recursion limit in the binaries otherwise.
    pub fn invoke<'a>(
        self,
        deps: &'a Deps,
        event: serde_json::Value,
    ) -> BoxFuture<'a, Result<serde_json::Value>> {
        let name = self.name();
        match self {
            Handler::Plan => {
                Box::pin(async move { to_json(plan(deps, parse_event(name, event)?).await?) })
            }
            Handler::Collect => {
                Box::pin(async move { to_json(collect(deps, parse_event(name, event)?).await?) })
            }
            Handler::Finalize => {
                Box::pin(async move { to_json(finalize(deps, parse_event(name, event)?).await?) })
            }
            Handler::Report => {
                Box::pin(async move { to_json(report(deps, parse_event(name, event)?).await?) })
            }
        }
    }
}

fn to_json<T: serde::Serialize>(value: T) -> Result<serde_json::Value> {
    serde_json::to_value(value)
        .map_err(|e| HandlerError::new(ErrorKind::Internal, format!("encoding the result: {e}")))
}
