//! The lake's latest committed run as the basis of incremental collection (the same reuse
//! rule as the CLI's `collect`: per-instance patches of unchanged instances are not fetched).

use futures::future::BoxFuture;
use patchlake_collect::{Prior, PriorRun, Target};
use patchlake_config::Config;
use patchlake_lake::Lake;
use patchlake_model::{InstancePatch, PatchState, Table};
use patchlake_query::{AsOf, LakeQuery, ReportParams};

pub struct LakePrior {
    query: LakeQuery,
}

impl LakePrior {
    /// The latest committed run, unless `collect.incremental` is off or there is none.
    pub async fn open(lake: &Lake, config: &Config) -> Option<LakePrior> {
        if !config.collect.incremental {
            return None;
        }
        match LakeQuery::from_lake(lake, AsOf::Latest, ReportParams::default()).await {
            Ok(query) => Some(LakePrior { query }),
            Err(e) => {
                tracing::info!("full collection: no previous run to reuse ({e})");
                None
            }
        }
    }

    async fn rows<T: serde::de::DeserializeOwned>(
        &self,
        table: Table,
        target: &Target,
    ) -> Result<Vec<T>, String> {
        // Account ids and regions are validated (digits, [a-z0-9-]) before they get here.
        let sql = format!(
            "SELECT * FROM {} WHERE account_id = '{}' AND region = '{}'",
            table.name(),
            target.account_id,
            target.region
        );
        let mut rows = Vec::new();
        for b in self.query.sql(&sql).await.map_err(|e| e.to_string())? {
            rows.extend(
                patchlake_model::batch::deserialize_rows(table, &b).map_err(|e| e.to_string())?,
            );
        }
        Ok(rows)
    }

    async fn prior(&self, target: &Target) -> Result<Prior, String> {
        let states: Vec<PatchState> = self.rows(Table::PatchStates, target).await?;
        let patches: Vec<InstancePatch> = self.rows(Table::InstancePatches, target).await?;
        let mut prior = Prior::default();
        for s in states {
            prior.states.insert(s.instance_id.clone(), s);
        }
        for p in patches {
            prior
                .patches
                .entry(p.instance_id.clone())
                .or_default()
                .push(p);
        }
        Ok(prior)
    }
}

impl PriorRun for LakePrior {
    fn load<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Option<Prior>> {
        Box::pin(async move {
            match self.prior(target).await {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(account_id = %target.account_id, region = %target.region,
                        "cannot read the previous run, collecting in full: {e}");
                    None
                }
            }
        })
    }
}
