//! AWS Account Management over REST-JSON: `POST /listRegions`.
//!
//! ListRegions answers for the caller's account (a session's account; base credentials are
//! the management account), or for `AccountId` when the caller is the management account.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::auth::credential_scope;
use super::wire::{self, ApiError};
use super::{AppState, parse_json};
use crate::fleet::RegionOptStatus;

const OP: &str = "ListRegions";

fn validation(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("ValidationException", message)
}

fn access_denied(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "AccessDeniedException", message)
}

pub(super) fn list_regions(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    request_id: &str,
) -> Response {
    match run(state, headers, body) {
        Ok(bytes) => {
            state.stats.record(OP, None, None);
            let response = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                bytes,
            )
                .into_response();
            with_request_id(response, request_id)
        }
        Err(e) => {
            state.stats.record(OP, None, Some(e.code));
            wire::json_error(&e, request_id)
        }
    }
}

fn with_request_id(mut response: Response, request_id: &str) -> Response {
    if let Ok(v) = request_id.parse() {
        response.headers_mut().insert("x-amzn-RequestId", v);
    }
    response
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ListRegionsIn {
    account_id: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
    region_opt_status_contains: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RegionOut<'a> {
    region_name: &'a str,
    region_opt_status: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListRegionsOut<'a> {
    regions: Vec<RegionOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn run(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let scope = credential_scope(headers).ok_or_else(ApiError::missing_auth)?;
    let caller = match state.sessions.get(&scope.access_key_id) {
        Some(s) if s.expires <= Utc::now() => return Err(ApiError::expired_token()),
        Some(s) => s.account_id.clone(),
        None => state.fleet.management_account_id().to_string(),
    };
    if state.faults.roll_server_error() {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            "The operation failed because of an error internal to Amazon Web Services. Try your operation again later.",
        ));
    }
    let input: ListRegionsIn = parse_json(body).map_err(|e| validation(e.message))?;
    let max = match input.max_results {
        None => 20,
        Some(v) if (1..=50).contains(&v) => v as usize,
        Some(v) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{v}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 50"
            )));
        }
    };
    let account = match input.account_id.as_deref() {
        None => caller.clone(),
        Some(id) if id == caller => caller.clone(),
        Some(id) if caller == state.fleet.management_account_id() => id.to_string(),
        Some(id) => {
            return Err(access_denied(format!(
                "User: arn:aws:sts::{caller}:assumed-role is not authorized to perform: account:ListRegions on resource: arn:aws:account::{id}:account"
            )));
        }
    };
    let mut wanted = Vec::new();
    for s in input.region_opt_status_contains.unwrap_or_default() {
        wanted.push(RegionOptStatus::parse(&s).ok_or_else(|| {
            validation(format!(
                "1 validation error detected: Value '[{s}]' at 'regionOptStatusContains' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [ENABLED, ENABLING, DISABLING, DISABLED, ENABLED_BY_DEFAULT]]"
            ))
        })?);
    }
    let regions = state
        .fleet
        .account_region_statuses(&account)
        .ok_or_else(|| {
            access_denied(format!(
                "Account {account} is not a member of the organization of {caller}"
            ))
        })?;
    let selected: Vec<&(String, RegionOptStatus)> = regions
        .iter()
        .filter(|(_, s)| wanted.is_empty() || wanted.contains(s))
        .collect();
    let mut context = format!("{OP}|{account}|");
    for w in &wanted {
        context.push_str(w.as_str());
        context.push(',');
    }
    let (page, next_token) = state
        .pages
        .page(&context, &selected, input.next_token.as_deref(), max)
        .map_err(|_| validation("The NextToken is not valid."))?;
    serde_json::to_vec(&ListRegionsOut {
        regions: page
            .iter()
            .map(|(name, status)| RegionOut {
                region_name: name,
                region_opt_status: status.as_str(),
            })
            .collect(),
        next_token,
    })
    .map_err(|_| ApiError::internal())
}
