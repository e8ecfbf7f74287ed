//! Times every named report over an existing lake; never asserts on time.
//!
//! `cargo run --release -p patchlake-query --example report_timing -- <lake root>`
//! (`PATCHLAKE_BENCH_LAKE=<dir> cargo run --release -p patchlake-lake --example
//! finalize_throughput` writes a synthetic one).

use std::path::PathBuf;
use std::time::Instant;

use patchlake_query::{AsOf, LakeQuery, ReportParams, list_reports};

#[tokio::main]
async fn main() {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: report_timing <lake root>"),
    );
    let t = Instant::now();
    let q = LakeQuery::open(&root, AsOf::Latest, ReportParams::default())
        .await
        .unwrap();
    println!("open {:>10.2?}  run {}", t.elapsed(), q.run().run_id);
    for report in list_reports() {
        let t = Instant::now();
        let batches = q.report(report.name).await.unwrap();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        println!("{:<32} {:>10.2?}  {rows} rows", report.name, t.elapsed());
    }
    for sql in [
        "SELECT COUNT(*) FROM instance_patches WHERE state = 'MISSING'",
        "SELECT COUNT(*) FROM instance_patches WHERE instance_id = 'i-000000000000f4240'",
    ] {
        let t = Instant::now();
        q.sql(sql).await.unwrap();
        println!("{sql:<32}\n{:>43.2?}", t.elapsed());
    }
}
