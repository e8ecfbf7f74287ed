//! What SSM collection retries beyond the SDK's standard classifiers.
//!
//! The standard classifiers retry throttling, 5xx, timeouts, I/O errors and bodies that could
//! not be read, but not these, which the fault matrix met:
//!
//! - **A 2xx answer that does not parse** (invalid or truncated JSON): the generated
//!   deserializer reports it as an "other" error, which the standard retry treats as final
//!   (the caller sees `ResponseError`). A garbled page is a transient fault of the path, not an
//!   answer: retried.
//! - **A page that parses but is not whole**: the SDK fills missing required members with
//!   defaults, so an item without its identifier parses. The caller's [`OutputCheck`] says
//!   which outputs are malformed; they are retried like a garbled page (the same request, so the
//!   same page). When the attempts run out the output is returned as it is and the caller's
//!   check rejects it.
//! - **`ExpiredTokenException`**: credentials are resolved per attempt after the pacer wait,
//!   so a session that lapsed in flight is renewed by the next attempt's resolution.

use aws_smithy_runtime_api::client::interceptors::context::{InterceptorContext, Output};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};

/// Whether a parsed output is malformed (a list item lacks its identifier, a count is
/// negative). The collector owns the response shapes; it passes this to
/// [`ClientFactory::ssm`](crate::ClientFactory::ssm).
pub type OutputCheck = fn(&Output) -> bool;

/// The retry classifier of SSM clients (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct MalformedOrExpired {
    pub(crate) check: OutputCheck,
}

impl ClassifyRetry for MalformedOrExpired {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let (Some(result), Some(response)) = (ctx.output_or_error(), ctx.response()) else {
            return RetryAction::NoActionIndicated;
        };
        match result {
            Ok(output) if (self.check)(output) => RetryAction::transient_error(),
            Ok(_) => RetryAction::NoActionIndicated,
            Err(e) if response.status().is_success() && !e.is_operation_error() => {
                RetryAction::transient_error()
            }
            Err(e) if e.is_operation_error() && is_expired_token(response) => {
                RetryAction::transient_error()
            }
            Err(_) => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "patchlake::MalformedOrExpired"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// Whether an error answer is an expired session token (`x-amzn-errortype` or the awsJson
/// body's `__type`).
fn is_expired_token(response: &HttpResponse) -> bool {
    let expired = |t: &str| {
        let t = t.rsplit('#').next().unwrap_or(t);
        t.starts_with("ExpiredToken")
    };
    if let Some(t) = response.headers().get("x-amzn-errortype") {
        return expired(t);
    }
    response
        .body()
        .bytes()
        .and_then(json_type)
        .is_some_and(expired)
}

/// The `__type` member of an awsJson error body.
fn json_type(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let rest = &text[text.find("\"__type\"")? + "\"__type\"".len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn answer(status: u16, header: Option<&str>, body: &str) -> HttpResponse {
        let mut r = HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from(body.to_owned()),
        );
        if let Some(h) = header {
            r.headers_mut().insert("x-amzn-errortype", h.to_owned());
        }
        r
    }

    #[test]
    fn expired_tokens_are_recognised_by_header_or_body() {
        assert!(is_expired_token(&answer(
            400,
            Some("ExpiredTokenException"),
            "{}"
        )));
        assert!(is_expired_token(&answer(
            400,
            None,
            r#"{"__type": "com.amazonaws.ssm#ExpiredTokenException","message":"x"}"#
        )));
        assert!(!is_expired_token(&answer(
            400,
            Some("ValidationException"),
            r#"{"__type":"ExpiredTokenException"}"#
        )));
        assert!(!is_expired_token(&answer(
            400,
            None,
            r#"{"__type":"InvalidNextToken","message":"ExpiredToken"}"#
        )));
    }
}
