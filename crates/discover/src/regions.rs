//! Regions of one account: `regions.source = "enabled"` asks the AWS Account Management API
//! (ListRegions, with the member account's own session) which regions the account has
//! enabled.

use std::sync::Arc;

use aws_sdk_account::types::RegionOptStatus;
use patchlake_assume::{AwsError, CallStats, ClientFactory, RoleAssumer, classify};
use patchlake_config::Config;

/// The coverage error code of a region left out because the account has not enabled it.
pub const REGION_DISABLED: &str = "RegionDisabled";

/// A region of an account deliberately not collected (a `skipped` coverage row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedRegion {
    pub region: String,
    pub error_code: String,
    pub message: String,
}

/// What region discovery decided for one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRegions {
    pub account_id: String,
    /// Enabled regions to collect, sorted.
    pub collect: Vec<String>,
    /// Regions known to the account but not enabled (opt-in regions not opted in, or being
    /// enabled or disabled), limited to `regions.names` when that is set.
    pub skipped: Vec<SkippedRegion>,
    /// Calls made (ListRegions pages, retries included).
    pub api_calls: u64,
}

/// Region discovery failed for an account: the account gets one `failed` coverage row.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RegionsError {
    #[error("listing the enabled regions of account {account_id}: {source}")]
    Assume {
        account_id: String,
        #[source]
        source: Arc<patchlake_assume::Error>,
    },
    #[error(
        "listing the enabled regions of account {account_id}: {source} (grant account:ListRegions to the member role, or set regions.source = \"static\" with regions.names)"
    )]
    ListRegions {
        account_id: String,
        #[source]
        source: AwsError,
    },
}

impl RegionsError {
    /// The AWS error code, for the coverage row.
    pub fn code(&self) -> String {
        match self {
            RegionsError::Assume { source, .. } => source.code().to_owned(),
            RegionsError::ListRegions { source, .. } => source.code.clone(),
        }
    }
}

/// Every region the account reports, with its opt-in status (`ENABLED`, `ENABLED_BY_DEFAULT`,
/// `ENABLING`, `DISABLING`, `DISABLED`), in one call per 50 regions.
pub async fn list_region_statuses(
    client: &aws_sdk_account::Client,
) -> Result<Vec<(String, String)>, AwsError> {
    let mut out = Vec::new();
    let mut pages = client
        .list_regions()
        .max_results(50)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("account:ListRegions", &e))?;
        for r in page.regions() {
            if let (Some(name), Some(status)) = (r.region_name(), r.region_opt_status()) {
                out.push((name.to_owned(), status.as_str().to_owned()));
            }
        }
    }
    Ok(out)
}

fn is_enabled(status: &str) -> bool {
    status == RegionOptStatus::Enabled.as_str()
        || status == RegionOptStatus::EnabledByDefault.as_str()
}

/// The opt-in status of `region` in the account `identity` belongs to: `Some(status)`, or
/// `None` when the account does not list the region at all.
pub async fn region_status(
    factory: &ClientFactory,
    identity: aws_credential_types::provider::SharedCredentialsProvider,
    stats: &Arc<CallStats>,
    region: &str,
) -> Result<Option<String>, AwsError> {
    let client = factory.account(identity, stats);
    Ok(list_region_statuses(&client)
        .await?
        .into_iter()
        .find(|(name, _)| name == region)
        .map(|(_, status)| status))
}

/// Whether a region status allows collection.
pub fn status_is_enabled(status: &str) -> bool {
    is_enabled(status)
}

/// The message of a `skipped` coverage row for a region the account has not enabled.
pub fn disabled_message(account_id: &str, region: &str, status: &str) -> String {
    format!(
        "region {region} is {status} in account {account_id} (opt-in region not enabled): not collected"
    )
}

/// The regions to collect in `account_id`: those it has enabled, within `regions.names` when
/// that is not empty, minus `regions.exclude`.
pub async fn enabled_regions(
    factory: &ClientFactory,
    assumer: &RoleAssumer,
    config: &Config,
    account_id: &str,
) -> Result<AccountRegions, RegionsError> {
    let identity = assumer
        .credentials_for(account_id)
        .await
        .map_err(|source| RegionsError::Assume {
            account_id: account_id.to_owned(),
            source,
        })?;
    let stats = CallStats::new();
    let client = factory.account(identity, &stats);
    let statuses =
        list_region_statuses(&client)
            .await
            .map_err(|source| RegionsError::ListRegions {
                account_id: account_id.to_owned(),
                source,
            })?;
    let mut plan = plan_regions(config, account_id, &statuses);
    plan.api_calls = stats.snapshot().attempts;
    tracing::debug!(account_id, collect = ?plan.collect, skipped = plan.skipped.len(), "enabled regions");
    Ok(plan)
}

/// The pure part of [`enabled_regions`]: applies `regions.names` and `regions.exclude` to
/// the account's region statuses.
pub fn plan_regions(
    config: &Config,
    account_id: &str,
    statuses: &[(String, String)],
) -> AccountRegions {
    let names = &config.regions.names;
    let wanted = |r: &str| {
        (names.is_empty() || names.iter().any(|n| n == r))
            && !config.regions.exclude.iter().any(|x| x == r)
    };
    let mut collect = Vec::new();
    let mut skipped = Vec::new();
    for (region, status) in statuses {
        if !wanted(region) {
            continue;
        }
        if is_enabled(status) {
            collect.push(region.clone());
        } else {
            skipped.push(SkippedRegion {
                region: region.clone(),
                error_code: REGION_DISABLED.to_owned(),
                message: disabled_message(account_id, region, status),
            });
        }
    }
    // A listed region the account does not know at all (a typo would fail config validation;
    // this is a region newer than the account's partition view): skipped, said so.
    for n in names {
        let known = statuses.iter().any(|(r, _)| r == n);
        if !known && !config.regions.exclude.contains(n) {
            skipped.push(SkippedRegion {
                region: n.clone(),
                error_code: REGION_DISABLED.to_owned(),
                message: format!(
                    "region {n} (regions.names) is not listed by account:ListRegions in account {account_id}: not collected"
                ),
            });
        }
    }
    collect.sort();
    collect.dedup();
    skipped.sort_by(|a, b| a.region.cmp(&b.region));
    AccountRegions {
        account_id: account_id.to_owned(),
        collect,
        skipped,
        api_calls: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses() -> Vec<(String, String)> {
        [
            ("us-east-1", "ENABLED_BY_DEFAULT"),
            ("eu-west-1", "ENABLED_BY_DEFAULT"),
            ("af-south-1", "ENABLED"),
            ("me-south-1", "DISABLED"),
            ("ap-east-1", "ENABLING"),
            ("eu-south-1", "DISABLING"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
    }

    #[test]
    fn enabled_and_opted_in_are_collected_the_rest_skipped() {
        let mut config = Config::default();
        config.regions.names = vec![];
        let p = plan_regions(&config, "012345678901", &statuses());
        assert_eq!(p.collect, ["af-south-1", "eu-west-1", "us-east-1"]);
        let skipped: Vec<&str> = p.skipped.iter().map(|s| s.region.as_str()).collect();
        assert_eq!(skipped, ["ap-east-1", "eu-south-1", "me-south-1"]);
        assert!(p.skipped.iter().all(|s| s.error_code == REGION_DISABLED));
        assert!(p.skipped[0].message.contains("ENABLING"));
        assert!(p.skipped[0].message.contains("012345678901"));
    }

    #[test]
    fn names_limit_and_exclude_removes() {
        let mut config = Config::default();
        config.regions.names = vec!["us-east-1".into(), "me-south-1".into(), "af-south-1".into()];
        config.regions.exclude = vec!["af-south-1".into()];
        let p = plan_regions(&config, "012345678901", &statuses());
        assert_eq!(p.collect, ["us-east-1"]);
        assert_eq!(p.skipped.len(), 1);
        assert_eq!(p.skipped[0].region, "me-south-1");
    }
}
