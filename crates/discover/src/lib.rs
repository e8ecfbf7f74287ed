//! Discovery: which accounts and regions a run covers.
//!
//! Accounts come from the static list in the configuration, or from AWS Organizations
//! (ListAccounts through the starting identity, a management/delegated-admin role, or the
//! first hop of a role chain), minus suspended and excluded accounts. Regions come from the
//! configuration, or with `regions.source = "enabled"` from each account's own view
//! (Account Management ListRegions, see [`enabled_regions`]). This crate decides *what* to
//! collect and never calls SSM.

mod regions;

pub use regions::{
    AccountRegions, REGION_DISABLED, RegionsError, SkippedRegion, disabled_message,
    enabled_regions, list_region_statuses, plan_regions, region_status, status_is_enabled,
};

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_organizations::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
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
    #[error("roles.chain_via_role_arn {role_arn}: {source}")]
    ChainRole {
        role_arn: String,
        #[source]
        source: Arc<patchlake_assume::Error>,
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
    let identity = match (
        &config.accounts.organizations_role_arn,
        &config.roles.chain_via_role_arn,
    ) {
        (Some(arn), _) => Some(assume_org_role(factory, config, arn).await?),
        // hub → org reader → member: the chain's middle role reads the organization.
        (None, Some(via)) => RoleAssumer::new(factory.clone(), Arc::new(config.clone()))
            .via_session()
            .await
            .map_err(|e| Error::ChainRole {
                role_arn: via.clone(),
                source: e,
            })?,
        (None, None) => None,
    };
    let org = factory.organizations(identity, &stats);
    let accounts = &config.accounts;
    let listed = if accounts.include_ous.is_empty() {
        list_all(&org).await?
    } else {
        let mut all = Vec::new();
        for ou in &accounts.include_ous {
            all.extend(list_under(&org, ou).await?);
        }
        all
    };
    let mut excluded = BTreeSet::new();
    for ou in &accounts.exclude_ous {
        for a in list_under(&org, ou).await? {
            excluded.insert(a.id);
        }
    }
    let (mut active, mut skipped) = (Vec::new(), Vec::new());
    for a in listed {
        if excluded.contains(&a.id) {
            skipped.push((a.id, "under an OU in accounts.exclude_ous".into()));
        } else if a.status == "ACTIVE" {
            active.push(Account {
                id: a.id,
                name: a.name,
            });
        } else {
            skipped.push((a.id, format!("account status {}", a.status)));
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

/// An account as Organizations lists it.
struct Listing {
    id: String,
    name: Option<String>,
    status: String,
}

fn listing(a: &aws_sdk_organizations::types::Account) -> Option<Listing> {
    Some(Listing {
        id: a.id()?.to_owned(),
        name: a.name().map(str::to_owned),
        status: a
            .status()
            .map(|s| s.as_str())
            .unwrap_or("ACTIVE")
            .to_owned(),
    })
}

fn org_error<E>(op: &'static str, e: &SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    Error::Organizations(classify(op, e))
}

async fn list_all(org: &aws_sdk_organizations::Client) -> Result<Vec<Listing>> {
    let mut out = Vec::new();
    let mut pages = org.list_accounts().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| org_error("organizations:ListAccounts", &e))?;
        out.extend(page.accounts().iter().filter_map(listing));
    }
    Ok(out)
}

/// Accounts under `parent` (an OU or root id) at any depth.
async fn list_under(org: &aws_sdk_organizations::Client, parent: &str) -> Result<Vec<Listing>> {
    let mut out = Vec::new();
    let mut queue = vec![parent.to_owned()];
    while let Some(parent) = queue.pop() {
        let mut pages = org
            .list_accounts_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| org_error("organizations:ListAccountsForParent", &e))?;
            out.extend(page.accounts().iter().filter_map(listing));
        }
        let mut pages = org
            .list_organizational_units_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| org_error("organizations:ListOrganizationalUnitsForParent", &e))?;
            queue.extend(
                page.organizational_units()
                    .iter()
                    .filter_map(|u| u.id().map(str::to_owned)),
            );
        }
    }
    Ok(out)
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
