use std::collections::{BTreeMap, BTreeSet};

use patchlake_sim::fleet::{BaselineOwner, PatchComplianceState};
use serde_json::{Value, json};

use crate::client::*;

#[tokio::test]
async fn error_shape() {
    let sim = start().await;
    let account = sim.fleet().accounts()[1].id.clone();
    let mut conn = Conn::open(&sim).await;
    let key = assume(&mut conn, &account).await;

    let check = |resp: &Resp, status: u16, code: &str| {
        assert_eq!(resp.status, status, "{}", resp.body);
        assert_eq!(
            resp.header("content-type"),
            Some("application/x-amz-json-1.1")
        );
        assert_eq!(resp.header("x-amzn-errortype"), Some(code));
        assert!(resp.header("x-amzn-requestid").is_some());
        let v = resp.json();
        assert_eq!(v["__type"], code);
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    };

    let resp = ssm(
        &mut conn,
        "AKIAUNKNOWN000000000",
        "us-east-1",
        "DescribeInstanceInformation",
        json!({}),
    )
    .await;
    check(&resp, 400, "UnrecognizedClientException");
    let resp = ssm(
        &mut conn,
        &key,
        "ap-south-2",
        "DescribeInstanceInformation",
        json!({}),
    )
    .await;
    check(&resp, 400, "UnrecognizedClientException");
    let resp = conn
        .post(
            &[
                ("Content-Type", "application/x-amz-json-1.1".into()),
                (
                    "X-Amz-Target",
                    "AmazonSSM.DescribeInstanceInformation".into(),
                ),
            ],
            "{}",
        )
        .await;
    check(&resp, 400, "MissingAuthenticationTokenException");
    let resp = conn
        .post(
            &[
                ("Content-Type", "application/x-amz-json-1.1".into()),
                (
                    "X-Amz-Target",
                    "AmazonSSM.DescribeInstanceInformation".into(),
                ),
                ("Authorization", authorization(&key, "us-east-1", "ssm")),
            ],
            "{\"MaxResults\": ",
        )
        .await;
    check(&resp, 400, "SerializationException");
    let resp = ssm(
        &mut conn,
        &key,
        "us-east-1",
        "DescribeInstanceInformation",
        json!({"MaxResults": "ten"}),
    )
    .await;
    check(&resp, 400, "SerializationException");
    let resp = ssm(&mut conn, &key, "us-east-1", "SendCommand", json!({})).await;
    check(&resp, 400, "UnknownOperationException");
    let resp = ssm(
        &mut conn,
        &key,
        "us-east-1",
        "DescribeInstancePatches",
        json!({"InstanceId": "i-0000000000000000f"}),
    )
    .await;
    check(&resp, 400, "InvalidInstanceId");
    let resp = ssm(
        &mut conn,
        &key,
        "us-east-1",
        "GetPatchBaseline",
        json!({"BaselineId": "pb-0000000000000000f"}),
    )
    .await;
    check(&resp, 400, "DoesNotExistException");
    let resp = conn
        .post(&[("X-Amz-Target", "AmazonFoo.Bar".into())], "{}")
        .await;
    check(&resp, 400, "UnknownOperationException");

    sim.faults().deny_ssm(account.clone(), "eu-west-1");
    let resp = ssm(
        &mut conn,
        &key,
        "eu-west-1",
        "DescribeInstanceInformation",
        json!({}),
    )
    .await;
    check(&resp, 400, "AccessDeniedException");
    let ok = ssm(
        &mut conn,
        &key,
        "us-east-1",
        "DescribeInstanceInformation",
        json!({}),
    )
    .await;
    assert_eq!(ok.status, 200);
    sim.faults().allow_ssm(&account, "eu-west-1");

    sim.faults().set_server_error_probability(1.0);
    let resp = ssm(
        &mut conn,
        &key,
        "us-east-1",
        "DescribeInstanceInformation",
        json!({}),
    )
    .await;
    check(&resp, 500, "InternalServerError");
    sim.faults().set_server_error_probability(0.0);

    let stats = sim.stats();
    assert_eq!(stats.errors_with("AccessDeniedException"), 1);
    assert_eq!(stats.errors_with("InternalServerError"), 1);
}

#[tokio::test]
async fn max_results_and_request_validation() {
    let sim = start().await;
    let account = sim.fleet().accounts()[0].id.clone();
    let mut conn = Conn::open(&sim).await;
    let key = assume(&mut conn, &account).await;
    let ar = sim.fleet().account_region(&account, "us-east-1").unwrap();
    let id = ar.instances[0].instance_id.clone();
    let ids: Vec<String> = ar
        .instances
        .iter()
        .take(51)
        .map(|i| i.instance_id.clone())
        .collect();

    let bad = [
        ("DescribeInstanceInformation", json!({"MaxResults": 51})),
        ("DescribeInstanceInformation", json!({"MaxResults": 4})),
        ("DescribeInstancePatchStates", json!({"InstanceIds": ids})),
        ("DescribeInstancePatchStates", json!({"InstanceIds": []})),
        ("DescribeInstancePatchStates", json!({})),
        (
            "DescribeInstancePatchStates",
            json!({"InstanceIds": ["i-bad"]}),
        ),
        (
            "DescribeInstancePatchStates",
            json!({"InstanceIds": [id], "MaxResults": 101}),
        ),
        (
            "DescribeInstancePatches",
            json!({"InstanceId": id, "MaxResults": 51}),
        ),
        ("DescribeInstancePatches", json!({})),
        ("DescribePatchBaselines", json!({"MaxResults": 101})),
        ("DescribePatchBaselines", json!({"MaxResults": 0})),
        ("DescribePatchGroups", json!({"MaxResults": 101})),
        (
            "ListInventoryEntries",
            json!({"InstanceId": id, "TypeName": "AWS:Application", "MaxResults": 51}),
        ),
        (
            "GetDefaultPatchBaseline",
            json!({"OperatingSystem": "BEOS"}),
        ),
    ];
    for (op, body) in bad {
        let resp = ssm(&mut conn, &key, "us-east-1", op, body.clone()).await;
        assert_eq!(resp.status, 400, "{op} {body}: {}", resp.body);
        assert_eq!(resp.error_type(), "ValidationException", "{op} {body}");
    }
    let resp = ssm(
        &mut conn,
        &key,
        "us-east-1",
        "DescribeInstanceInformation",
        json!({"MaxResults": 51}),
    )
    .await;
    assert_eq!(
        resp.json()["message"],
        "1 validation error detected: Value '51' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50"
    );
    let good = [
        ("DescribeInstanceInformation", json!({"MaxResults": 5})),
        ("DescribeInstanceInformation", json!({"MaxResults": 50})),
        (
            "DescribeInstancePatches",
            json!({"InstanceId": id, "MaxResults": 50}),
        ),
        ("DescribePatchBaselines", json!({"MaxResults": 1})),
    ];
    for (op, body) in good {
        let resp = ssm(&mut conn, &key, "us-east-1", op, body.clone()).await;
        assert_eq!(resp.status, 200, "{op} {body}: {}", resp.body);
    }
}

#[tokio::test]
async fn instance_information_pagination_returns_every_instance_once() {
    let sim = start().await;
    let account = sim.fleet().accounts()[2].id.clone();
    let mut conn = Conn::open(&sim).await;
    let key = assume(&mut conn, &account).await;
    let ar = sim.fleet().account_region(&account, "eu-west-1").unwrap();

    let (items, pages) = walk(
        &mut conn,
        &key,
        "eu-west-1",
        "DescribeInstanceInformation",
        json!({"MaxResults": 7}),
        "InstanceInformationList",
    )
    .await;
    assert_eq!(pages, ar.instances.len().div_ceil(7));
    let got: Vec<&str> = items
        .iter()
        .map(|i| i["InstanceId"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = ar
        .instances
        .iter()
        .map(|i| i.instance_id.as_str())
        .collect();
    assert_eq!(got, want);

    let first = &items[0];
    let inst = &ar.instances[0];
    assert_eq!(first["PlatformName"], inst.platform.platform_name());
    assert_eq!(first["PlatformVersion"], inst.platform.platform_version());
    assert_eq!(first["PlatformType"], inst.platform.platform_type());
    assert_eq!(first["PingStatus"], inst.ping_status.as_str());
    assert_eq!(first["ResourceType"], inst.resource_type.as_str());
    assert!(first["LastPingDateTime"].is_number());
    assert!(first["IPAddress"].is_string());
    assert!(first["ComputerName"].is_string());
    assert!(first["AgentVersion"].is_string());

    // Filters.
    let (windows, _) = walk(
        &mut conn,
        &key,
        "eu-west-1",
        "DescribeInstanceInformation",
        json!({"Filters": [{"Key": "PlatformTypes", "Values": ["Windows"]}]}),
        "InstanceInformationList",
    )
    .await;
    let want = ar
        .instances
        .iter()
        .filter(|i| i.platform.is_windows())
        .count();
    assert_eq!(windows.len(), want);
    let (online, _) = walk(
        &mut conn,
        &key,
        "eu-west-1",
        "DescribeInstanceInformation",
        json!({"InstanceInformationFilterList": [{"key": "PingStatus", "valueSet": ["Online"]}]}),
        "InstanceInformationList",
    )
    .await;
    let want = ar
        .instances
        .iter()
        .filter(|i| i.ping_status.as_str() == "Online")
        .count();
    assert_eq!(online.len(), want);

    // Tampered and cross-operation tokens.
    let resp = ssm(
        &mut conn,
        &key,
        "eu-west-1",
        "DescribeInstanceInformation",
        json!({"MaxResults": 5}),
    )
    .await;
    let token = resp.json()["NextToken"].as_str().unwrap().to_string();
    let mut tampered = token.clone().into_bytes();
    tampered[5] = if tampered[5] == b'a' { b'b' } else { b'a' };
    let tampered = String::from_utf8(tampered).unwrap();
    for (op, body) in [
        (
            "DescribeInstanceInformation",
            json!({"NextToken": tampered}),
        ),
        (
            "DescribeInstanceInformation",
            json!({"NextToken": "garbage"}),
        ),
        ("DescribePatchBaselines", json!({"NextToken": token})),
        (
            "DescribeInstanceInformation",
            json!({"NextToken": token, "Filters": [{"Key": "PingStatus", "Values": ["Online"]}]}),
        ),
    ] {
        let resp = ssm(&mut conn, &key, "eu-west-1", op, body).await;
        assert_eq!(resp.status, 400);
        assert_eq!(resp.error_type(), "InvalidNextToken");
    }
    // Tokens are bound to the account-region too.
    let resp = ssm(
        &mut conn,
        &key,
        "us-east-1",
        "DescribeInstanceInformation",
        json!({"NextToken": token}),
    )
    .await;
    assert_eq!(resp.error_type(), "InvalidNextToken");
}

#[tokio::test]
async fn patch_states_in_chunks_of_fifty() {
    let sim = start().await;
    let account = sim.fleet().accounts()[1].id.clone();
    let mut conn = Conn::open(&sim).await;
    let key = assume(&mut conn, &account).await;
    let ar = sim.fleet().account_region(&account, "us-east-1").unwrap();
    let ids: Vec<&str> = ar
        .instances
        .iter()
        .map(|i| i.instance_id.as_str())
        .collect();
    sim.reset_stats();

    let mut states = Vec::new();
    for chunk in ids.chunks(50) {
        let resp = ssm(
            &mut conn,
            &key,
            "us-east-1",
            "DescribeInstancePatchStates",
            json!({"InstanceIds": chunk}),
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        let v = resp.json();
        assert!(v.get("NextToken").is_none());
        states.extend(v["InstancePatchStates"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(
        sim.stats().calls("DescribeInstancePatchStates"),
        ids.len().div_ceil(50) as u64
    );
    assert_eq!(
        sim.stats().calls_for(&account, "us-east-1"),
        ids.len().div_ceil(50) as u64
    );

    let reported: Vec<_> = ar
        .instances
        .iter()
        .filter(|i| i.patch_state.is_some())
        .collect();
    assert_eq!(states.len(), reported.len());
    assert!(
        reported.len() < ar.instances.len(),
        "some instances are unreported"
    );
    for (got, inst) in states.iter().zip(&reported) {
        let s = inst.patch_state.as_ref().unwrap();
        assert_eq!(got["InstanceId"], inst.instance_id.as_str());
        assert_eq!(got["PatchGroup"], inst.patch_group.unwrap_or(""));
        assert_eq!(got["BaselineId"], ar.baselines[s.baseline].id.as_str());
        assert_eq!(got["InstalledCount"], s.counts.installed);
        assert_eq!(got["MissingCount"], s.counts.missing);
        assert_eq!(got["FailedCount"], s.counts.failed);
        assert_eq!(
            got["InstalledPendingRebootCount"],
            s.counts.installed_pending_reboot
        );
        assert_eq!(got["NotApplicableCount"], s.counts.not_applicable);
        assert_eq!(got["CriticalNonCompliantCount"], s.critical_non_compliant);
        assert_eq!(got["SecurityNonCompliantCount"], s.security_non_compliant);
        assert_eq!(got["OtherNonCompliantCount"], s.other_non_compliant);
        assert_eq!(got["Operation"], s.operation.as_str());
        assert_eq!(
            got["OperationEndTime"].as_f64().unwrap() as i64,
            s.operation_end.timestamp()
        );
        assert!(
            got["OperationStartTime"].as_f64().unwrap()
                <= got["OperationEndTime"].as_f64().unwrap()
        );
        assert!(got["SnapshotId"].as_str().unwrap().len() == 36);
    }

    // Small pages over one chunk.
    let chunk = &ids[..50];
    let (paged, pages) = walk(
        &mut conn,
        &key,
        "us-east-1",
        "DescribeInstancePatchStates",
        json!({"InstanceIds": chunk, "MaxResults": 10}),
        "InstancePatchStates",
    )
    .await;
    let want = ar.instances[..50]
        .iter()
        .filter(|i| i.patch_state.is_some())
        .count();
    assert_eq!(paged.len(), want);
    assert_eq!(pages, want.div_ceil(10));

    // Per patch group.
    let (group, _) = walk(
        &mut conn,
        &key,
        "us-east-1",
        "DescribeInstancePatchStatesForPatchGroup",
        json!({"PatchGroup": "prod", "MaxResults": 10}),
        "InstancePatchStates",
    )
    .await;
    let want = reported
        .iter()
        .filter(|i| i.patch_group == Some("prod"))
        .count();
    assert_eq!(group.len(), want);
}

#[tokio::test]
async fn instance_patches_walk_matches_the_fleet() {
    let sim = start().await;
    let account = sim.fleet().accounts()[0].id.clone();
    let mut conn = Conn::open(&sim).await;
    let key = assume(&mut conn, &account).await;
    let ar = sim.fleet().account_region(&account, "us-east-1").unwrap();
    let mut checked_nc = false;
    for inst in ar.instances.iter().take(12) {
        let want = sim
            .fleet()
            .instance_patches(&account, "us-east-1", &inst.instance_id)
            .unwrap();
        let (items, pages) = walk(
            &mut conn,
            &key,
            "us-east-1",
            "DescribeInstancePatches",
            json!({"InstanceId": inst.instance_id, "MaxResults": 50}),
            "Patches",
        )
        .await;
        assert_eq!(items.len(), want.len());
        assert_eq!(pages, want.len().div_ceil(50).max(1));
        let titles: BTreeSet<&str> = items.iter().map(|p| p["Title"].as_str().unwrap()).collect();
        assert_eq!(titles.len(), items.len(), "each record exactly once");
        for (got, w) in items.iter().zip(&want) {
            assert_eq!(got["Title"], w.title.as_str());
            assert_eq!(got["KBId"], w.kb_id.as_str());
            assert_eq!(got["Classification"], w.classification.as_str());
            assert_eq!(got["Severity"], w.severity.as_str());
            assert_eq!(got["State"], w.state.as_str());
            let t = got["InstalledTime"].as_i64().unwrap();
            assert_eq!(t, w.installed_time.map_or(0, |t| t.timestamp()));
            match got.get("CVEIds") {
                Some(c) => assert_eq!(c, w.cve_ids.as_str()),
                None => assert!(w.cve_ids.is_empty()),
            }
        }
        if let Some(s) = &inst.patch_state {
            let mut by_state: BTreeMap<String, u32> = BTreeMap::new();
            for p in &items {
                *by_state
                    .entry(p["State"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
            assert_eq!(
                by_state.get("INSTALLED").copied().unwrap_or(0),
                s.counts.installed
            );
            assert_eq!(
                by_state.get("MISSING").copied().unwrap_or(0),
                s.counts.missing
            );
            if s.counts.non_compliant() > 0 {
                // Filter by state, in the CamelCase spelling the API documents.
                let (missing, _) = walk(
                    &mut conn,
                    &key,
                    "us-east-1",
                    "DescribeInstancePatches",
                    json!({"InstanceId": inst.instance_id, "Filters": [{"Key": "State", "Values": ["Missing", "Failed", "InstalledPendingReboot"]}]}),
                    "Patches",
                )
                .await;
                assert_eq!(missing.len() as u32, s.counts.non_compliant());
                assert!(missing.iter().all(|p| {
                    let st = PatchComplianceState::parse(p["State"].as_str().unwrap()).unwrap();
                    st.is_non_compliant() && p["InstalledTime"].is_number()
                }));
                checked_nc = true;
            }
        }
    }
    assert!(checked_nc);
    let resp = ssm(
        &mut conn,
        &key,
        "us-east-1",
        "DescribeInstancePatches",
        json!({"InstanceId": ar.instances[0].instance_id, "Filters": [{"Key": "Bogus", "Values": ["x"]}]}),
    )
    .await;
    assert_eq!(resp.error_type(), "InvalidFilter");
}

#[tokio::test]
async fn baselines_patch_groups_and_defaults() {
    let sim = start().await;
    let account = sim.fleet().accounts()[1].id.clone();
    let mut conn = Conn::open(&sim).await;
    let key = assume(&mut conn, &account).await;
    let ar = sim.fleet().account_region(&account, "eu-west-1").unwrap();

    let (all, pages) = walk(
        &mut conn,
        &key,
        "eu-west-1",
        "DescribePatchBaselines",
        json!({"MaxResults": 4}),
        "BaselineIdentities",
    )
    .await;
    assert_eq!(all.len(), ar.baselines.len());
    assert_eq!(pages, ar.baselines.len().div_ceil(4));
    let defaults = all.iter().filter(|b| b["DefaultBaseline"] == true).count();
    assert_eq!(defaults, 12, "one default per operating system");
    let (own, _) = walk(
        &mut conn,
        &key,
        "eu-west-1",
        "DescribePatchBaselines",
        json!({"Filters": [{"Key": "OWNER", "Values": ["Self"]}]}),
        "BaselineIdentities",
    )
    .await;
    let customs = ar
        .baselines
        .iter()
        .filter(|b| b.owner == BaselineOwner::Custom)
        .count();
    assert_eq!(own.len(), customs);
    assert!(
        own.iter()
            .all(|b| b["BaselineId"].as_str().unwrap().starts_with("pb-"))
    );
    let (aws, _) = walk(
        &mut conn,
        &key,
        "eu-west-1",
        "DescribePatchBaselines",
        json!({"Filters": [{"Key": "OWNER", "Values": ["AWS"]}, {"Key": "NAME_PREFIX", "Values": ["AWS-Amazon"]}]}),
        "BaselineIdentities",
    )
    .await;
    assert_eq!(aws.len(), 3);
    assert!(aws.iter().all(|b| {
        b["BaselineId"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:ssm:eu-west-1:")
    }));

    // Full documents.
    for b in &ar.baselines {
        let resp = ssm(
            &mut conn,
            &key,
            "eu-west-1",
            "GetPatchBaseline",
            json!({"BaselineId": b.id}),
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        let v = resp.json();
        assert_eq!(v["BaselineId"], b.id.as_str());
        assert_eq!(v["Name"], b.name.as_str());
        assert_eq!(v["OperatingSystem"], b.operating_system.as_str());
        let rules = v["ApprovalRules"]["PatchRules"].as_array().unwrap();
        assert_eq!(rules.len(), b.rules.len());
        for (rule, want) in rules.iter().zip(&b.rules) {
            assert_eq!(rule["ComplianceLevel"], want.compliance_level.as_str());
            let filters = rule["PatchFilterGroup"]["PatchFilters"].as_array().unwrap();
            assert_eq!(filters.len(), want.filters.len());
            assert!(
                filters
                    .iter()
                    .all(|f| f["Key"].is_string() && f["Values"].is_array())
            );
            assert!(
                rule.get("ApproveAfterDays").is_some() || rule.get("ApproveUntilDate").is_some()
            );
            assert!(rule["EnableNonSecurity"].is_boolean());
        }
        assert!(v["GlobalFilters"]["PatchFilters"].is_array());
        assert!(v["ApprovedPatches"].is_array());
        assert!(v["RejectedPatches"].is_array());
        assert!(v["RejectedPatchesAction"].is_string());
        assert!(v["ApprovedPatchesComplianceLevel"].is_string());
        assert!(v["CreatedDate"].is_number() && v["ModifiedDate"].is_number());
        let groups: Vec<&str> = v["PatchGroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap())
            .collect();
        assert_eq!(
            groups,
            b.patch_groups
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        );
    }

    let (mappings, _) = walk(
        &mut conn,
        &key,
        "eu-west-1",
        "DescribePatchGroups",
        json!({"MaxResults": 3}),
        "Mappings",
    )
    .await;
    assert_eq!(mappings.len(), ar.registrations.len());
    for (m, r) in mappings.iter().zip(&ar.registrations) {
        assert_eq!(m["PatchGroup"], r.patch_group.as_str());
        assert_eq!(
            m["BaselineIdentity"]["BaselineId"],
            ar.baselines[r.baseline].id.as_str()
        );
        assert_eq!(
            m["BaselineIdentity"]["OperatingSystem"],
            r.operating_system.as_str()
        );
    }

    for os in patchlake_sim::fleet::OperatingSystem::INSTANCE_OSES {
        let resp = ssm(
            &mut conn,
            &key,
            "eu-west-1",
            "GetDefaultPatchBaseline",
            json!({"OperatingSystem": os.as_str()}),
        )
        .await;
        let v = resp.json();
        assert_eq!(
            v["BaselineId"],
            ar.baselines[ar.default_baseline(os)].id.as_str()
        );
        assert_eq!(v["OperatingSystem"], os.as_str());
        for group in ["prod", "dev", "nonexistent"] {
            let resp = ssm(
                &mut conn,
                &key,
                "eu-west-1",
                "GetPatchBaselineForPatchGroup",
                json!({"PatchGroup": group, "OperatingSystem": os.as_str()}),
            )
            .await;
            let v = resp.json();
            assert_eq!(
                v["BaselineId"],
                ar.baselines[ar.effective_baseline(Some(group), os)]
                    .id
                    .as_str()
            );
            assert_eq!(v["PatchGroup"], group);
        }
    }
    let resp = ssm(
        &mut conn,
        &key,
        "eu-west-1",
        "GetDefaultPatchBaseline",
        json!({}),
    )
    .await;
    assert_eq!(resp.json()["OperatingSystem"], "WINDOWS");
}

#[tokio::test]
async fn tags_windows_and_inventory() {
    let sim = start().await;
    let account = sim.fleet().accounts()[2].id.clone();
    let mut conn = Conn::open(&sim).await;
    let key = assume(&mut conn, &account).await;
    let ar = sim.fleet().account_region(&account, "us-east-1").unwrap();

    for inst in ar.instances.iter().take(20) {
        let resp = ssm(
            &mut conn,
            &key,
            "us-east-1",
            "ListTagsForResource",
            json!({"ResourceType": "ManagedInstance", "ResourceId": inst.instance_id}),
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        let tags = resp.json()["TagList"].as_array().unwrap().clone();
        let group = tags
            .iter()
            .find(|t| t["Key"] == "Patch Group")
            .map(|t| t["Value"].as_str().unwrap().to_string());
        assert_eq!(group.as_deref(), inst.patch_group);
        assert!(tags.iter().any(|t| t["Key"] == "Name"));
    }
    let resp = ssm(
        &mut conn,
        &key,
        "us-east-1",
        "ListTagsForResource",
        json!({"ResourceType": "ManagedInstance", "ResourceId": "i-0000000000000000f"}),
    )
    .await;
    assert_eq!(resp.error_type(), "InvalidResourceId");

    let (windows, _) = walk(
        &mut conn,
        &key,
        "us-east-1",
        "DescribeMaintenanceWindows",
        json!({"MaxResults": 10}),
        "WindowIdentities",
    )
    .await;
    assert_eq!(windows.len(), ar.maintenance_windows.len());
    for (w, want) in windows.iter().zip(&ar.maintenance_windows) {
        assert_eq!(w["WindowId"], want.window_id.as_str());
        assert!(w["WindowId"].as_str().unwrap().starts_with("mw-"));
        assert!(
            w["Schedule"].as_str().unwrap().starts_with("cron(")
                || w["Schedule"].as_str().unwrap().starts_with("rate(")
        );
        assert!(w["Duration"].is_number() && w["Cutoff"].is_number() && w["Enabled"].is_boolean());
        let (targets, _) = walk(
            &mut conn,
            &key,
            "us-east-1",
            "DescribeMaintenanceWindowTargets",
            json!({"WindowId": want.window_id}),
            "Targets",
        )
        .await;
        assert_eq!(targets.len(), want.targets.len());
        assert_eq!(targets[0]["Targets"][0]["Key"], "tag:Patch Group");
        assert_eq!(targets[0]["ResourceType"], "INSTANCE");
    }

    let inst = &ar.instances[3];
    let want = sim
        .fleet()
        .instance_applications(&account, "us-east-1", &inst.instance_id)
        .unwrap();
    let mut body =
        json!({"InstanceId": inst.instance_id, "TypeName": "AWS:Application", "MaxResults": 7});
    let mut entries: Vec<Value> = Vec::new();
    loop {
        let resp = ssm(
            &mut conn,
            &key,
            "us-east-1",
            "ListInventoryEntries",
            body.clone(),
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        let v = resp.json();
        assert_eq!(v["TypeName"], "AWS:Application");
        assert_eq!(v["InstanceId"], inst.instance_id.as_str());
        assert!(v["CaptureTime"].as_str().unwrap().ends_with('Z'));
        assert_eq!(v["SchemaVersion"], "1.1");
        entries.extend(v["Entries"].as_array().unwrap().iter().cloned());
        match v.get("NextToken") {
            Some(t) => body["NextToken"] = t.clone(),
            None => break,
        }
    }
    assert_eq!(entries.len(), want.len());
    for (e, a) in entries.iter().zip(&want) {
        assert_eq!(e["Name"], a.name.as_str());
        assert_eq!(e["Version"], a.version.as_str());
        assert!(
            e.as_object().unwrap().values().all(Value::is_string),
            "entries are string maps"
        );
    }
    let resp = ssm(
        &mut conn,
        &key,
        "us-east-1",
        "ListInventoryEntries",
        json!({"InstanceId": inst.instance_id, "TypeName": "Custom:Thing"}),
    )
    .await;
    assert_eq!(resp.error_type(), "InvalidTypeNameException");
}
