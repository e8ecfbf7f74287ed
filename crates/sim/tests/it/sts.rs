use std::time::Duration;

use patchlake_sim::SimOptions;
use serde_json::json;

use crate::client::*;

#[tokio::test]
async fn assume_role_returns_the_real_xml() {
    let sim = start().await;
    let account = sim.fleet().accounts()[1].id.clone();
    let mut conn = Conn::open(&sim).await;
    let resp = sts(
        &mut conn,
        HUB_KEY,
        &[
            ("Action", "AssumeRole"),
            ("RoleArn", &role_arn(&account)),
            ("RoleSessionName", "collector"),
            ("ExternalId", EXTERNAL_ID),
            ("DurationSeconds", "900"),
        ],
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.header("content-type"), Some("text/xml"));
    assert!(resp.header("x-amzn-requestid").is_some());
    assert!(
        resp.body.starts_with(
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
        )
    );
    let key = resp.xml("AccessKeyId").unwrap();
    assert!(key.starts_with("ASIA") && key.len() == 20, "{key}");
    assert!(resp.xml("SecretAccessKey").unwrap().len() >= 40);
    assert!(!resp.xml("SessionToken").unwrap().is_empty());
    let expiration = resp.xml("Expiration").unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(expiration).expect("ISO-8601");
    let left = expires.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!((850..=900).contains(&left.num_seconds()), "{left}");
    assert!(expiration.ends_with('Z'));
    assert_eq!(
        resp.xml("Arn").unwrap(),
        format!("arn:aws:sts::{account}:assumed-role/{ROLE}/collector")
    );
    let role_id = resp.xml("AssumedRoleId").unwrap();
    assert!(role_id.starts_with("AROA") && role_id.ends_with(":collector"));
    assert!(resp.xml("RequestId").is_some());
    assert_eq!(sim.stats().calls("AssumeRole"), 1);
    assert_eq!(sim.stats().calls_of("AssumeRole", &account, "us-east-1"), 1);
}

#[tokio::test]
async fn external_id_and_role_are_enforced() {
    let sim = start().await;
    let account = sim.fleet().accounts()[2].id.clone();
    let mut conn = Conn::open(&sim).await;
    let arn = role_arn(&account);
    let cases: Vec<Vec<(&str, &str)>> = vec![
        // Wrong ExternalId.
        vec![
            ("Action", "AssumeRole"),
            ("RoleArn", &arn),
            ("RoleSessionName", "s1"),
            ("ExternalId", "nope"),
        ],
        // Missing ExternalId.
        vec![
            ("Action", "AssumeRole"),
            ("RoleArn", &arn),
            ("RoleSessionName", "s1"),
        ],
    ];
    for params in cases {
        let resp = sts(&mut conn, HUB_KEY, &params).await;
        assert_eq!(resp.status, 403, "{}", resp.body);
        assert_eq!(resp.header("content-type"), Some("text/xml"));
        assert!(resp.body.starts_with("<ErrorResponse"));
        assert_eq!(resp.xml("Type"), Some("Sender"));
        assert_eq!(resp.xml("Code"), Some("AccessDenied"));
        let management = sim.fleet().management_account_id();
        assert_eq!(
            resp.xml("Message").unwrap(),
            format!(
                "User: arn:aws:iam::{management}:user/patchlake is not authorized to perform: sts:AssumeRole on resource: {arn}"
            )
        );
        assert!(resp.xml("RequestId").is_some());
    }

    // Other role name, unknown account.
    let other_role = format!("arn:aws:iam::{account}:role/Admin");
    for arn in [
        other_role.as_str(),
        "arn:aws:iam::999999999999:role/PatchlakeReadOnly",
    ] {
        let resp = sts(
            &mut conn,
            HUB_KEY,
            &[
                ("Action", "AssumeRole"),
                ("RoleArn", arn),
                ("RoleSessionName", "s1"),
                ("ExternalId", EXTERNAL_ID),
            ],
        )
        .await;
        assert_eq!(resp.status, 403, "{arn}: {}", resp.body);
        assert_eq!(resp.xml("Code"), Some("AccessDenied"));
    }

    // Malformed ARN and session name are validation errors.
    for (arn, name) in [
        ("arn:aws:iam::12:role/R", "s1"),
        (arn.as_str(), "x"),
        (arn.as_str(), "bad name"),
    ] {
        let resp = sts(
            &mut conn,
            HUB_KEY,
            &[
                ("Action", "AssumeRole"),
                ("RoleArn", arn),
                ("RoleSessionName", name),
                ("ExternalId", EXTERNAL_ID),
            ],
        )
        .await;
        assert_eq!(resp.status, 400, "{}", resp.body);
        assert_eq!(resp.xml("Code"), Some("ValidationError"));
    }
    assert_eq!(sim.stats().errors_with("AccessDenied"), 4);
}

#[tokio::test]
async fn denied_accounts_fault() {
    let sim = start().await;
    let account = sim.fleet().accounts()[1].id.clone();
    sim.faults().deny_assume_role(account.clone());
    let mut conn = Conn::open(&sim).await;
    let params = [
        ("Action", "AssumeRole"),
        ("RoleArn", &role_arn(&account) as &str),
        ("RoleSessionName", "s1"),
        ("ExternalId", EXTERNAL_ID),
    ];
    let resp = sts(&mut conn, HUB_KEY, &params).await;
    assert_eq!(resp.status, 403);
    assert_eq!(resp.xml("Code"), Some("AccessDenied"));
    sim.faults().allow_assume_role(&account);
    assert_eq!(sts(&mut conn, HUB_KEY, &params).await.status, 200);
}

#[tokio::test]
async fn role_chaining_and_caller_identity() {
    let sim = start().await;
    let hub = sim.fleet().management_account_id().to_string();
    let member = sim.fleet().accounts()[1].id.clone();
    let mut conn = Conn::open(&sim).await;

    let resp = sts(&mut conn, HUB_KEY, &[("Action", "GetCallerIdentity")]).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(resp.body.starts_with(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    ));
    assert_eq!(resp.xml("Account"), Some(hub.as_str()));
    assert!(resp.xml("UserId").unwrap().starts_with("AIDA"));

    let first = assume(&mut conn, &hub).await;
    // Chained: the session in the hub assumes the member role.
    let chained = sts(
        &mut conn,
        &first,
        &[
            ("Action", "AssumeRole"),
            ("RoleArn", &role_arn(&member)),
            ("RoleSessionName", "chained"),
            ("ExternalId", EXTERNAL_ID),
        ],
    )
    .await;
    assert_eq!(chained.status, 200, "{}", chained.body);
    let key = chained.xml("AccessKeyId").unwrap().to_string();
    let who = sts(&mut conn, &key, &[("Action", "GetCallerIdentity")]).await;
    assert_eq!(who.xml("Account"), Some(member.as_str()));
    assert_eq!(
        who.xml("Arn").unwrap(),
        format!("arn:aws:sts::{member}:assumed-role/{ROLE}/chained")
    );
    // Chained sessions are limited to one hour.
    let too_long = sts(
        &mut conn,
        &first,
        &[
            ("Action", "AssumeRole"),
            ("RoleArn", &role_arn(&member)),
            ("RoleSessionName", "chained"),
            ("ExternalId", EXTERNAL_ID),
            ("DurationSeconds", "7200"),
        ],
    )
    .await;
    assert_eq!(too_long.status, 400);
    assert_eq!(too_long.xml("Code"), Some("ValidationError"));
}

#[tokio::test]
async fn sessions_expire() {
    let sim = start_with(
        spec(),
        SimOptions {
            min_session_seconds: 1,
            ..SimOptions::default()
        },
    )
    .await;
    let account = sim.fleet().accounts()[0].id.clone();
    let mut conn = Conn::open(&sim).await;
    let resp = sts(
        &mut conn,
        HUB_KEY,
        &[
            ("Action", "AssumeRole"),
            ("RoleArn", &role_arn(&account)),
            ("RoleSessionName", "short"),
            ("ExternalId", EXTERNAL_ID),
            ("DurationSeconds", "1"),
        ],
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let key = resp.xml("AccessKeyId").unwrap().to_string();
    let ok = ssm(
        &mut conn,
        &key,
        "us-east-1",
        "GetDefaultPatchBaseline",
        json!({}),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = ssm(
        &mut conn,
        &key,
        "us-east-1",
        "GetDefaultPatchBaseline",
        json!({}),
    )
    .await;
    assert_eq!(expired.status, 400);
    assert_eq!(expired.error_type(), "ExpiredTokenException");
    let sts_expired = sts(&mut conn, &key, &[("Action", "GetCallerIdentity")]).await;
    assert_eq!(sts_expired.xml("Code"), Some("ExpiredToken"));
}

#[tokio::test]
async fn sts_rejects_unknown_actions_and_anonymous_callers() {
    let sim = start().await;
    let mut conn = Conn::open(&sim).await;
    let resp = sts(&mut conn, HUB_KEY, &[("Action", "AssumeRoleWithSAML")]).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.xml("Code"), Some("InvalidAction"));
    let anonymous = conn
        .post(
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded".to_string(),
            )],
            "Action=GetCallerIdentity&Version=2011-06-15",
        )
        .await;
    assert_eq!(anonymous.status, 403);
    assert_eq!(anonymous.xml("Code"), Some("MissingAuthenticationToken"));
}
