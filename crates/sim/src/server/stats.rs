//! Call statistics the tests assert on.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// A snapshot of the calls the server received since start (or the last reset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub total_calls: u64,
    /// Operation name (`DescribeInstancePatchStates`, `AssumeRole`, `ListAccounts`, …) →
    /// calls, including the ones that failed.
    pub calls_by_operation: BTreeMap<String, u64>,
    /// Calls by (account, region): for SSM the caller's account and the region of the
    /// credential scope; for AssumeRole the target account and the STS signing region.
    /// Organizations calls and calls rejected before the caller was known are not scoped.
    pub calls_by_account_region: BTreeMap<(String, String), u64>,
    /// Scoped calls by (operation, account, region).
    pub calls_by_operation_account_region: BTreeMap<(String, String, String), u64>,
    /// Calls answered with ThrottlingException.
    pub throttled: u64,
    /// Calls answered with any error (throttling included).
    pub errors: u64,
    pub errors_by_code: BTreeMap<String, u64>,
}

impl Stats {
    pub fn calls(&self, operation: &str) -> u64 {
        self.calls_by_operation.get(operation).copied().unwrap_or(0)
    }

    pub fn calls_for(&self, account_id: &str, region: &str) -> u64 {
        self.calls_by_account_region
            .get(&(account_id.to_string(), region.to_string()))
            .copied()
            .unwrap_or(0)
    }

    pub fn calls_of(&self, operation: &str, account_id: &str, region: &str) -> u64 {
        self.calls_by_operation_account_region
            .get(&(
                operation.to_string(),
                account_id.to_string(),
                region.to_string(),
            ))
            .copied()
            .unwrap_or(0)
    }

    pub fn errors_with(&self, code: &str) -> u64 {
        self.errors_by_code.get(code).copied().unwrap_or(0)
    }
}

/// Counters keyed for allocation-free updates on the hot path; [`Stats`] is built on read.
#[derive(Debug, Default)]
struct Counters {
    total_calls: u64,
    throttled: u64,
    errors: u64,
    by_operation: BTreeMap<String, u64>,
    /// account → region → operation → calls.
    by_scope: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>>,
    errors_by_code: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
pub(crate) struct StatsRecorder(Mutex<Counters>);

impl StatsRecorder {
    pub(crate) fn snapshot(&self) -> Stats {
        let c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut stats = Stats {
            total_calls: c.total_calls,
            calls_by_operation: c.by_operation.clone(),
            throttled: c.throttled,
            errors: c.errors,
            errors_by_code: c.errors_by_code.clone(),
            ..Stats::default()
        };
        for (account, regions) in &c.by_scope {
            for (region, ops) in regions {
                let mut sum = 0;
                for (op, n) in ops {
                    sum += n;
                    stats
                        .calls_by_operation_account_region
                        .insert((op.clone(), account.clone(), region.clone()), *n);
                }
                stats
                    .calls_by_account_region
                    .insert((account.clone(), region.clone()), sum);
            }
        }
        stats
    }

    pub(crate) fn reset(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Counters::default();
    }

    /// Records one call and its outcome (`error`: the error code, if it failed).
    pub(crate) fn record(&self, operation: &str, scope: Option<(&str, &str)>, error: Option<&str>) {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        c.total_calls += 1;
        bump(&mut c.by_operation, operation);
        if let Some((account, region)) = scope {
            let regions = match c.by_scope.get_mut(account) {
                Some(r) => r,
                None => c.by_scope.entry(account.to_string()).or_default(),
            };
            let ops = match regions.get_mut(region) {
                Some(o) => o,
                None => regions.entry(region.to_string()).or_default(),
            };
            bump(ops, operation);
        }
        if let Some(code) = error {
            c.errors += 1;
            if code == "ThrottlingException" || code == "Throttling" {
                c.throttled += 1;
            }
            bump(&mut c.errors_by_code, code);
        }
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    if let Some(v) = map.get_mut(key) {
        *v += 1;
    } else {
        map.insert(key.to_string(), 1);
    }
}
