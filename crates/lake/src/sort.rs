//! Sorting one staged file in bounded memory, for `finalize`.
//!
//! A staged file can hold millions of rows (one account-region's `instance_patches`), too many
//! to decode and sort whole inside a Lambda function. Each batch read from it is sorted on its
//! own into a *run*; when there is more than one run, the runs are spilled as row groups of a
//! scratch Parquet file and merged k ways, comparing rows in arrow's row format. Memory is
//! about one run (while sorting) or one small batch per run (while merging), not the file.
//!
//! The merge is stable: rows with equal sort keys keep the order of their runs, so the output
//! is deterministic for a given staged file.

use std::fs::File;
use std::path::Path;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{SortOptions, interleave_record_batch, take_record_batch};
use arrow::datatypes::Schema;
use arrow::row::{RowConverter, Rows, SortField};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use patchlake_model::Table;

use crate::{Error, Result};

/// Rows each run's reader decodes at a time while merging, and rows per merged batch.
const MERGE_BATCH_ROWS: usize = 4096;

/// The sort order of the lake: every sort column ascending, nulls first.
const ORDER: SortOptions = SortOptions {
    descending: false,
    nulls_first: true,
};

/// Sort keys of a table's rows in arrow's row format, whose byte order is the lake's order.
struct Keys {
    columns: Vec<usize>,
    converter: RowConverter,
}

impl Keys {
    fn new(table: Table, schema: &Schema, shown: &str) -> Result<Self> {
        let columns: Vec<usize> = table
            .sort_columns()
            .iter()
            .map(|name| schema.index_of(name).expect("schema checked"))
            .collect();
        let converter = RowConverter::new(
            columns
                .iter()
                .map(|&i| SortField::new_with_options(schema.field(i).data_type().clone(), ORDER))
                .collect(),
        )
        .map_err(Error::arrow(shown))?;
        Ok(Keys { columns, converter })
    }

    fn of(&self, batch: &RecordBatch, shown: &str) -> Result<Rows> {
        let columns: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        self.converter
            .convert_columns(&columns)
            .map_err(Error::arrow(shown))
    }

    /// `batch` sorted, stably.
    fn sort(&self, batch: &RecordBatch, shown: &str) -> Result<RecordBatch> {
        if self.columns.is_empty() || batch.num_rows() < 2 {
            return Ok(batch.clone());
        }
        let keys = self.of(batch, shown)?;
        let mut order: Vec<u32> = (0..batch.num_rows() as u32).collect();
        order.sort_by(|&a, &b| keys.row(a as usize).cmp(&keys.row(b as usize)));
        take_record_batch(batch, &UInt32Array::from(order)).map_err(Error::arrow(shown))
    }
}

/// Settings of the scratch file: fast to write and read back, small pages so that a reader
/// per run holds little (no dictionary, whose page a reader keeps for the whole row group).
fn spill_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid zstd level"),
        ))
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_data_page_size_limit(64 * 1024)
        .set_data_page_row_count_limit(MERGE_BATCH_ROWS)
        .set_max_row_group_row_count(None)
        .build()
}

/// Sorts every row of `batches` (one staged file of `table`, `shown` in errors) by the
/// table's sort columns and hands the rows to `emit` in order, in batches. Spills sorted runs
/// to a scratch file in `scratch` (removed before returning) when there is more than one.
pub(crate) fn sort_stream(
    table: Table,
    batches: impl Iterator<Item = Result<RecordBatch>>,
    scratch: &Path,
    shown: &str,
    mut emit: impl FnMut(&RecordBatch) -> Result<()>,
) -> Result<()> {
    let keys = Keys::new(table, &table.schema(), shown)?;
    let mut first: Option<RecordBatch> = None;
    // The scratch file, its name for errors and its writer, once there is a second run.
    let mut spill: Option<(tempfile::NamedTempFile, String, ArrowWriter<File>)> = None;
    for batch in batches {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        let sorted = keys.sort(&batch, shown)?;
        drop(batch);
        if first.is_none() && spill.is_none() {
            first = Some(sorted);
            continue;
        }
        let (at, writer) = match &mut spill {
            Some((_, at, w)) => (&*at, w),
            None => {
                let file = tempfile::Builder::new()
                    .prefix(&format!("{table}-runs-"))
                    .suffix(".parquet")
                    .tempfile_in(scratch)
                    .map_err(Error::io(scratch.display().to_string()))?;
                let at = file.path().display().to_string();
                let handle = file.reopen().map_err(Error::io(&at))?;
                let writer =
                    ArrowWriter::try_new(handle, sorted.schema(), Some(spill_properties()))
                        .map_err(Error::parquet(&at))?;
                let (_, at, writer) = spill.insert((file, at, writer));
                let first = first.take().expect("the first run is held until spilled");
                writer.write(&first).map_err(Error::parquet(&*at))?;
                writer.flush().map_err(Error::parquet(&*at))?;
                (&*at, writer)
            }
        };
        // One row group per run.
        writer.write(&sorted).map_err(Error::parquet(at))?;
        writer.flush().map_err(Error::parquet(at))?;
    }
    let Some((file, at, writer)) = spill else {
        // One run (or none): already sorted, nothing to merge.
        if let Some(first) = first {
            emit(&first)?;
        }
        return Ok(());
    };
    writer.close().map_err(Error::parquet(at))?;
    merge_runs(&keys, file.path(), shown, &mut emit)
}

/// One sorted run being merged: its reader, the batch it is in and that batch's sort keys.
struct Cursor {
    reader: ParquetRecordBatchReader,
    batch: RecordBatch,
    keys: Rows,
    pos: usize,
    /// Index of `batch` in the merge's pool of batches that output rows refer to.
    pooled: usize,
}

/// K-way merge of the row groups (sorted runs) of the scratch file at `path`.
fn merge_runs(
    keys: &Keys,
    path: &Path,
    shown: &str,
    emit: &mut impl FnMut(&RecordBatch) -> Result<()>,
) -> Result<()> {
    let scratch_shown = path.display().to_string();
    let corrupt = |e: &dyn std::fmt::Display| Error::corrupt(&scratch_shown, e.to_string());
    let open = || File::open(path).map_err(Error::io(&scratch_shown));
    let metadata =
        ArrowReaderMetadata::load(&open()?, Default::default()).map_err(|e| corrupt(&e))?;
    let keys_of = |batch: &RecordBatch| keys.of(batch, shown);

    let mut pool: Vec<RecordBatch> = Vec::new();
    let mut cursors: Vec<Cursor> = Vec::new();
    for group in 0..metadata.metadata().num_row_groups() {
        let mut reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(open()?, metadata.clone())
                .with_row_groups(vec![group])
                .with_batch_size(MERGE_BATCH_ROWS)
                .build()
                .map_err(|e| corrupt(&e))?;
        let Some(batch) = reader.next().transpose().map_err(|e| corrupt(&e))? else {
            continue;
        };
        let keys = keys_of(&batch)?;
        pool.push(batch.clone());
        cursors.push(Cursor {
            reader,
            batch,
            keys,
            pos: 0,
            pooled: pool.len() - 1,
        });
    }

    // A binary min-heap of cursor indexes, ordered by current key, then by run (stability).
    let less = |cursors: &[Cursor], a: usize, b: usize| {
        let (x, y) = (&cursors[a], &cursors[b]);
        match x.keys.row(x.pos).cmp(&y.keys.row(y.pos)) {
            std::cmp::Ordering::Equal => a < b,
            o => o.is_lt(),
        }
    };
    let sift_down = |heap: &mut [usize], cursors: &[Cursor], mut i: usize| loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut m = i;
        if l < heap.len() && less(cursors, heap[l], heap[m]) {
            m = l;
        }
        if r < heap.len() && less(cursors, heap[r], heap[m]) {
            m = r;
        }
        if m == i {
            return;
        }
        heap.swap(i, m);
        i = m;
    };
    let mut heap: Vec<usize> = (0..cursors.len()).collect();
    for i in (0..heap.len() / 2).rev() {
        sift_down(&mut heap, &cursors, i);
    }

    let mut out: Vec<(usize, usize)> = Vec::with_capacity(MERGE_BATCH_ROWS);
    let flush = |out: &mut Vec<(usize, usize)>,
                 pool: &mut Vec<RecordBatch>,
                 cursors: &mut [Cursor],
                 emit: &mut dyn FnMut(&RecordBatch) -> Result<()>|
     -> Result<()> {
        if !out.is_empty() {
            let refs: Vec<&RecordBatch> = pool.iter().collect();
            let batch = interleave_record_batch(&refs, out).map_err(Error::arrow(shown))?;
            out.clear();
            emit(&batch)?;
        }
        // Keep only the batches cursors are still in.
        pool.clear();
        for c in cursors.iter_mut() {
            pool.push(c.batch.clone());
            c.pooled = pool.len() - 1;
        }
        Ok(())
    };
    while let Some(&top) = heap.first() {
        let c = &mut cursors[top];
        out.push((c.pooled, c.pos));
        c.pos += 1;
        if c.pos == c.batch.num_rows() {
            match c.reader.next().transpose().map_err(|e| corrupt(&e))? {
                Some(batch) => {
                    c.keys = keys_of(&batch)?;
                    c.batch = batch.clone();
                    c.pos = 0;
                    pool.push(batch);
                    c.pooled = pool.len() - 1;
                }
                None => {
                    let last = heap.pop().expect("not empty");
                    if !heap.is_empty() {
                        heap[0] = last;
                    }
                }
            }
        }
        if !heap.is_empty() {
            sift_down(&mut heap, &cursors, 0);
        }
        if out.len() >= MERGE_BATCH_ROWS {
            flush(&mut out, &mut pool, &mut cursors, emit)?;
        }
    }
    flush(&mut out, &mut pool, &mut cursors, emit)
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;
    use arrow::compute::concat_batches;
    use patchlake_model::batch::instance_patches_batch;
    use patchlake_model::records::InstancePatch;

    use super::*;

    /// `instance_patches` rows with the given (instance_id, title); `kb_id` numbers them.
    fn patches(rows: &[(&str, &str)]) -> RecordBatch {
        let rows: Vec<InstancePatch> = rows
            .iter()
            .enumerate()
            .map(|(i, (instance, title))| InstancePatch {
                account_id: "012345678901".into(),
                region: "us-east-1".into(),
                instance_id: (*instance).into(),
                title: (*title).into(),
                kb_id: Some(format!("s{i}")),
                state: "Missing".into(),
                ..Default::default()
            })
            .collect();
        instance_patches_batch(&rows).unwrap()
    }

    fn keys(batch: &RecordBatch) -> Vec<(String, String)> {
        let col = |n: &str| batch.column_by_name(n).unwrap().as_string::<i32>().clone();
        let (i, t) = (col("instance_id"), col("title"));
        (0..batch.num_rows())
            .map(|r| (i.value(r).to_owned(), t.value(r).to_owned()))
            .collect()
    }

    fn run(batches: Vec<RecordBatch>) -> (Vec<RecordBatch>, usize) {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        sort_stream(
            Table::InstancePatches,
            batches.into_iter().map(Ok),
            dir.path(),
            "test",
            |b| {
                out.push(b.clone());
                Ok(())
            },
        )
        .unwrap();
        // The scratch file is gone.
        let left = std::fs::read_dir(dir.path()).unwrap().count();
        (out, left)
    }

    #[test]
    fn many_runs_merge_into_the_same_order_as_one_sort() {
        // Pseudo-random keys with many ties, in 7 runs of uneven size.
        let mut x: u64 = 42;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        let rows: Vec<(String, String)> = (0..20_000)
            .map(|_| {
                (
                    format!("i-{:03}", next() % 300),
                    format!("t{}", next() % 50),
                )
            })
            .collect();
        let mut batches = Vec::new();
        let mut start = 0;
        for len in [1, 9000, 3, 4096, 4097, 1800, 1003] {
            let part: Vec<(&str, &str)> = rows[start..start + len]
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            batches.push(patches(&part));
            start += len;
        }
        assert_eq!(start, rows.len());
        let whole = concat_batches(&Table::InstancePatches.schema(), &batches).unwrap();
        let expected = Keys::new(Table::InstancePatches, &whole.schema(), "test")
            .unwrap()
            .sort(&whole, "test")
            .unwrap();

        let (out, left) = run(batches);
        assert_eq!(left, 0, "scratch file removed");
        let merged = concat_batches(&Table::InstancePatches.schema(), &out).unwrap();
        assert_eq!(merged.num_rows(), rows.len());
        assert_eq!(keys(&merged), keys(&expected));
        assert!(out.iter().all(|b| b.num_rows() <= MERGE_BATCH_ROWS));
        // Every row came through whole: the same multiset of (key, kb_id) rows.
        let with_state = |b: &RecordBatch| {
            let s = b
                .column_by_name("kb_id")
                .unwrap()
                .as_string::<i32>()
                .clone();
            let mut v: Vec<_> = keys(b)
                .into_iter()
                .zip((0..b.num_rows()).map(|r| s.value(r).to_owned()))
                .collect();
            v.sort();
            v
        };
        assert_eq!(with_state(&merged), with_state(&whole));
    }

    #[test]
    fn ties_keep_the_order_of_their_runs() {
        let a = patches(&[("i-1", "x"), ("i-1", "x")]);
        let b = patches(&[("i-1", "x"), ("i-0", "y")]);
        let (out, _) = run(vec![a, b]);
        let merged = concat_batches(&Table::InstancePatches.schema(), &out).unwrap();
        let states = merged.column_by_name("kb_id").unwrap().as_string::<i32>();
        // i-0 first; then the three ties: run 0's two rows (s0, s1), then run 1's (s0).
        let got: Vec<&str> = (0..4).map(|r| states.value(r)).collect();
        assert_eq!(got, ["s1", "s0", "s1", "s0"]);
    }

    #[test]
    fn a_single_run_is_emitted_without_spilling() {
        let (out, left) = run(vec![patches(&[("i-2", "b"), ("i-1", "a")])]);
        assert_eq!(left, 0);
        assert_eq!(out.len(), 1);
        assert_eq!(keys(&out[0])[0].0, "i-1");
    }
}
