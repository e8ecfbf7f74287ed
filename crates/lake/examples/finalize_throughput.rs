//! Stages and finalizes a synthetic run and prints throughput; never asserts on time.
//!
//! `cargo run --release -p patchlake-lake --example finalize_throughput -- [tasks] [instances] [patches]`
//! (defaults 20 × 100 × 300 = 600k instance_patches rows, the demo's size; `40 500 500` is
//! 10M). With `PATCHLAKE_BENCH_LAKE=<dir>` the lake is written there and kept (for query
//! timings). The same instance_patches rows are also encoded as JSON lines (counted, not
//! kept), and the sizes and encode rates compared.

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use patchlake_lake::{Lake, RunMeta};
use patchlake_model::records::*;
use patchlake_model::{RunId, Table};

fn task(n: usize, instances: usize, patches: usize) -> TaskOutput {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
    let account = format!("{:012}", 100_000 + n / 4);
    let region = ["us-east-1", "us-west-2", "eu-west-1", "ap-south-1"][n % 4].to_owned();
    let mut out = TaskOutput::empty(Coverage {
        account_id: account.clone(),
        region: region.clone(),
        status: CoverageStatus::Ok,
        error_code: None,
        error_message: None,
        api_calls: 0,
        throttled_calls: 0,
        retries: 0,
        started_at: t0,
        finished_at: t0,
        instances: instances as i64,
    });
    out.baselines.push(Baseline {
        account_id: account.clone(),
        region: region.clone(),
        baseline_id: format!("pb-{account}"),
        operating_system: Some("AMAZON_LINUX_2023".into()),
        is_default: true,
        ..Default::default()
    });
    for i in (0..instances).rev() {
        let instance_id = format!("i-{:017x}", n * 1_000_000 + i);
        out.instances.push(Instance {
            account_id: account.clone(),
            region: region.clone(),
            instance_id: instance_id.clone(),
            platform_name: Some("Amazon Linux".into()),
            operating_system: Some("AMAZON_LINUX_2023".into()),
            ..Default::default()
        });
        out.patch_states.push(PatchState {
            account_id: account.clone(),
            region: region.clone(),
            instance_id: instance_id.clone(),
            baseline_id: Some(format!("pb-{account}")),
            operation_end_at: Some(t0 - chrono::Duration::days((i % 10) as i64)),
            missing: patches.div_ceil(17) as i32,
            installed: (patches - patches.div_ceil(17)) as i32,
            ..Default::default()
        });
        for p in 0..patches {
            let title = format!(
                "package-{:05}-1.{}.x86_64",
                (p * 7919 + i * 31) % 100_000,
                i % 7
            );
            out.instance_patches.push(InstancePatch {
                account_id: account.clone(),
                region: region.clone(),
                instance_id: instance_id.clone(),
                kb_id: Some(title.clone()),
                title,
                classification: Some(["Security", "Bugfix", "Enhancement"][p % 3].into()),
                severity: Some(["Critical", "Important", "Medium", "Low"][p % 4].into()),
                state: if p % 17 == 0 { "MISSING" } else { "INSTALLED" }.into(),
                installed_at: (p % 17 != 0)
                    .then(|| t0 - chrono::Duration::seconds((i * 3_600 + p * 61) as i64)),
                cve_ids: if p % 5 == 0 {
                    vec![format!("CVE-2026-{p:05}")]
                } else {
                    vec![]
                },
            });
        }
    }
    out
}

/// Counts the bytes written to it.
#[derive(Default)]
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let (tasks, instances, patches) = (
        args.first().copied().unwrap_or(20),
        args.get(1).copied().unwrap_or(100),
        args.get(2).copied().unwrap_or(300),
    );
    let dir = tempfile::tempdir().unwrap();
    let root = std::env::var_os("PATCHLAKE_BENCH_LAKE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().to_path_buf());
    let lake = Lake::open(&root).unwrap();
    let run = RunId::new(Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap(), 1);

    let started = Instant::now();
    let mut build = Duration::ZERO;
    let mut json = Duration::ZERO;
    let mut json_bytes = Counter::default();
    for n in 0..tasks {
        let t = Instant::now();
        let output = task(n, instances, patches);
        build += t.elapsed();
        let t = Instant::now();
        let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut json_bytes);
        for row in &output.instance_patches {
            serde_json::to_writer(&mut out, row).unwrap();
            out.write_all(b"\n").unwrap();
        }
        out.flush().unwrap();
        drop(out);
        json += t.elapsed();
        lake.stage(&run, &output).await.unwrap();
    }
    let stage = started.elapsed() - build - json;

    let t = Instant::now();
    let record = lake.finalize(&RunMeta::new(run)).await.unwrap();
    let finalize = t.elapsed();
    let rows = record.row_counts[Table::InstancePatches.name()];
    let all_rows: i64 = record.row_counts.values().sum();
    let bytes: i64 = record.files.iter().map(|f| f.bytes).sum();
    let patch_bytes: i64 = record
        .files
        .iter()
        .filter(|f| f.table == Table::InstancePatches.name())
        .map(|f| f.bytes)
        .sum();

    let t = Instant::now();
    let report = lake.verify(&record.run_id).await.unwrap();
    let verify = t.elapsed();
    assert!(report.is_ok(), "{report}");

    println!("tasks {tasks}, instance_patches rows {rows}, all rows {all_rows}");
    println!(
        "stage    {:>8.2?}  {:>10.0} rows/s",
        stage,
        all_rows as f64 / stage.as_secs_f64()
    );
    println!(
        "finalize {:>8.2?}  {:>10.0} rows/s",
        finalize,
        all_rows as f64 / finalize.as_secs_f64()
    );
    println!("verify   {verify:>8.2?}");
    println!(
        "committed {} files, {:.1} MiB ({:.1} bytes/instance_patch row)",
        record.files.len(),
        bytes as f64 / 1048576.0,
        patch_bytes as f64 / rows.max(1) as f64
    );
    let parquet_per_row = patch_bytes as f64 / rows.max(1) as f64;
    let json_per_row = json_bytes.0 as f64 / rows.max(1) as f64;
    println!(
        "instance_patches as JSON lines: {:.1} MiB, {json_per_row:.1} bytes/row, encoded at {:.0} rows/s",
        json_bytes.0 as f64 / 1048576.0,
        rows as f64 / json.as_secs_f64()
    );
    println!(
        "size: JSON lines / Parquet = {:.1}x ({json_per_row:.1} vs {parquet_per_row:.1} bytes/row)",
        json_per_row / parquet_per_row,
    );
    if let Some(peak) = peak_rss_mib() {
        println!("peak RSS {peak} MiB (includes generating the input)");
    }
}
