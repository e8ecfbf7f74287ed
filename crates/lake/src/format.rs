//! The lake's Parquet layout, decided here and nowhere else: writer settings, encoding a batch,
//! splitting a sorted table into part files, and decoding files defensively.

use std::fs::File;
use std::io::{self, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{KeyValue, ParquetMetaDataReader, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use patchlake_model::{TOOL_VERSION, Table};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Rows per row group of committed files. Readers prune by row group and page, and
/// DataFusion splits a file's scan between cores only at row-group boundaries: at 1 Mi rows
/// a run's ~0.9 M-row `instance_patches` file was one row group, scanned on one core.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// ZSTD level of every file the lake writes.
pub const ZSTD_LEVEL: i32 = 3;

/// Rows handed to the Parquet writer at once, which is also how often a part's size is checked.
const WRITE_CHUNK_ROWS: usize = 64 * 1024;

/// Rows per decoded batch when reading.
const READ_BATCH_ROWS: usize = 64 * 1024;

/// The writer settings of every Parquet file patchlake writes: ZSTD(3), dictionary encoding,
/// page-level statistics with column and offset indexes, `row_group_rows` rows per row group,
/// `created_by = patchlake <version>`, the table name in the key-value metadata and, for
/// files sorted by `table`'s sort columns, the `sorting_columns` metadata.
pub fn writer_properties(
    table: Option<Table>,
    sorted: bool,
    row_group_rows: usize,
) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(ZSTD_LEVEL).expect("valid zstd level"),
        ))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_offset_index_disabled(false)
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_created_by(format!("patchlake {TOOL_VERSION}"));
    if let Some(table) = table {
        builder = builder.set_key_value_metadata(Some(vec![KeyValue::new(
            "patchlake.table".to_owned(),
            table.name().to_owned(),
        )]));
        if sorted && !table.sort_columns().is_empty() {
            builder = builder.set_sorting_columns(Some(sorting_columns(table)));
        }
    }
    builder.build()
}

/// Parquet leaf columns a field of type `dt` occupies.
fn leaf_count(dt: &DataType) -> usize {
    match dt {
        DataType::Struct(fields) => fields.iter().map(|f| leaf_count(f.data_type())).sum(),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => leaf_count(f.data_type()),
        _ => 1,
    }
}

/// The `sorting_columns` metadata for `table`: its sort columns as leaf column indexes.
fn sorting_columns(table: Table) -> Vec<SortingColumn> {
    let schema = table.schema();
    table
        .sort_columns()
        .iter()
        .map(|name| {
            let index = schema
                .index_of(name)
                .expect("sort columns are in the schema");
            let leaf: usize = schema.fields()[..index]
                .iter()
                .map(|f| leaf_count(f.data_type()))
                .sum();
            SortingColumn {
                column_idx: leaf as i32,
                descending: false,
                nulls_first: true,
            }
        })
        .collect()
}

/// Encodes `batch` as one Parquet file in memory (`path` names it in errors).
pub(crate) fn encode(batch: &RecordBatch, props: WriterProperties, path: &str) -> Result<Vec<u8>> {
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props))
        .map_err(Error::parquet(path))?;
    writer.write(batch).map_err(Error::parquet(path))?;
    writer.into_inner().map_err(Error::parquet(path))
}

/// Encodes a stream of batches as one Parquet file in a temporary file, one batch at a time,
/// after `check` accepts each: (rows, the file and its size), or `None` when there are no rows.
/// Neither the rows nor the encoded file are ever held whole in memory.
pub(crate) fn encode_stream_to_file(
    batches: impl Iterator<Item = Result<RecordBatch>>,
    props: WriterProperties,
    path: &str,
    mut check: impl FnMut(&RecordBatch) -> Result<()>,
) -> Result<(usize, Option<(tempfile::TempPath, u64)>)> {
    let mut writer = None;
    let mut rows = 0;
    for batch in batches {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        check(&batch)?;
        let (_, w) = match &mut writer {
            Some(w) => w,
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("patchlake-stage-")
                    .suffix(".parquet")
                    .tempfile()
                    .map_err(Error::io("temporary file"))?;
                let (file, temp) = temp.into_parts();
                let w = ArrowWriter::try_new(file, batch.schema(), Some(props.clone()))
                    .map_err(Error::parquet(path))?;
                writer.insert((temp, w))
            }
        };
        w.write(&batch).map_err(Error::parquet(path))?;
        rows += batch.num_rows();
    }
    let Some((temp, w)) = writer else {
        return Ok((rows, None));
    };
    let file = w.into_inner().map_err(Error::parquet(path))?;
    let bytes = file
        .metadata()
        .map_err(Error::io(temp.display().to_string()))?
        .len();
    Ok((rows, Some((temp, bytes))))
}

/// Runs a decoder over a file the lake does not control the bytes of; a panic inside the
/// Parquet crate on malformed input becomes [`Error::Corrupt`] naming the file.
fn guarded<T>(shown: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(Error::corrupt(
                shown,
                format!("parquet decoder panicked: {msg}"),
            ))
        }
    }
}

fn open(path: &Path, shown: &str) -> Result<File> {
    File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::NotFound {
            path: shown.to_owned(),
        },
        _ => Error::Io {
            path: shown.to_owned(),
            source: e,
        },
    })
}

/// Decodes every row of the Parquet file at `path` (`shown` names it in errors). With
/// `expected`, the file's columns must be exactly the expected ones.
pub(crate) fn read_file(
    path: &Path,
    shown: &str,
    expected: Option<&Schema>,
) -> Result<Vec<RecordBatch>> {
    read_batches(path, shown, expected)?.collect()
}

/// [`read_file`] one batch of at most 64k rows at a time, so a file larger than memory can be
/// read through.
pub(crate) fn read_batches(
    path: &Path,
    shown: &str,
    expected: Option<&Schema>,
) -> Result<impl Iterator<Item = Result<RecordBatch>> + use<>> {
    let file = open(path, shown)?;
    let reader = guarded(shown, || {
        let corrupt = |e: &dyn std::fmt::Display| Error::corrupt(shown, e.to_string());
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| corrupt(&e))?;
        if let Some(expected) = expected
            && builder.schema().fields() != expected.fields()
        {
            return Err(Error::corrupt(
                shown,
                format!(
                    "columns {:?} differ from the table's {:?}",
                    field_names(builder.schema()),
                    field_names(expected)
                ),
            ));
        }
        builder
            .with_batch_size(READ_BATCH_ROWS)
            .build()
            .map_err(|e| corrupt(&e))
    })?;
    let shown = shown.to_owned();
    let mut reader = Some(reader);
    Ok(std::iter::from_fn(move || {
        let r = reader.as_mut()?;
        let next = guarded(&shown, || {
            r.next()
                .transpose()
                .map_err(|e| Error::corrupt(&shown, e.to_string()))
        });
        match next {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => None,
            Err(e) => {
                // A decoder that failed (or panicked) is not asked again.
                reader = None;
                Some(Err(e))
            }
        }
    }))
}

fn field_names(schema: &Schema) -> Vec<&str> {
    schema.fields().iter().map(|f| f.name().as_str()).collect()
}

/// The row count in the footer of the Parquet file at `path`.
pub(crate) fn footer_rows(path: &Path, shown: &str) -> Result<i64> {
    let file = open(path, shown)?;
    guarded(shown, || {
        let metadata = ParquetMetaDataReader::new()
            .parse_and_finish(&file)
            .map_err(|e| Error::corrupt(shown, e.to_string()))?;
        Ok(metadata.file_metadata().num_rows())
    })
}

/// SHA-256 (hex) and length of the file at `path`, streamed.
pub(crate) fn hash_file(path: &Path, shown: &str) -> Result<(String, u64)> {
    let mut file = open(path, shown)?;
    let mut hasher = HashingWriter::new(io::sink());
    io::copy(&mut file, &mut hasher).map_err(Error::io(shown))?;
    Ok(hasher.finish())
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<W> {
    inner: W,
    sha: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            sha: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (String, u64) {
        (hex::encode(self.sha.finalize()), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A finished part file in the scratch directory.
#[derive(Debug)]
pub(crate) struct PartFile {
    pub local: PathBuf,
    pub rows: i64,
    pub bytes: i64,
    pub sha256: String,
}

struct OpenPart {
    writer: ArrowWriter<HashingWriter<File>>,
    local: PathBuf,
    rows: i64,
}

/// Writes one table's sorted rows into part files of about `target_bytes` each. Rows must be
/// written in order; a part ends at the first chunk boundary past the target size. A table
/// with no rows still gets one (empty) part so that readers always find its schema.
pub(crate) struct PartWriter {
    table: Table,
    dir: PathBuf,
    props: WriterProperties,
    target_bytes: u64,
    done: Vec<PartFile>,
    current: Option<OpenPart>,
}

impl PartWriter {
    pub fn new(table: Table, dir: &Path, target_bytes: u64, row_group_rows: usize) -> Self {
        PartWriter {
            table,
            dir: dir.to_path_buf(),
            props: writer_properties(Some(table), true, row_group_rows),
            target_bytes: target_bytes.max(1),
            done: Vec::new(),
            current: None,
        }
    }

    fn open(&mut self) -> Result<&mut OpenPart> {
        if self.current.is_none() {
            let local = self.dir.join(format!(
                "{}-part-{:05}.parquet",
                self.table,
                self.done.len()
            ));
            let shown = local.display().to_string();
            let file = File::create(&local).map_err(Error::io(&shown))?;
            let writer = ArrowWriter::try_new(
                HashingWriter::new(file),
                self.table.schema(),
                Some(self.props.clone()),
            )
            .map_err(Error::parquet(&shown))?;
            self.current = Some(OpenPart {
                writer,
                local,
                rows: 0,
            });
        }
        Ok(self.current.as_mut().expect("opened above"))
    }

    fn close_current(&mut self) -> Result<()> {
        let Some(part) = self.current.take() else {
            return Ok(());
        };
        let shown = part.local.display().to_string();
        let hashing = part.writer.into_inner().map_err(Error::parquet(&shown))?;
        hashing.inner.sync_all().map_err(Error::io(&shown))?;
        let (sha256, bytes) = hashing.finish();
        self.done.push(PartFile {
            local: part.local,
            rows: part.rows,
            bytes: bytes as i64,
            sha256,
        });
        Ok(())
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = WRITE_CHUNK_ROWS.min(batch.num_rows() - offset);
            let target = self.target_bytes;
            let part = self.open()?;
            part.writer
                .write(&batch.slice(offset, len))
                .map_err(Error::parquet(part.local.display().to_string()))?;
            part.rows += len as i64;
            let size = part.writer.bytes_written() + part.writer.in_progress_size();
            if size as u64 >= target {
                self.close_current()?;
            }
            offset += len;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<Vec<PartFile>> {
        if self.done.is_empty() {
            self.open()?;
        }
        self.close_current()?;
        Ok(self.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_columns_are_leaf_indexes() {
        for table in Table::DATA {
            let cols = sorting_columns(table);
            assert_eq!(cols.len(), table.sort_columns().len());
            // Every sort column precedes the nested ones, so leaf and field indexes agree.
            for (c, name) in cols.iter().zip(table.sort_columns()) {
                assert_eq!(
                    c.column_idx as usize,
                    table.schema().index_of(name).unwrap()
                );
            }
        }
        let map = Table::Instances.schema();
        assert_eq!(
            leaf_count(map.field_with_name("tags").unwrap().data_type()),
            2
        );
        let rules = Table::Baselines.schema();
        assert_eq!(
            leaf_count(rules.field_with_name("approval_rules").unwrap().data_type()),
            6
        );
    }

    #[test]
    fn garbage_is_reported_as_corrupt_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        std::fs::write(&path, b"PAR1 definitely not parquet PAR1").unwrap();
        for err in [
            read_file(&path, "lake/x.parquet", None).unwrap_err(),
            footer_rows(&path, "lake/x.parquet")
                .map(|_| ())
                .unwrap_err(),
        ] {
            assert!(matches!(err, Error::Corrupt { .. }), "{err}");
            assert!(err.to_string().contains("lake/x.parquet"), "{err}");
        }
    }
}
