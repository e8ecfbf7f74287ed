//! Operating systems as SSM names them.

use serde::Serialize;

/// The SSM `OperatingSystem` enum, restricted to the values the simulator uses.
///
/// The first six are the OSes instances run; the others only appear as AWS predefined
/// baselines, as they do in every real account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperatingSystem {
    #[serde(rename = "AMAZON_LINUX_2")]
    AmazonLinux2,
    #[serde(rename = "AMAZON_LINUX_2023")]
    AmazonLinux2023,
    Windows,
    Ubuntu,
    RedhatEnterpriseLinux,
    Suse,
    AmazonLinux,
    Centos,
    Debian,
    OracleLinux,
    RockyLinux,
    Macos,
}

impl OperatingSystem {
    /// The OSes that managed instances in the fleet run.
    pub const INSTANCE_OSES: [OperatingSystem; 6] = [
        OperatingSystem::AmazonLinux2,
        OperatingSystem::AmazonLinux2023,
        OperatingSystem::Windows,
        OperatingSystem::Ubuntu,
        OperatingSystem::RedhatEnterpriseLinux,
        OperatingSystem::Suse,
    ];

    /// Every OS that has an AWS predefined default baseline in the simulator.
    pub const ALL: [OperatingSystem; 12] = [
        OperatingSystem::AmazonLinux2,
        OperatingSystem::AmazonLinux2023,
        OperatingSystem::Windows,
        OperatingSystem::Ubuntu,
        OperatingSystem::RedhatEnterpriseLinux,
        OperatingSystem::Suse,
        OperatingSystem::AmazonLinux,
        OperatingSystem::Centos,
        OperatingSystem::Debian,
        OperatingSystem::OracleLinux,
        OperatingSystem::RockyLinux,
        OperatingSystem::Macos,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OperatingSystem::AmazonLinux2 => "AMAZON_LINUX_2",
            OperatingSystem::AmazonLinux2023 => "AMAZON_LINUX_2023",
            OperatingSystem::Windows => "WINDOWS",
            OperatingSystem::Ubuntu => "UBUNTU",
            OperatingSystem::RedhatEnterpriseLinux => "REDHAT_ENTERPRISE_LINUX",
            OperatingSystem::Suse => "SUSE",
            OperatingSystem::AmazonLinux => "AMAZON_LINUX",
            OperatingSystem::Centos => "CENTOS",
            OperatingSystem::Debian => "DEBIAN",
            OperatingSystem::OracleLinux => "ORACLE_LINUX",
            OperatingSystem::RockyLinux => "ROCKY_LINUX",
            OperatingSystem::Macos => "MACOS",
        }
    }

    pub fn parse(s: &str) -> Option<OperatingSystem> {
        OperatingSystem::ALL.into_iter().find(|os| os.as_str() == s)
    }

    /// Name of the AWS predefined default baseline for this OS.
    pub fn aws_default_baseline_name(self) -> &'static str {
        match self {
            OperatingSystem::AmazonLinux2 => "AWS-AmazonLinux2DefaultPatchBaseline",
            OperatingSystem::AmazonLinux2023 => "AWS-AmazonLinux2023DefaultPatchBaseline",
            OperatingSystem::Windows => "AWS-DefaultPatchBaseline",
            OperatingSystem::Ubuntu => "AWS-UbuntuDefaultPatchBaseline",
            OperatingSystem::RedhatEnterpriseLinux => "AWS-RedHatDefaultPatchBaseline",
            OperatingSystem::Suse => "AWS-SuseDefaultPatchBaseline",
            OperatingSystem::AmazonLinux => "AWS-AmazonLinuxDefaultPatchBaseline",
            OperatingSystem::Centos => "AWS-CentOSDefaultPatchBaseline",
            OperatingSystem::Debian => "AWS-DebianDefaultPatchBaseline",
            OperatingSystem::OracleLinux => "AWS-OracleLinuxDefaultPatchBaseline",
            OperatingSystem::RockyLinux => "AWS-RockyLinuxDefaultPatchBaseline",
            OperatingSystem::Macos => "AWS-MacOSDefaultPatchBaseline",
        }
    }

    pub fn is_windows(self) -> bool {
        self == OperatingSystem::Windows
    }

    /// Short token used in generated custom baseline names.
    pub(crate) fn short(self) -> &'static str {
        match self {
            OperatingSystem::AmazonLinux2 => "AmazonLinux2",
            OperatingSystem::AmazonLinux2023 => "AmazonLinux2023",
            OperatingSystem::Windows => "Windows",
            OperatingSystem::Ubuntu => "Ubuntu",
            OperatingSystem::RedhatEnterpriseLinux => "RHEL",
            OperatingSystem::Suse => "SLES",
            OperatingSystem::AmazonLinux => "AmazonLinux",
            OperatingSystem::Centos => "CentOS",
            OperatingSystem::Debian => "Debian",
            OperatingSystem::OracleLinux => "OracleLinux",
            OperatingSystem::RockyLinux => "Rocky",
            OperatingSystem::Macos => "macOS",
        }
    }

    /// Values of the PRODUCT patch filter that cover this OS's instances.
    pub(crate) fn products(self) -> &'static [&'static str] {
        match self {
            OperatingSystem::AmazonLinux2 => &["AmazonLinux2"],
            OperatingSystem::AmazonLinux2023 => &["AmazonLinux2023"],
            OperatingSystem::Windows => &["WindowsServer2019", "WindowsServer2022"],
            OperatingSystem::Ubuntu => &["Ubuntu20.04", "Ubuntu22.04"],
            OperatingSystem::RedhatEnterpriseLinux => {
                &["RedhatEnterpriseLinux8.10", "RedhatEnterpriseLinux9.4"]
            }
            OperatingSystem::Suse => &["Suse15.5"],
            _ => &["*"],
        }
    }
}

/// A concrete OS release an instance runs; decides the patch catalogue and platform fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Platform {
    AmazonLinux2,
    AmazonLinux2023,
    WindowsServer2019,
    WindowsServer2022,
    Ubuntu2004,
    Ubuntu2204,
    Rhel8,
    Rhel9,
    Sles15,
}

impl Platform {
    pub const ALL: [Platform; 9] = [
        Platform::AmazonLinux2,
        Platform::AmazonLinux2023,
        Platform::WindowsServer2019,
        Platform::WindowsServer2022,
        Platform::Ubuntu2004,
        Platform::Ubuntu2204,
        Platform::Rhel8,
        Platform::Rhel9,
        Platform::Sles15,
    ];

    pub fn operating_system(self) -> OperatingSystem {
        match self {
            Platform::AmazonLinux2 => OperatingSystem::AmazonLinux2,
            Platform::AmazonLinux2023 => OperatingSystem::AmazonLinux2023,
            Platform::WindowsServer2019 | Platform::WindowsServer2022 => OperatingSystem::Windows,
            Platform::Ubuntu2004 | Platform::Ubuntu2204 => OperatingSystem::Ubuntu,
            Platform::Rhel8 | Platform::Rhel9 => OperatingSystem::RedhatEnterpriseLinux,
            Platform::Sles15 => OperatingSystem::Suse,
        }
    }

    /// `PlatformType` in DescribeInstanceInformation.
    pub fn platform_type(self) -> &'static str {
        if self.is_windows() {
            "Windows"
        } else {
            "Linux"
        }
    }

    /// `PlatformName` in DescribeInstanceInformation.
    pub fn platform_name(self) -> &'static str {
        match self {
            Platform::AmazonLinux2 | Platform::AmazonLinux2023 => "Amazon Linux",
            Platform::WindowsServer2019 => "Microsoft Windows Server 2019 Datacenter",
            Platform::WindowsServer2022 => "Microsoft Windows Server 2022 Datacenter",
            Platform::Ubuntu2004 | Platform::Ubuntu2204 => "Ubuntu",
            Platform::Rhel8 | Platform::Rhel9 => "Red Hat Enterprise Linux",
            Platform::Sles15 => "SLES",
        }
    }

    /// `PlatformVersion` in DescribeInstanceInformation.
    pub fn platform_version(self) -> &'static str {
        match self {
            Platform::AmazonLinux2 => "2",
            Platform::AmazonLinux2023 => "2023",
            Platform::WindowsServer2019 => "10.0.17763",
            Platform::WindowsServer2022 => "10.0.20348",
            Platform::Ubuntu2004 => "20.04",
            Platform::Ubuntu2204 => "22.04",
            Platform::Rhel8 => "8.10",
            Platform::Rhel9 => "9.4",
            Platform::Sles15 => "15.5",
        }
    }

    /// Value of the PRODUCT patch property for this platform's patches.
    pub fn product(self) -> &'static str {
        match self {
            Platform::AmazonLinux2 => "AmazonLinux2",
            Platform::AmazonLinux2023 => "AmazonLinux2023",
            Platform::WindowsServer2019 => "WindowsServer2019",
            Platform::WindowsServer2022 => "WindowsServer2022",
            Platform::Ubuntu2004 => "Ubuntu20.04",
            Platform::Ubuntu2204 => "Ubuntu22.04",
            Platform::Rhel8 => "RedhatEnterpriseLinux8.10",
            Platform::Rhel9 => "RedhatEnterpriseLinux9.4",
            Platform::Sles15 => "Suse15.5",
        }
    }

    pub fn is_windows(self) -> bool {
        matches!(
            self,
            Platform::WindowsServer2019 | Platform::WindowsServer2022
        )
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}
