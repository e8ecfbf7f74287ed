//! Mapping from what an instance reports about its platform to SSM's `OperatingSystem` enum,
//! which is the key of patch-group registrations and default baselines.

/// SSM's `OperatingSystem` value for an instance, from DescribeInstanceInformation's
/// `PlatformType`, `PlatformName` and `PlatformVersion`. `None` when the platform is not one
/// Patch Manager knows (the instance then has no effective baseline).
pub fn operating_system_for(
    platform_type: &str,
    platform_name: &str,
    platform_version: &str,
) -> Option<&'static str> {
    let name = platform_name.to_ascii_lowercase();
    if platform_type.eq_ignore_ascii_case("windows") || name.contains("windows") {
        return Some("WINDOWS");
    }
    if platform_type.eq_ignore_ascii_case("macos") || name.contains("mac os") {
        return Some("MACOS");
    }
    let os = if name.starts_with("amazon linux") {
        if platform_version.starts_with("2023") {
            "AMAZON_LINUX_2023"
        } else if platform_version.starts_with('2') {
            "AMAZON_LINUX_2"
        } else {
            "AMAZON_LINUX"
        }
    } else if name.contains("ubuntu") {
        "UBUNTU"
    } else if name.contains("red hat") {
        "REDHAT_ENTERPRISE_LINUX"
    } else if name.contains("suse") || name.starts_with("sles") {
        "SUSE"
    } else if name.contains("centos") {
        "CENTOS"
    } else if name.contains("debian") {
        "DEBIAN"
    } else if name.contains("oracle") {
        "ORACLE_LINUX"
    } else if name.contains("rocky") {
        "ROCKY_LINUX"
    } else if name.contains("alma") {
        "ALMA_LINUX"
    } else {
        return None;
    };
    Some(os)
}

#[cfg(test)]
mod tests {
    use super::operating_system_for as os;

    #[test]
    fn maps_the_platforms_patch_manager_supports() {
        assert_eq!(os("Linux", "Amazon Linux", "2"), Some("AMAZON_LINUX_2"));
        assert_eq!(
            os("Linux", "Amazon Linux", "2023"),
            Some("AMAZON_LINUX_2023")
        );
        assert_eq!(
            os(
                "Windows",
                "Microsoft Windows Server 2022 Datacenter",
                "10.0.20348"
            ),
            Some("WINDOWS")
        );
        assert_eq!(os("Linux", "Ubuntu", "22.04"), Some("UBUNTU"));
        assert_eq!(
            os("Linux", "Red Hat Enterprise Linux", "9.4"),
            Some("REDHAT_ENTERPRISE_LINUX")
        );
        assert_eq!(os("Linux", "SLES", "15.5"), Some("SUSE"));
        assert_eq!(os("Linux", "Plan 9", "4"), None);
    }
}
