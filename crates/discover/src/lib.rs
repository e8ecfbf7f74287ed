//! Discovery: which accounts a run covers.
//!
//! Accounts come from the static list in the configuration, or from AWS Organizations
//! (ListAccounts through the starting identity or a management/delegated-admin role), minus
//! suspended and excluded accounts. Regions come from the configuration. This crate decides
//! *what* to collect and never calls SSM.

use std::sync::Arc;

use aws_credential_types::provider::SharedCredentialsProvider;
use patchlake_assume::{AwsError, CallStats, ClientFactory, RoleAssumer, classify};
use patchlake_config::{AccountSource, Config};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "listing accounts with AWS Organizations: {0} (set accounts.source = \"static\" and accounts.ids to list accounts by hand)"
    )]
    Organizations(#[source] AwsError),
    #[error("accounts.organizations_role_arn {role_arn}: {source}")]
    OrganizationsRole {
        role_arn: String,
        #[source]
        source: patchlake_assume::Error,
    },
    #[error("no account to collect: {0}")]
    Empty(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An account to collect, with what discovery knows of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: Option<String>,
}

/// The accounts and regions of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub accounts: Vec<Account>,
    pub regions: Vec<String>,
    /// Accounts discovery saw but left out, with the reason (suspended, excluded).
    pub skipped: Vec<(String, String)>,
}

/// Resolves the accounts and regions the configuration asks for.
pub async fn discover(factory: &ClientFactory, config: &Config) -> Result<Plan> {
    let mut skipped = Vec::new();
    let mut accounts: Vec<Account> = match config.accounts.source {
        AccountSource::Static => config
            .accounts
            .ids
            .iter()
            .map(|id| Account {
                id: id.clone(),
                name: None,
            })
            .collect(),
        AccountSource::Organizations => {
            let (listed, not_active) = list_organization_accounts(factory, config).await?;
            skipped.extend(not_active);
            listed
        }
    };
    accounts.sort_by(|a, b| a.id.cmp(&b.id));
    accounts.dedup_by(|a, b| a.id == b.id);
    accounts.retain(|a| {
        let excluded = config.accounts.exclude.contains(&a.id);
        if excluded {
            skipped.push((a.id.clone(), "excluded by accounts.exclude".into()));
        }
        !excluded
    });
    if accounts.is_empty() {
        return Err(Error::Empty(format!(
            "accounts.source = {:?} produced no account after exclusions",
            config.accounts.source
        )));
    }
    Ok(Plan {
        accounts,
        regions: config.regions.names.clone(),
        skipped,
    })
}

type Listed = (Vec<Account>, Vec<(String, String)>);

async fn list_organization_accounts(factory: &ClientFactory, config: &Config) -> Result<Listed> {
    let stats = CallStats::new();
    let identity = match &config.accounts.organizations_role_arn {
        None => None,
        Some(arn) => Some(assume_org_role(factory, config, arn).await?),
    };
    let org = factory.organizations(identity, &stats);
    let mut pages = org.list_accounts().into_paginator().send();
    let (mut active, mut skipped) = (Vec::new(), Vec::new());
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| Error::Organizations(classify("organizations:ListAccounts", &e)))?;
        for a in page.accounts() {
            let Some(id) = a.id() else { continue };
            let status = a.status().map(|s| s.as_str()).unwrap_or("ACTIVE");
            if status == "ACTIVE" {
                active.push(Account {
                    id: id.to_owned(),
                    name: a.name().map(str::to_owned),
                });
            } else {
                skipped.push((id.to_owned(), format!("account status {status}")));
            }
        }
    }
    tracing::info!(
        accounts = active.len(),
        skipped = skipped.len(),
        calls = stats.snapshot().attempts,
        "listed organization accounts"
    );
    Ok((active, skipped))
}

async fn assume_org_role(
    factory: &ClientFactory,
    config: &Config,
    role_arn: &str,
) -> Result<SharedCredentialsProvider> {
    RoleAssumer::new(factory.clone(), Arc::new(config.clone()))
        .session_for_arn(role_arn)
        .await
        .map_err(|e| Error::OrganizationsRole {
            role_arn: role_arn.to_owned(),
            source: e,
        })
}
