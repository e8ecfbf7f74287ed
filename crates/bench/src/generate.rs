//! A seeded synthetic fleet observed over daily runs, written through the real lake writer
//! (`Lake::stage` per account-region, `Lake::finalize` per run).
//!
//! Every value is a pure function of the seed and the position (account, region, instance,
//! patch, run), so a lake is reproducible without storing the generator's state, and the
//! query suite can name an existing account, instance or CVE without reading the lake.
//!
//! The fleet evolves like a real one: patches are released over time (a run only sees those
//! released by its day), each instance installs a patch some days after its release (a few
//! never do), installs fail now and then, a few instances stop scanning (stale), never report
//! (unreported) or run with another baseline than the effective one (drift), and now and then
//! an account-region cannot be collected (a `failed` coverage row and no data).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, TimeZone, Utc};
use patchlake_lake::{Lake, RunMeta};
use patchlake_model::records::*;
use patchlake_model::{RunId, Table};
use serde::{Deserialize, Serialize};

/// The named scales: how many `instance_patches` rows the whole lake (every run) holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// ~1M rows: 7 daily runs of 720 instances.
    Small,
    /// ~30M rows: 30 daily runs of 3,300 instances.
    Medium,
    /// ~100M rows: 30 daily runs of 11,200 instances (opt-in).
    Large,
}

impl Scale {
    pub fn name(self) -> &'static str {
        match self {
            Scale::Small => "small",
            Scale::Medium => "medium",
            Scale::Large => "large",
        }
    }

    pub fn spec(self) -> Spec {
        match self {
            Scale::Small => Spec {
                accounts: 4,
                regions: 3,
                instances_per_task: 60,
                patches_per_instance: 200,
                runs: 7,
            },
            Scale::Medium => Spec {
                accounts: 10,
                regions: 3,
                instances_per_task: 110,
                patches_per_instance: 300,
                runs: 30,
            },
            Scale::Large => Spec {
                accounts: 20,
                regions: 4,
                instances_per_task: 140,
                patches_per_instance: 300,
                runs: 30,
            },
        }
    }
}

/// The shape of a generated fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    pub accounts: usize,
    /// Regions per account (from a fixed list of 6).
    pub regions: usize,
    /// Managed instances per account-region.
    pub instances_per_task: usize,
    /// Average patches reported per instance once every catalog patch is released.
    pub patches_per_instance: usize,
    /// Daily runs (one per day, the last one is the latest).
    pub runs: usize,
}

const REGIONS: [&str; 6] = [
    "us-east-1",
    "eu-west-1",
    "us-west-2",
    "ap-southeast-2",
    "eu-central-1",
    "ap-northeast-1",
];

/// (SSM operating system, platform type, platform name, platform version, package suffix, weight)
const OSES: [(&str, &str, &str, &str, &str, u64); 4] = [
    (
        "AMAZON_LINUX_2023",
        "Linux",
        "Amazon Linux",
        "2023",
        ".amzn2023.x86_64",
        40,
    ),
    ("UBUNTU", "Linux", "Ubuntu", "22.04", "-0ubuntu1", 20),
    (
        "REDHAT_ENTERPRISE_LINUX",
        "Linux",
        "Red Hat Enterprise Linux",
        "9.3",
        ".el9.x86_64",
        15,
    ),
    (
        "WINDOWS",
        "Windows",
        "Microsoft Windows Server 2022 Datacenter",
        "10.0.20348",
        "",
        25,
    ),
];

const PACKAGES: [&str; 40] = [
    "openssl",
    "kernel",
    "glibc",
    "curl",
    "sudo",
    "systemd",
    "bash",
    "python3",
    "nginx",
    "httpd",
    "openssh",
    "libxml2",
    "zlib",
    "bind",
    "krb5-libs",
    "nss",
    "expat",
    "git",
    "vim-minimal",
    "tar",
    "gnutls",
    "libcurl",
    "sqlite",
    "perl",
    "polkit",
    "dbus",
    "rsync",
    "less",
    "xz",
    "libssh",
    "cups",
    "samba",
    "postgresql",
    "mariadb",
    "java-17-openjdk",
    "nodejs",
    "golang",
    "containerd",
    "docker",
    "amazon-ssm-agent",
];

const PATCH_GROUPS: [Option<&str>; 5] = [
    Some("web-prod"),
    Some("db-prod"),
    Some("batch"),
    Some("dev"),
    None,
];
/// Patch groups with a registered (custom) baseline; the others fall back to the default.
const REGISTERED_GROUPS: [&str; 2] = ["web-prod", "db-prod"];

/// Days before the first run over which the catalog's older patches were released.
const HISTORY_DAYS: i64 = 365;

/// The first run starts here; run `r` starts `r` days later.
pub fn first_run_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 26, 2, 0, 0).unwrap()
}

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A deterministic hash of the seed, a salt naming the decision, and positions.
fn h(seed: u64, salt: u64, a: u64, b: u64) -> u64 {
    mix(mix(mix(seed ^ salt.wrapping_mul(0x100_0000_01B3)) ^ a) ^ b)
}

/// One patch of an operating system's catalog.
#[derive(Clone, Debug)]
struct CatalogPatch {
    title: String,
    kb_id: String,
    classification: String,
    severity: String,
    cve_ids: Vec<String>,
    /// Day of release relative to the first run (negative: before it).
    release_day: i64,
}

/// The deterministic fleet: catalogs, accounts and instances as functions of the seed.
#[derive(Clone, Debug)]
pub struct Fleet {
    pub seed: u64,
    pub spec: Spec,
    catalogs: Vec<Vec<CatalogPatch>>,
}

/// Values the query suite filters on, known to exist in the lake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub account_id: String,
    pub region: String,
    pub instance_id: String,
    pub cve_id: String,
    pub title_word: String,
    pub first_dt: String,
    /// The date of the run a week before the latest (the first run on small lakes).
    pub recent_dt: String,
    pub last_dt: String,
}

/// An instance's fixed facts.
struct InstanceFacts {
    instance_id: String,
    os: usize,
    patch_group: Option<&'static str>,
    ping_status: &'static str,
    unreported: bool,
    /// Days behind the run its last scan ran (0 for a fresh one, > 7 makes it stale).
    scan_lag: i64,
    drift: bool,
}

impl Fleet {
    pub fn new(seed: u64, spec: Spec) -> Fleet {
        let catalog_size = (spec.patches_per_instance * 3).max(10);
        let catalogs = (0..OSES.len())
            .map(|os| {
                (0..catalog_size)
                    .map(|p| catalog_patch(seed, spec, os, p))
                    .collect()
            })
            .collect();
        Fleet {
            seed,
            spec,
            catalogs,
        }
    }

    pub fn tasks(&self) -> usize {
        self.spec.accounts * self.spec.regions
    }

    pub fn account_id(&self, account: usize) -> String {
        // The first two digits number the account, so account 0 keeps two leading zeros.
        format!(
            "{:02}{:010}",
            account % 100,
            h(self.seed, 1, account as u64, 0) % 10_000_000_000
        )
    }

    fn task(&self, task: usize) -> (String, &'static str) {
        (
            self.account_id(task / self.spec.regions),
            REGIONS[task % self.spec.regions],
        )
    }

    pub fn run_id(&self, run: usize) -> RunId {
        let started = first_run_at() + chrono::Duration::days(run as i64);
        RunId::new(started, h(self.seed, 2, run as u64, 0) as u32)
    }

    fn instance(&self, task: usize, k: usize) -> InstanceFacts {
        let gi = (task * self.spec.instances_per_task + k) as u64;
        let r = |salt| h(self.seed, salt, gi, 0);
        let total: u64 = OSES.iter().map(|o| o.5).sum();
        let mut pick = r(11) % total;
        let os = OSES
            .iter()
            .position(|o| {
                if pick < o.5 {
                    true
                } else {
                    pick -= o.5;
                    false
                }
            })
            .unwrap_or(0);
        InstanceFacts {
            instance_id: format!("i-{:017x}", r(10) >> 4),
            os,
            patch_group: PATCH_GROUPS[(r(12) % PATCH_GROUPS.len() as u64) as usize],
            ping_status: match r(13) % 60 {
                0 | 1 => "ConnectionLost",
                2 => "Inactive",
                _ => "Online",
            },
            unreported: r(14) % 33 == 0,
            scan_lag: if r(15) % 25 == 0 {
                8 + (r(16) % 10) as i64
            } else {
                0
            },
            drift: r(17) % 50 == 0,
        }
    }

    fn baseline_id(&self, task: usize, os: usize, group: Option<&str>) -> String {
        let kind = match group {
            None => 0,
            Some(g) => 1 + REGISTERED_GROUPS.iter().position(|r| *r == g).unwrap_or(9) as u64,
        };
        format!(
            "pb-{:017x}",
            h(self.seed, 20, task as u64, os as u64 * 16 + kind) >> 4
        )
    }

    /// Whether the account-region could not be collected in this run.
    fn task_failed(&self, run: usize, task: usize) -> bool {
        task != 0 && h(self.seed, 30, run as u64, task as u64).is_multiple_of(40)
    }

    /// Values for the query suite, all present in the latest run.
    pub fn probe(&self) -> Probe {
        let (account_id, region) = self.task(0);
        let instance_id = (0..self.spec.instances_per_task)
            .map(|k| self.instance(0, k))
            .find(|i| !i.unreported && i.scan_lag == 0)
            .map(|i| i.instance_id)
            .unwrap_or_default();
        let cve_id = self.catalogs[0]
            .iter()
            .find(|p| p.severity == "Critical" && !p.cve_ids.is_empty() && p.release_day < 0)
            .map(|p| p.cve_ids[0].clone())
            .unwrap_or_default();
        Probe {
            account_id,
            region: region.to_owned(),
            instance_id,
            cve_id,
            title_word: "openssl".to_owned(),
            first_dt: self.run_id(0).dt(),
            recent_dt: self.run_id(self.spec.runs.saturating_sub(7)).dt(),
            last_dt: self.run_id(self.spec.runs - 1).dt(),
        }
    }

    /// Everything collected from account-region `task` in run `run`.
    pub fn task_output(&self, run: usize, task: usize) -> TaskOutput {
        let (account_id, region) = self.task(task);
        let region = region.to_owned();
        let run_at = first_run_at() + chrono::Duration::days(run as i64);
        let day = |d: i64| first_run_at() + chrono::Duration::days(d);
        let failed = self.task_failed(run, task);
        let mut out = TaskOutput::empty(Coverage {
            account_id: account_id.clone(),
            region: region.clone(),
            status: if failed {
                CoverageStatus::Failed
            } else {
                CoverageStatus::Ok
            },
            error_code: failed.then(|| "AccessDeniedException".to_owned()),
            error_message: failed.then(|| {
                format!(
                    "User is not authorized to perform ssm:DescribeInstanceInformation in {region}"
                )
            }),
            api_calls: 0,
            throttled_calls: 0,
            retries: 0,
            started_at: run_at,
            finished_at: run_at + chrono::Duration::seconds(40),
            instances: 0,
        });
        if failed {
            return out;
        }
        let s = self.seed;
        for (os, (os_name, ..)) in OSES.iter().enumerate() {
            out.baselines.push(Baseline {
                account_id: account_id.clone(),
                region: region.clone(),
                baseline_id: self.baseline_id(task, os, None),
                name: Some(format!(
                    "AWS-{}DefaultPatchBaseline",
                    os_name.replace('_', "")
                )),
                operating_system: Some((*os_name).to_owned()),
                is_default: true,
                is_aws_owned: true,
                approval_rules: vec![ApprovalRule {
                    filters: vec![PatchFilter {
                        key: "CLASSIFICATION".into(),
                        values: vec!["Security".into(), "SecurityUpdates".into()],
                    }],
                    compliance_level: Some("UNSPECIFIED".into()),
                    approve_after_days: Some(7),
                    approve_until_date: None,
                    enable_non_security: false,
                }],
                ..Default::default()
            });
            for group in REGISTERED_GROUPS {
                let baseline_id = self.baseline_id(task, os, Some(group));
                out.baselines.push(Baseline {
                    account_id: account_id.clone(),
                    region: region.clone(),
                    baseline_id: baseline_id.clone(),
                    name: Some(format!("{group}-{}", os_name.to_lowercase())),
                    operating_system: Some((*os_name).to_owned()),
                    approval_rules: vec![ApprovalRule {
                        compliance_level: Some("CRITICAL".into()),
                        approve_after_days: Some(3),
                        enable_non_security: true,
                        ..Default::default()
                    }],
                    ..Default::default()
                });
                out.patch_groups.push(PatchGroupRegistration {
                    account_id: account_id.clone(),
                    region: region.clone(),
                    patch_group: group.to_owned(),
                    baseline_id,
                    operating_system: Some((*os_name).to_owned()),
                });
            }
        }
        for (w, (name, groups)) in [
            ("prod-weekly", &["web-prod", "db-prod"][..]),
            ("nonprod-daily", &["batch", "dev"][..]),
        ]
        .into_iter()
        .enumerate()
        {
            out.maintenance_windows.push(MaintenanceWindow {
                account_id: account_id.clone(),
                region: region.clone(),
                window_id: format!("mw-{:017x}", h(s, 40, task as u64, w as u64) >> 4),
                name: Some(name.to_owned()),
                schedule: Some(
                    if w == 0 {
                        "cron(0 3 ? * SUN *)"
                    } else {
                        "rate(1 day)"
                    }
                    .to_owned(),
                ),
                duration_hours: Some(4),
                cutoff_hours: Some(1),
                enabled: !h(s, 41, (task * 7 + w) as u64, run as u64).is_multiple_of(10),
                next_execution_at: Some(run_at + chrono::Duration::hours(20 + 24 * w as i64)),
                target_patch_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            });
        }

        let catalog_size = self.catalogs[0].len() as u64;
        let share = (catalog_size / self.spec.patches_per_instance.max(1) as u64).max(1);
        for k in 0..self.spec.instances_per_task {
            let inst = self.instance(task, k);
            let gi = (task * self.spec.instances_per_task + k) as u64;
            let (os_name, platform_type, platform_name, version, ..) = OSES[inst.os];
            out.instances.push(Instance {
                account_id: account_id.clone(),
                region: region.clone(),
                instance_id: inst.instance_id.clone(),
                computer_name: Some(format!("ip-10-{}-{}-{}", task % 256, k / 256, k % 256)),
                platform_type: Some(platform_type.to_owned()),
                platform_name: Some(platform_name.to_owned()),
                platform_version: Some(version.to_owned()),
                operating_system: Some(os_name.to_owned()),
                agent_version: Some(format!("3.3.{}.0", 1000 + run / 7)),
                ping_status: Some(inst.ping_status.to_owned()),
                last_ping_at: Some(run_at - chrono::Duration::minutes((gi % 50) as i64)),
                resource_type: Some("EC2Instance".to_owned()),
                ip_address: Some(format!("10.{}.{}.{}", task % 256, k / 256, k % 256)),
                patch_group: inst.patch_group.map(str::to_owned),
                tags: inst
                    .patch_group
                    .map(|g| BTreeMap::from([("Patch Group".to_owned(), g.to_owned())]))
                    .unwrap_or_default(),
            });
            for a in 0..4u64 {
                let pkg = PACKAGES[(h(s, 50, gi, a) % PACKAGES.len() as u64) as usize];
                out.inventory_applications.push(InventoryApplication {
                    account_id: account_id.clone(),
                    region: region.clone(),
                    instance_id: inst.instance_id.clone(),
                    name: format!("{pkg}-{a}"),
                    version: Some(format!("{}.{}", 1 + a, h(s, 51, gi, a) % 20)),
                    publisher: Some("Amazon.com".to_owned()),
                    architecture: Some("x86_64".to_owned()),
                    install_time: None,
                });
            }
            if inst.unreported {
                continue;
            }
            let scan_day = run as i64 - inst.scan_lag;
            let effective = match inst.patch_group {
                Some(g) if REGISTERED_GROUPS.contains(&g) => {
                    self.baseline_id(task, inst.os, Some(g))
                }
                _ => self.baseline_id(task, inst.os, None),
            };
            let mut state = PatchState {
                account_id: account_id.clone(),
                region: region.clone(),
                instance_id: inst.instance_id.clone(),
                patch_group: inst.patch_group.map(str::to_owned),
                baseline_id: Some(if inst.drift {
                    self.baseline_id(task, inst.os, Some("other"))
                } else {
                    effective
                }),
                snapshot_id: Some(format!("{:016x}", h(s, 60, gi, scan_day as u64))),
                operation: Some(if scan_day % 7 == 0 { "Install" } else { "Scan" }.to_owned()),
                operation_start_at: Some(day(scan_day) - chrono::Duration::minutes(30)),
                operation_end_at: Some(day(scan_day) - chrono::Duration::minutes(25)),
                reboot_option: Some("RebootIfNeeded".to_owned()),
                ..Default::default()
            };
            for (p, patch) in self.catalogs[inst.os].iter().enumerate() {
                let p = p as u64;
                if !h(s, 70, gi, p).is_multiple_of(share) || patch.release_day > scan_day {
                    continue;
                }
                let r = h(s, 71, gi, p);
                let fixed_day = if r % 100 < 8 {
                    i64::MAX
                } else {
                    patch.release_day + ((r >> 8) % 45) as i64
                };
                let state_name = if r % 20 == 1 {
                    "NOT_APPLICABLE"
                } else if r % 40 == 2 {
                    "INSTALLED_OTHER"
                } else if scan_day >= fixed_day {
                    if scan_day == fixed_day && (r >> 16).is_multiple_of(3) {
                        "INSTALLED_PENDING_REBOOT"
                    } else {
                        "INSTALLED"
                    }
                } else if (r >> 20).is_multiple_of(25) {
                    "FAILED"
                } else {
                    "MISSING"
                };
                match state_name {
                    "NOT_APPLICABLE" => state.not_applicable += 1,
                    "INSTALLED_OTHER" => state.installed_other += 1,
                    "INSTALLED" => state.installed += 1,
                    "INSTALLED_PENDING_REBOOT" => state.installed_pending_reboot += 1,
                    _ => {
                        if state_name == "FAILED" {
                            state.failed += 1;
                        } else {
                            state.missing += 1;
                        }
                        if patch.severity == "Critical" {
                            state.critical_non_compliant += 1;
                        } else if patch.classification.contains("Security") {
                            state.security_non_compliant += 1;
                        } else {
                            state.other_non_compliant += 1;
                        }
                    }
                }
                let installed = matches!(state_name, "INSTALLED" | "INSTALLED_PENDING_REBOOT");
                out.instance_patches.push(InstancePatch {
                    account_id: account_id.clone(),
                    region: region.clone(),
                    instance_id: inst.instance_id.clone(),
                    title: patch.title.clone(),
                    kb_id: Some(patch.kb_id.clone()),
                    classification: Some(patch.classification.clone()),
                    severity: Some(patch.severity.clone()),
                    state: state_name.to_owned(),
                    installed_at: installed.then(|| {
                        day(fixed_day) - chrono::Duration::minutes(30 + (r >> 24) as i64 % 600)
                    }),
                    cve_ids: patch.cve_ids.clone(),
                });
            }
            out.patch_states.push(state);
        }
        out.coverage.instances = out.instances.len() as i64;
        out.coverage.api_calls = 3 + 2 * out.instances.len() as i64;
        out
    }
}

fn catalog_patch(seed: u64, spec: Spec, os: usize, p: usize) -> CatalogPatch {
    let r = |salt| h(seed, salt, os as u64, p as u64);
    let release_day = -HISTORY_DAYS + (r(80) % (HISTORY_DAYS as u64 + spec.runs as u64)) as i64;
    let windows = OSES[os].1 == "Windows";
    let (classification, severity) = if windows {
        (
            [
                "SecurityUpdates",
                "CriticalUpdates",
                "Updates",
                "DefinitionUpdates",
            ][(r(81) % 4) as usize],
            ["Critical", "Important", "Moderate", "Low", "Unspecified"][(r(82) % 5) as usize],
        )
    } else {
        (
            [
                "Security",
                "Security",
                "Bugfix",
                "Enhancement",
                "Recommended",
            ][(r(81) % 5) as usize],
            ["Critical", "Important", "Medium", "Low"][(r(82) % 4) as usize],
        )
    };
    let cves = if classification.contains("Security") || classification == "CriticalUpdates" {
        1 + r(83) % 3
    } else {
        0
    };
    let year = 2025 + (release_day >= -30) as u64;
    let cve_ids = (0..cves)
        .map(|c| {
            format!(
                "CVE-{year}-{:05}",
                h(seed, 84, (os * 100_000 + p) as u64, c) % 40_000
            )
        })
        .collect();
    let (title, kb_id) = if windows {
        let kb = format!("KB{}", 5_000_000 + p);
        (
            format!(
                "2026-{:02} {} for Microsoft server operating system version 21H2 for x64-based Systems ({kb})",
                1 + r(85) % 12,
                if classification == "DefinitionUpdates" {
                    "Security Intelligence Update"
                } else {
                    "Cumulative Update"
                }
            ),
            kb,
        )
    } else {
        let pkg = PACKAGES[(r(86) % PACKAGES.len() as u64) as usize];
        let title = format!(
            "{pkg}-{}.{}.{}-{}{}",
            1 + r(87) % 5,
            r(88) % 20,
            p,
            1 + r(89) % 9,
            OSES[os].4
        );
        (title.clone(), title)
    };
    CatalogPatch {
        title,
        kb_id,
        classification: classification.to_owned(),
        severity: severity.to_owned(),
        cve_ids,
        release_day,
    }
}

/// Counts the bytes written to it.
#[derive(Default)]
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn json_lines<T: Serialize>(rows: &[T], out: &mut Counter) -> Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 20, out);
    for row in rows {
        serde_json::to_writer(&mut w, row)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}

/// Per-table size of the lake, and of the first run as JSON lines.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TableSize {
    pub rows: i64,
    pub bytes: i64,
    pub files: usize,
    /// Rows and JSON-lines bytes of this table in the first run (the JSON sample).
    pub json_sample_rows: i64,
    pub json_sample_bytes: u64,
}

/// What generating a lake measured; saved beside the lake so a cached lake keeps its numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LakeStats {
    pub scale: Option<Scale>,
    pub seed: u64,
    pub spec: Spec,
    pub runs: usize,
    pub tables: BTreeMap<String, TableSize>,
    /// Building the records in memory (not the lake's cost).
    pub build_secs: f64,
    pub stage_secs: f64,
    pub finalize_secs: f64,
    /// Peak RSS of the generating process.
    pub peak_rss_mib: u64,
    /// Rows per row group the lake writer used (absent: written before it was recorded).
    #[serde(default)]
    pub row_group_rows: Option<usize>,
}

impl LakeStats {
    pub fn rows(&self, table: Table) -> i64 {
        self.tables.get(table.name()).map_or(0, |t| t.rows)
    }

    pub fn all_rows(&self) -> i64 {
        self.tables.values().map(|t| t.rows).sum()
    }
}

pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Writes every run of `fleet` into a new lake at `root` and measures the writer.
pub async fn write_lake(
    fleet: &Fleet,
    scale: Option<Scale>,
    root: &Path,
    progress: bool,
) -> Result<LakeStats> {
    let lake = Lake::open(root).with_context(|| format!("opening lake {}", root.display()))?;
    let (mut build, mut stage, mut finalize) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut tables: BTreeMap<String, TableSize> = BTreeMap::new();
    let mut json: BTreeMap<Table, Counter> = BTreeMap::new();
    for run in 0..fleet.spec.runs {
        let run_id = fleet.run_id(run);
        for task in 0..fleet.tasks() {
            let t = Instant::now();
            let output = fleet.task_output(run, task);
            build += t.elapsed();
            if run == 0 {
                let o = &output;
                json_lines(&o.instances, json.entry(Table::Instances).or_default())?;
                json_lines(&o.patch_states, json.entry(Table::PatchStates).or_default())?;
                let patches = json.entry(Table::InstancePatches).or_default();
                json_lines(&o.instance_patches, patches)?;
                json_lines(&o.baselines, json.entry(Table::Baselines).or_default())?;
                json_lines(&o.patch_groups, json.entry(Table::PatchGroups).or_default())?;
                let apps = json.entry(Table::InventoryApplications).or_default();
                json_lines(&o.inventory_applications, apps)?;
                let windows = json.entry(Table::MaintenanceWindows).or_default();
                json_lines(&o.maintenance_windows, windows)?;
                let coverage = json.entry(Table::Coverage).or_default();
                json_lines(std::slice::from_ref(&o.coverage), coverage)?;
            }
            let t = Instant::now();
            lake.stage(&run_id, &output)
                .await
                .with_context(|| format!("staging run {run_id} task {}", output.task_key()))?;
            stage += t.elapsed();
        }
        let t = Instant::now();
        let meta = RunMeta {
            accounts: fleet.spec.accounts as i32,
            regions: fleet.spec.regions as i32,
            ..RunMeta::new(run_id.clone())
        };
        let record = lake
            .finalize(&meta)
            .await
            .with_context(|| format!("finalizing run {run_id}"))?;
        finalize += t.elapsed();
        for (name, rows) in &record.row_counts {
            let entry = tables.entry(name.clone()).or_default();
            entry.rows += rows;
            if run == 0 {
                entry.json_sample_rows = *rows;
            }
        }
        for file in &record.files {
            let entry = tables.entry(file.table.clone()).or_default();
            entry.bytes += file.bytes;
            entry.files += 1;
        }
        if progress {
            eprintln!(
                "  run {}/{} {run_id}: {} instance_patches rows",
                run + 1,
                fleet.spec.runs,
                record.row_counts.get("instance_patches").unwrap_or(&0)
            );
        }
    }
    for (table, counter) in json {
        tables
            .entry(table.name().to_owned())
            .or_default()
            .json_sample_bytes = counter.0;
    }
    Ok(LakeStats {
        scale,
        seed: fleet.seed,
        spec: fleet.spec,
        runs: fleet.spec.runs,
        tables,
        build_secs: build.as_secs_f64(),
        stage_secs: stage.as_secs_f64(),
        finalize_secs: finalize.as_secs_f64(),
        peak_rss_mib: peak_rss_kib().unwrap_or(0) / 1024,
        row_group_rows: Some(patchlake_lake::format::ROW_GROUP_ROWS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Spec {
        Spec {
            accounts: 2,
            regions: 2,
            instances_per_task: 12,
            patches_per_instance: 20,
            runs: 3,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_fleet_and_another_seed_another() {
        let a = Fleet::new(7, tiny());
        let b = Fleet::new(7, tiny());
        let c = Fleet::new(8, tiny());
        assert_eq!(a.task_output(2, 1), b.task_output(2, 1));
        assert_ne!(a.task_output(2, 1), c.task_output(2, 1));
        assert_eq!(a.probe(), b.probe());
        assert_eq!(a.run_id(1), b.run_id(1));
        assert!(a.account_id(0).starts_with("00") && a.account_id(0).len() == 12);
    }

    #[test]
    fn patch_states_count_the_rows_they_summarize() {
        let fleet = Fleet::new(3, tiny());
        let out = fleet.task_output(2, 0);
        assert!(!out.instance_patches.is_empty());
        for state in &out.patch_states {
            let rows: Vec<_> = out
                .instance_patches
                .iter()
                .filter(|p| p.instance_id == state.instance_id)
                .collect();
            let count = |s: &str| rows.iter().filter(|p| p.state == s).count() as i32;
            assert_eq!(state.missing, count("MISSING"), "{}", state.instance_id);
            assert_eq!(state.failed, count("FAILED"));
            assert_eq!(state.installed, count("INSTALLED"));
            assert_eq!(
                state.critical_non_compliant
                    + state.security_non_compliant
                    + state.other_non_compliant,
                state.missing + state.failed
            );
        }
        // Unreported instances exist in `instances` but have no patch state.
        assert!(out.instances.len() >= out.patch_states.len());
    }

    #[test]
    fn fleets_have_missing_patches_and_the_scales_their_sizes() {
        let fleet = Fleet::new(5, tiny());
        let missing = |run| {
            (0..fleet.tasks())
                .map(|t| {
                    fleet
                        .task_output(run, t)
                        .instance_patches
                        .iter()
                        .filter(|p| p.state == "MISSING")
                        .count()
                })
                .sum::<usize>()
        };
        assert!(missing(0) > 0);
        // Medium is ~30M instance_patches rows over 30 runs; estimated from one run's task.
        let medium = Fleet::new(42, Scale::Medium.spec());
        let rows = medium.task_output(29, 0).instance_patches.len() as f64;
        let estimate = rows * medium.tasks() as f64 * medium.spec.runs as f64;
        assert!((20e6..40e6).contains(&estimate), "{estimate}");
    }

    #[tokio::test]
    async fn a_generated_lake_is_committed_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let fleet = Fleet::new(11, tiny());
        let stats = write_lake(&fleet, None, dir.path(), false).await.unwrap();
        let lake = Lake::open_existing(dir.path()).unwrap();
        let runs = lake.committed_runs().await.unwrap();
        assert_eq!(runs.len(), 3);
        for run in &runs {
            assert!(lake.verify(&run.run_id).await.unwrap().is_ok());
        }
        let patches = stats.rows(Table::InstancePatches);
        assert!(patches > 100, "{patches}");
        let sample = &stats.tables["instance_patches"];
        assert!(sample.json_sample_bytes > 0 && sample.json_sample_rows > 0);
        assert!(stats.tables["instance_patches"].bytes > 0);
    }
}
