//! Response framing for the two wire protocols: awsJson1_1 (SSM, Organizations) and
//! awsQuery (STS).

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::keys::splitmix64;

pub(crate) const AMZ_JSON: &str = "application/x-amz-json-1.1";

/// An AWS error as the wire shows it: HTTP status, error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// SSM-style `ValidationException` for a constraint on one request member.
    pub(crate) fn constraint(
        value: impl std::fmt::Display,
        member: &str,
        constraint: &str,
    ) -> Self {
        ApiError::bad_request(
            "ValidationException",
            format!(
                "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
            ),
        )
    }

    pub(crate) fn serialization(detail: impl std::fmt::Display) -> Self {
        ApiError::bad_request(
            "SerializationException",
            format!("Could not parse request body: {detail}"),
        )
    }

    pub(crate) fn unrecognized_client() -> Self {
        ApiError::bad_request(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    }

    pub(crate) fn expired_token() -> Self {
        ApiError::bad_request(
            "ExpiredTokenException",
            "The security token included in the request is expired",
        )
    }

    pub(crate) fn missing_auth() -> Self {
        ApiError::bad_request(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        )
    }

    pub(crate) fn throttling() -> Self {
        ApiError::bad_request("ThrottlingException", "Rate exceeded")
    }

    pub(crate) fn invalid_next_token() -> Self {
        ApiError::bad_request("InvalidNextToken", "The specified token is not valid.")
    }

    pub(crate) fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "An internal error occurred. Try again later.",
        )
    }
}

/// Request ids: unique per server, cheap, UUID-shaped.
#[derive(Debug, Default)]
pub(crate) struct RequestIds(AtomicU64);

impl RequestIds {
    pub(crate) fn next(&self) -> String {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        let a = splitmix64(n ^ 0x5eed);
        let b = splitmix64(a);
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

fn with_request_id(mut response: Response, request_id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-RequestId", v);
    }
    response
}

pub(crate) fn json_bytes(bytes: Vec<u8>, request_id: &str) -> Response {
    with_request_id(
        (StatusCode::OK, [(header::CONTENT_TYPE, AMZ_JSON)], bytes).into_response(),
        request_id,
    )
}

#[derive(Serialize)]
struct JsonError<'a> {
    #[serde(rename = "__type")]
    kind: &'a str,
    message: &'a str,
}

pub(crate) fn json_error(err: &ApiError, request_id: &str) -> Response {
    let body = serde_json::to_vec(&JsonError {
        kind: err.code,
        message: &err.message,
    })
    .unwrap_or_default();
    with_request_id(
        (
            err.status,
            [
                (header::CONTENT_TYPE, AMZ_JSON),
                (
                    header::HeaderName::from_static("x-amzn-errortype"),
                    err.code,
                ),
            ],
            body,
        )
            .into_response(),
        request_id,
    )
}

pub(crate) fn xml_ok(body: String, request_id: &str) -> Response {
    with_request_id(
        (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], body).into_response(),
        request_id,
    )
}

pub(crate) fn xml_error(err: &ApiError, request_id: &str) -> Response {
    let kind = if err.status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
        err.code,
        xml_escape(&err.message)
    );
    with_request_id(
        (err.status, [(header::CONTENT_TYPE, "text/xml")], body).into_response(),
        request_id,
    )
}

pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// awsJson timestamps are epoch seconds as JSON numbers.
pub(crate) fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// awsQuery timestamps are ISO-8601.
pub(crate) fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Decodes an `application/x-www-form-urlencoded` body into ordered pairs.
pub(crate) fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::serialization("body is not UTF-8"))?;
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

fn percent_decode(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| ApiError::serialization("bad percent-encoding"))?;
                out.push(hex);
                i += 2;
            }
            b'%' => return Err(ApiError::serialization("bad percent-encoding")),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::serialization("form value is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        let pairs = parse_form(
            b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A012345678901%3Arole%2FR&X=a+b&E=",
        )
        .unwrap();
        assert_eq!(pairs[0], ("Action".into(), "AssumeRole".into()));
        assert_eq!(pairs[1].1, "arn:aws:iam::012345678901:role/R");
        assert_eq!(pairs[2].1, "a b");
        assert_eq!(pairs[3].1, "");
        assert!(parse_form(b"A=%2").is_err());
        assert!(parse_form(b"A=%zz").is_err());
    }

    #[test]
    fn request_ids_are_unique() {
        let ids = RequestIds::default();
        let a = ids.next();
        assert_eq!(a.len(), 36);
        assert_ne!(a, ids.next());
    }
}
