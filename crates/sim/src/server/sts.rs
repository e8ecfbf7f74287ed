//! STS over awsQuery: AssumeRole and GetCallerIdentity.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{Duration, Utc};

use super::AppState;
use super::auth::{Session, credential_scope};
use super::wire::{self, ApiError, xml_escape};
use crate::fleet::AccountStatus;
use crate::keys::{self, Key};

const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Who calls STS: base credentials stand for the management account's hub user.
enum Caller {
    Hub,
    Session(Arc<Session>),
}

impl Caller {
    fn arn(&self, state: &AppState) -> String {
        match self {
            Caller::Hub => format!(
                "arn:aws:iam::{}:user/patchlake",
                state.fleet.management_account_id()
            ),
            Caller::Session(s) => s.arn(),
        }
    }

    /// The IAM role ARN behind a role session; `None` for the hub user.
    fn role_arn(&self) -> Option<String> {
        match self {
            Caller::Hub => None,
            Caller::Session(s) => Some(format!(
                "arn:aws:iam::{}:role/{}",
                s.account_id, s.role_name
            )),
        }
    }
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("ValidationError", message)
}

fn access_denied(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "AccessDenied", message)
}

pub(super) fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    request_id: &str,
) -> Response {
    let is_form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let pairs = match wire::parse_form(body) {
        Ok(p) if is_form || p.iter().any(|(k, _)| k == "Action") => p,
        Ok(_) => {
            let e = ApiError::bad_request(
                "UnknownOperationException",
                "Missing X-Amz-Target header or awsQuery Action",
            );
            state.stats.record("(unknown)", None, Some(e.code));
            return wire::json_error(&e, request_id);
        }
        Err(e) => {
            state.stats.record("(unknown)", None, Some(e.code));
            return wire::xml_error(&e, request_id);
        }
    };
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let action = get("Action").unwrap_or("");
    let region = credential_scope(headers)
        .map(|s| s.region)
        .unwrap_or_else(|| "us-east-1".to_string());
    let (result, account) = match action {
        "AssumeRole" => {
            let account = get("RoleArn").and_then(role_account).map(str::to_string);
            (assume_role(state, headers, &get, request_id), account)
        }
        "GetCallerIdentity" => (get_caller_identity(state, headers, request_id), None),
        "" => (
            Err(ApiError::bad_request("MissingAction", "Missing Action")),
            None,
        ),
        other => (
            Err(ApiError::bad_request(
                "InvalidAction",
                format!("Could not find operation {other} for version 2011-06-15"),
            )),
            None,
        ),
    };
    let op = if action.is_empty() {
        "(unknown)"
    } else {
        action
    };
    let scope = account.as_deref().map(|a| (a, region.as_str()));
    match result {
        Ok(xml) => {
            state.stats.record(op, scope, None);
            wire::xml_ok(xml, request_id)
        }
        Err(e) => {
            state.stats.record(op, scope, Some(e.code));
            tracing::debug!(op, code = e.code, "sts error");
            wire::xml_error(&e, request_id)
        }
    }
}

fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let scope = credential_scope(headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        )
    })?;
    match state.sessions.get(&scope.access_key_id) {
        Some(s) if s.expires <= Utc::now() => Err(ApiError::bad_request(
            "ExpiredToken",
            "The security token included in the request is expired",
        )),
        Some(s) => Ok(Caller::Session(s)),
        None => Ok(Caller::Hub),
    }
}

/// Account id of `arn:aws:iam::<12 digits>:role/<path/>name`, if well-formed.
fn role_account(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let role = resource.strip_prefix("role/")?;
    let valid_account = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
    let name = role.rsplit('/').next().unwrap_or("");
    (valid_account && !name.is_empty()).then_some(account)
}

fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or("")
}

fn assume_role<'a>(
    state: &AppState,
    headers: &HeaderMap,
    get: &impl Fn(&str) -> Option<&'a str>,
    request_id: &str,
) -> Result<String, ApiError> {
    let caller = caller(state, headers)?;
    let role_arn = get("RoleArn").ok_or_else(|| {
        validation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
    })?;
    let session_name = get("RoleSessionName").ok_or_else(|| {
        validation("1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
    })?;
    let name_ok = (2..=64).contains(&session_name.len())
        && session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !name_ok {
        return Err(validation(format!(
            "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64"
        )));
    }
    let opts = &state.options;
    let duration = match get("DurationSeconds") {
        None => opts.default_session_seconds,
        Some(v) => v.parse::<u32>().map_err(|_| {
            validation(format!(
                "Value '{v}' at 'durationSeconds' is not a valid integer"
            ))
        })?,
    };
    if duration < opts.min_session_seconds {
        return Err(validation(format!(
            "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to {}",
            opts.min_session_seconds
        )));
    }
    if duration > opts.max_session_seconds {
        return Err(validation(format!(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role ({}).",
            opts.max_session_seconds
        )));
    }
    if matches!(caller, Caller::Session(_)) && duration > 3600 {
        return Err(validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }
    let account_id = role_account(role_arn)
        .ok_or_else(|| validation(format!("{role_arn} is not a valid role ARN")))?;

    let denied = || {
        access_denied(format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            caller.arn(state)
        ))
    };
    let spec = state.fleet.spec();
    if let Some(extra) = spec.extra_roles.iter().find(|r| r.role_arn == role_arn) {
        // A hub-side role (the first hop of a chain): trusts any caller with its ExternalId.
        if let Some(expected) = &extra.external_id
            && get("ExternalId") != Some(expected.as_str())
        {
            return Err(denied());
        }
    } else {
        let account = state.fleet.account(account_id).ok_or_else(denied)?;
        if account.status != AccountStatus::Active
            || role_name(role_arn) != spec.role_name
            || state.faults.assume_role_denied(account_id)
        {
            return Err(denied());
        }
        // The member role's trust policy may name one principal: the chain's middle role.
        if let Some(trusted) = &spec.member_role_trusted_principal
            && caller.role_arn().as_deref() != Some(trusted.as_str())
        {
            return Err(denied());
        }
        if let Some(expected) = &spec.external_id
            && get("ExternalId") != Some(expected.as_str())
        {
            return Err(denied());
        }
    }

    let expires = Utc::now() + Duration::seconds(i64::from(duration));
    let session = state
        .sessions
        .issue(account_id, role_name(role_arn), session_name, expires);
    Ok(format!(
        "<AssumeRoleResponse xmlns=\"{XMLNS}\">\n  <AssumeRoleResult>\n    <AssumedRoleUser>\n      <AssumedRoleId>{}</AssumedRoleId>\n      <Arn>{}</Arn>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n  </AssumeRoleResult>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n",
        xml_escape(&session.assumed_role_id),
        xml_escape(&session.arn()),
        session.access_key_id,
        session.secret_access_key,
        session.session_token,
        wire::iso(session.expires),
    ))
}

fn get_caller_identity(
    state: &AppState,
    headers: &HeaderMap,
    request_id: &str,
) -> Result<String, ApiError> {
    let caller = caller(state, headers)?;
    let (arn, user_id, account) = match &caller {
        Caller::Hub => {
            let account = state.fleet.management_account_id().to_string();
            let mut rng = Key::new(state.fleet.spec().seed).str("hub-user").rng();
            (
                caller.arn(state),
                format!("AIDA{}", keys::upper_alnum(&mut rng, 17)),
                account,
            )
        }
        Caller::Session(s) => (s.arn(), s.assumed_role_id.clone(), s.account_id.clone()),
    };
    Ok(format!(
        "<GetCallerIdentityResponse xmlns=\"{XMLNS}\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{account}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
        xml_escape(&arn),
        xml_escape(&user_id),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        assert_eq!(
            role_account("arn:aws:iam::012345678901:role/PatchlakeReadOnly"),
            Some("012345678901")
        );
        assert_eq!(
            role_account("arn:aws:iam::012345678901:role/path/to/R"),
            Some("012345678901")
        );
        assert_eq!(role_name("arn:aws:iam::012345678901:role/path/to/R"), "R");
        assert_eq!(role_account("arn:aws:iam::12345:role/R"), None);
        assert_eq!(role_account("arn:aws:iam::012345678901:user/R"), None);
        assert_eq!(role_account("arn:aws:iam::012345678901:role/"), None);
        assert_eq!(role_account("nonsense"), None);
    }
}
