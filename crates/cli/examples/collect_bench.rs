//! Collection benchmark: the real collector against a throttled simulated fleet.
//!
//! Every account-region of the simulator is a token bucket (`rate` calls/s, burst 20). The
//! honest ceiling of what SSM would allow is per account-region and only while it is being
//! collected: `burst + rate × (finished_at − started_at)` of its coverage row, summed. The
//! benchmark prints successful calls against that ceiling (the throughput goal, ≥ 0.90),
//! calls sent per call needed (throttled attempts are waste; goal ≤ 1.05), and for context the
//! whole fleet's ceiling over the wall time (which also counts account-regions waiting for a
//! concurrency slot and the tail), calls per instance, instances/s, CPU use and peak RSS of
//! the process (collector and simulator together). Asserts completeness, never time.
//!
//! `cargo run --release -p patchlake --example collect_bench -- [accounts] [regions]
//! [instances] [rate] [concurrency]` (concurrency: account-regions at once, default all).

use std::sync::Arc;
use std::time::Instant;

use patchlake::demo::{config_for_simulator, simulator_credentials, start_simulator};
use patchlake::pipeline::collect_run;
use patchlake_sim::{FleetSpec, SimOptions, Throttle};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are 14 and 15.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / ticks)
        })
        .unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (accounts, regions, instances) = (arg(0, 10), arg(1, 2), arg(2, 100));
    let rate = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(40.0_f64);
    let burst = 20u32;
    let all_regions = [
        "us-east-1",
        "eu-west-1",
        "us-west-2",
        "ap-southeast-2",
        "eu-central-1",
    ];
    let spec = FleetSpec {
        accounts,
        regions: all_regions[..regions.min(all_regions.len())]
            .iter()
            .map(|r| r.to_string())
            .collect(),
        instances_per_region: instances,
        ..FleetSpec::default()
    };
    let ars = accounts * spec.regions.len();
    let concurrency = arg(4, ars).max(1);
    let sim = start_simulator(&spec, SimOptions::default()).await?;
    sim.faults().set_throttle(Some(Throttle {
        rate_per_second: rate,
        burst,
    }));
    let dir = tempfile::tempdir()?;
    let mut config = config_for_simulator(&sim, dir.path())?;
    config.collect.concurrency = concurrency;
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    let summary = collect_run(Arc::new(config), Some(simulator_credentials())).await?;
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let complete = summary.is_complete();
    let stats = sim.stats();
    let ssm_sent: u64 = stats.total_calls - stats.calls("AssumeRole");
    let needed = ssm_sent - stats.throttled;

    // Ceiling while each account-region was being collected.
    let mut active_secs = 0.0;
    let mut active_ceiling = 0.0;
    let mut active_needed = 0.0;
    for c in &summary.coverage {
        let d = (c.finished_at - c.started_at)
            .to_std()
            .unwrap_or_default()
            .as_secs_f64();
        active_secs += d;
        active_ceiling += f64::from(burst) + rate * d;
        active_needed += (c.api_calls - c.throttled_calls) as f64;
    }
    let fleet_ceiling = ars as f64 * rate;
    let n = sim.fleet().instance_count() as f64;
    println!(
        "fleet: {accounts} accounts x {} regions x {instances} instances, throttle {rate}/s burst {burst} per account-region, {concurrency} account-regions at once",
        spec.regions.len()
    );
    println!("complete                 {complete:>10}");
    println!("wall time                {secs:>10.1} s");
    println!("SSM calls needed         {needed:>10}");
    println!(
        "SSM calls sent           {ssm_sent:>10}  ({} throttled)",
        stats.throttled
    );
    println!(
        "sent / needed            {:>10.3}   (goal <= 1.05)",
        ssm_sent as f64 / needed as f64
    );
    println!(
        "achieved / ceiling       {:>10.3}   (goal >= 0.90; {:.0} successful calls, ceiling {:.0} = sum over account-regions of {burst} + {rate}/s x active time)",
        active_needed / active_ceiling,
        active_needed,
        active_ceiling
    );
    println!(
        "account-regions active   {:>10.1}   (mean over the wall time)",
        active_secs / secs
    );
    println!("achieved calls/s         {:>10.1}", needed as f64 / secs);
    println!(
        "fleet ceiling calls/s    {fleet_ceiling:>10.1}   (every account-region for the whole wall time)"
    );
    println!(
        "achieved / fleet ceiling {:>10.3}",
        needed as f64 / secs / fleet_ceiling
    );
    println!("calls per instance       {:>10.2}", needed as f64 / n);
    println!("instances/s              {:>10.1}", n / secs);
    println!(
        "CPU                      {:>10.1} s   ({:.0}% of {} cores)",
        cpu,
        100.0 * cpu / secs / cores(),
        cores()
    );
    println!("peak RSS (with sim)      {:>10.1} MiB", peak_rss_mib());
    sim.shutdown().await;
    anyhow::ensure!(complete, "incomplete: {:?}", summary.coverage);
    Ok(())
}

fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}
