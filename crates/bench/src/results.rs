//! The bench's output: per-query lines while it runs, then `bench/results/<scale>.md` and
//! `.csv` with the machine facts, the lake numbers and the query table.

use std::fmt::Write as _;

use patchlake_model::Table;

use crate::engines::Timing;
use crate::generate::{LakeStats, Scale};
use crate::suite::Kind;

pub struct QueryRow {
    pub name: String,
    pub kind: Kind,
    pub datafusion: Result<Timing, String>,
    pub duckdb: Option<Result<Timing, String>>,
    /// `None` when one engine failed or DuckDB did not run.
    pub same: Option<Result<(), String>>,
}

impl QueryRow {
    fn duck(&self) -> Option<&Timing> {
        self.duckdb.as_ref().and_then(|d| d.as_ref().ok())
    }

    fn df(&self) -> Option<&Timing> {
        self.datafusion.as_ref().ok()
    }

    /// DataFusion time / DuckDB time, hot and cold.
    pub fn ratios(&self) -> Option<(f64, f64)> {
        let (df, duck) = (self.df()?, self.duck()?);
        Some((
            df.hot_ms / duck.hot_ms.max(0.001),
            df.cold_ms / duck.cold_ms.max(0.001),
        ))
    }

    fn same_text(&self) -> String {
        match &self.same {
            Some(Ok(())) => "yes".to_owned(),
            Some(Err(e)) => format!("NO: {e}"),
            None => match (&self.datafusion, &self.duckdb) {
                (Err(e), _) => format!("DataFusion failed: {}", first_line(e)),
                (_, Some(Err(e))) => format!("DuckDB failed: {}", first_line(e)),
                _ => "-".to_owned(),
            },
        }
    }

    pub fn line(&self) -> String {
        let ms = |t: Option<&Timing>, f: fn(&Timing) -> f64| {
            t.map_or("-".to_owned(), |t| format!("{:.1}", f(t)))
        };
        let (hot, cold) = self
            .ratios()
            .map_or(("-".to_owned(), "-".to_owned()), |(h, c)| {
                (format!("{h:.2}"), format!("{c:.2}"))
            });
        format!(
            "{:<40} {:>9} {:>10} {:>10} {:>10} {:>10} {:>7} {:>7}  {}",
            self.name,
            self.df().map_or("-".to_owned(), |t| t.rows.to_string()),
            ms(self.df(), |t| t.cold_ms),
            ms(self.df(), |t| t.hot_ms),
            ms(self.duck(), |t| t.cold_ms),
            ms(self.duck(), |t| t.hot_ms),
            hot,
            cold,
            self.same_text()
        )
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

pub fn geomean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values
        .into_iter()
        .filter(|v| *v > 0.0 && v.is_finite())
        .fold((0.0, 0usize), |(s, n), v| (s + v.ln(), n + 1));
    (n > 0).then(|| (sum / n as f64).exp())
}

/// (fact, value) pairs describing the machine and the software.
pub fn machine() -> Vec<(String, String)> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".to_owned(), |(_, v)| v.trim().to_owned());
    let meminfo = read("/proc/meminfo");
    let ram = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or("unknown".to_owned(), |kib| {
            format!("{:.1} GiB", kib / 1048576.0)
        });
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    vec![
        (
            "cores".into(),
            std::thread::available_parallelism().map_or("unknown".into(), |n| n.to_string()),
        ),
        ("cpu".into(), cpu),
        ("ram".into(), ram),
        (
            "kernel".into(),
            read("/proc/sys/kernel/osrelease").trim().to_owned(),
        ),
        ("rustc".into(), rustc),
        (
            "build".into(),
            if cfg!(debug_assertions) {
                "debug (numbers are not representative)".into()
            } else {
                "release".into()
            },
        ),
        (
            "datafusion".into(),
            datafusion::DATAFUSION_VERSION.to_owned(),
        ),
        ("patchlake".into(), env!("CARGO_PKG_VERSION").to_owned()),
    ]
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One table's size in the lake and as JSON lines.
struct LakeRow {
    name: &'static str,
    rows: i64,
    bytes: i64,
    files: usize,
    per_row: f64,
    /// JSON-lines bytes per row (first run).
    json: f64,
    /// JSON bytes per row / Parquet bytes per row.
    ratio: f64,
}

fn lake_rows(stats: &LakeStats) -> Vec<LakeRow> {
    Table::ALL
        .iter()
        .filter_map(|t| {
            let s = stats.tables.get(t.name())?;
            let per_row = s.bytes as f64 / s.rows.max(1) as f64;
            let json = s.json_sample_bytes as f64 / s.json_sample_rows.max(1) as f64;
            let ratio = if s.json_sample_rows > 0 {
                json / per_row
            } else {
                f64::NAN
            };
            Some(LakeRow {
                name: t.name(),
                rows: s.rows,
                bytes: s.bytes,
                files: s.files,
                per_row,
                json,
                ratio,
            })
        })
        .collect()
}

fn write_rate(stats: &LakeStats) -> (f64, f64) {
    let rows = stats.all_rows() as f64;
    (
        rows / stats.stage_secs.max(1e-9),
        rows / stats.finalize_secs.max(1e-9),
    )
}

pub fn print_lake(stats: &LakeStats) {
    let (stage, finalize) = write_rate(stats);
    eprintln!(
        "lake: {} runs, {} rows ({} instance_patches); stage {:.2} M rows/s, finalize {:.2} M rows/s, generator peak RSS {} MiB",
        stats.runs,
        stats.all_rows(),
        stats.rows(Table::InstancePatches),
        stage / 1e6,
        finalize / 1e6,
        stats.peak_rss_mib
    );
    for LakeRow {
        name,
        rows,
        per_row,
        json,
        ratio,
        ..
    } in lake_rows(stats)
    {
        eprintln!(
            "  {name:<24} {rows:>11} rows {per_row:>8.1} B/row  JSON {json:>7.1} B/row  {ratio:>6.1}x"
        );
    }
}

pub struct Report {
    pub scale: Scale,
    pub seed: u64,
    pub hot: usize,
    /// Fresh processes per query and engine.
    pub processes: usize,
    pub stats: LakeStats,
    pub rows: Vec<QueryRow>,
    pub machine: Vec<(String, String)>,
    pub load_start: String,
    pub load_end: String,
    pub elapsed_secs: f64,
}

impl Report {
    fn geomeans(&self) -> (Option<f64>, Option<f64>) {
        let ratios: Vec<_> = self.rows.iter().filter_map(|r| r.ratios()).collect();
        (
            geomean(ratios.iter().map(|r| r.0)),
            geomean(ratios.iter().map(|r| r.1)),
        )
    }

    fn peak_mib(&self, duck: bool) -> Option<f64> {
        self.rows
            .iter()
            .filter_map(|r| if duck { r.duck() } else { r.df() })
            .map(|t| t.peak_rss_kib as f64 / 1024.0)
            .reduce(f64::max)
    }

    fn duckdb_version(&self) -> Option<String> {
        self.rows.iter().find_map(|r| r.duck()?.version.clone())
    }

    pub fn failures(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| {
                r.datafusion.is_err()
                    || matches!(r.duckdb, Some(Err(_)))
                    || matches!(r.same, Some(Err(_)))
            })
            .map(|r| format!("  {}: {}", r.name, r.same_text()))
            .collect()
    }

    fn num(v: Option<f64>, digits: usize) -> String {
        v.map_or("-".to_owned(), |v| format!("{v:.digits$}"))
    }

    pub fn print_summary(&self) {
        let (hot, cold) = self.geomeans();
        let worst = self
            .rows
            .iter()
            .filter_map(|r| Some((r.ratios()?.0, &r.name)))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        println!(
            "geomean DataFusion/DuckDB: hot {}, cold {}; worst hot {}; peak RSS DataFusion {} MiB, DuckDB {} MiB",
            Self::num(hot, 2),
            Self::num(cold, 2),
            worst.map_or("-".to_owned(), |(r, n)| format!("{r:.2} ({n})")),
            Self::num(self.peak_mib(false), 0),
            Self::num(self.peak_mib(true), 0),
        );
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let s = &self.stats;
        let (hot, cold) = self.geomeans();
        let _ = writeln!(
            md,
            "# Bench results: {} (seed {})\n\nGenerated by `scripts/bench {}` (`patchlake-bench run {} --hot {} --processes {}`); \
             regenerate rather than edit. Times in ms; ratio = DataFusion / DuckDB (below 1: DataFusion faster). \
             Analysis of the queries where DataFusion trails: [bench/README.md](../README.md).\n",
            self.scale.name(),
            self.seed,
            self.scale.name(),
            self.scale.name(),
            self.hot,
            self.processes
        );
        let _ = writeln!(md, "## Machine\n\n| fact | value |\n|---|---|");
        let mut facts = self.machine.clone();
        facts.push((
            "duckdb".into(),
            self.duckdb_version().unwrap_or_else(|| "not run".into()),
        ));
        facts.push((
            "load average (1/5/15 min) at start / end".into(),
            format!("{} / {}", self.load_start, self.load_end),
        ));
        facts.push((
            "threads".into(),
            "DataFusion target_partitions = cores; DuckDB threads = cores".into(),
        ));
        facts.push((
            "bench wall time".into(),
            format!("{:.0} s", self.elapsed_secs),
        ));
        for (k, v) in &facts {
            let _ = writeln!(md, "| {k} | {v} |");
        }
        let (stage, finalize) = write_rate(s);
        let _ = writeln!(
            md,
            "\n## Lake\n\n{} daily runs of {} accounts x {} regions x {} instances; {} rows in all tables, \
             {} in instance_patches. Writer: stage {:.2} M rows/s, finalize {:.2} M rows/s \
             ({:.1} s + {:.1} s; building the records {:.1} s, not counted); generator peak RSS {} MiB. \
             JSON lines: the first run's rows serialized with serde_json, as Resource Data Sync-style JSON.\n",
            s.runs,
            s.spec.accounts,
            s.spec.regions,
            s.spec.instances_per_task,
            s.all_rows(),
            s.rows(Table::InstancePatches),
            stage / 1e6,
            finalize / 1e6,
            s.stage_secs,
            s.finalize_secs,
            s.build_secs,
            s.peak_rss_mib
        );
        let _ = writeln!(
            md,
            "| table | rows | files | MiB | bytes/row | JSON bytes/row | JSON / Parquet |\n|---|---:|---:|---:|---:|---:|---:|"
        );
        for LakeRow {
            name,
            rows,
            bytes,
            files,
            per_row,
            json,
            ratio,
        } in lake_rows(s)
        {
            let _ = writeln!(
                md,
                "| {name} | {rows} | {files} | {:.1} | {per_row:.1} | {json:.1} | {ratio:.1}x |",
                bytes as f64 / 1048576.0
            );
        }
        let _ = writeln!(
            md,
            "\n## Queries\n\nEach query runs in {} fresh processes per engine, the engines taking \
             turns: cold = the median of their first executions (OS page cache warm, engine caches \
             empty), hot = the best of {} more in each process, peak RSS = the highest. Results of \
             both engines compared after sorting rows and rounding floats to 3 decimals.\n",
            self.processes, self.hot
        );
        let _ = writeln!(
            md,
            "| query | kind | rows | DataFusion cold | DataFusion hot | DuckDB cold | DuckDB hot | ratio hot | ratio cold | DF RSS MiB | DuckDB RSS MiB | same result |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for r in &self.rows {
            let t = |t: Option<&Timing>, f: fn(&Timing) -> f64| Self::num(t.map(f), 1);
            let (rh, rc) = r.ratios().map_or((None, None), |(h, c)| (Some(h), Some(c)));
            let flag = |v: Option<f64>| match v {
                Some(v) if v > 2.0 => format!("**{v:.2}**"),
                v => Self::num(v, 2),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.name,
                match r.kind {
                    Kind::Report => "report",
                    Kind::AdHoc => "ad-hoc",
                },
                r.df().map_or("-".into(), |t| t.rows.to_string()),
                t(r.df(), |t| t.cold_ms),
                t(r.df(), |t| t.hot_ms),
                t(r.duck(), |t| t.cold_ms),
                t(r.duck(), |t| t.hot_ms),
                flag(rh),
                flag(rc),
                t(r.df(), |t| t.peak_rss_kib as f64 / 1024.0),
                t(r.duck(), |t| t.peak_rss_kib as f64 / 1024.0),
                r.same_text().replace('|', "\\|"),
            );
        }
        let trailing: Vec<_> = self
            .rows
            .iter()
            .filter_map(|r| Some((r.ratios()?.0, &r.name)))
            .filter(|(h, _)| *h > 1.0)
            .map(|(h, n)| format!("{n} ({h:.2})"))
            .collect();
        let _ = writeln!(
            md,
            "\n**Geometric mean DataFusion/DuckDB: hot {}, cold {}.** Peak RSS: DataFusion {} MiB, \
             DuckDB {} MiB (per-query process maximum; DuckDB's includes the Python interpreter). \
             Goals: geomean <= 1.0, no query > 2.0, peak RSS <= 2048 MiB at medium.\n\n\
             DataFusion trails (hot ratio > 1) on: {}.",
            Self::num(hot, 2),
            Self::num(cold, 2),
            Self::num(self.peak_mib(false), 0),
            Self::num(self.peak_mib(true), 0),
            if trailing.is_empty() {
                "none".to_owned()
            } else {
                trailing.join(", ")
            }
        );
        md
    }

    pub fn csv(&self) -> String {
        let mut csv = String::from(
            "scale,query,kind,rows,datafusion_cold_ms,datafusion_hot_ms,duckdb_cold_ms,duckdb_hot_ms,ratio_hot,ratio_cold,datafusion_peak_rss_mib,duckdb_peak_rss_mib,same\n",
        );
        for r in &self.rows {
            let v = |x: Option<f64>| x.map_or(String::new(), |x| format!("{x:.3}"));
            let (rh, rc) = r.ratios().map_or((None, None), |(h, c)| (Some(h), Some(c)));
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},{},{},{},{},{},{}",
                self.scale.name(),
                r.name,
                match r.kind {
                    Kind::Report => "report",
                    Kind::AdHoc => "ad-hoc",
                },
                r.df().map_or(String::new(), |t| t.rows.to_string()),
                v(r.df().map(|t| t.cold_ms)),
                v(r.df().map(|t| t.hot_ms)),
                v(r.duck().map(|t| t.cold_ms)),
                v(r.duck().map(|t| t.hot_ms)),
                v(rh),
                v(rc),
                v(r.df().map(|t| t.peak_rss_kib as f64 / 1024.0)),
                v(r.duck().map(|t| t.peak_rss_kib as f64 / 1024.0)),
                match &r.same {
                    Some(Ok(())) => "yes",
                    Some(Err(_)) => "no",
                    None => "",
                }
            );
        }
        for LakeRow {
            name,
            rows,
            bytes,
            files,
            per_row,
            json,
            ratio,
        } in lake_rows(&self.stats)
        {
            let _ = writeln!(
                csv,
                "{},lake:{name},table,{rows},,,,,,,,,files={files} bytes={bytes} bytes_per_row={per_row:.2} json_bytes_per_row={json:.2} json_ratio={ratio:.2}",
                self.scale.name()
            );
        }
        csv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geomean_of_ratios() {
        assert!((geomean([2.0, 0.5]).unwrap() - 1.0).abs() < 1e-12);
        assert!((geomean([4.0, 1.0]).unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(geomean([]), None);
    }
}
