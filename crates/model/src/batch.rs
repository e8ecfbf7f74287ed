//! Conversion between records and Arrow record batches, following [`Table::schema`].
//!
//! The hot table (`instance_patches`, hundreds of rows per instance) is built column by column;
//! the others, small and nested, go through arrow-json's serde decoder against the table schema,
//! which keeps one definition of each nested type (approval rules, tags, file lists).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, ListBuilder, RecordBatch, StringBuilder, StringDictionaryBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::Int32Type;
use arrow::json::ReaderBuilder;
use arrow::json::writer::{JsonArray, WriterBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::records::*;
use crate::{Error, Result, RunId, Table};

fn arrow_err(table: Table) -> impl FnOnce(arrow::error::ArrowError) -> Error {
    move |source| Error::Arrow {
        table: table.name(),
        source,
    }
}

/// Builds a batch of `table` from serde-serializable rows (fields not in the schema are ignored).
pub fn serialize_rows<T: Serialize>(table: Table, rows: &[T]) -> Result<RecordBatch> {
    let schema = table.schema();
    if rows.is_empty() {
        return Ok(RecordBatch::new_empty(schema));
    }
    let mut decoder = ReaderBuilder::new(schema)
        .with_batch_size(rows.len())
        .build_decoder()
        .map_err(arrow_err(table))?;
    decoder.serialize(rows).map_err(arrow_err(table))?;
    let batch = decoder.flush().map_err(arrow_err(table))?;
    Ok(batch.expect("rows were serialized"))
}

/// Reads rows back from a batch of `table` (the inverse of [`serialize_rows`]).
pub fn deserialize_rows<T: DeserializeOwned>(table: Table, batch: &RecordBatch) -> Result<Vec<T>> {
    json_rows(table, batch)?
        .into_iter()
        .map(|v| {
            serde_json::from_value(v).map_err(|e| Error::Arrow {
                table: table.name(),
                source: arrow::error::ArrowError::JsonError(e.to_string()),
            })
        })
        .collect()
}

fn json_rows(table: Table, batch: &RecordBatch) -> Result<Vec<serde_json::Value>> {
    let mut writer = WriterBuilder::new()
        .with_explicit_nulls(false)
        .build::<_, JsonArray>(Vec::new());
    writer.write(batch).map_err(arrow_err(table))?;
    writer.finish().map_err(arrow_err(table))?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes).map_err(|e| Error::Arrow {
        table: table.name(),
        source: arrow::error::ArrowError::JsonError(e.to_string()),
    })
}

/// The `instance_patches` batch, built column by column (the lake's largest table).
pub fn instance_patches_batch(rows: &[InstancePatch]) -> Result<RecordBatch> {
    let n = rows.len();
    let mut account = StringDictionaryBuilder::<Int32Type>::new();
    let mut region = StringDictionaryBuilder::<Int32Type>::new();
    let mut instance = StringBuilder::with_capacity(n, n * 19);
    let mut title = StringBuilder::with_capacity(n, n * 48);
    let mut kb = StringBuilder::with_capacity(n, n * 16);
    let mut class = StringDictionaryBuilder::<Int32Type>::new();
    let mut severity = StringDictionaryBuilder::<Int32Type>::new();
    let mut state = StringDictionaryBuilder::<Int32Type>::new();
    let mut installed = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut cves = ListBuilder::new(StringBuilder::new());
    for r in rows {
        account.append_value(&r.account_id);
        region.append_value(&r.region);
        instance.append_value(&r.instance_id);
        title.append_value(&r.title);
        kb.append_option(r.kb_id.as_deref());
        class.append_option(r.classification.as_deref());
        severity.append_option(r.severity.as_deref());
        state.append_value(&r.state);
        installed.append_option(r.installed_at.map(|t| t.timestamp_micros()));
        for c in &r.cve_ids {
            cves.values().append_value(c);
        }
        cves.append(true);
    }
    // Dictionary builders dedupe the low-cardinality columns cheaply; the schema says Utf8.
    let utf8 = |a: ArrayRef| -> Result<ArrayRef> {
        arrow::compute::cast(&a, &arrow::datatypes::DataType::Utf8)
            .map_err(arrow_err(Table::InstancePatches))
    };
    let columns: Vec<ArrayRef> = vec![
        utf8(Arc::new(account.finish()))?,
        utf8(Arc::new(region.finish()))?,
        Arc::new(instance.finish()),
        Arc::new(title.finish()),
        Arc::new(kb.finish()),
        utf8(Arc::new(class.finish()))?,
        utf8(Arc::new(severity.finish()))?,
        utf8(Arc::new(state.finish()))?,
        Arc::new(installed.finish()),
        Arc::new(cves.finish()),
    ];
    RecordBatch::try_new(Table::InstancePatches.schema(), columns)
        .map_err(arrow_err(Table::InstancePatches))
}

/// Once a [`TaskOutput`] holds this many `instance_patches` (or `inventory_applications`)
/// rows as values, [`TaskOutput::spill_patches`] ([`TaskOutput::spill_applications`]) encodes
/// them. Small enough that the values, their Arrow batch and its encoding stay a few MiB
/// (about 600 bytes a row as values), large enough to compress well.
pub const PATCH_SPILL_ROWS: usize = 16 * 1024;

/// Rows of one of the two tables that grow with an account-region's size (`instance_patches`,
/// `inventory_applications`), spilled while collecting: one zstd-compressed Parquet file in
/// memory. It is transient (the lake re-encodes the rows with its own layout when it stages
/// the task), so it is written with plain settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SpilledChunk {
    pub rows: usize,
    pub parquet: bytes::Bytes,
}

fn spill_err(table: Table) -> impl Fn(parquet::errors::ParquetError) -> Error {
    move |e| Error::Arrow {
        table: table.name(),
        source: arrow::error::ArrowError::ExternalError(Box::new(e)),
    }
}

impl SpilledChunk {
    fn encode(rows: &[InstancePatch]) -> Result<SpilledChunk> {
        SpilledChunk::from_batches(Table::InstancePatches, &[instance_patches_batch(rows)?])
    }

    /// Rows of `table` already in Arrow form (the previous run's, reused) as one chunk.
    pub fn from_batches(table: Table, batches: &[RecordBatch]) -> Result<SpilledChunk> {
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
            .build();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(Vec::new(), table.schema(), Some(props))
                .map_err(spill_err(table))?;
        let mut rows = 0;
        for batch in batches {
            writer.write(batch).map_err(spill_err(table))?;
            rows += batch.num_rows();
        }
        let mut parquet = writer.into_inner().map_err(spill_err(table))?;
        // The buffer grew by doubling; a chunk is kept for the whole task, its slack with it.
        parquet.shrink_to_fit();
        Ok(SpilledChunk {
            rows,
            parquet: parquet.into(),
        })
    }

    /// The chunk's rows, as the batches it was written in.
    pub fn batches(&self) -> Result<Vec<RecordBatch>> {
        // Only errors name the table; `instance_patches` is the common case.
        let table = Table::InstancePatches;
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(self.parquet.clone())
            .map_err(spill_err(table))?
            .build()
            .map_err(spill_err(table))?
            .map(|b| b.map_err(arrow_err(table)))
            .collect()
    }
}

/// [`TaskOutput::spill_patches`] over a collector's own accumulators: once `values` holds
/// [`PATCH_SPILL_ROWS`] rows, they move to `spilled` as one chunk.
pub fn spill_if_full(
    values: &mut Vec<InstancePatch>,
    spilled: &mut Vec<SpilledChunk>,
) -> Result<()> {
    if values.len() >= PATCH_SPILL_ROWS {
        spilled.push(SpilledChunk::encode(values)?);
        *values = Vec::new();
    }
    Ok(())
}

/// [`TaskOutput::spill_applications`] over a collector's own accumulators.
pub fn spill_applications_if_full(
    values: &mut Vec<InventoryApplication>,
    spilled: &mut Vec<SpilledChunk>,
) -> Result<()> {
    if values.len() >= PATCH_SPILL_ROWS {
        let table = Table::InventoryApplications;
        spilled.push(SpilledChunk::from_batches(
            table,
            &[serialize_rows(table, values)?],
        )?);
        *values = Vec::new();
    }
    Ok(())
}

/// Spilled chunks decoded one at a time, then `last`, owning what it reads.
fn chunked(
    chunks: Vec<SpilledChunk>,
    last: Vec<Result<RecordBatch>>,
) -> impl Iterator<Item = Result<RecordBatch>> + Send + 'static {
    chunks
        .into_iter()
        .flat_map(|c| match c.batches() {
            Ok(batches) => batches.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
        .chain(last)
}

impl TaskOutput {
    /// Once `instance_patches` holds [`PATCH_SPILL_ROWS`] rows, moves them into
    /// `spilled_patches` as one compressed chunk: about 10 bytes a row instead of about 600 as
    /// values, so an account-region with millions of patch rows (10,000 instances × hundreds
    /// of patches) is collected within a Lambda function's memory. Collectors call it as rows
    /// arrive.
    pub fn spill_patches(&mut self) -> Result<()> {
        spill_if_full(&mut self.instance_patches, &mut self.spilled_patches)
    }

    /// [`TaskOutput::spill_patches`] for `inventory_applications` (tens of applications per
    /// instance).
    pub fn spill_applications(&mut self) -> Result<()> {
        spill_applications_if_full(
            &mut self.inventory_applications,
            &mut self.spilled_applications,
        )
    }

    /// Rows of `instance_patches`, spilled or not.
    pub fn instance_patch_count(&self) -> usize {
        self.spilled_patches.iter().map(|c| c.rows).sum::<usize>() + self.instance_patches.len()
    }

    /// Every `instance_patches` row as batches, decoded lazily one chunk at a time (the
    /// spilled chunks in order, then the rows held as values), owning what it reads so it can
    /// move to a blocking thread.
    pub fn instance_patch_batches(
        &self,
    ) -> Result<impl Iterator<Item = Result<RecordBatch>> + Send + 'static> {
        let last = instance_patches_batch(&self.instance_patches)?;
        Ok(chunked(self.spilled_patches.clone(), vec![Ok(last)]))
    }

    /// Every `inventory_applications` row as batches, like
    /// [`TaskOutput::instance_patch_batches`].
    pub fn inventory_application_batches(
        &self,
    ) -> Result<impl Iterator<Item = Result<RecordBatch>> + Send + 'static> {
        let table = Table::InventoryApplications;
        let last = self
            .inventory_applications
            .chunks(PATCH_SPILL_ROWS)
            .map(|rows| serialize_rows(table, rows))
            .collect();
        Ok(chunked(self.spilled_applications.clone(), last))
    }

    /// Every `instance_patches` row as values, spilled ones decoded (tests and small tasks).
    pub fn all_instance_patches(&self) -> Result<Vec<InstancePatch>> {
        let mut out = Vec::with_capacity(self.instance_patch_count());
        for chunk in &self.spilled_patches {
            for batch in chunk.batches()? {
                out.extend(deserialize_rows::<InstancePatch>(
                    Table::InstancePatches,
                    &batch,
                )?);
            }
        }
        out.extend(self.instance_patches.iter().cloned());
        Ok(out)
    }

    /// One batch per data table, in [`Table::DATA`] order (empty tables give empty batches).
    /// `instance_patches` and `inventory_applications` are concatenated whole: the lake's
    /// staging streams them instead ([`TaskOutput::small_batches`],
    /// [`TaskOutput::instance_patch_batches`], [`TaskOutput::inventory_application_batches`]).
    pub fn to_batches(&self) -> Result<Vec<(Table, RecordBatch)>> {
        let concat = |table: Table, batches: Vec<RecordBatch>| {
            arrow::compute::concat_batches(&table.schema(), &batches).map_err(arrow_err(table))
        };
        let patches = concat(
            Table::InstancePatches,
            self.instance_patch_batches()?.collect::<Result<_>>()?,
        )?;
        let applications = concat(
            Table::InventoryApplications,
            self.inventory_application_batches()?
                .collect::<Result<_>>()?,
        )?;
        let mut out = self.small_batches()?;
        out.insert(2, (Table::InstancePatches, patches));
        out.insert(5, (Table::InventoryApplications, applications));
        Ok(out)
    }

    /// [`TaskOutput::to_batches`] without `instance_patches` and `inventory_applications`.
    pub fn small_batches(&self) -> Result<Vec<(Table, RecordBatch)>> {
        Ok(vec![
            (
                Table::Instances,
                serialize_rows(Table::Instances, &self.instances)?,
            ),
            (
                Table::PatchStates,
                serialize_rows(Table::PatchStates, &self.patch_states)?,
            ),
            (
                Table::Baselines,
                serialize_rows(Table::Baselines, &self.baselines)?,
            ),
            (
                Table::PatchGroups,
                serialize_rows(Table::PatchGroups, &self.patch_groups)?,
            ),
            (
                Table::MaintenanceWindows,
                serialize_rows(Table::MaintenanceWindows, &self.maintenance_windows)?,
            ),
            (
                Table::Coverage,
                serialize_rows(Table::Coverage, std::slice::from_ref(&self.coverage))?,
            ),
        ])
    }
}

impl RunRecord {
    /// The one-row batch of the `runs` table for this record (`run_id` lives in the path).
    pub fn to_batch(&self) -> Result<RecordBatch> {
        serialize_rows(Table::Runs, std::slice::from_ref(self))
    }

    /// Reads the records of a `runs` file, whose run id comes from its path.
    pub fn from_batch(batch: &RecordBatch, run_id: &RunId) -> Result<Vec<RunRecord>> {
        json_rows(Table::Runs, batch)?
            .into_iter()
            .map(|mut v| {
                v["run_id"] = serde_json::Value::String(run_id.to_string());
                serde_json::from_value(v).map_err(|e| Error::Arrow {
                    table: "runs",
                    source: arrow::error::ArrowError::JsonError(e.to_string()),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{TimeZone, Utc};

    use super::*;

    fn t(h: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, 25, h, 0, 0).unwrap()
    }

    pub(crate) fn sample_task() -> TaskOutput {
        let coverage = Coverage {
            account_id: "012345678901".into(),
            region: "us-east-1".into(),
            status: CoverageStatus::Ok,
            error_code: None,
            error_message: None,
            api_calls: 7,
            throttled_calls: 1,
            retries: 1,
            started_at: t(1),
            finished_at: t(2),
            instances: 1,
        };
        let mut task = TaskOutput::empty(coverage);
        task.instances.push(Instance {
            account_id: "012345678901".into(),
            region: "us-east-1".into(),
            instance_id: "i-0123456789abcdef0".into(),
            platform_type: Some("Linux".into()),
            last_ping_at: Some(t(3)),
            patch_group: Some("prod".into()),
            tags: BTreeMap::from([("Patch Group".into(), "prod".into())]),
            ..Default::default()
        });
        task.patch_states.push(PatchState {
            account_id: "012345678901".into(),
            region: "us-east-1".into(),
            instance_id: "i-0123456789abcdef0".into(),
            missing: 3,
            operation_end_at: Some(t(4)),
            ..Default::default()
        });
        task.instance_patches.push(InstancePatch {
            account_id: "012345678901".into(),
            region: "us-east-1".into(),
            instance_id: "i-0123456789abcdef0".into(),
            title: "openssl-libs".into(),
            state: "Missing".into(),
            cve_ids: vec!["CVE-2024-0001".into(), "CVE-2024-0002".into()],
            ..Default::default()
        });
        task.baselines.push(Baseline {
            account_id: "012345678901".into(),
            region: "us-east-1".into(),
            baseline_id: "pb-0123456789abcdef0".into(),
            approval_rules: vec![ApprovalRule {
                filters: vec![PatchFilter {
                    key: "CLASSIFICATION".into(),
                    values: vec!["Security".into()],
                }],
                compliance_level: Some("CRITICAL".into()),
                approve_after_days: Some(7),
                approve_until_date: None,
                enable_non_security: false,
            }],
            rejected_patches: vec!["system-release.*".into()],
            ..Default::default()
        });
        task
    }

    #[test]
    fn task_output_becomes_one_batch_per_table_with_the_table_schema() {
        let task = sample_task();
        let batches = task.to_batches().unwrap();
        assert_eq!(batches.len(), Table::DATA.len());
        for (table, batch) in &batches {
            assert_eq!(batch.schema(), table.schema(), "{table}");
        }
        let rows = |t: Table| batches.iter().find(|(x, _)| *x == t).unwrap().1.num_rows();
        assert_eq!(rows(Table::Instances), 1);
        assert_eq!(rows(Table::InstancePatches), 1);
        assert_eq!(rows(Table::Coverage), 1);
        assert_eq!(rows(Table::PatchGroups), 0);
    }

    #[test]
    fn nested_rows_round_trip() {
        let task = sample_task();
        let b = serialize_rows(Table::Baselines, &task.baselines).unwrap();
        let back: Vec<Baseline> = deserialize_rows(Table::Baselines, &b).unwrap();
        assert_eq!(back, task.baselines);
        let i = serialize_rows(Table::Instances, &task.instances).unwrap();
        let back: Vec<Instance> = deserialize_rows(Table::Instances, &i).unwrap();
        assert_eq!(back, task.instances);
        let p = instance_patches_batch(&task.instance_patches).unwrap();
        let back: Vec<InstancePatch> = deserialize_rows(Table::InstancePatches, &p).unwrap();
        assert_eq!(back, task.instance_patches);
    }

    #[test]
    fn run_record_round_trips_with_run_id_from_the_path() {
        let run_id: RunId = "20261125T010000Z-0000abcd".parse().unwrap();
        let rec = RunRecord {
            run_id: run_id.clone(),
            started_at: t(1),
            finished_at: t(2),
            tool_version: crate::TOOL_VERSION.into(),
            config_sha256: "ab".repeat(32),
            accounts: 5,
            regions: 2,
            tasks_ok: 9,
            tasks_partial: 0,
            tasks_failed: 1,
            row_counts: BTreeMap::from([("instances".into(), 10)]),
            files: vec![RunFile {
                table: "instances".into(),
                path: "instances/dt=2026-11-25/run_id=x/part-00000.parquet".into(),
                rows: 10,
                bytes: 1234,
                sha256: "cd".repeat(32),
            }],
        };
        let batch = rec.to_batch().unwrap();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(RunRecord::from_batch(&batch, &run_id).unwrap(), vec![rec]);
    }

    #[test]
    fn spilled_patches_come_back_in_order_and_much_smaller() {
        let mut task = sample_task();
        let template = task.instance_patches[0].clone();
        let total = 2 * PATCH_SPILL_ROWS + 17;
        let mut expected = task.instance_patches.clone();
        let mut values_bytes = 0;
        for i in 0..total {
            let mut row = template.clone();
            row.instance_id = format!("i-{:017x}", i / 300);
            row.title = format!("patch {}", i % 300);
            values_bytes += std::mem::size_of::<InstancePatch>() + row.title.len() + 19;
            expected.push(row.clone());
            task.instance_patches.push(row);
            task.spill_patches().unwrap();
        }
        assert_eq!(task.spilled_patches.len(), 2);
        assert!(task.instance_patches.len() < PATCH_SPILL_ROWS);
        assert_eq!(task.instance_patch_count(), expected.len());
        assert_eq!(task.all_instance_patches().unwrap(), expected);
        let spilled: usize = task.spilled_patches.iter().map(|c| c.parquet.len()).sum();
        let spilled_rows: usize = task.spilled_patches.iter().map(|c| c.rows).sum();
        // Far below the values' own size (which undercounts heap overhead).
        assert!(
            spilled * 20 < values_bytes * spilled_rows / total,
            "{spilled} bytes"
        );
        let batches = task.to_batches().unwrap();
        assert_eq!(batches[2].0, Table::InstancePatches);
        assert_eq!(batches[2].1.num_rows(), expected.len());
    }

    #[test]
    fn spilled_applications_come_back_in_order() {
        let mut task = sample_task();
        let template = InventoryApplication {
            account_id: task.coverage.account_id.clone(),
            region: task.coverage.region.clone(),
            instance_id: "i-0".into(),
            name: "openssl".into(),
            version: Some("3.0.8".into()),
            ..Default::default()
        };
        let mut expected = task.inventory_applications.clone();
        for i in 0..PATCH_SPILL_ROWS + 5 {
            let mut row = template.clone();
            row.instance_id = format!("i-{:017x}", i / 60);
            row.name = format!("package-{}", i % 60);
            expected.push(row.clone());
            task.inventory_applications.push(row);
            task.spill_applications().unwrap();
        }
        assert_eq!(task.spilled_applications.len(), 1);
        assert!(task.inventory_applications.len() < 10);
        let batches: Vec<RecordBatch> = task
            .inventory_application_batches()
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        let mut back = Vec::new();
        for b in &batches {
            back.extend(
                deserialize_rows::<InventoryApplication>(Table::InventoryApplications, b).unwrap(),
            );
        }
        assert_eq!(back, expected);
        let all = task.to_batches().unwrap();
        let tables: Vec<Table> = all.iter().map(|(t, _)| *t).collect();
        assert_eq!(tables, Table::DATA);
        assert_eq!(all[5].1.num_rows(), expected.len());
    }
}
