//! Caller identification: SigV4 credential scopes and the sessions AssumeRole issues.
//!
//! Signatures are not verified; the access key id says who calls and the credential scope
//! says which region the call is for, which is all the simulator needs to route a call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

use crate::keys::{self, Key};

/// The `Credential=AKID/date/region/service/aws4_request` part of an Authorization header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CredentialScope {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
}

pub(crate) fn credential_scope(headers: &HeaderMap) -> Option<CredentialScope> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let rest = value.strip_prefix("AWS4-HMAC-SHA256")?;
    let credential = rest
        .split(',')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("Credential="))?;
    let mut parts = credential.split('/');
    let access_key_id = parts.next()?.to_string();
    let _date = parts.next()?;
    let region = parts.next()?.to_string();
    let service = parts.next()?.to_string();
    if access_key_id.is_empty() {
        return None;
    }
    Some(CredentialScope {
        access_key_id,
        region,
        service,
    })
}

/// Temporary credentials issued by AssumeRole.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub account_id: String,
    pub role_name: String,
    pub session_name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub assumed_role_id: String,
    pub expires: DateTime<Utc>,
}

impl Session {
    pub(crate) fn arn(&self) -> String {
        format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            self.account_id, self.role_name, self.session_name
        )
    }
}

/// Access key id → session. Sessions are never removed: a test's session count is small.
#[derive(Debug)]
pub(crate) struct Sessions {
    seed: u64,
    counter: AtomicU64,
    by_key: RwLock<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    pub(crate) fn new(seed: u64) -> Self {
        Sessions {
            seed,
            counter: AtomicU64::new(0),
            by_key: RwLock::new(HashMap::new()),
        }
    }

    pub(crate) fn issue(
        &self,
        account_id: &str,
        role_name: &str,
        session_name: &str,
        expires: DateTime<Utc>,
    ) -> Arc<Session> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut rng = Key::new(self.seed).str("session").num(n).rng();
        // The role id is stable per (account, role), like a real role's unique id.
        let mut role_rng = Key::new(self.seed)
            .str("role-id")
            .str(account_id)
            .str(role_name)
            .rng();
        let session = Arc::new(Session {
            account_id: account_id.to_string(),
            role_name: role_name.to_string(),
            session_name: session_name.to_string(),
            access_key_id: format!("ASIA{}", keys::upper_alnum(&mut rng, 16)),
            secret_access_key: format!(
                "{}{}",
                keys::lower_alnum(&mut rng, 20),
                keys::upper_alnum(&mut rng, 20)
            ),
            session_token: format!(
                "IQoJb3JpZ2luX2VjE{}",
                keys::lower_alnum(&mut rng, 200) + &keys::upper_alnum(&mut rng, 100)
            ),
            assumed_role_id: format!(
                "AROA{}:{session_name}",
                keys::upper_alnum(&mut role_rng, 17)
            ),
            expires,
        });
        self.by_key
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(session.access_key_id.clone(), Arc::clone(&session));
        session
    }

    pub(crate) fn get(&self, access_key_id: &str) -> Option<Arc<Session>> {
        self.by_key
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(access_key_id)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sigv4_scope() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261125/eu-west-1/ssm/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"
                .parse()
                .unwrap(),
        );
        let scope = credential_scope(&headers).unwrap();
        assert_eq!(scope.access_key_id, "ASIAEXAMPLE");
        assert_eq!(scope.region, "eu-west-1");
        assert_eq!(scope.service, "ssm");
        headers.insert("authorization", "Bearer x".parse().unwrap());
        assert!(credential_scope(&headers).is_none());
    }

    #[test]
    fn sessions_are_looked_up_by_key() {
        let sessions = Sessions::new(1);
        let s = sessions.issue("012345678901", "Role", "sess", Utc::now());
        assert_eq!(s.access_key_id.len(), 20);
        assert!(s.access_key_id.starts_with("ASIA"));
        assert_eq!(
            sessions.get(&s.access_key_id).unwrap().account_id,
            "012345678901"
        );
        assert!(sessions.get("ASIANOPE").is_none());
        assert_eq!(s.arn(), "arn:aws:sts::012345678901:assumed-role/Role/sess");
    }
}
