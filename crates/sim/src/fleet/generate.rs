//! Fleet generation. Every entity draws from its own keyed stream (see [`crate::keys`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use rand::Rng;
use rand::seq::IndexedRandom;

use super::baseline::{
    Baseline, BaselineOwner, ComplianceLevel, PatchFilter, PatchRule, RejectedPatchesAction,
};
use super::catalog::{self, is_security_classification};
use super::patches;
use super::platform::{OperatingSystem, Platform};
use super::{
    Account, AccountRegion, AccountStatus, Fleet, FleetSpec, Instance, MaintenanceWindow,
    MaintenanceWindowTarget, Operation, Organization, OrganizationalUnit, PatchCounts,
    PatchGroupRegistration, PatchState, PingStatus, RebootOption, ResourceType,
};
use crate::keys::{self, Key, weighted};

pub(crate) const PATCH_GROUPS: [&str; 5] = ["prod", "staging", "dev", "web-prod", "db-critical"];
const PATCH_GROUP_WEIGHTS: [u32; 5] = [30, 18, 22, 17, 13];

const PLATFORM_WEIGHTS: [(Platform, u32); 9] = [
    (Platform::AmazonLinux2, 28),
    (Platform::AmazonLinux2023, 15),
    (Platform::WindowsServer2019, 8),
    (Platform::WindowsServer2022, 12),
    (Platform::Ubuntu2004, 7),
    (Platform::Ubuntu2204, 10),
    (Platform::Rhel8, 8),
    (Platform::Rhel9, 5),
    (Platform::Sles15, 7),
];

const AGENT_VERSIONS: [&str; 5] = [
    "3.3.1142.0",
    "3.3.1345.0",
    "3.3.1611.0",
    "3.3.1802.0",
    "3.3.1957.0",
];

const ACCOUNT_NAMES: [&str; 12] = [
    "patchlake-management",
    "prod-payments",
    "prod-web",
    "staging-platform",
    "dev-sandbox",
    "shared-services",
    "security-audit",
    "log-archive",
    "data-analytics",
    "prod-api",
    "qa-testing",
    "network-hub",
];

const OU_NAMES: [&str; 3] = ["Production", "NonProduction", "Infrastructure"];

pub(super) fn generate(spec: &FleetSpec) -> Fleet {
    let seed_key = Key::new(spec.seed);
    let (organization, accounts) = organization(spec, seed_key);
    let mut account_regions = Vec::with_capacity(accounts.len() * spec.regions.len());
    for (a, account) in accounts.iter().enumerate() {
        for region in &spec.regions {
            // A region the account has not enabled holds nothing.
            let instances = if Fleet::region_status_at(spec, a, region).is_enabled() {
                spec.instances_per_region
            } else {
                0
            };
            account_regions.push(account_region(spec, seed_key, account, region, instances));
        }
    }
    Fleet {
        spec: spec.clone(),
        organization,
        accounts,
        account_regions,
    }
}

fn organization(spec: &FleetSpec, seed_key: Key) -> (Organization, Vec<Account>) {
    let mut rng = seed_key.str("organization").rng();
    let org_id = format!("o-{}", keys::lower_alnum(&mut rng, 10));
    let root_suffix = keys::lower_alnum(&mut rng, 4);
    let root_id = format!("r-{root_suffix}");

    let mut ids = BTreeSet::new();
    let mut account_ids = Vec::with_capacity(spec.accounts);
    for i in 0..spec.accounts {
        let mut arng = seed_key.str("account").num(i as u64).rng();
        loop {
            // Every third account id starts with 0, account 0 (management) included: ids
            // are strings end to end and must survive that.
            let id = if i % 3 == 0 {
                format!("0{}", keys::digits(&mut arng, 11))
            } else {
                format!(
                    "{}{}",
                    arng.random_range(1..10),
                    keys::digits(&mut arng, 11)
                )
            };
            if ids.insert(id.clone()) {
                account_ids.push(id);
                break;
            }
        }
    }
    let management = account_ids.first().cloned().unwrap_or_default();

    let units: Vec<OrganizationalUnit> = OU_NAMES
        .iter()
        .map(|name| {
            let id = format!("ou-{root_suffix}-{}", keys::lower_alnum(&mut rng, 8));
            OrganizationalUnit {
                arn: format!("arn:aws:organizations::{management}:ou/{org_id}/{id}"),
                id,
                name: name.to_string(),
            }
        })
        .collect();

    let org_created = spec.anchor - Duration::days(1400);
    let accounts = account_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut arng = seed_key.str("account-meta").num(i as u64).rng();
            let name = if i < ACCOUNT_NAMES.len() {
                ACCOUNT_NAMES[i].to_string()
            } else {
                format!(
                    "{}-{i:03}",
                    ACCOUNT_NAMES[1 + i % (ACCOUNT_NAMES.len() - 1)]
                )
            };
            let parent_id = if i == 0 {
                root_id.clone()
            } else if name.starts_with("prod") {
                units[0].id.clone()
            } else if name.starts_with("staging")
                || name.starts_with("dev")
                || name.starts_with("qa")
            {
                units[1].id.clone()
            } else {
                units[2].id.clone()
            };
            Account {
                arn: format!("arn:aws:organizations::{management}:account/{org_id}/{id}"),
                email: format!("aws+{name}@example.com"),
                id: id.clone(),
                name,
                status: if spec.suspended_accounts.contains(&i) {
                    AccountStatus::Suspended
                } else {
                    AccountStatus::Active
                },
                joined_method: if i == 0 || arng.random_bool(0.8) {
                    "CREATED"
                } else {
                    "INVITED"
                },
                joined: org_created + Duration::seconds(arng.random_range(0..86_400 * 900)),
                parent_id,
            }
        })
        .collect();

    let organization = Organization {
        arn: format!("arn:aws:organizations::{management}:organization/{org_id}"),
        root_arn: format!("arn:aws:organizations::{management}:root/{org_id}/{root_id}"),
        id: org_id,
        management_account_id: management,
        root_id,
        units,
    };
    (organization, accounts)
}

fn account_region(
    spec: &FleetSpec,
    seed_key: Key,
    account: &Account,
    region: &str,
    instance_count: usize,
) -> AccountRegion {
    let ar_key = seed_key.str("account-region").str(&account.id).str(region);
    let mut rng = ar_key.rng();
    let anchor = spec.anchor;

    let mut baselines: Vec<Baseline> = Vec::new();
    let mut aws_index = BTreeMap::new();
    for os in OperatingSystem::ALL {
        aws_index.insert(os, baselines.len());
        baselines.push(aws_baseline(region, os, os.aws_default_baseline_name()));
    }
    baselines.push(aws_baseline(
        region,
        OperatingSystem::Windows,
        "AWS-WindowsPredefinedPatchBaseline-OS",
    ));

    let mut customs: BTreeMap<OperatingSystem, Vec<usize>> = BTreeMap::new();
    for os in OperatingSystem::INSTANCE_OSES {
        let n = weighted(&mut rng, &[30, 50, 20]);
        for flavour in 0..n {
            let id = format!("pb-0{}", keys::hex(&mut rng, 16));
            customs.entry(os).or_default().push(baselines.len());
            baselines.push(custom_baseline(&mut rng, id, os, flavour, anchor));
        }
    }

    let mut default_baselines = BTreeMap::new();
    for os in OperatingSystem::ALL {
        let custom = customs.get(&os).and_then(|c| c.first()).copied();
        let chosen = match custom {
            Some(c) if rng.random_bool(0.4) => c,
            _ => aws_index[&os],
        };
        default_baselines.insert(os, chosen);
    }

    let mut registrations = Vec::new();
    for group in PATCH_GROUPS {
        for os in OperatingSystem::INSTANCE_OSES {
            if let Some(candidates) = customs.get(&os)
                && rng.random_bool(0.55)
            {
                let baseline = *candidates.choose(&mut rng).expect("non-empty");
                registrations.push(PatchGroupRegistration {
                    patch_group: group.to_string(),
                    operating_system: os,
                    baseline,
                });
            }
        }
    }
    for r in &registrations {
        baselines[r.baseline]
            .patch_groups
            .push(r.patch_group.clone());
    }
    for b in &mut baselines {
        b.patch_groups.sort();
    }

    let maintenance_windows = maintenance_windows(&mut rng, anchor);

    let mut ar = AccountRegion {
        account_id: account.id.clone(),
        region: region.to_string(),
        baselines,
        default_baselines,
        registrations,
        maintenance_windows,
        instances: Vec::with_capacity(instance_count),
        by_instance_id: BTreeMap::new(),
    };

    let today = anchor.date_naive();
    let mut approvals: BTreeMap<(usize, Platform), Vec<(u32, ComplianceLevel)>> = BTreeMap::new();
    let region_octet = spec.regions.iter().position(|r| r == region).unwrap_or(0) as u32;
    for index in 0..instance_count as u32 {
        let mut instance = instance(spec, seed_key, &ar, index, region_octet);
        let mut retry = 0u64;
        while ar.by_instance_id.contains_key(&instance.instance_id) {
            // 64 random bits make this practically unreachable; stay unique and deterministic.
            retry += 1;
            let (prefix, _) = instance.instance_id.split_once('-').expect("id has a dash");
            let mut rng = seed_key
                .str("instance-id-retry")
                .str(&ar.account_id)
                .str(&ar.region)
                .num(u64::from(index))
                .num(retry)
                .rng();
            instance.instance_id = format!("{prefix}-0{}", keys::hex(&mut rng, 16));
        }
        if let Some(state) = patch_state(spec, seed_key, &ar, &instance, &mut approvals, today) {
            instance.patch_state = Some(state);
        }
        ar.by_instance_id
            .insert(instance.instance_id.clone(), ar.instances.len());
        ar.instances.push(instance);
    }
    ar
}

/// The AWS account that owns predefined baselines in a region.
fn aws_owner_account(region: &str) -> String {
    let mut rng = Key::new(0xa5_0a_7e).str(region).str("owner").rng();
    format!("{}{}", rng.random_range(1..10), keys::digits(&mut rng, 11))
}

/// AWS predefined baselines are keyed by region and name only: identical in every account
/// and every fleet, like the real ones.
fn aws_baseline(region: &str, os: OperatingSystem, name: &str) -> Baseline {
    let mut rng = Key::new(0xa5_0a_7e).str(region).str(name).rng();
    let id = format!(
        "arn:aws:ssm:{region}:{}:patchbaseline/pb-0{}",
        aws_owner_account(region),
        keys::hex(&mut rng, 16)
    );
    let created = NaiveDate::from_ymd_opt(2020, 1, 1)
        .expect("valid date")
        .and_hms_opt(0, 0, 0)
        .expect("valid time")
        .and_utc()
        + Duration::days(rng.random_range(0..900));
    let rule = |filters: Vec<PatchFilter>, days: u32| PatchRule {
        filters,
        compliance_level: ComplianceLevel::Unspecified,
        approve_after_days: Some(days),
        approve_until_date: None,
        enable_non_security: false,
    };
    let (rules, description) = match os {
        OperatingSystem::Windows => (
            vec![rule(
                vec![
                    PatchFilter::new("PRODUCT", &["*"]),
                    PatchFilter::new("CLASSIFICATION", &["CriticalUpdates", "SecurityUpdates"]),
                    PatchFilter::new("MSRC_SEVERITY", &["Critical", "Important"]),
                ],
                7,
            )],
            "Default Patch Baseline Provided by AWS.",
        ),
        OperatingSystem::Ubuntu | OperatingSystem::Debian => (
            vec![rule(
                vec![
                    PatchFilter::new("PRODUCT", &["*"]),
                    PatchFilter::new(
                        "PRIORITY",
                        &["Required", "Important", "Standard", "Optional", "Extra"],
                    ),
                ],
                0,
            )],
            "Default Patch Baseline for Ubuntu Provided by AWS.",
        ),
        OperatingSystem::Suse => (
            vec![rule(
                vec![
                    PatchFilter::new("PRODUCT", &["*"]),
                    PatchFilter::new("CLASSIFICATION", &["Security"]),
                    PatchFilter::new("SEVERITY", &["Critical", "Important"]),
                ],
                7,
            )],
            "Default Patch Baseline for Suse Provided by AWS.",
        ),
        OperatingSystem::Macos => (
            vec![rule(
                vec![
                    PatchFilter::new("PRODUCT", &["*"]),
                    PatchFilter::new("CLASSIFICATION", &["*"]),
                ],
                0,
            )],
            "Default Patch Baseline for MacOS Provided by AWS.",
        ),
        _ => (
            vec![
                rule(
                    vec![
                        PatchFilter::new("PRODUCT", &["*"]),
                        PatchFilter::new("CLASSIFICATION", &["Security"]),
                        PatchFilter::new("SEVERITY", &["Critical", "Important"]),
                    ],
                    7,
                ),
                rule(
                    vec![
                        PatchFilter::new("PRODUCT", &["*"]),
                        PatchFilter::new("CLASSIFICATION", &["Bugfix"]),
                    ],
                    7,
                ),
            ],
            "Default Patch Baseline Provided by AWS.",
        ),
    };
    let description = if name.starts_with("AWS-WindowsPredefinedPatchBaseline") {
        "Windows Predefined Patch Baseline for OS Provided by AWS.".to_string()
    } else {
        description.to_string()
    };
    Baseline {
        id,
        name: name.to_string(),
        operating_system: os,
        owner: BaselineOwner::Aws,
        description,
        global_filters: Vec::new(),
        rules,
        approved_patches: Vec::new(),
        approved_patches_compliance_level: ComplianceLevel::Unspecified,
        approved_patches_enable_non_security: false,
        rejected_patches: Vec::new(),
        rejected_patches_action: RejectedPatchesAction::AllowAsDependency,
        created,
        modified: created,
        patch_groups: Vec::new(),
    }
}

fn custom_baseline(
    rng: &mut impl Rng,
    id: String,
    os: OperatingSystem,
    flavour: usize,
    anchor: DateTime<Utc>,
) -> Baseline {
    let env = ["Prod", "NonProd", "Critical"][flavour.min(2)];
    let name = format!("{env}-{}-Baseline", os.short());
    let windows = os.is_windows();
    let ubuntu = os == OperatingSystem::Ubuntu;
    let products = os.products();
    let product_filter = PatchFilter::new("PRODUCT", products);

    let (high_sev, low_sev): (&[&str], &[&str]) = if windows {
        (&["Critical", "Important"], &["Moderate", "Low"])
    } else {
        (&["Critical", "Important"], &["Medium", "Low"])
    };
    let severity_filter = |values: &[&str]| {
        if windows {
            PatchFilter::new("MSRC_SEVERITY", values)
        } else if ubuntu {
            let priorities: Vec<&str> = values
                .iter()
                .map(|v| match *v {
                    "Critical" => "Required",
                    "Important" => "Important",
                    "Medium" => "Standard",
                    _ => "Optional",
                })
                .collect();
            PatchFilter::new("PRIORITY", &priorities)
        } else {
            PatchFilter::new("SEVERITY", values)
        }
    };
    let security_classes: &[&str] = if windows {
        &["SecurityUpdates", "CriticalUpdates"]
    } else {
        &["Security"]
    };
    let classification_filter = |values: &[&str]| {
        if ubuntu {
            PatchFilter::new("SECTION", &["*"])
        } else {
            PatchFilter::new("CLASSIFICATION", values)
        }
    };

    let approval_age =
        |rng: &mut dyn rand::RngCore, lo: u32, hi: u32| -> (Option<u32>, Option<String>) {
            if rng.random_bool(0.1) {
                let until = (anchor - Duration::days(rng.random_range(3..30))).date_naive();
                (None, Some(until.format("%Y-%m-%d").to_string()))
            } else {
                (Some(rng.random_range(lo..=hi)), None)
            }
        };

    let mut rules = Vec::new();
    let (after, until) = approval_age(rng, 0, 7);
    rules.push(PatchRule {
        filters: vec![
            product_filter.clone(),
            classification_filter(security_classes),
            severity_filter(high_sev),
        ],
        compliance_level: if flavour == 1 {
            ComplianceLevel::High
        } else if rng.random_bool(0.75) {
            ComplianceLevel::Critical
        } else {
            ComplianceLevel::High
        },
        approve_after_days: after,
        approve_until_date: until,
        enable_non_security: false,
    });
    if rng.random_bool(0.7) {
        let (after, until) = approval_age(rng, 7, 14);
        rules.push(PatchRule {
            filters: vec![
                product_filter.clone(),
                classification_filter(security_classes),
                severity_filter(low_sev),
            ],
            compliance_level: if rng.random_bool(0.5) {
                ComplianceLevel::Medium
            } else {
                ComplianceLevel::High
            },
            approve_after_days: after,
            approve_until_date: until,
            enable_non_security: false,
        });
    }
    if rng.random_bool(0.5) {
        let non_security: &[&str] = if windows {
            &["Updates", "UpdateRollups", "DefinitionUpdates"]
        } else if os == OperatingSystem::Suse {
            &["Recommended"]
        } else {
            &["Bugfix", "Enhancement"]
        };
        let (after, until) = approval_age(rng, 7, 21);
        rules.push(PatchRule {
            filters: vec![product_filter.clone(), classification_filter(non_security)],
            compliance_level: [
                ComplianceLevel::Low,
                ComplianceLevel::Informational,
                ComplianceLevel::Unspecified,
            ][weighted(rng, &[50, 25, 25])],
            approve_after_days: after,
            approve_until_date: until,
            enable_non_security: !windows && rng.random_bool(0.5),
        });
    }

    let representative = match os {
        OperatingSystem::AmazonLinux2 => Platform::AmazonLinux2,
        OperatingSystem::AmazonLinux2023 => Platform::AmazonLinux2023,
        OperatingSystem::Windows => Platform::WindowsServer2022,
        OperatingSystem::Ubuntu => Platform::Ubuntu2204,
        OperatingSystem::RedhatEnterpriseLinux => Platform::Rhel9,
        _ => Platform::Sles15,
    };
    let advisories: Vec<&str> = catalog::catalog(representative)
        .patches
        .iter()
        .filter(|p| p.advisory && is_security_classification(p.classification))
        .map(|p| p.package.as_str())
        .collect();
    let mut approved_patches: Vec<String> = (0..weighted(rng, &[50, 25, 15, 10]))
        .filter_map(|_| advisories.choose(rng).map(|s| s.to_string()))
        .collect();
    approved_patches.sort();
    approved_patches.dedup();

    let rejected_patches: Vec<String> = match os {
        OperatingSystem::AmazonLinux2 | OperatingSystem::AmazonLinux2023 => {
            vec!["system-release.*".to_string()]
        }
        OperatingSystem::RedhatEnterpriseLinux if rng.random_bool(0.5) => {
            vec!["redhat-release-server*".to_string()]
        }
        OperatingSystem::Windows if rng.random_bool(0.5) => vec!["KB5034439".to_string()],
        OperatingSystem::Ubuntu if rng.random_bool(0.3) => vec!["linux-image-generic*".to_string()],
        _ => Vec::new(),
    };

    let created = anchor - Duration::days(rng.random_range(100..900));
    let modified = created + Duration::days(rng.random_range(0..90));
    Baseline {
        id,
        description: format!("{env} patch baseline for {} instances", os.short()),
        name,
        operating_system: os,
        owner: BaselineOwner::Custom,
        global_filters: vec![product_filter],
        rules,
        approved_patches,
        approved_patches_compliance_level: [
            ComplianceLevel::Critical,
            ComplianceLevel::High,
            ComplianceLevel::Unspecified,
        ][weighted(rng, &[40, 30, 30])],
        approved_patches_enable_non_security: false,
        rejected_patches,
        rejected_patches_action: if rng.random_bool(0.3) {
            RejectedPatchesAction::Block
        } else {
            RejectedPatchesAction::AllowAsDependency
        },
        created,
        modified,
        patch_groups: Vec::new(),
    }
}

fn maintenance_windows(rng: &mut impl Rng, anchor: DateTime<Utc>) -> Vec<MaintenanceWindow> {
    struct Template {
        name: &'static str,
        schedule: &'static str,
        /// `None`: daily.
        weekday: Option<Weekday>,
        hour: u32,
        groups: &'static [&'static str],
    }
    const fn t(
        name: &'static str,
        schedule: &'static str,
        weekday: Option<Weekday>,
        hour: u32,
        groups: &'static [&'static str],
    ) -> Template {
        Template {
            name,
            schedule,
            weekday,
            hour,
            groups,
        }
    }
    const TEMPLATES: [Template; 5] = [
        t(
            "patch-prod-sunday",
            "cron(0 2 ? * SUN *)",
            Some(Weekday::Sun),
            2,
            &["prod", "web-prod"],
        ),
        t(
            "patch-db-critical-saturday",
            "cron(0 4 ? * SAT *)",
            Some(Weekday::Sat),
            4,
            &["db-critical"],
        ),
        t(
            "patch-nonprod-wednesday",
            "cron(0 22 ? * WED *)",
            Some(Weekday::Wed),
            22,
            &["staging", "dev"],
        ),
        t(
            "scan-daily",
            "rate(1 day)",
            None,
            0,
            &["prod", "staging", "dev", "web-prod", "db-critical"],
        ),
        t(
            "patch-dev-tuesday",
            "cron(0 18 ? * TUE *)",
            Some(Weekday::Tue),
            18,
            &["dev"],
        ),
    ];
    let count = rng.random_range(2..=4);
    let mut chosen: Vec<usize> = rand::seq::index::sample(rng, TEMPLATES.len(), count).into_vec();
    chosen.sort_unstable();
    chosen
        .into_iter()
        .map(|i| {
            let Template {
                name,
                schedule,
                weekday,
                hour,
                groups,
            } = TEMPLATES[i];
            let duration = rng.random_range(2..=6);
            let enabled = rng.random_bool(0.9);
            let next = match weekday {
                Some(day) => {
                    let today = anchor.date_naive();
                    let ahead = (7 + day.num_days_from_monday() as i64
                        - today.weekday().num_days_from_monday() as i64)
                        % 7;
                    let ahead = if ahead == 0 && hour == 0 { 7 } else { ahead };
                    let date = today + Duration::days(ahead);
                    format!("{}T{hour:02}:00Z", date.format("%Y-%m-%d"))
                }
                None => format!("{}T00:00Z", (anchor + Duration::days(1)).format("%Y-%m-%d")),
            };
            let targets = vec![MaintenanceWindowTarget {
                window_target_id: keys::uuid(rng),
                name: format!("{name}-targets"),
                key: "tag:Patch Group".to_string(),
                values: groups.iter().map(|g| g.to_string()).collect(),
                owner_information: rng.random_bool(0.3).then(|| "patching-team".to_string()),
            }];
            MaintenanceWindow {
                window_id: format!("mw-0{}", keys::hex(rng, 16)),
                name: name.to_string(),
                description: format!("Patch Manager window for {}", groups.join(", ")),
                enabled,
                duration,
                cutoff: 1,
                schedule: schedule.to_string(),
                schedule_timezone: rng.random_bool(0.5).then(|| "UTC".to_string()),
                next_execution_time: enabled.then_some(next),
                targets,
            }
        })
        .collect()
}

fn instance(
    spec: &FleetSpec,
    seed_key: Key,
    ar: &AccountRegion,
    index: u32,
    region_octet: u32,
) -> Instance {
    let mut rng = seed_key
        .str("instance")
        .str(&ar.account_id)
        .str(&ar.region)
        .num(u64::from(index))
        .rng();
    let anchor = spec.anchor;
    let weights: Vec<u32> = PLATFORM_WEIGHTS.iter().map(|(_, w)| *w).collect();
    let platform = PLATFORM_WEIGHTS[weighted(&mut rng, &weights)].0;
    let hybrid = rng.random_bool(0.04);
    let resource_type = if hybrid {
        ResourceType::ManagedInstance
    } else {
        ResourceType::Ec2Instance
    };
    let instance_id = format!(
        "{}-0{}",
        if hybrid { "mi" } else { "i" },
        keys::hex(&mut rng, 16)
    );
    let ping_status = [
        PingStatus::Online,
        PingStatus::ConnectionLost,
        PingStatus::Inactive,
    ][weighted(&mut rng, &[88, 9, 3])];
    let ping_age = match ping_status {
        PingStatus::Online => Duration::seconds(rng.random_range(0..600)),
        PingStatus::ConnectionLost => Duration::seconds(rng.random_range(86_400..20 * 86_400)),
        PingStatus::Inactive => Duration::seconds(rng.random_range(20 * 86_400..90 * 86_400)),
    };
    let agent_version = AGENT_VERSIONS[weighted(&mut rng, &[5, 10, 15, 30, 40])];

    let patch_group = if rng.random_bool(0.15) {
        None
    } else {
        Some(PATCH_GROUPS[weighted(&mut rng, &PATCH_GROUP_WEIGHTS)])
    };
    let environment = match patch_group {
        Some("prod" | "web-prod" | "db-critical") => "production",
        Some("staging") => "staging",
        Some(_) => "development",
        None => ["sandbox", "production", "development"][weighted(&mut rng, &[50, 25, 25])],
    };
    let role = *[
        "web", "api", "worker", "db", "cache", "batch", "bastion", "etl",
    ]
    .choose(&mut rng)
    .expect("non-empty");
    let env_short = match environment {
        "production" => "prd",
        "staging" => "stg",
        "development" => "dev",
        _ => "sbx",
    };
    let name_tag = format!("{role}-{env_short}-{:03}", index % 1000);

    let (ip_address, computer_name, registration_date, activation_id) = if hybrid {
        let ip = format!(
            "192.168.{}.{}",
            rng.random_range(0..=255),
            rng.random_range(1..255)
        );
        let host = format!("onprem-{role}-{:02}", rng.random_range(1..100));
        let computer = if platform.is_windows() {
            host.to_uppercase()
        } else {
            format!("{host}.corp.example.com")
        };
        (
            ip,
            computer,
            Some(anchor - Duration::days(rng.random_range(30..700))),
            Some(keys::uuid(&mut rng)),
        )
    } else {
        let (b, c, d) = (
            rng.random_range(0..=255u32),
            rng.random_range(0..=255u32),
            rng.random_range(1..255u32),
        );
        let ip = format!("10.{}.{c}.{d}", (region_octet * 16 + b % 16) % 256);
        let computer = if platform.is_windows() {
            format!("EC2AMAZ-{}", keys::upper_alnum(&mut rng, 7))
        } else if ar.region == "us-east-1" {
            format!("ip-{}.ec2.internal", ip.replace('.', "-"))
        } else {
            format!("ip-{}.{}.compute.internal", ip.replace('.', "-"), ar.region)
        };
        (ip, computer, None, None)
    };

    Instance {
        instance_id,
        index,
        platform,
        resource_type,
        ping_status,
        last_ping: anchor - ping_age,
        agent_version,
        is_latest_version: agent_version == AGENT_VERSIONS[AGENT_VERSIONS.len() - 1],
        ip_address,
        computer_name,
        registration_date,
        activation_id,
        name_tag,
        environment,
        patch_group,
        patch_state: None,
    }
}

fn patch_state(
    spec: &FleetSpec,
    seed_key: Key,
    ar: &AccountRegion,
    instance: &Instance,
    approvals: &mut BTreeMap<(usize, Platform), Vec<(u32, ComplianceLevel)>>,
    today: NaiveDate,
) -> Option<PatchState> {
    let mut rng = seed_key
        .str("patch-state")
        .str(&ar.account_id)
        .str(&ar.region)
        .num(u64::from(instance.index))
        .rng();
    let unreported_p = if instance.ping_status == PingStatus::Online {
        0.035
    } else {
        0.4
    };
    if rng.random_bool(unreported_p) {
        return None;
    }
    let os = instance.operating_system();
    let effective = ar.effective_baseline(instance.patch_group, os);
    let mut baseline = effective;
    if rng.random_bool(0.03) {
        let others: Vec<usize> = ar
            .baselines
            .iter()
            .enumerate()
            .filter(|(i, b)| b.operating_system == os && *i != effective)
            .map(|(i, _)| i)
            .collect();
        if let Some(&other) = others.choose(&mut rng) {
            baseline = other;
        }
    }

    // Age of the last operation: mostly fresh, a tail older than a week.
    let hour = 3600;
    let mut age = match weighted(&mut rng, &[60, 22, 18]) {
        0 => rng.random_range(hour..72 * hour),
        1 => rng.random_range(72 * hour..7 * 24 * hour),
        _ => rng.random_range(7 * 24 * hour..40 * 24 * hour),
    };
    let ping_age = (spec.anchor - instance.last_ping).num_seconds();
    if instance.ping_status != PingStatus::Online {
        // An agent that stopped pinging stopped patching no later.
        age = age.max(ping_age + rng.random_range(0..3 * 24 * hour));
    }
    let operation = if rng.random_bool(0.25) {
        Operation::Install
    } else {
        Operation::Scan
    };
    let operation_end = spec.anchor - Duration::seconds(age);
    let run = match operation {
        Operation::Install => rng.random_range(60..1500),
        Operation::Scan => rng.random_range(8..180),
    };
    let operation_start = operation_end - Duration::seconds(run);
    let reboot_option = if rng.random_bool(0.3) {
        RebootOption::NoReboot
    } else {
        RebootOption::RebootIfNeeded
    };

    let windows = instance.platform.is_windows();
    let mut counts = PatchCounts::default();
    if windows {
        counts.installed = rng.random_range(8..=40);
        counts.installed_other = rng.random_range(0..=4);
        counts.not_applicable = rng.random_range(20..=120);
        counts.unreported_not_applicable = if rng.random_bool(0.3) {
            rng.random_range(1..=30)
        } else {
            0
        };
    } else {
        counts.installed = rng.random_range(220..=520);
        counts.installed_other = rng.random_range(0..=25);
        counts.not_applicable = rng.random_range(0..=150);
    }
    let (few, many) = if windows { (4, 12) } else { (8, 30) };
    counts.missing = match weighted(&mut rng, &[48, 42, 10]) {
        0 => 0,
        1 => rng.random_range(1..=few),
        _ => rng.random_range(few + 1..=many),
    };
    if operation == Operation::Install && rng.random_bool(0.06) {
        counts.failed = rng.random_range(1..=3);
    }
    let pending_p = if reboot_option == RebootOption::NoReboot {
        0.15
    } else {
        0.03
    };
    if rng.random_bool(pending_p) {
        counts.installed_pending_reboot = rng.random_range(1..=3);
    }
    let b = &ar.baselines[baseline];
    if b.rejected_patches_action == RejectedPatchesAction::AllowAsDependency
        && !b.rejected_patches.is_empty()
        && rng.random_bool(0.05)
    {
        counts.installed_rejected = rng.random_range(1..=2);
    }

    // Non-compliant patches come from the advisories the reporting baseline approves.
    let candidates = approvals
        .entry((baseline, instance.platform))
        .or_insert_with(|| b.approved_advisories(instance.platform, today));
    clamp_non_compliant(&mut counts, candidates.len() as u32);
    let catalog_size = catalog::catalog(instance.platform).patches.len() as u32;
    clamp_rest(&mut counts, catalog_size);

    let nc = patches::non_compliant_selection(
        patches::nc_key(spec.seed, ar, instance.index),
        candidates,
        &counts,
    );
    let catalog = catalog::catalog(instance.platform);
    let critical = nc
        .iter()
        .filter(|(_, level, _)| *level == ComplianceLevel::Critical)
        .count() as u32;
    let security = nc
        .iter()
        .filter(|(i, _, _)| is_security_classification(catalog.patches[*i as usize].classification))
        .count() as u32;

    let last_no_reboot = (reboot_option == RebootOption::NoReboot
        && (operation == Operation::Install || counts.installed_pending_reboot > 0))
        .then(|| operation_end - Duration::seconds(rng.random_range(0..run.max(1))));

    Some(PatchState {
        baseline,
        drifted: baseline != effective,
        operation,
        operation_start,
        operation_end,
        critical_non_compliant: critical,
        security_non_compliant: security,
        other_non_compliant: counts.non_compliant() - security,
        counts,
        snapshot_id: keys::uuid(&mut rng),
        reboot_option,
        last_no_reboot_install_operation_time: last_no_reboot,
    })
}

/// Keeps Missing + Failed + InstalledPendingReboot within the approved advisories.
fn clamp_non_compliant(counts: &mut PatchCounts, available: u32) {
    counts.missing = counts.missing.min(available);
    counts.failed = counts.failed.min(available - counts.missing);
    counts.installed_pending_reboot = counts
        .installed_pending_reboot
        .min(available - counts.missing - counts.failed);
}

/// Keeps every listed record a distinct catalogue patch.
fn clamp_rest(counts: &mut PatchCounts, catalog_size: u32) {
    let room = catalog_size - counts.non_compliant();
    counts.installed_rejected = counts.installed_rejected.min(room);
    counts.installed = counts.installed.min(room - counts.installed_rejected);
    counts.installed_other = counts
        .installed_other
        .min(room - counts.installed_rejected - counts.installed);
    counts.not_applicable = counts
        .not_applicable
        .min(room - counts.installed_rejected - counts.installed - counts.installed_other);
}
