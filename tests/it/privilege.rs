//! Least privilege: the IAM actions the spoke role, the Organizations reader role and the
//! hub's collect/finalize roles grant are exactly the AWS actions the code calls.
//!
//! The actions called are derived twice: from the operations the simulator (SSM, STS,
//! Organizations, Account) and the S3 fault proxy (in front of moto) actually received during
//! collections that take every code path (static and Organizations discovery with an OU
//! filter, enabled-region discovery, inventory, an S3 lake), and from a scan of
//! `crates/*/src` for aws-sdk fluent calls (`.describe_instance_patches()`), matched against
//! the operations each SDK crate defines. The recorded set must be the scanned set, and each
//! policy must grant exactly its share of it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use patchlake::demo::simulator_credentials;
use patchlake::pipeline::collect_run;
use patchlake_assume::ClientFactory;
use patchlake_testkit::s3_proxy::{S3Faults, S3Proxy};

use crate::harness;
use crate::moto::{BUCKET, MOTO_ACCOUNT, Moto, skipped};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The IAM action S3 authorizes an S3 API operation under.
fn s3_action(op: &str) -> &'static str {
    match op {
        "PutObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "CompleteMultipartUpload"
        | "CopyObject" => "s3:PutObject",
        "GetObject" | "HeadObject" => "s3:GetObject",
        "ListObjectsV2" | "ListObjects" | "HeadBucket" => "s3:ListBucket",
        "DeleteObject" | "DeleteObjects" => "s3:DeleteObject",
        "AbortMultipartUpload" => "s3:AbortMultipartUpload",
        "GetBucketLocation" => "s3:GetBucketLocation",
        _ => "s3:Unknown",
    }
}

/// Snake-case operation names of an aws-sdk crate, from its sources in the cargo registry.
fn sdk_operations(krate: &str) -> BTreeSet<String> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).unwrap();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains(&format!("name = \"{krate}\"\n")))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_owned())
        .unwrap_or_else(|| panic!("{krate} is not in Cargo.lock"));
    let mut out = BTreeSet::new();
    for index in std::fs::read_dir(home.join("registry/src")).unwrap() {
        let dir = index
            .unwrap()
            .path()
            .join(format!("{krate}-{version}/src/operation"));
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                if let Some(op) = name.strip_suffix(".rs") {
                    out.insert(op.to_owned());
                }
            }
        }
    }
    assert!(
        !out.is_empty(),
        "no sources of {krate} {version} under {}",
        home.display()
    );
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// IAM actions of the aws-sdk calls in the workspace's library and binary sources (tests,
/// the simulator and the test kit excluded).
fn scanned_actions() -> BTreeSet<String> {
    let services = [
        ("aws_sdk_ssm", "aws-sdk-ssm", "ssm"),
        ("aws_sdk_sts", "aws-sdk-sts", "sts"),
        (
            "aws_sdk_organizations",
            "aws-sdk-organizations",
            "organizations",
        ),
        ("aws_sdk_account", "aws-sdk-account", "account"),
        ("aws_sdk_s3", "aws-sdk-s3", "s3"),
    ];
    let mut files = Vec::new();
    for c in std::fs::read_dir(root().join("crates")).unwrap() {
        let c = c.unwrap().path();
        let name = c.file_name().unwrap().to_string_lossy().into_owned();
        if ["sim", "testkit", "bench"].contains(&name.as_str()) || !c.join("src").is_dir() {
            continue;
        }
        rust_files(&c.join("src"), &mut files);
    }
    let mut actions = BTreeSet::new();
    for (module, krate, prefix) in services {
        let ops = sdk_operations(krate);
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            if !text.contains(module) {
                continue;
            }
            // Strip `#[cfg(test)]` modules: unit tests may build buckets and the like.
            let text = text.split("#[cfg(test)]").next().unwrap();
            for op in &ops {
                if text.contains(&format!(".{op}()")) {
                    let op = pascal(op);
                    actions.insert(match prefix {
                        "s3" => s3_action(&op).to_owned(),
                        _ => format!("{prefix}:{op}"),
                    });
                }
            }
        }
    }
    actions
}

/// The actions an IAM policy document in a template grants: tokens on `Action:` lines and in
/// the list items following one, outside trust policies (`AssumeRolePolicyDocument`).
fn granted(template: &str, resource: Option<&str>) -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("infra").join(template)).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    if let Some(name) = resource {
        let start = lines
            .iter()
            .position(|l| l.trim_end() == format!("  {name}:"))
            .unwrap_or_else(|| panic!("{template}: no resource {name}"));
        let end = lines[start + 1..]
            .iter()
            .position(|l| {
                l.starts_with("  ") && !l.starts_with("   ") && l.trim_end().ends_with(':')
            })
            .map_or(lines.len(), |i| start + 1 + i);
        lines = lines[start..end].to_vec();
    }
    let mut out = BTreeSet::new();
    let mut in_trust: Option<usize> = None;
    let mut in_action: Option<usize> = None;
    let indent = |l: &str| l.len() - l.trim_start().len();
    for l in lines {
        let t = l.trim_start().trim_start_matches("- ");
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        if let Some(i) = in_trust {
            if indent(l) <= i {
                in_trust = None;
            } else {
                continue;
            }
        }
        if t.starts_with("AssumeRolePolicyDocument:") {
            in_trust = Some(indent(l));
            continue;
        }
        if let Some(i) = in_action {
            if indent(l) > i && l.trim_start().starts_with("- ") {
                out.insert(t.trim().trim_matches('"').to_owned());
                continue;
            }
            in_action = None;
        }
        if let Some(v) = t.strip_prefix("Action:") {
            let v = v.trim().trim_start_matches('[').trim_end_matches(']');
            if v.is_empty() {
                in_action = Some(indent(l));
            } else {
                out.extend(v.split(',').map(|a| a.trim().trim_matches('"').to_owned()));
            }
        }
    }
    out
}

fn of(actions: &BTreeSet<String>, prefixes: &[&str]) -> BTreeSet<String> {
    actions
        .iter()
        .filter(|a| prefixes.iter().any(|p| a.starts_with(&format!("{p}:"))))
        .cloned()
        .collect()
}

/// Operations the simulator and the proxy received during collections over every path.
async fn recorded_actions() -> Option<BTreeSet<String>> {
    if skipped() {
        return None;
    }
    let moto = Moto::start().await;
    let proxy = S3Proxy::start(&moto.endpoint, S3Faults::default())
        .await
        .unwrap();
    let mut spec = harness::small_spec(71);
    spec.accounts = 3;
    let sim = harness::sim(&spec).await;
    let dir = tempfile::tempdir().unwrap();
    let base = harness::config(&sim, dir.path());
    let s3 = harness::with(
        &base,
        &[
            &format!("lake.root=s3://{BUCKET}/lake"),
            &format!("lake.endpoint_url={}", moto.endpoint),
            "lake.force_path_style=true",
            &format!("lake.expected_bucket_owner={MOTO_ACCOUNT}"),
        ],
    );
    let factory = ClientFactory::new(&s3.aws, Some(simulator_credentials())).await;
    factory
        .s3(&s3.lake)
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let through_proxy = harness::with(&s3, &[&format!("lake.endpoint_url={}", proxy.endpoint())]);
    // Static accounts, full then incremental (reads the previous run back).
    for _ in 0..2 {
        let s = collect_run(
            Arc::new(through_proxy.clone()),
            Some(simulator_credentials()),
        )
        .await
        .unwrap();
        assert!(s.is_complete(), "{:?}", s.coverage);
    }
    // Organizations with an OU filter, regions as each account has them enabled.
    let ou = sim.fleet().organization().units[0].id.clone();
    let orgs = harness::with(
        &base,
        &[
            "accounts.source=organizations",
            &format!("accounts.include_ous={ou}"),
            "regions.source=enabled",
        ],
    );
    collect_run(Arc::new(orgs), Some(simulator_credentials()))
        .await
        .unwrap();
    let plain = harness::with(&base, &["accounts.source=organizations"]);
    collect_run(Arc::new(plain), Some(simulator_credentials()))
        .await
        .unwrap();

    let mut actions = BTreeSet::new();
    let ssm = sdk_operations("aws-sdk-ssm");
    let orgs_ops = sdk_operations("aws-sdk-organizations");
    for op in sim.stats().calls_by_operation.keys() {
        let snake: String = op
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                let lower = c.to_ascii_lowercase();
                if c.is_ascii_uppercase() && i > 0 {
                    vec!['_', lower]
                } else {
                    vec![lower]
                }
            })
            .collect();
        let prefix = match op.as_str() {
            "AssumeRole" | "GetCallerIdentity" => "sts",
            "ListRegions" | "GetRegionOptStatus" => "account",
            _ if orgs_ops.contains(&snake) && !ssm.contains(&snake) => "organizations",
            _ => "ssm",
        };
        actions.insert(format!("{prefix}:{op}"));
    }
    actions.extend(proxy.stats().actions.into_keys());
    actions.remove("s3:CreateBucket");
    sim.shutdown().await;
    Some(actions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_grant_exactly_the_actions_the_code_calls() {
    let scanned = scanned_actions();
    if let Some(recorded) = recorded_actions().await {
        // sts:GetCallerIdentity needs no permission; it may or may not be called.
        let called: BTreeSet<String> = recorded
            .into_iter()
            .filter(|a| a != "sts:GetCallerIdentity")
            .collect();
        let scanned_called: BTreeSet<String> = scanned
            .iter()
            .filter(|a| *a != "sts:GetCallerIdentity")
            .cloned()
            .collect();
        // Every call the servers saw is found in the sources, and every call in the sources
        // was exercised (ListBucket/GetObject/DeleteObject of the S3 lake included).
        assert_eq!(
            called.difference(&scanned_called).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "called but not found by the source scan"
        );
        // ListTagsForResource is the fallback for instances the AWS:Tag inventory does not
        // cover, which the simulated fleet never has: the only call not exercised.
        assert_eq!(
            of(&scanned_called, &["ssm", "account", "organizations"])
                .difference(&of(&called, &["ssm", "account", "organizations"]))
                .collect::<Vec<_>>(),
            vec!["ssm:ListTagsForResource"],
            "in the sources but never called by the collections"
        );
    }
    let spoke = granted("spoke-role.yaml", None);
    assert_eq!(
        spoke,
        of(&scanned, &["ssm", "account"]),
        "infra/spoke-role.yaml must grant exactly the SSM and Account calls of the collector"
    );
    let reader = granted("organizations-reader-role.yaml", None);
    assert_eq!(
        reader,
        of(&scanned, &["organizations"]),
        "infra/organizations-reader-role.yaml must grant exactly the Organizations calls"
    );
    // The hub: the plan role reads the organization and assumes roles; the collect and
    // finalize roles together write and read the lake (S3 with SSE-KMS) and assume roles.
    let plan = granted("template.yaml", Some("PlanRole"));
    assert_eq!(
        of(&plan, &["organizations"]),
        of(&scanned, &["organizations"]),
        "PlanRole's Organizations actions"
    );
    let mut lake_roles = granted("template.yaml", Some("CollectRole"));
    lake_roles.extend(granted("template.yaml", Some("FinalizeRole")));
    assert!(lake_roles.contains("sts:AssumeRole"));
    assert_eq!(
        of(&lake_roles, &["s3"]),
        of(&scanned, &["s3"]),
        "CollectRole + FinalizeRole must grant exactly the S3 actions the lake writer uses"
    );
    assert!(
        of(&lake_roles, &["kms"])
            == ["kms:Decrypt", "kms:GenerateDataKey"]
                .map(String::from)
                .into(),
        "SSE-KMS needs kms:GenerateDataKey to write and kms:Decrypt to read, nothing else"
    );
    assert!(
        of(&lake_roles, &["ssm", "organizations", "account"]).is_empty(),
        "the hub never calls SSM itself: it reads through the spoke role"
    );
}
