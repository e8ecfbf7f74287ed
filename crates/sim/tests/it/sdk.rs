//! The unmodified aws-sdk-rust clients against the simulator: proves the wire formats are
//! what the SDK's deserialisers and retry classifiers expect.

use std::sync::Arc;

use aws_sdk_ssm::config::{Credentials, Region};
use aws_sdk_ssm::error::ProvideErrorMetadata;
use patchlake_sim::{Fleet, FleetSpec, SimHandle, SimOptions, SimServer, Throttle};

const EXTERNAL_ID: &str = "patchlake-demo";

async fn start() -> SimHandle {
    let spec = FleetSpec {
        seed: 9,
        accounts: 3,
        instances_per_region: 80,
        ..FleetSpec::default()
    };
    SimServer::start(Arc::new(Fleet::generate(&spec)), SimOptions::default())
        .await
        .expect("simulator starts")
}

fn hub_credentials() -> Credentials {
    Credentials::new("AKIAHUBEXAMPLE000001", "hubsecret", None, None, "test")
}

fn sts_client(sim: &SimHandle, credentials: Credentials) -> aws_sdk_sts::Client {
    let config = aws_sdk_sts::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .endpoint_url(sim.endpoint())
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

fn ssm_client(sim: &SimHandle, credentials: Credentials, region: &str) -> aws_sdk_ssm::Client {
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version_latest()
        .region(Region::new(region.to_string()))
        .credentials_provider(credentials)
        .endpoint_url(sim.endpoint())
        .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_ssm::Client::from_conf(config)
}

async fn assume(sim: &SimHandle, account: &str) -> Credentials {
    let out = sts_client(sim, hub_credentials())
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/PatchlakeReadOnly"))
        .role_session_name("patchlake-sdk")
        .external_id(EXTERNAL_ID)
        .send()
        .await
        .expect("assume role");
    let c = out.credentials().expect("credentials");
    assert!(out.assumed_role_user().unwrap().arn().contains(account));
    Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        Some(std::time::SystemTime::try_from(*c.expiration()).expect("expiration")),
        "sim",
    )
}

#[tokio::test]
async fn sts_through_the_sdk() {
    let sim = start().await;
    let account = sim.fleet().accounts()[1].id.clone();
    let sts = sts_client(&sim, hub_credentials());
    let who = sts.get_caller_identity().send().await.expect("identity");
    assert_eq!(who.account(), Some(sim.fleet().management_account_id()));

    let err = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/PatchlakeReadOnly"))
        .role_session_name("wrong-external-id")
        .external_id("wrong")
        .send()
        .await
        .expect_err("denied");
    assert_eq!(err.code(), Some("AccessDenied"));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));

    let creds = assume(&sim, &account).await;
    let who = sts_client(&sim, creds)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.account(), Some(account.as_str()));
}

#[tokio::test]
async fn ssm_through_the_sdk() {
    let sim = start().await;
    let fleet = Arc::clone(sim.fleet());
    let account = fleet.accounts()[2].id.clone();
    let ar = fleet.account_region(&account, "eu-west-1").unwrap();
    let ssm = ssm_client(&sim, assume(&sim, &account).await, "eu-west-1");

    let infos: Vec<_> = ssm
        .describe_instance_information()
        .max_results(50)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("instance information");
    assert_eq!(infos.len(), ar.instances.len());
    assert!(infos[0].last_ping_date_time().is_some());
    assert!(infos.iter().all(|i| i.platform_type().is_some()));

    let ids: Vec<String> = infos
        .iter()
        .map(|i| i.instance_id().unwrap().to_string())
        .collect();
    let mut states = Vec::new();
    for chunk in ids.chunks(50) {
        let out = ssm
            .describe_instance_patch_states()
            .set_instance_ids(Some(chunk.to_vec()))
            .send()
            .await
            .expect("patch states");
        states.extend(out.instance_patch_states().iter().cloned());
    }
    let reported = ar
        .instances
        .iter()
        .filter(|i| i.patch_state.is_some())
        .count();
    assert_eq!(states.len(), reported);
    assert!(
        states.iter().any(|s| s.patch_group().is_empty()),
        "untagged instances report an empty group"
    );
    let with_missing = states
        .iter()
        .find(|s| s.missing_count() > 0)
        .expect("some missing");

    let patches: Vec<_> = ssm
        .describe_instance_patches()
        .instance_id(with_missing.instance_id())
        .max_results(50)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("patches");
    let want = fleet
        .instance_patches(&account, "eu-west-1", with_missing.instance_id())
        .unwrap();
    assert_eq!(patches.len(), want.len());
    let missing = patches
        .iter()
        .filter(|p| p.state() == &aws_sdk_ssm::types::PatchComplianceDataState::Missing)
        .count();
    assert_eq!(missing as i32, with_missing.missing_count());
    assert!(patches.iter().any(|p| p.cve_ids().is_some()));

    let baselines: Vec<_> = ssm
        .describe_patch_baselines()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(baselines.len(), ar.baselines.len());
    for b in &baselines {
        let full = ssm
            .get_patch_baseline()
            .baseline_id(b.baseline_id().unwrap())
            .send()
            .await
            .expect("baseline");
        assert_eq!(full.name(), b.baseline_name());
        assert!(full.approval_rules().is_some());
        assert!(full.created_date().is_some());
    }
    let groups: Vec<_> = ssm
        .describe_patch_groups()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(groups.len(), ar.registrations.len());
    let default = ssm
        .get_default_patch_baseline()
        .operating_system(aws_sdk_ssm::types::OperatingSystem::AmazonLinux2)
        .send()
        .await
        .unwrap();
    assert!(default.baseline_id().is_some());
    let for_group = ssm
        .get_patch_baseline_for_patch_group()
        .patch_group("prod")
        .operating_system(aws_sdk_ssm::types::OperatingSystem::Windows)
        .send()
        .await
        .unwrap();
    assert_eq!(for_group.patch_group(), Some("prod"));

    let tags = ssm
        .list_tags_for_resource()
        .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::ManagedInstance)
        .resource_id(&ids[0])
        .send()
        .await
        .unwrap();
    assert!(tags.tag_list().iter().any(|t| t.key() == "Name"));

    let windows = ssm.describe_maintenance_windows().send().await.unwrap();
    assert_eq!(
        windows.window_identities().len(),
        ar.maintenance_windows.len()
    );
    let targets = ssm
        .describe_maintenance_window_targets()
        .window_id(windows.window_identities()[0].window_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        targets.targets()[0].targets()[0].key(),
        Some("tag:Patch Group")
    );

    let inventory = ssm
        .list_inventory_entries()
        .instance_id(&ids[0])
        .type_name("AWS:Application")
        .send()
        .await
        .unwrap();
    assert!(!inventory.entries().is_empty());
    assert!(inventory.entries()[0].contains_key("Name"));

    // Errors keep their codes through the SDK.
    let err = ssm
        .describe_instance_patches()
        .instance_id("i-0000000000000000f")
        .send()
        .await
        .expect_err("unknown instance");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_instance_id()),
        "{err:?}"
    );
    let err = ssm
        .describe_instance_information()
        .max_results(51)
        .send()
        .await
        .expect_err("validation");
    assert_eq!(err.code(), Some("ValidationException"));
    let err = ssm
        .describe_instance_information()
        .next_token("tampered")
        .send()
        .await
        .expect_err("token");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_next_token()),
        "{err:?}"
    );

    sim.faults().set_throttle(Some(Throttle {
        rate_per_second: 0.0,
        burst: 0,
    }));
    let err = ssm
        .describe_patch_baselines()
        .send()
        .await
        .expect_err("throttled");
    assert_eq!(err.code(), Some("ThrottlingException"));
    sim.faults().set_throttle(None);

    let err = ssm_client(&sim, hub_credentials(), "eu-west-1")
        .describe_patch_baselines()
        .send()
        .await
        .expect_err("base credentials are not an SSM identity");
    assert_eq!(err.code(), Some("UnrecognizedClientException"));
}

#[tokio::test]
async fn sdk_retries_throttling_and_server_errors() {
    let sim = start().await;
    let account = sim.fleet().accounts()[0].id.clone();
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .credentials_provider(assume(&sim, &account).await)
        .endpoint_url(sim.endpoint())
        .retry_config(
            aws_sdk_ssm::config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(std::time::Duration::from_millis(1)),
        )
        .build();
    let ssm = aws_sdk_ssm::Client::from_conf(config);

    sim.faults().set_server_error_probability(1.0);
    let err = ssm
        .describe_patch_baselines()
        .send()
        .await
        .expect_err("500s");
    assert_eq!(err.code(), Some("InternalServerError"));
    assert_eq!(
        sim.stats().calls("DescribePatchBaselines"),
        3,
        "500 is retried"
    );
    sim.faults().set_server_error_probability(0.0);

    sim.reset_stats();
    sim.faults().set_throttle(Some(Throttle {
        rate_per_second: 0.0,
        burst: 0,
    }));
    let err = ssm
        .describe_patch_baselines()
        .send()
        .await
        .expect_err("throttled");
    assert_eq!(err.code(), Some("ThrottlingException"));
    assert_eq!(
        sim.stats().calls("DescribePatchBaselines"),
        3,
        "throttling is retried"
    );
    assert_eq!(sim.stats().throttled, 3);

    // AccessDeniedException is not retried.
    sim.faults().set_throttle(None);
    sim.reset_stats();
    sim.faults().deny_ssm(account.clone(), "us-east-1");
    let err = ssm
        .describe_patch_baselines()
        .send()
        .await
        .expect_err("denied");
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert_eq!(sim.stats().calls("DescribePatchBaselines"), 1);
}

#[tokio::test]
async fn organizations_through_the_sdk() {
    let sim = start().await;
    let config = aws_sdk_organizations::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_organizations::config::Region::new("us-east-1"))
        .credentials_provider(hub_credentials())
        .endpoint_url(sim.endpoint())
        .build();
    let orgs = aws_sdk_organizations::Client::from_conf(config);
    let pages: Vec<_> = orgs
        .list_accounts()
        .max_results(2)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("accounts");
    assert_eq!(pages.len(), 2);
    let accounts: Vec<_> = pages
        .iter()
        .flat_map(|p| p.accounts().iter().cloned())
        .collect();
    let ids: Vec<&str> = accounts.iter().map(|a| a.id().unwrap()).collect();
    let want: Vec<&str> = sim
        .fleet()
        .accounts()
        .iter()
        .map(|a| a.id.as_str())
        .collect();
    assert_eq!(ids, want);
    assert!(accounts.iter().all(|a| a.joined_timestamp().is_some()));
    assert_eq!(
        accounts[0].status(),
        Some(&aws_sdk_organizations::types::AccountStatus::Active)
    );
    let roots = orgs.list_roots().send().await.unwrap();
    let root = roots.roots()[0].id().unwrap().to_string();
    let ous = orgs
        .list_organizational_units_for_parent()
        .parent_id(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(ous.organizational_units().len(), 3);
}

/// Each malformed page reaches the SDK as an error it can classify, never as a short
/// success: invalid JSON and truncation are response errors and a cut connection a dispatch
/// failure (both retried by the standard retry policy as transient); a page missing an identifier parses, with the item
/// visibly lacking it.
#[tokio::test]
async fn malformed_pages_and_expired_tokens_through_the_sdk() {
    use aws_sdk_ssm::error::SdkError;
    use patchlake_sim::Malformation;

    let sim = start().await;
    let account = sim.fleet().accounts()[0].id.clone();
    let ssm = ssm_client(&sim, assume(&sim, &account).await, "us-east-1");
    sim.faults().set_seed(5);
    for kind in [
        Malformation::InvalidJson,
        Malformation::Truncated,
        Malformation::CutConnection,
    ] {
        sim.faults().set_malformed(1.0, &[kind]);
        let err = ssm
            .describe_instance_information()
            .max_results(50)
            .send()
            .await
            .expect_err("a malformed page is an error");
        // A cut body surfaces while the response is received (a transient dispatch failure);
        // an unparsable one when it is read.
        let expected = match kind {
            Malformation::CutConnection => matches!(err, SdkError::DispatchFailure(_)),
            _ => matches!(err, SdkError::ResponseError(_)),
        };
        assert!(expected, "{kind:?}: {err:?}");
    }
    sim.faults()
        .set_malformed(1.0, &[Malformation::MissingField]);
    let page = ssm
        .describe_instance_information()
        .max_results(50)
        .send()
        .await
        .expect("a page missing a member still parses");
    let list = page.instance_information_list();
    assert_eq!(list.len(), 50);
    assert_eq!(list.iter().filter(|i| i.instance_id().is_none()).count(), 1);
    sim.faults().set_malformed(0.0, &[]);
    assert_eq!(sim.stats().errors_with("MalformedResponse"), 4);

    // Tokens: the first page is served, the continuation is refused as expired.
    sim.faults().set_bad_token_probability(1.0);
    let first = ssm
        .describe_instance_information()
        .max_results(50)
        .send()
        .await
        .expect("the first page carries no token");
    let err = ssm
        .describe_instance_information()
        .max_results(50)
        .next_token(first.next_token().expect("more pages"))
        .send()
        .await
        .expect_err("the token is refused");
    assert_eq!(err.code(), Some("InvalidNextToken"));
    sim.faults().set_bad_token_probability(0.0);
    ssm.describe_instance_information()
        .max_results(50)
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .expect("the same token is good again without the fault");
    sim.shutdown().await;
}
