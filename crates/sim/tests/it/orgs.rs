use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::client::*;

#[tokio::test]
async fn list_accounts_paginates_and_validates() {
    let sim = start_with(
        patchlake_sim::FleetSpec {
            accounts: 7,
            instances_per_region: 5,
            ..spec()
        },
        Default::default(),
    )
    .await;
    let mut conn = Conn::open(&sim).await;
    let mut body = json!({"MaxResults": 2});
    let mut accounts: Vec<Value> = Vec::new();
    let mut pages = 0;
    loop {
        let resp = orgs(&mut conn, HUB_KEY, "ListAccounts", body.clone()).await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert_eq!(
            resp.header("content-type"),
            Some("application/x-amz-json-1.1")
        );
        pages += 1;
        let v = resp.json();
        accounts.extend(v["Accounts"].as_array().unwrap().iter().cloned());
        match v.get("NextToken") {
            Some(t) => body["NextToken"] = t.clone(),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    let fleet = sim.fleet();
    assert_eq!(accounts.len(), fleet.accounts().len());
    for (got, want) in accounts.iter().zip(fleet.accounts()) {
        // Ids stay strings with their leading zeros.
        assert_eq!(got["Id"], want.id.as_str());
        assert_eq!(got["Name"], want.name.as_str());
        assert_eq!(got["Email"], want.email.as_str());
        assert_eq!(got["Status"], "ACTIVE");
        assert!(
            got["Arn"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws:organizations::")
        );
        assert!(got["JoinedTimestamp"].is_number());
        assert!(got["JoinedMethod"] == "CREATED" || got["JoinedMethod"] == "INVITED");
    }
    assert!(
        accounts
            .iter()
            .any(|a| a["Id"].as_str().unwrap().starts_with('0'))
    );

    let resp = orgs(
        &mut conn,
        HUB_KEY,
        "ListAccounts",
        json!({"MaxResults": 21}),
    )
    .await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.error_type(), "InvalidInputException");
    let resp = orgs(
        &mut conn,
        HUB_KEY,
        "ListAccounts",
        json!({"NextToken": "bogus"}),
    )
    .await;
    assert_eq!(resp.error_type(), "InvalidInputException");

    // The tree: root → OUs → accounts covers every account exactly once.
    let roots = orgs(&mut conn, HUB_KEY, "ListRoots", json!({}))
        .await
        .json();
    let root = roots["Roots"][0]["Id"].as_str().unwrap().to_string();
    assert!(root.starts_with("r-"));
    let ous = orgs(
        &mut conn,
        HUB_KEY,
        "ListOrganizationalUnitsForParent",
        json!({"ParentId": root}),
    )
    .await
    .json();
    let mut parents = vec![root.clone()];
    for ou in ous["OrganizationalUnits"].as_array().unwrap() {
        assert!(ou["Id"].as_str().unwrap().starts_with("ou-"));
        parents.push(ou["Id"].as_str().unwrap().to_string());
    }
    let mut seen = BTreeSet::new();
    for parent in parents {
        let v = orgs(
            &mut conn,
            HUB_KEY,
            "ListAccountsForParent",
            json!({"ParentId": parent}),
        )
        .await
        .json();
        for a in v["Accounts"].as_array().unwrap() {
            assert!(seen.insert(a["Id"].as_str().unwrap().to_string()));
        }
    }
    assert_eq!(seen.len(), fleet.accounts().len());
    let resp = orgs(
        &mut conn,
        HUB_KEY,
        "ListAccountsForParent",
        json!({"ParentId": "ou-zzzz-zzzzzzzz"}),
    )
    .await;
    assert_eq!(resp.error_type(), "ParentNotFoundException");
    let org = orgs(&mut conn, HUB_KEY, "DescribeOrganization", json!({}))
        .await
        .json();
    assert_eq!(
        org["Organization"]["MasterAccountId"],
        fleet.management_account_id()
    );

    // A member account session may not list the organization.
    let member = fleet.accounts()[1].id.clone();
    let key = assume(&mut conn, &member).await;
    let resp = orgs(&mut conn, &key, "ListAccounts", json!({})).await;
    assert_eq!(resp.error_type(), "AccessDeniedException");
    assert_eq!(sim.stats().calls("ListAccounts"), 7);
}
