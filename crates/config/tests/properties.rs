//! Property tests: whatever text reaches the loader (a file, an environment variable, a `--set`
//! flag), it answers with a configuration or an error naming the key, never a panic; and a
//! valid configuration survives `config show` → file → load unchanged.

use patchlake_config::{Config, ConfigLoader, Error};
use proptest::prelude::*;

const BASE: &str = "[accounts]\nids = [\"012345678901\"]\n";

/// Values that look like what people type, plus arbitrary text.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("true".to_string()),
        Just("-1".to_string()),
        Just("99999999999999999999".to_string()),
        Just("012345678901,eu-west-1".to_string()),
        Just("arn:aws:iam::{account_id}:role/x".to_string()),
        Just("s3://bucket/prefix".to_string()),
        "[0-9]{1,14}",
        "[a-z]{2}-[a-z]{4,9}-[0-9]",
        any::<String>(),
    ]
}

/// 512 cases per property in CI; `PATCHLAKE_FUZZ_CASES=1000000` for a long run.
fn cases() -> u32 {
    std::env::var("PATCHLAKE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_documents_never_panic(text in any::<String>()) {
        if let Ok(loader) = ConfigLoader::new().toml(&text, "fuzz.toml") {
            let _ = loader.load();
        }
    }

    #[test]
    fn toml_shaped_documents_never_panic(
        section in prop::sample::select(vec!["lake", "accounts", "regions", "roles", "aws", "collect", "report", "nope"]),
        key in "[a-z_]{1,24}",
        raw in prop_oneof![
            "\"[ -~]{0,30}\"",
            "-?[0-9]{1,20}",
            Just("true".to_string()),
            "\\[(\"[0-9a-z-]{0,14}\", ){0,3}\\]",
            Just("{ a = 1 }".to_string()),
        ],
    ) {
        let text = format!("{BASE}[{section}]\n{key} = {raw}\n");
        if let Ok(loader) = ConfigLoader::new().toml(&text, "fuzz.toml") {
            let _ = loader.load();
        }
    }

    #[test]
    fn every_key_override_is_accepted_or_names_the_key(
        key in prop::sample::select(patchlake_config::keys().collect::<Vec<_>>()),
        raw in value(),
        via_env in any::<bool>(),
    ) {
        let loader = ConfigLoader::new().toml(BASE, "patchlake.toml").unwrap();
        let layered = if via_env {
            let name = format!("PATCHLAKE_{}", key.replacen('.', "_", 1).to_ascii_uppercase());
            loader.env([(name, raw.clone())])
        } else {
            loader.set_arg(&format!("{key}={raw}"))
        };
        let result = layered.and_then(ConfigLoader::load);
        if let Err(e) = result {
            let message = e.to_string();
            prop_assert!(!message.is_empty());
            if let Error::Invalid { key: named, .. } = &e {
                // Validation may trip over another key only through the value we set (an
                // empty account list after overriding accounts.source, for example).
                let section = key.split('.').next().unwrap();
                prop_assert!(
                    named.starts_with(key) || named.starts_with(section),
                    "{key}={raw:?} blamed {named}: {message}"
                );
            }
        }
    }

    #[test]
    fn a_valid_config_round_trips_through_config_show(
        ids in prop::collection::vec("[0-9]{12}", 1..4),
        regions in prop::collection::vec(prop::sample::select(vec!["us-east-1", "eu-west-1", "ap-south-1", "sa-east-1"]), 1..4),
        concurrency in 1usize..64,
        duration in 900i32..=43200,
        incremental in any::<bool>(),
        stale in 1i32..90,
        external_id in proptest::option::of("[A-Za-z0-9_+=,.@:/-]{2,40}"),
        root in prop_oneof![Just("./lake".to_string()), "s3://[a-z0-9-]{3,20}/[a-z]{0,8}"],
    ) {
        let mut loader = ConfigLoader::new()
            .set_arg(&format!("accounts.ids={}", ids.join(","))).unwrap()
            .set_arg(&format!("regions.names={}", regions.join(","))).unwrap()
            .set_arg(&format!("collect.concurrency={concurrency}")).unwrap()
            .set_arg(&format!("roles.duration_seconds={duration}")).unwrap()
            .set_arg(&format!("collect.incremental={incremental}")).unwrap()
            .set_arg(&format!("report.stale_after_days={stale}")).unwrap()
            .set_arg(&format!("lake.root={root}")).unwrap();
        if let Some(x) = &external_id {
            loader = loader.set_arg(&format!("roles.external_id={x}")).unwrap();
        }
        let config = loader.load().unwrap();
        let shown = config.to_toml();
        let again = Config::from_toml(&shown).unwrap();
        prop_assert_eq!(&again, &config);
        prop_assert_eq!(again.sha256(), config.sha256());
    }
}
