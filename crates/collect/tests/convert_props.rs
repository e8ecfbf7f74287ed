//! Property tests of SSM response handling (`convert`): whatever the SDK hands over —
//! arbitrary strings, missing optionals, timestamps anywhere in `i64` seconds, counts at the
//! `i32` limits, enum values the SDK does not know (`Unknown` variants) — conversion never
//! panics, an item with an identifier yields a record with that identifier and the target's
//! account and region, and counts and times are carried, not invented; a page holding a
//! negative count is malformed, naming the field and the instance.
//!
//! Conversion may report an item without its identifier as dropped (`None`) or as a malformed
//! response (`Err`); the properties hold either way (see [`Outcome`]).
//!
//! `PROPTEST_CASES=N` (or `PATCHLAKE_FUZZ_CASES=N`) sets the cases per property (default 256).

use std::collections::HashMap;

use aws_sdk_ssm::operation::describe_instance_patch_states::DescribeInstancePatchStatesOutput;
use aws_sdk_ssm::operation::describe_patch_groups::DescribePatchGroupsOutput;
use aws_sdk_ssm::operation::get_patch_baseline::GetPatchBaselineOutput;
use aws_sdk_ssm::types::{
    InstanceInformation, InstancePatchState, MaintenanceWindowIdentity, OperatingSystem,
    PatchBaselineIdentity, PatchComplianceData, PatchComplianceDataState, PatchFilter,
    PatchFilterGroup, PatchFilterKey, PatchGroupPatchBaselineMapping, PatchOperationType,
    PatchRule, PatchRuleGroup, PingStatus, PlatformType, RebootOption, ResourceType,
};
use aws_smithy_types::DateTime as SdkTime;
use patchlake_collect::Target;
use patchlake_collect::convert;
use patchlake_collect::convert::{Defect, Page};
use proptest::prelude::*;

fn cases() -> u32 {
    ["PROPTEST_CASES", "PATCHLAKE_FUZZ_CASES"]
        .iter()
        .find_map(|k| std::env::var(k).ok()?.parse().ok())
        .unwrap_or(256)
}

/// A conversion's result, whether it is the record, `Option` or `Result` of it.
trait Outcome<R> {
    fn record(self) -> Option<R>;
}
impl<R> Outcome<R> for Option<R> {
    fn record(self) -> Option<R> {
        self
    }
}
impl<R, E> Outcome<R> for Result<R, E> {
    fn record(self) -> Option<R> {
        self.ok()
    }
}
macro_rules! plain_outcome {
    ($($t:ty),*) => {$(
        impl Outcome<$t> for $t {
            fn record(self) -> Option<$t> {
                Some(self)
            }
        }
    )*};
}
plain_outcome!(
    patchlake_model::Instance,
    patchlake_model::PatchState,
    patchlake_model::InstancePatch,
    patchlake_model::Baseline,
    patchlake_model::PatchGroupRegistration,
    patchlake_model::MaintenanceWindow,
    patchlake_model::InventoryApplication
);

fn target() -> Target {
    Target::new("012345678901", "eu-west-1")
}

/// Text as SSM might send it, plus anything at all.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".to_owned()),
        "i-[0-9a-f]{17}",
        "mi-[0-9a-f]{17}",
        "[A-Z_]{1,24}",
        "[ -~]{0,40}",
        any::<String>(),
    ]
}

/// Seconds anywhere in `i64`, with the interesting ones (epoch, chrono's limits) favoured.
fn time() -> impl Strategy<Value = SdkTime> {
    (
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(i64::MIN),
            Just(i64::MAX),
            Just(8_210_266_876_799), // chrono's last second
            Just(8_210_266_876_800),
            -10_000_000_000i64..10_000_000_000,
            any::<i64>(),
        ],
        prop_oneof![Just(0u32), 0..1_000_000_000u32],
    )
        .prop_map(|(s, n)| SdkTime::from_secs_and_nanos(s, n))
}

fn count() -> impl Strategy<Value = i32> {
    prop_oneof![
        Just(0),
        Just(i32::MAX),
        Just(i32::MIN),
        Just(-1),
        0..10_000,
        any::<i32>()
    ]
}

/// The record's time for an SDK time, if chrono can hold it.
fn expect_time(t: &SdkTime) -> Option<i64> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()).map(|d| d.timestamp())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn instances(
        id in proptest::option::of(text()),
        platform in proptest::option::of(text()),
        name in proptest::option::of(text()),
        version in proptest::option::of(text()),
        ping in proptest::option::of(text()),
        resource in proptest::option::of(text()),
        last_ping in proptest::option::of(time()),
        ip in proptest::option::of(text()),
    ) {
        let info = InstanceInformation::builder()
            .set_instance_id(id.clone())
            .set_platform_type(platform.as_deref().map(PlatformType::from))
            .set_platform_name(name)
            .set_platform_version(version)
            .set_ping_status(ping.as_deref().map(PingStatus::from))
            .set_resource_type(resource.as_deref().map(ResourceType::from))
            .set_last_ping_date_time(last_ping)
            .set_ip_address(ip)
            .build();
        let out = convert::instance(&target(), &info).record();
        if let Some(id) = id.filter(|i| !i.is_empty()) {
            let r = out.expect("an instance with an id is kept");
            prop_assert_eq!(&r.instance_id, &id);
            prop_assert_eq!(&r.account_id, "012345678901");
            prop_assert_eq!(&r.region, "eu-west-1");
            prop_assert_eq!(
                r.last_ping_at.map(|t| t.timestamp()),
                last_ping.as_ref().and_then(expect_time)
            );
            prop_assert_eq!(r.platform_type, platform);
        } else if let Some(r) = out {
            prop_assert_eq!(r.instance_id, "", "an instance without an id got one");
        }
    }

    #[test]
    fn patch_states(
        id in proptest::option::of(text()),
        group in text(),
        baseline in text(),
        operation in text(),
        start in time(),
        end in time(),
        counts in proptest::array::uniform7(count()),
        optional_counts in proptest::array::uniform6(proptest::option::of(count())),
        reboot in proptest::option::of(text()),
        last_no_reboot in proptest::option::of(time()),
    ) {
        // A missing required member arrives as the SDK's default (""), as on the wire.
        let p = InstancePatchState::builder()
            .instance_id(id.clone().unwrap_or_default())
            .patch_group(group)
            .baseline_id(baseline)
            .operation(PatchOperationType::from(operation.as_str()))
            .operation_start_time(start)
            .operation_end_time(end)
            .installed_count(counts[0])
            .installed_other_count(counts[1])
            .missing_count(counts[2])
            .failed_count(counts[3])
            .not_applicable_count(counts[4])
            .set_installed_pending_reboot_count(optional_counts[0])
            .set_installed_rejected_count(optional_counts[1])
            .set_unreported_not_applicable_count(optional_counts[2])
            .set_critical_non_compliant_count(optional_counts[3])
            .set_security_non_compliant_count(optional_counts[4])
            .set_other_non_compliant_count(optional_counts[5])
            .set_reboot_option(reboot.as_deref().map(RebootOption::from))
            .set_last_no_reboot_install_operation_time(last_no_reboot)
            .build()
            .unwrap();
        // A negative count makes the page malformed (retried, then MalformedResponse naming
        // the field and the instance); it is never carried into the lake.
        let page = DescribeInstancePatchStatesOutput::builder()
            .instance_patch_states(p.clone())
            .build();
        let has_id = id.as_deref().is_some_and(|i| !i.is_empty());
        let negative = counts[..5].iter().chain(optional_counts.iter().flatten()).any(|&c| c < 0);
        match page.defect() {
            None => prop_assert!(has_id && !negative, "a defective state passed: {p:?}"),
            Some(Defect::Missing(member)) => {
                prop_assert!(!has_id);
                prop_assert_eq!(member, "InstanceId");
            }
            Some(Defect::Negative { field, instance_id, value }) => {
                prop_assert!(has_id && negative);
                prop_assert!(value < 0);
                prop_assert_eq!(Some(&instance_id), id.as_ref());
                prop_assert!(field.ends_with("Count"), "{}", field);
            }
        }
        let out = convert::patch_state(&target(), &p).record();
        let Some(r) = out else {
            prop_assert!(id.as_deref().is_none_or(str::is_empty), "a state with an id was dropped");
            return Ok(());
        };
        if let Some(id) = id.filter(|i| !i.is_empty()) {
            prop_assert_eq!(&r.instance_id, &id);
        }
        prop_assert_eq!(&r.account_id, "012345678901");
        prop_assert_eq!(
            [r.installed, r.installed_other, r.missing, r.failed, r.not_applicable],
            [counts[0], counts[1], counts[2], counts[3], counts[4]]
        );
        prop_assert_eq!(
            [
                r.installed_pending_reboot,
                r.installed_rejected,
                r.unreported_not_applicable,
                r.critical_non_compliant,
                r.security_non_compliant,
                r.other_non_compliant,
            ],
            optional_counts.map(|c| c.unwrap_or(0))
        );
        // The epoch means "no time"; any other time is kept to the second.
        let nonzero = |t: &SdkTime| {
            if t.secs() == 0 && t.subsec_nanos() == 0 { None } else { expect_time(t) }
        };
        prop_assert_eq!(r.operation_start_at.map(|t| t.timestamp()), nonzero(&start));
        prop_assert_eq!(r.operation_end_at.map(|t| t.timestamp()), nonzero(&end));
        prop_assert_eq!(
            r.last_no_reboot_install_at.map(|t| t.timestamp()),
            last_no_reboot.as_ref().and_then(nonzero)
        );
        prop_assert_eq!(r.operation.as_deref(), Some(operation.as_str()));
    }

    #[test]
    fn instance_patches(
        instance_id in "i-[0-9a-f]{17}",
        title in text(),
        kb in text(),
        classification in text(),
        severity in text(),
        state in text(),
        installed in time(),
        cves in proptest::option::of(prop_oneof![
            "(CVE-[0-9]{4}-[0-9]{1,6}, ?){0,5}",
            "[ ,]{0,6}",
            any::<String>(),
        ]),
    ) {
        let d = PatchComplianceData::builder()
            .title(title.clone())
            .kb_id(kb)
            .classification(classification)
            .severity(severity)
            .state(PatchComplianceDataState::from(state.as_str()))
            .installed_time(installed)
            .set_cve_ids(cves.clone())
            .build()
            .unwrap();
        if let Some(r) = convert::instance_patch(&target(), &instance_id, &d).record() {
            prop_assert_eq!(&r.instance_id, &instance_id);
            prop_assert_eq!(&r.title, &title);
            prop_assert!(!r.state.is_empty() || state.is_empty());
            for c in &r.cve_ids {
                prop_assert!(!c.is_empty() && !c.contains(',') && c.trim() == c, "cve id {c:?}");
            }
            let listed = cves.unwrap_or_default().split(',').filter(|c| !c.trim().is_empty()).count();
            prop_assert_eq!(r.cve_ids.len(), listed);
        }
    }

    #[test]
    fn baselines(
        ident_id in proptest::option::of(text()),
        doc_id in proptest::option::of(text()),
        name in proptest::option::of(text()),
        os in proptest::option::of(text()),
        filter_key in text(),
        values in prop::collection::vec(text(), 0..4),
        approve_after in proptest::option::of(count()),
        level in proptest::option::of(text()),
        approved in prop::collection::vec(text(), 0..4),
        created in proptest::option::of(time()),
        is_default in any::<bool>(),
    ) {
        let ident = PatchBaselineIdentity::builder()
            .set_baseline_id(ident_id.clone())
            .set_baseline_name(name.clone())
            .set_operating_system(os.as_deref().map(OperatingSystem::from))
            .build();
        let filters = PatchFilterGroup::builder()
            .patch_filters(
                PatchFilter::builder()
                    .key(PatchFilterKey::from(filter_key.as_str()))
                    .set_values(Some(values.clone()))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let rule = PatchRule::builder()
            .patch_filter_group(filters.clone())
            .set_approve_after_days(approve_after)
            .set_compliance_level(level.as_deref().map(Into::into))
            .build();
        let doc = GetPatchBaselineOutput::builder()
            .set_baseline_id(doc_id.clone())
            .global_filters(filters)
            .approval_rules(PatchRuleGroup::builder().patch_rules(rule).build().unwrap())
            .set_approved_patches(Some(approved.clone()))
            .set_created_date(created)
            .build();
        if let Some(b) = convert::baseline(&target(), &ident, &doc, is_default).record() {
            let id = doc_id.or(ident_id).unwrap_or_default();
            if !id.is_empty() {
                prop_assert_eq!(&b.baseline_id, &id);
            }
            prop_assert_eq!(b.is_default, is_default);
            prop_assert_eq!(&b.approved_patches, &approved);
            prop_assert_eq!(b.approval_rules.len(), 1);
            prop_assert_eq!(&b.approval_rules[0].filters[0].values, &values);
            prop_assert_eq!(b.approval_rules[0].approve_after_days, approve_after);
            prop_assert_eq!(b.created_at.map(|t| t.timestamp()), created.as_ref().and_then(expect_time));
        }
    }

    #[test]
    fn patch_groups(
        group in proptest::option::of(text()),
        baseline in proptest::option::of(text()),
        os in proptest::option::of(text()),
        has_ident in any::<bool>(),
    ) {
        let m = PatchGroupPatchBaselineMapping::builder()
            .set_patch_group(group.clone())
            .set_baseline_identity(has_ident.then(|| {
                PatchBaselineIdentity::builder()
                    .set_baseline_id(baseline.clone())
                    .set_operating_system(os.as_deref().map(OperatingSystem::from))
                    .build()
            }))
            .build();
        // A mapping without its patch group or baseline id makes its page malformed (retried,
        // then MalformedResponse): it is never converted into a blank registration.
        let page = DescribePatchGroupsOutput::builder().mappings(m.clone()).build();
        let blank = |v: &Option<String>| v.as_deref().is_none_or(str::is_empty);
        let whole = !blank(&group) && has_ident && !blank(&baseline);
        prop_assert_eq!(page.defect().is_none(), whole);
        if whole {
            let r = convert::patch_group(&target(), &m).record().expect("a whole mapping is kept");
            prop_assert_eq!(Some(r.patch_group), group);
            prop_assert_eq!(Some(r.baseline_id), baseline);
        }
    }

    #[test]
    fn maintenance_windows(
        id in proptest::option::of(text()),
        name in proptest::option::of(text()),
        duration in proptest::option::of(count()),
        cutoff in count(),
        next in proptest::option::of(prop_oneof![
            Just("2026-11-25T10:00Z".to_owned()),
            Just("2026-11-25T10:00:00Z".to_owned()),
            Just("2026-11-25T10:00:00+05:30".to_owned()),
            Just("+275760-09-13T00:00:00Z".to_owned()),
            "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})",
            any::<String>(),
        ]),
        enabled in any::<bool>(),
        groups in prop::collection::vec(text(), 0..3),
    ) {
        let w = MaintenanceWindowIdentity::builder()
            .set_window_id(id.clone())
            .set_name(name)
            .set_duration(duration)
            .cutoff(cutoff)
            .set_next_execution_time(next.clone())
            .enabled(enabled)
            .build();
        if let Some(r) = convert::maintenance_window(&target(), &w, groups.clone()).record() {
            if let Some(id) = id.filter(|i| !i.is_empty()) {
                prop_assert_eq!(&r.window_id, &id);
            }
            prop_assert_eq!(r.duration_hours, duration);
            prop_assert_eq!(r.enabled, enabled);
            prop_assert_eq!(&r.target_patch_groups, &groups);
            if let Some(t) = r.next_execution_at {
                let parsed = chrono::DateTime::parse_from_rfc3339(next.as_deref().unwrap()).unwrap();
                prop_assert_eq!(t, parsed);
            }
        }
    }

    #[test]
    fn inventory_applications(
        entry in prop::collection::hash_map(
            prop_oneof![
                Just("Name".to_owned()),
                Just("Version".to_owned()),
                Just("Publisher".to_owned()),
                Just("InstalledTime".to_owned()),
                text(),
            ],
            text(),
            0..6,
        ),
    ) {
        let entry: HashMap<String, String> = entry;
        let out = convert::inventory_application(&target(), "i-0123456789abcdef0", &entry).record();
        match entry.get("Name").filter(|n| !n.is_empty()) {
            Some(name) => {
                let r = out.expect("an application with a name is kept");
                prop_assert_eq!(&r.name, name);
                prop_assert_eq!(&r.instance_id, "i-0123456789abcdef0");
                prop_assert_eq!(r.version.as_ref(), entry.get("Version").filter(|v| !v.is_empty()));
            }
            None => prop_assert!(out.is_none(), "an application without a name was kept"),
        }
    }
}
