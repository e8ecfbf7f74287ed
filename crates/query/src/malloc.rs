//! glibc malloc settings for processes that run queries: the CLI's `demo`, `report`, `sql`
//! and `evidence`, the `report` Lambda function, the bench's query workers. Collection and
//! finalize keep glibc's defaults: their budget is peak RSS (the collect function's 256 MiB),
//! and memory kept for reuse counts against it.
//!
//! DataFusion's operators allocate and free batch buffers of hundreds of KiB to a few MiB at
//! a high rate. With glibc's defaults (an mmap threshold that starts at 128 KiB and a trim
//! threshold of twice it) freed buffers go back to the kernel and the next batch faults its
//! pages in again: in the profile of the top-N ad-hoc query about a third of the samples were
//! the kernel zeroing and mapping pages. [`tune`] serves buffers up to [`MMAP_THRESHOLD`] from
//! the heap and keeps up to [`TRIM_THRESHOLD`] of freed memory in it. Measured side by side in
//! bench/README.md (sixth pass): that query 25–40 → 15–18 ms hot, the big reports unchanged or
//! faster, peak RSS within 11 %; mimalloc and jemalloc as the global allocator sped up the
//! small queries as much but slowed the big reports' cold runs by up to 40 % and raised their
//! peak RSS by 20–40 %.

/// Allocations up to this size come from the heap, not from their own mapping. glibc's
/// largest accepted value on 64-bit targets (`HEAP_MAX_SIZE / 2`).
pub const MMAP_THRESHOLD: i32 = 32 << 20;

/// Free memory at the top of a heap up to this size is kept rather than returned.
pub const TRIM_THRESHOLD: i32 = 256 << 20;

/// What [`tune`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tuning {
    /// glibc accepted both settings.
    Applied,
    /// The environment sets malloc tunables (`GLIBC_TUNABLES` with `glibc.malloc.*`, or a
    /// `MALLOC_*` variable): the user's settings stand.
    LeftToEnvironment,
    /// Not glibc (musl, macOS): nothing to do.
    Unsupported,
    /// glibc refused a setting.
    Refused,
}

/// glibc's older malloc variables, each still read at start-up.
const MALLOC_VARIABLES: [&str; 8] = [
    "MALLOC_ARENA_MAX",
    "MALLOC_ARENA_TEST",
    "MALLOC_CHECK_",
    "MALLOC_MMAP_MAX_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_PERTURB_",
    "MALLOC_TOP_PAD_",
    "MALLOC_TRIM_THRESHOLD_",
];

/// Whether the environment already tunes malloc: glibc's `GLIBC_TUNABLES` naming a
/// `glibc.malloc.` tunable, or one of its older `MALLOC_*` variables.
pub fn environment_tunes_malloc(vars: impl IntoIterator<Item = (String, String)>) -> bool {
    vars.into_iter().any(|(key, value)| {
        (key == "GLIBC_TUNABLES" && value.contains("glibc.malloc."))
            || MALLOC_VARIABLES.contains(&key.as_str())
    })
}

/// Applies [`MMAP_THRESHOLD`] and [`TRIM_THRESHOLD`] unless the environment sets malloc
/// tunables. Call it first in `main`, before the async runtime starts its threads.
pub fn tune() -> Tuning {
    let vars = std::env::vars_os().map(|(k, v)| {
        (
            k.to_string_lossy().into_owned(),
            v.to_string_lossy().into_owned(),
        )
    });
    if environment_tunes_malloc(vars) {
        return Tuning::LeftToEnvironment;
    }
    apply()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn apply() -> Tuning {
    // SAFETY: `mallopt` takes two integers and changes allocator parameters under malloc's
    // own lock; it touches no memory of ours. It is called before other threads start.
    let ok = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    };
    if ok { Tuning::Applied } else { Tuning::Refused }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() -> Tuning {
    Tuning::Unsupported
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn user_malloc_settings_are_left_alone() {
        assert!(environment_tunes_malloc(vars(&[(
            "GLIBC_TUNABLES",
            "glibc.malloc.trim_threshold=1000"
        )])));
        assert!(environment_tunes_malloc(vars(&[("MALLOC_ARENA_MAX", "2")])));
        assert!(environment_tunes_malloc(vars(&[(
            "MALLOC_TRIM_THRESHOLD_",
            "0"
        )])));
        assert!(!environment_tunes_malloc(vars(&[
            ("GLIBC_TUNABLES", "glibc.cpu.hwcaps=-AVX2"),
            ("MALLOC_CONF", "x"),
            ("MALLOC_TRIM_THRESHOLD", "0"),
            ("PATH", "/bin"),
        ])));
    }

    /// glibc accepts both values: a threshold above its limit is refused, and a refused
    /// setting would silently leave the defaults in place.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_settings() {
        assert_eq!(apply(), Tuning::Applied);
    }
}
