//! Organizations over awsJson1_1, answered for the management account.

use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::auth::credential_scope;
use super::wire::{self, ApiError, epoch};
use super::{AppState, parse_json};
use crate::fleet::Account;

fn invalid_input(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("InvalidInputException", message)
}

fn page_size(value: Option<i64>) -> Result<usize, ApiError> {
    match value {
        None => Ok(20),
        Some(v) if (1..=20).contains(&v) => Ok(v as usize),
        Some(v) => Err(invalid_input(format!(
            "1 validation error detected: Value '{v}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 20"
        ))),
    }
}

/// Base credentials are the management account; sessions in other accounts are refused,
/// as Organizations answers only in the management (or a delegated admin) account.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let scope = credential_scope(headers).ok_or_else(ApiError::missing_auth)?;
    match state.sessions.get(&scope.access_key_id) {
        Some(s) if s.expires <= Utc::now() => Err(ApiError::expired_token()),
        Some(s) if s.account_id != state.fleet.management_account_id() => {
            Err(ApiError::bad_request(
                "AccessDeniedException",
                "You don't have permissions to access this resource.",
            ))
        }
        _ => Ok(()),
    }
}

pub(super) fn handle(
    state: &AppState,
    op: &str,
    headers: &HeaderMap,
    body: &[u8],
    request_id: &str,
) -> Response {
    let result = authorize(state, headers).and_then(|()| {
        if state.faults.roll_server_error() {
            return Err(ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                "AWS Organizations can't complete your request because of an internal service error. Try again later.",
            ));
        }
        match op {
            "ListAccounts" => list_accounts(state, parse_json(body)?),
            "ListAccountsForParent" => list_accounts_for_parent(state, parse_json(body)?),
            "ListRoots" => list_roots(state, parse_json(body)?),
            "ListOrganizationalUnitsForParent" => list_ous_for_parent(state, parse_json(body)?),
            "DescribeOrganization" => describe_organization(state),
            "DescribeAccount" => describe_account(state, parse_json(body)?),
            other => Err(ApiError::bad_request(
                "UnknownOperationException",
                format!("Unknown operation {other}"),
            )),
        }
    });
    match result {
        Ok(bytes) => {
            state.stats.record(op, None, None);
            wire::json_bytes(bytes, request_id)
        }
        Err(e) => {
            state.stats.record(op, None, Some(e.code));
            wire::json_error(&e, request_id)
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|_| ApiError::internal())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct PageIn {
    parent_id: Option<String>,
    account_id: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AccountOut<'a> {
    id: &'a str,
    arn: &'a str,
    email: &'a str,
    name: &'a str,
    status: &'static str,
    state: &'static str,
    joined_method: &'static str,
    joined_timestamp: f64,
}

fn account_out(a: &Account) -> AccountOut<'_> {
    AccountOut {
        id: &a.id,
        arn: &a.arn,
        email: &a.email,
        name: &a.name,
        status: a.status.as_str(),
        state: a.status.as_str(),
        joined_method: a.joined_method,
        joined_timestamp: epoch(a.joined),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AccountsOut<'a> {
    accounts: Vec<AccountOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn paged_accounts(
    state: &AppState,
    context: &str,
    accounts: &[&Account],
    input: &PageIn,
) -> Result<Vec<u8>, ApiError> {
    let max = page_size(input.max_results)?;
    let (page, next_token) = state
        .pages
        .page(context, accounts, input.next_token.as_deref(), max)
        .map_err(|_| invalid_input("The NextToken is not valid."))?;
    to_json(&AccountsOut {
        accounts: page.iter().map(|a| account_out(a)).collect(),
        next_token,
    })
}

fn list_accounts(state: &AppState, input: PageIn) -> Result<Vec<u8>, ApiError> {
    let accounts: Vec<&Account> = state.fleet.accounts().iter().collect();
    paged_accounts(state, "ListAccounts", &accounts, &input)
}

fn check_parent(state: &AppState, parent: Option<&str>) -> Result<String, ApiError> {
    let parent = parent.ok_or_else(|| invalid_input("ParentId is required."))?;
    let org = state.fleet.organization();
    if parent == org.root_id || org.units.iter().any(|u| u.id == parent) {
        Ok(parent.to_string())
    } else {
        Err(ApiError::bad_request(
            "ParentNotFoundException",
            "We can't find a root or OU with the ParentId that you specified.",
        ))
    }
}

fn list_accounts_for_parent(state: &AppState, input: PageIn) -> Result<Vec<u8>, ApiError> {
    let parent = check_parent(state, input.parent_id.as_deref())?;
    let accounts: Vec<&Account> = state
        .fleet
        .accounts()
        .iter()
        .filter(|a| a.parent_id == parent)
        .collect();
    paged_accounts(
        state,
        &format!("ListAccountsForParent|{parent}"),
        &accounts,
        &input,
    )
}

fn list_roots(state: &AppState, input: PageIn) -> Result<Vec<u8>, ApiError> {
    page_size(input.max_results)?;
    let org = state.fleet.organization();
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct PolicyType {
        r#type: &'static str,
        status: &'static str,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Root<'a> {
        id: &'a str,
        arn: &'a str,
        name: &'static str,
        policy_types: [PolicyType; 1],
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out<'a> {
        roots: [Root<'a>; 1],
    }
    to_json(&Out {
        roots: [Root {
            id: &org.root_id,
            arn: &org.root_arn,
            name: "Root",
            policy_types: [PolicyType {
                r#type: "SERVICE_CONTROL_POLICY",
                status: "ENABLED",
            }],
        }],
    })
}

fn list_ous_for_parent(state: &AppState, input: PageIn) -> Result<Vec<u8>, ApiError> {
    let parent = check_parent(state, input.parent_id.as_deref())?;
    let max = page_size(input.max_results)?;
    let org = state.fleet.organization();
    let units: Vec<_> = if parent == org.root_id {
        org.units.iter().collect()
    } else {
        Vec::new()
    };
    let (page, next_token) = state
        .pages
        .page(
            &format!("ListOrganizationalUnitsForParent|{parent}"),
            &units,
            input.next_token.as_deref(),
            max,
        )
        .map_err(|_| invalid_input("The NextToken is not valid."))?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Unit<'a> {
        id: &'a str,
        arn: &'a str,
        name: &'a str,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out<'a> {
        organizational_units: Vec<Unit<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        next_token: Option<String>,
    }
    to_json(&Out {
        organizational_units: page
            .iter()
            .map(|u| Unit {
                id: &u.id,
                arn: &u.arn,
                name: &u.name,
            })
            .collect(),
        next_token,
    })
}

fn describe_organization(state: &AppState) -> Result<Vec<u8>, ApiError> {
    let org = state.fleet.organization();
    let management = state
        .fleet
        .account(&org.management_account_id)
        .ok_or_else(ApiError::internal)?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Org<'a> {
        id: &'a str,
        arn: &'a str,
        feature_set: &'static str,
        master_account_arn: &'a str,
        master_account_id: &'a str,
        master_account_email: &'a str,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out<'a> {
        organization: Org<'a>,
    }
    to_json(&Out {
        organization: Org {
            id: &org.id,
            arn: &org.arn,
            feature_set: "ALL",
            master_account_arn: &management.arn,
            master_account_id: &management.id,
            master_account_email: &management.email,
        },
    })
}

fn describe_account(state: &AppState, input: PageIn) -> Result<Vec<u8>, ApiError> {
    let id = input
        .account_id
        .as_deref()
        .ok_or_else(|| invalid_input("AccountId is required."))?;
    let account = state.fleet.account(id).ok_or_else(|| {
        ApiError::bad_request(
            "AccountNotFoundException",
            "You specified an account that doesn't exist.",
        )
    })?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out<'a> {
        account: AccountOut<'a>,
    }
    to_json(&Out {
        account: account_out(account),
    })
}
