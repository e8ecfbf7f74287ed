//! Broken response pages: what a client meets when a proxy, a load balancer or the service
//! itself garbles a successful answer.

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::faults::{Faults, Malformation};
use super::wire::AMZ_JSON;

/// The error code the simulator's statistics count injected malformed pages under (the
/// client sees HTTP 200, or a dropped connection).
pub(crate) const CODE: &str = "MalformedResponse";

/// Members that identify a list item: the first one an item has is the one removed.
const ID_MEMBERS: [&str; 9] = [
    "InstanceId",
    "BaselineId",
    "KBId",
    "WindowId",
    "WindowTargetId",
    "PatchGroup",
    "Id",
    "Key",
    "Name",
];

/// `body`, a successful awsJson answer, broken as `kind` says.
pub(crate) fn response(
    kind: Malformation,
    body: Vec<u8>,
    faults: &Faults,
    request_id: &str,
) -> Response {
    let ok = |bytes: Vec<u8>| {
        (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, AMZ_JSON),
                (
                    header::HeaderName::from_static("x-amzn-requestid"),
                    request_id,
                ),
            ],
            bytes,
        )
            .into_response()
    };
    match kind {
        Malformation::InvalidJson => ok(
            b"<html><head><title>502 Bad Gateway</title></head><body>upstream reset</body></html>"
                .to_vec(),
        ),
        Malformation::Truncated => ok(truncate(body, faults)),
        Malformation::MissingField => match without_identifier(&body, faults) {
            Some(bytes) => ok(bytes),
            // Nothing to remove (an empty list): still hand out a broken page.
            None => ok(truncate(body, faults)),
        },
        Malformation::CutConnection => {
            let len = body.len();
            let cut = truncate(body, faults);
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from(cut)),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "connection cut by fault injection",
                )),
            ];
            let mut response = (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, AMZ_JSON),
                    (
                        header::HeaderName::from_static("x-amzn-requestid"),
                        request_id,
                    ),
                ],
                Body::from_stream(futures::stream::iter(chunks)),
            )
                .into_response();
            // The full length is promised, so the client cannot take the cut body as whole.
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
            response
        }
    }
}

/// The first part of `body`: at least one byte short, never empty.
fn truncate(mut body: Vec<u8>, faults: &Faults) -> Vec<u8> {
    if body.len() <= 1 {
        return b"{".to_vec();
    }
    let keep = 1 + faults.pick(body.len() - 1);
    body.truncate(keep);
    body
}

/// The body with one list item's identifier removed, or `None` when no list has an item.
fn without_identifier(body: &[u8], faults: &Faults) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object_mut()?;
    let list = object
        .values_mut()
        .filter_map(Value::as_array_mut)
        .find(|a| a.iter().any(Value::is_object))?;
    let objects: Vec<usize> = (0..list.len()).filter(|&i| list[i].is_object()).collect();
    let item = list[objects[faults.pick(objects.len())]].as_object_mut()?;
    let member = ID_MEMBERS.iter().find(|m| item.contains_key(**m))?;
    item.remove(*member);
    serde_json::to_vec(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::FaultConfig;

    #[test]
    fn a_missing_identifier_is_removed_from_exactly_one_item() {
        let faults = Faults::new(FaultConfig::default(), 3);
        let body = br#"{"InstanceInformationList":[{"InstanceId":"i-1","PingStatus":"Online"},{"InstanceId":"i-2"}],"NextToken":"t"}"#;
        let broken: Value =
            serde_json::from_slice(&without_identifier(body, &faults).unwrap()).unwrap();
        let items = broken["InstanceInformationList"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            items
                .iter()
                .filter(|i| i.get("InstanceId").is_none())
                .count(),
            1
        );
        assert_eq!(broken["NextToken"], "t");
        assert!(without_identifier(br#"{"Patches":[]}"#, &faults).is_none());
    }

    #[test]
    fn truncation_always_shortens() {
        let faults = Faults::new(FaultConfig::default(), 3);
        for _ in 0..100 {
            let t = truncate(b"{\"a\":1}".to_vec(), &faults);
            assert!(!t.is_empty() && t.len() < 7);
        }
    }
}
