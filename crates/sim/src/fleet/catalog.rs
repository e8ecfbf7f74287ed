//! Per-platform patch catalogues.
//!
//! A catalogue is the universe of patches an instance of one platform can report. It is
//! built once per process from fixed keys (never from the fleet seed), so the same patch, with
//! the same title, KB id and CVE list, appears across instances, accounts, regions and fleets.
//! CVE lists are keyed by the upstream package (or, for Windows, the monthly release), so an
//! openssl advisory carries the same CVEs on Amazon Linux 2, RHEL and Ubuntu.

use std::sync::OnceLock;

use chrono::{Datelike, Days, NaiveDate};
use rand::Rng;

use super::platform::Platform;
use crate::keys::Key;

/// Linux security classification; Windows uses SecurityUpdates and CriticalUpdates.
pub(crate) const LINUX_SECURITY: &str = "Security";

pub(crate) fn is_security_classification(classification: &str) -> bool {
    matches!(
        classification,
        "Security" | "SecurityUpdates" | "CriticalUpdates"
    )
}

#[derive(Debug)]
pub(crate) struct CatalogPatch {
    pub title: String,
    pub kb_id: String,
    /// Name matched by ApprovedPatches / RejectedPatches (package name or KB id).
    pub package: String,
    pub classification: &'static str,
    pub severity: &'static str,
    /// Comma-separated, possibly empty.
    pub cve_ids: String,
    pub released: NaiveDate,
    /// Whether the patch is a published update an approval rule can require (a candidate for
    /// Missing / Failed / InstalledPendingReboot), rather than a plain installed package.
    pub advisory: bool,
}

#[derive(Debug)]
pub(crate) struct Catalog {
    pub patches: Vec<CatalogPatch>,
}

pub(crate) fn catalog(platform: Platform) -> &'static Catalog {
    static CATALOGS: [OnceLock<Catalog>; 9] = [const { OnceLock::new() }; 9];
    CATALOGS[platform.index()].get_or_init(|| {
        if platform.is_windows() {
            build_windows(platform)
        } else {
            build_linux(platform)
        }
    })
}

/// Linux catalogues date their advisories back from this day.
fn linux_reference_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).expect("valid date")
}

/// Packages that receive security advisories: (upstream name, version prefix, first minor).
const SECURITY_PACKAGES: &[(&str, &str, u32)] = &[
    ("kernel", "5.10.", 220),
    ("kernel-tools", "5.10.", 220),
    ("kernel-headers", "5.10.", 220),
    ("openssl-libs", "3.0.", 8),
    ("openssl", "3.0.", 8),
    ("glibc", "2.34-", 100),
    ("glibc-common", "2.34-", 100),
    ("curl", "8.5.", 0),
    ("libcurl", "8.5.", 0),
    ("sudo", "1.9.", 13),
    ("openssh", "8.7p1-", 38),
    ("openssh-server", "8.7p1-", 38),
    ("openssh-clients", "8.7p1-", 38),
    ("bind-libs", "9.16.", 23),
    ("python3", "3.9.", 16),
    ("python3-libs", "3.9.", 16),
    ("systemd", "252.", 16),
    ("systemd-libs", "252.", 16),
    ("nss", "3.90.", 0),
    ("krb5-libs", "1.21.", 1),
    ("libxml2", "2.10.", 4),
    ("expat", "2.5.", 0),
    ("sqlite-libs", "3.40.", 0),
    ("zlib", "1.2.", 11),
    ("vim-minimal", "9.0.", 2153),
    ("vim-common", "9.0.", 2153),
    ("bash", "5.2.", 15),
    ("git", "2.40.", 1),
    ("perl", "5.32.", 1),
    ("libssh2", "1.11.", 0),
    ("gnutls", "3.8.", 0),
    ("polkit", "0.117-", 10),
    ("dbus", "1.14.", 10),
    ("tar", "1.34-", 1),
    ("gzip", "1.12-", 1),
    ("xz-libs", "5.2.", 5),
    ("less", "608-", 1),
    ("libtiff", "4.4.", 0),
    ("libpng", "1.6.", 37),
    ("freetype", "2.13.", 0),
    ("ca-certificates", "2023.2.", 60),
    ("libarchive", "3.7.", 2),
    ("pam", "1.5.", 1),
    ("util-linux", "2.37.", 4),
    ("libX11", "1.8.", 7),
    ("cpio", "2.13-", 16),
    ("unzip", "6.0-", 57),
    ("grub2-common", "2.06-", 70),
    ("microcode_ctl", "2.1-", 53),
    ("containerd", "1.7.", 11),
    ("runc", "1.1.", 11),
    ("docker", "25.0.", 3),
    ("nginx", "1.24.", 0),
    ("httpd", "2.4.", 58),
    ("postgresql-libs", "15.", 6),
    ("libwebp", "1.2.", 4),
    ("nghttp2", "1.57.", 0),
];

/// Packages that are installed but get no advisories in the simulator.
const BASE_PACKAGES: &[&str] = &[
    "acl",
    "attr",
    "audit",
    "bzip2",
    "cracklib",
    "cyrus-sasl",
    "device-mapper",
    "diffutils",
    "e2fsprogs",
    "elfutils",
    "file",
    "findutils",
    "gawk",
    "gdbm",
    "glib2",
    "gmp",
    "gnupg2",
    "grep",
    "hostname",
    "hwdata",
    "info",
    "iproute",
    "iptables",
    "iputils",
    "json-c",
    "keyutils",
    "kmod",
    "libacl",
    "libattr",
    "libblkid",
    "libcap",
    "libcom_err",
    "libdb",
    "libffi",
    "libgcc",
    "libgcrypt",
    "libgpg-error",
    "libidn2",
    "libmount",
    "libpwquality",
    "libselinux",
    "libsemanage",
    "libsepol",
    "libsmartcols",
    "libstdc++",
    "libtasn1",
    "libunistring",
    "libuuid",
    "libverto",
    "libyaml",
    "lua",
    "lz4",
    "make",
    "mpfr",
    "ncurses",
    "nettle",
    "newt",
    "npth",
    "p11-kit",
    "pcre",
    "pcre2",
    "popt",
    "procps-ng",
    "readline",
    "rpm",
    "sed",
    "setup",
    "shadow-utils",
    "slang",
    "tzdata",
    "which",
    "cronie",
    "logrotate",
    "rsyslog",
    "chrony",
    "cloud-init",
    "amazon-ssm-agent",
    "ec2-utils",
    "awscli",
    "nfs-utils",
    "rsync",
    "strace",
    "tcpdump",
    "wget",
    "zip",
    "lsof",
    "man-db",
    "mdadm",
    "parted",
    "psmisc",
    "quota",
    "sysstat",
    "traceroute",
    "tmux",
    "screen",
    "jq",
    "nmap-ncat",
    "bc",
    "at",
    "ed",
    "mlocate",
    "net-tools",
    "dracut",
    "kpartx",
    "lvm2",
    "xfsprogs",
    "python3-pip",
    "python3-setuptools",
    "python3-six",
    "python3-urllib3",
    "python3-requests",
    "python3-pyyaml",
    "python3-jinja2",
    "python3-markupsafe",
    "python3-idna",
    "python3-chardet",
    "python3-dateutil",
    "python3-jmespath",
    "python3-botocore",
    "python3-cryptography",
    "python3-cffi",
    "python3-pycparser",
    "python3-jsonschema",
    "python3-attrs",
    "python3-configobj",
    "python3-dbus",
    "python3-pyserial",
    "python3-prettytable",
    "python3-netifaces",
    "python3-oauthlib",
    "python3-jsonpatch",
    "python3-jsonpointer",
    "perl-Carp",
    "perl-Exporter",
    "perl-File-Path",
    "perl-Getopt-Long",
    "perl-PathTools",
    "perl-Scalar-List-Utils",
    "perl-Socket",
    "perl-Text-ParseWords",
    "perl-Time-Local",
    "perl-constant",
    "perl-macros",
    "perl-parent",
    "perl-podlators",
    "perl-threads",
    "perl-threads-shared",
    "perl-Encode",
    "perl-Storable",
    "perl-IO",
    "perl-Pod-Usage",
    "perl-HTTP-Tiny",
    "perl-Digest-MD5",
    "perl-Data-Dumper",
    "perl-File-Temp",
    "perl-Term-ANSIColor",
    "fontconfig",
    "libjpeg-turbo",
    "libXext",
    "libXrender",
    "libxcb",
    "libXau",
    "pixman",
    "cairo",
    "harfbuzz",
    "graphite2",
    "libdrm",
    "mesa-libGL",
    "libglvnd",
    "alsa-lib",
    "cups-libs",
    "avahi-libs",
    "libedit",
    "libevent",
    "libnl3",
    "libpcap",
    "libseccomp",
    "libsss_idmap",
    "sssd-client",
    "libtirpc",
    "libnsl2",
    "libxcrypt",
    "libzstd",
    "lmdb-libs",
    "oniguruma",
    "protobuf-c",
    "rpcbind",
    "selinux-policy",
    "sg3_utils",
    "squashfs-tools",
    "tpm2-tss",
    "userspace-rcu",
    "xfsdump",
];

/// Per-platform spelling of upstream package names that differ between distributions.
fn distro_name(platform: Platform, name: &str) -> String {
    let deb = matches!(platform, Platform::Ubuntu2004 | Platform::Ubuntu2204);
    let suse = platform == Platform::Sles15;
    if deb {
        let mapped = match name {
            "kernel" => "linux-image-aws",
            "kernel-tools" => "linux-tools-aws",
            "kernel-headers" => "linux-headers-aws",
            "openssl-libs" => {
                if platform == Platform::Ubuntu2004 {
                    "libssl1.1"
                } else {
                    "libssl3"
                }
            }
            "glibc" => "libc6",
            "glibc-common" => "libc-bin",
            "libcurl" => "libcurl4",
            "python3-libs" => "libpython3-stdlib",
            "systemd-libs" => "libsystemd0",
            "nss" => "libnss3",
            "krb5-libs" => "libkrb5-3",
            "expat" => "libexpat1",
            "sqlite-libs" => "libsqlite3-0",
            "zlib" => "zlib1g",
            "bind-libs" => "bind9-libs",
            "libssh2" => "libssh2-1",
            "gnutls" => "libgnutls30",
            "polkit" => "policykit-1",
            "xz-libs" => "liblzma5",
            "libtiff" => "libtiff5",
            "libpng" => "libpng16-16",
            "freetype" => "libfreetype6",
            "pam" => "libpam-modules",
            "libX11" => "libx11-6",
            "grub2-common" => "grub-common",
            "microcode_ctl" => "intel-microcode",
            "httpd" => "apache2",
            "postgresql-libs" => "libpq5",
            "libwebp" => "libwebp7",
            "nghttp2" => "libnghttp2-14",
            "containerd" => "containerd.io",
            "docker" => "docker.io",
            "vim-minimal" => "vim-tiny",
            other => other,
        };
        return mapped.to_string();
    }
    if suse {
        let mapped = match name {
            "kernel" => "kernel-default",
            "openssl-libs" => "libopenssl3",
            "libcurl" => "libcurl4",
            "python3-libs" => "libpython3_6m1_0",
            "systemd-libs" => "libsystemd0",
            "nss" => "mozilla-nss",
            "krb5-libs" => "krb5",
            "sqlite-libs" => "libsqlite3-0",
            "zlib" => "libz1",
            "xz-libs" => "liblzma5",
            "httpd" => "apache2",
            other => other,
        };
        return mapped.to_string();
    }
    name.to_string()
}

fn linux_release(platform: Platform, r: u32, m: u32) -> String {
    match platform {
        Platform::AmazonLinux2 => format!("{r}.amzn2.0.{m}"),
        Platform::AmazonLinux2023 => format!("{r}.amzn2023.0.{m}"),
        Platform::Rhel8 => format!("{r}.el8_10"),
        Platform::Rhel9 => format!("{r}.el9_4"),
        Platform::Sles15 => format!("150500.{r}.{m}.1"),
        Platform::Ubuntu2004 => format!("0ubuntu0.20.04.{r}"),
        Platform::Ubuntu2204 => format!("0ubuntu0.22.04.{r}"),
        Platform::WindowsServer2019 | Platform::WindowsServer2022 => unreachable!("linux only"),
    }
}

fn linux_title(platform: Platform, name: &str, arch: &str, version: &str, release: &str) -> String {
    match platform {
        Platform::Ubuntu2004 | Platform::Ubuntu2204 => {
            let arch = match arch {
                "x86_64" => "amd64",
                "i686" => "i386",
                _ => "all",
            };
            format!("{name}.{arch}:{version}-{release}")
        }
        _ => format!("{name}.{arch}:0:{version}-{release}"),
    }
}

/// CVE ids for the `k`-th advisory of an upstream package: identical on every platform.
fn cves(key: Key, count: usize) -> String {
    let mut rng = key.rng();
    let mut ids: Vec<String> = (0..count)
        .map(|_| {
            let year = rng.random_range(2023..=2026);
            let n = rng.random_range(1000..52000);
            format!("CVE-{year}-{n}")
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids.join(",")
}

fn build_linux(platform: Platform) -> Catalog {
    let reference = linux_reference_date();
    let mut patches = Vec::new();
    let security_label = LINUX_SECURITY;
    let bugfix_label = if platform == Platform::Sles15 {
        "Recommended"
    } else {
        "Bugfix"
    };

    for &(upstream, prefix, first) in SECURITY_PACKAGES {
        let pkg_key = Key::new(0x5ec0_a6e5).str(upstream);
        let mut rng = pkg_key.rng();
        let advisories = rng.random_range(2..=4u32);
        let name = distro_name(platform, upstream);
        let arch = if matches!(upstream, "ca-certificates" | "tzdata" | "kernel-headers") {
            "noarch"
        } else {
            "x86_64"
        };
        let mut minor = first;
        for k in 0..advisories {
            // Shared across platforms: classification, severity, CVEs, age.
            let adv_key = pkg_key.num(u64::from(k));
            let mut arng = adv_key.rng();
            let security = arng.random_bool(0.78);
            let (classification, severity) = if security {
                let sev = ["Critical", "Important", "Medium", "Low"]
                    [crate::keys::weighted(&mut arng, &[15, 45, 30, 10])];
                (security_label, sev)
            } else {
                (
                    bugfix_label,
                    if arng.random_bool(0.5) {
                        "Medium"
                    } else {
                        "Low"
                    },
                )
            };
            let cve_count = if security {
                crate::keys::weighted(&mut arng, &[10, 30, 25, 15, 10, 10])
            } else {
                0
            };
            let cve_ids = cves(adv_key.str("cve"), cve_count);
            let age = (advisories - k - 1) * 75 + arng.random_range(0..70);
            minor += arng.random_range(1..=3);
            let version = format!("{prefix}{minor}");
            let release = linux_release(
                platform,
                arng.random_range(1..400),
                arng.random_range(1..12),
            );
            let title = linux_title(platform, &name, arch, &version, &release);
            patches.push(CatalogPatch {
                kb_id: title.clone(),
                title,
                package: name.clone(),
                classification,
                severity,
                cve_ids,
                released: reference - Days::new(u64::from(age)),
                advisory: true,
            });
        }
    }

    let deb = matches!(platform, Platform::Ubuntu2004 | Platform::Ubuntu2204);
    let devel = if deb { "-dev" } else { "-devel" };
    let mut rng = Key::new(0xba5e).num(platform.index() as u64).rng();
    for &stem in BASE_PACKAGES {
        let name = distro_name(platform, stem);
        let mut variants: Vec<(String, &str)> = vec![(name.clone(), "x86_64")];
        if rng.random_bool(0.6) {
            variants.push((format!("{name}-libs"), "x86_64"));
        }
        if rng.random_bool(0.5) {
            variants.push((format!("{name}{devel}"), "x86_64"));
        }
        if rng.random_bool(0.4) {
            variants.push((name.clone(), "i686"));
        }
        if rng.random_bool(0.3) {
            variants.push((format!("{name}{devel}"), "i686"));
        }
        if rng.random_bool(0.3) {
            variants.push((format!("{name}-doc"), "noarch"));
        }
        if rng.random_bool(0.2) {
            variants.push((format!("{name}-static"), "x86_64"));
        }
        let version = format!(
            "{}.{}.{}",
            rng.random_range(0..10),
            rng.random_range(0..40),
            rng.random_range(0..20)
        );
        for (pkg, arch) in variants {
            let release = linux_release(platform, rng.random_range(1..60), rng.random_range(1..8));
            let title = linux_title(platform, &pkg, arch, &version, &release);
            let classification = [bugfix_label, "Enhancement", "Newpackage"]
                [crate::keys::weighted(&mut rng, &[40, 40, 20])];
            let severity = if rng.random_bool(0.7) {
                "Low"
            } else {
                "Medium"
            };
            patches.push(CatalogPatch {
                kb_id: title.clone(),
                title,
                package: pkg,
                classification,
                severity,
                cve_ids: String::new(),
                released: reference - Days::new(rng.random_range(200..1500)),
                advisory: false,
            });
        }
    }
    Catalog { patches }
}

fn build_windows(platform: Platform) -> Catalog {
    let os_label = match platform {
        Platform::WindowsServer2019 => "Windows Server 2019 (1809)",
        _ => "Windows Server 2022",
    };
    let dotnet_os = match platform {
        Platform::WindowsServer2019 => "Windows Server 2019",
        _ => "Microsoft server operating system version 21H2",
    };
    let platform_offset: u32 = if platform == Platform::WindowsServer2019 {
        7
    } else {
        3
    };
    let first = NaiveDate::from_ymd_opt(2023, 1, 1).expect("valid date");
    let mut patches = Vec::new();
    let mut kb_serial: u32 = 5_022_000;
    let mut next_kb = |rng: &mut rand_chacha::ChaCha8Rng| {
        kb_serial += 200 + rng.random_range(0..150);
        kb_serial + platform_offset
    };
    let mut rng = Key::new(0x0057_1d05).num(platform.index() as u64).rng();

    for i in 0..46u32 {
        let month = first
            .checked_add_months(chrono::Months::new(i))
            .expect("valid month");
        // Patch Tuesday: second Tuesday of the month.
        let released = second_tuesday(month);
        let ym = format!("{}-{:02}", month.year(), month.month());
        let month_key = Key::new(0x0057_1d05).str("month").num(u64::from(i));

        let kb = next_kb(&mut rng);
        let mut mrng = month_key.rng();
        let cu_severity = if mrng.random_bool(0.8) {
            "Critical"
        } else {
            "Important"
        };
        let cu_cves = cves(month_key.str("cu"), mrng.random_range(3..=5));
        patches.push(windows_patch(
            format!("{ym} Cumulative Update for {os_label} for x64-based Systems (KB{kb})"),
            kb,
            "SecurityUpdates",
            cu_severity,
            cu_cves,
            released,
        ));

        let kb = next_kb(&mut rng);
        let net_cves = cves(month_key.str("dotnet"), mrng.random_range(0..=2));
        patches.push(windows_patch(
            format!(
                "{ym} Cumulative Update for .NET Framework 3.5, 4.8 and 4.8.1 for {dotnet_os} for x64 (KB{kb})"
            ),
            kb,
            "SecurityUpdates",
            "Important",
            net_cves,
            released,
        ));

        patches.push(CatalogPatch {
            title: format!(
                "Windows Malicious Software Removal Tool x64 - v5.{} (KB890830)",
                109 + i
            ),
            kb_id: "KB890830".to_string(),
            package: "KB890830".to_string(),
            classification: "UpdateRollups",
            severity: "Unspecified",
            cve_ids: String::new(),
            released,
            advisory: true,
        });

        if i % 3 == 0 {
            let kb = next_kb(&mut rng);
            patches.push(windows_patch(
                format!(
                    "{ym} Servicing Stack Update for {os_label} for x64-based Systems (KB{kb})"
                ),
                kb,
                "CriticalUpdates",
                "Important",
                String::new(),
                released,
            ));
        }
        if i % 2 == 1 {
            let kb = next_kb(&mut rng);
            patches.push(windows_patch(
                format!("{ym} Update for {os_label} for x64-based Systems (KB{kb})"),
                kb,
                "Updates",
                "Unspecified",
                String::new(),
                released,
            ));
        }
    }
    for i in 0..40u32 {
        let released = first + Days::new(u64::from(i) * 34 + 3);
        patches.push(CatalogPatch {
            title: format!(
                "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602 (Version 1.{}.{}.0)",
                383 + i,
                rng.random_range(10..900)
            ),
            kb_id: "KB2267602".to_string(),
            package: "KB2267602".to_string(),
            classification: "DefinitionUpdates",
            severity: "Unspecified",
            cve_ids: String::new(),
            released,
            advisory: true,
        });
    }
    for (i, product) in [
        "Microsoft Edge-Stable Channel",
        "Microsoft Defender Antivirus antimalware platform",
        "Windows Subsystem for Linux",
        "Microsoft .NET 8.0",
        "Microsoft Visual C++ 2015-2022 Redistributable",
    ]
    .into_iter()
    .enumerate()
    {
        for v in 0..4u32 {
            let kb = next_kb(&mut rng);
            let released = first + Days::new(u64::from(v) * 200 + i as u64 * 17);
            let (classification, severity, cve_ids) = if i == 0 || i == 3 {
                (
                    "SecurityUpdates",
                    "Important",
                    cves(Key::new(0xed6e).num(i as u64).num(u64::from(v)), 2),
                )
            } else {
                ("Updates", "Unspecified", String::new())
            };
            patches.push(windows_patch(
                format!("Update for {product} ({}.{v}) (KB{kb})", 120 + v),
                kb,
                classification,
                severity,
                cve_ids,
                released,
            ));
        }
    }
    Catalog { patches }
}

fn windows_patch(
    title: String,
    kb: u32,
    classification: &'static str,
    severity: &'static str,
    cve_ids: String,
    released: NaiveDate,
) -> CatalogPatch {
    CatalogPatch {
        title,
        kb_id: format!("KB{kb}"),
        package: format!("KB{kb}"),
        classification,
        severity,
        cve_ids,
        released,
        advisory: true,
    }
}

fn second_tuesday(first_of_month: NaiveDate) -> NaiveDate {
    // Tuesday is day 2 counted from Sunday.
    let to_first_tuesday = (9 - first_of_month.weekday().num_days_from_sunday()) % 7;
    first_of_month + Days::new(u64::from(to_first_tuesday) + 7)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn titles_are_unique_within_each_catalogue() {
        for p in Platform::ALL {
            let c = catalog(p);
            let titles: BTreeSet<&str> = c.patches.iter().map(|p| p.title.as_str()).collect();
            assert_eq!(titles.len(), c.patches.len(), "{p:?}");
            assert!(
                c.patches.len() >= if p.is_windows() { 200 } else { 700 },
                "{p:?}: {}",
                c.patches.len()
            );
        }
    }

    #[test]
    fn cves_are_shared_across_platforms() {
        let cves_of = |p: Platform| -> BTreeSet<String> {
            catalog(p)
                .patches
                .iter()
                .flat_map(|x| {
                    x.cve_ids
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                })
                .collect()
        };
        let al2 = cves_of(Platform::AmazonLinux2);
        let ubuntu = cves_of(Platform::Ubuntu2204);
        assert!(!al2.is_empty());
        assert_eq!(al2, ubuntu);
    }

    #[test]
    fn patch_tuesday() {
        let d = second_tuesday(NaiveDate::from_ymd_opt(2024, 10, 1).unwrap());
        assert_eq!(d, NaiveDate::from_ymd_opt(2024, 10, 8).unwrap());
        let d = second_tuesday(NaiveDate::from_ymd_opt(2024, 9, 1).unwrap());
        assert_eq!(d, NaiveDate::from_ymd_opt(2024, 9, 10).unwrap());
    }
}
